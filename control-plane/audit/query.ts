/**
 * QueryDecisions (proto/admin.proto): the request's filters checked and turned into a store query,
 * newest first, paginated with an opaque token (the position of the last row of the page).
 */
import type { DecisionMessage, QueryDecisionsRequest, QueryDecisionsResponse } from "../../proto/load.js";
import type {
  DecisionCursor,
  DecisionFilter,
  DecisionRepository,
  StoredDecision,
} from "../store/decisions.js";

export const DEFAULT_DECISIONS_LIMIT = 100;
export const MAX_DECISIONS_LIMIT = 1000;

/** A request that cannot be answered as asked (INVALID_ARGUMENT). */
export class DecisionQueryError extends Error {
  override name = "DecisionQueryError";
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A point in time from RFC 3339 text or a duration back from `now` ("90s", "30m", "1h", "7d", "2w",
 * "1h30m"). Returns the canonical UTC form.
 */
export function parseTimeBound(value: string, what: string, now: number = Date.now()): string {
  const text = value.trim();
  if (/^(\d+(\.\d+)?[smhdw])+$/i.test(text)) {
    let ms = 0;
    for (const match of text.toLowerCase().matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) {
      ms += Number(match[1]) * (UNITS[match[2]!] ?? 0);
    }
    return new Date(now - ms).toISOString();
  }
  // a date and time with an offset (or Z); a bare date means its start in UTC
  if (/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2}))?$/.test(text)) {
    const ms = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text);
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  throw new DecisionQueryError(
    `${what} "${value}" is neither an RFC 3339 time (2025-01-31T12:00:00Z) nor a duration back from now (30m, 1h, 7d)`,
  );
}

export function encodePageToken(cursor: DecisionCursor): string {
  return Buffer.from(JSON.stringify([cursor.at, cursor.rowId])).toString("base64url");
}

export function decodePageToken(token: string): DecisionCursor {
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    if (
      Array.isArray(value) &&
      typeof value[0] === "string" &&
      !Number.isNaN(Date.parse(value[0])) &&
      Number.isSafeInteger(value[1])
    ) {
      return { at: value[0], rowId: value[1] as number };
    }
  } catch {
    // falls through
  }
  throw new DecisionQueryError("page_token is not one this server gave out");
}

export function decisionMessage(d: StoredDecision): DecisionMessage {
  return {
    at: d.at,
    data_plane_id: d.dataPlaneId,
    session_id: d.sessionId,
    subject: d.subject,
    kind: d.kind,
    allow: d.allow,
    reasons: d.reasons,
    revision: d.revision,
    statement_fingerprint: d.fingerprint,
    statement_text: d.sql,
    id: d.id,
    result: d.allow ? "allowed" : "denied",
    region: d.region,
    issuer: d.issuer,
    db_role: d.dbRole,
    database: d.database,
    protocol: d.protocol,
    statement_kind: d.statementKind,
    statement_command: d.statementCommand,
    relations: d.relations.map((r) => `${r.schema === null ? "" : `${r.schema}.`}${r.name}:${r.access}`),
    eval_micros: d.evalMicros,
    cached: d.cached,
    statement_truncated: d.sqlTruncated,
    client_addr: d.clientAddr,
    application_name: d.applicationName,
    replayable: d.inputJson !== undefined,
    ...(d.shadow ? { shadow: d.shadow } : {}),
  };
}

/** The store filter of a request; throws DecisionQueryError saying what is wrong. */
export function decisionFilter(request: QueryDecisionsRequest, now: number = Date.now()): DecisionFilter {
  const filter: DecisionFilter = {};
  const text = (value: string | undefined) => (value ?? "").trim();
  if (text(request.subject)) filter.subject = text(request.subject);
  if (text(request.session_id)) filter.sessionId = text(request.session_id);
  if (text(request.data_plane_id)) filter.dataPlaneId = text(request.data_plane_id);
  if (text(request.since)) filter.since = parseTimeBound(text(request.since), "since", now);
  if (text(request.until)) filter.until = parseTimeBound(text(request.until), "until", now);
  const result = text(request.result).toLowerCase();
  if (result === "allowed" || result === "allow") filter.allow = true;
  else if (result === "denied" || result === "deny") filter.allow = false;
  else if (result !== "") throw new DecisionQueryError(`result "${request.result}" is not allowed or denied`);
  if (request.denied_only) {
    if (filter.allow === true) throw new DecisionQueryError("denied_only contradicts result allowed");
    filter.allow = false;
  }
  const kind = text(request.kind).toLowerCase();
  if (kind === "connection" || kind === "query") filter.kind = kind;
  else if (kind !== "") throw new DecisionQueryError(`kind "${request.kind}" is not connection or query`);
  const relation = text(request.relation);
  if (relation) {
    const dot = relation.indexOf(".");
    const [schema, name] =
      dot < 0 ? [undefined, relation] : [relation.slice(0, dot), relation.slice(dot + 1)];
    if (!name || schema === "") {
      throw new DecisionQueryError(`relation "${request.relation}" is not "schema.name" or "name"`);
    }
    filter.relation = schema === undefined ? { name } : { schema, name };
  }
  if (filter.since && filter.until && filter.since >= filter.until) {
    throw new DecisionQueryError(`since (${filter.since}) is not before until (${filter.until})`);
  }
  return filter;
}

export function queryDecisions(
  repository: DecisionRepository,
  request: QueryDecisionsRequest,
  now: number = Date.now(),
): QueryDecisionsResponse {
  const filter = decisionFilter(request, now);
  const asked = request.page_size || request.limit || 0;
  if (asked < 0) throw new DecisionQueryError(`page_size ${asked} is negative`);
  const limit = asked === 0 ? DEFAULT_DECISIONS_LIMIT : Math.min(asked, MAX_DECISIONS_LIMIT);
  const after = request.page_token ? decodePageToken(request.page_token) : undefined;
  const page = repository.query(filter, after ? { limit, after } : { limit });
  return {
    decisions: page.decisions.map(decisionMessage),
    next_page_token: page.next ? encodePageToken(page.next) : "",
  };
}
