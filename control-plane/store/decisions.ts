/**
 * The audit trail: every decision record the data planes published (proto/bus.ts
 * DecisionRecordMessage), as read from stream PORTCULLIS_DECISIONS. A record is stored once
 * (unique record id), whatever the redeliveries; the relations a statement touched also go in
 * `decision_relations` so queries by relation use an index. Old rows are pruned by `at`.
 */
import type { DecisionRecordMessage, DecisionRelation } from "../../proto/bus.js";
import type { SqliteDatabase } from "./database.js";

export interface StoredDecision {
  /** The row id (ordering tie-break and page cursor). */
  rowId: number;
  id: string;
  at: string;
  kind: "connection" | "query";
  dataPlaneId: string;
  region: string;
  sessionId: string;
  subject: string;
  issuer: string;
  dbRole: string;
  database: string;
  revision: string;
  allow: boolean;
  reasons: string[];
  evalMicros: number;
  cached: boolean;
  protocol: string;
  statementKind: string;
  statementCommand: string;
  relations: DecisionRelation[];
  sql: string;
  sqlTruncated: boolean;
  fingerprint: string;
  clientAddr: string;
  applicationName: string;
  receivedAt: string;
  /** The policy input as JSON (normalized statement text), when the record carried it. */
  inputJson?: string;
  /** The decision's masks as JSON, when it had any. */
  maskJson?: string;
  /** What the shadow revision decided, when it disagreed. */
  shadow?: { revision: string; allow: boolean; reasons: string[] };
}

export interface DecisionFilter {
  subject?: string;
  sessionId?: string;
  /** Inclusive lower bound on `at` (RFC 3339 UTC). */
  since?: string;
  /** Exclusive upper bound on `at`. */
  until?: string;
  /** true: allowed only; false: denied only. */
  allow?: boolean;
  /** A relation the statement touched: `name` alone matches it in any schema. */
  relation?: { schema?: string; name: string };
  dataPlaneId?: string;
  kind?: "connection" | "query";
}

/** Where a page ends: the next page starts after this row (newest first). */
export interface DecisionCursor {
  at: string;
  rowId: number;
}

export interface StoredDecisionInput {
  record: DecisionRecordMessage;
  /** The stream sequence it was read at. */
  streamSeq?: number;
}

interface DecisionRow {
  id: number;
  record_id: string | null;
  at: string;
  kind: "connection" | "query";
  data_plane_id: string;
  region: string;
  session_id: string | null;
  subject: string | null;
  issuer: string;
  db_role: string;
  database: string;
  revision: string | null;
  allow: number;
  reasons_json: string;
  eval_micros: number;
  cached: number;
  protocol: string;
  statement_kind: string;
  statement_command: string;
  relations_json: string;
  statement_text: string | null;
  sql_truncated: number;
  statement_fingerprint: string | null;
  client_addr: string;
  application_name: string;
  received_at: string | null;
  input_json: string | null;
  mask_json: string | null;
  shadow_revision: string | null;
  shadow_allow: number | null;
  shadow_reasons_json: string | null;
}

function toStored(row: DecisionRow): StoredDecision {
  return {
    rowId: row.id,
    id: row.record_id ?? String(row.id),
    at: row.at,
    kind: row.kind,
    dataPlaneId: row.data_plane_id,
    region: row.region,
    sessionId: row.session_id ?? "",
    subject: row.subject ?? "",
    issuer: row.issuer,
    dbRole: row.db_role,
    database: row.database,
    revision: row.revision ?? "",
    allow: row.allow === 1,
    reasons: JSON.parse(row.reasons_json) as string[],
    evalMicros: row.eval_micros,
    cached: row.cached === 1,
    protocol: row.protocol,
    statementKind: row.statement_kind,
    statementCommand: row.statement_command,
    relations: JSON.parse(row.relations_json) as DecisionRelation[],
    sql: row.statement_text ?? "",
    sqlTruncated: row.sql_truncated === 1,
    fingerprint: row.statement_fingerprint ?? "",
    clientAddr: row.client_addr,
    applicationName: row.application_name,
    receivedAt: row.received_at ?? "",
    ...(row.input_json !== null ? { inputJson: row.input_json } : {}),
    ...(row.mask_json !== null ? { maskJson: row.mask_json } : {}),
    ...(row.shadow_revision !== null
      ? {
          shadow: {
            revision: row.shadow_revision,
            allow: row.shadow_allow === 1,
            reasons: JSON.parse(row.shadow_reasons_json ?? "[]") as string[],
          },
        }
      : {}),
  };
}

/** An RFC 3339 time as the canonical UTC form stored (so text order is time order). */
export function canonicalTime(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new RangeError(`not a time: ${value}`);
  return new Date(ms).toISOString();
}

/** One stored decision as impact replay reads it (JSON fields left unparsed until needed). */
export interface ReplayableDecision {
  id: string;
  at: string;
  kind: "connection" | "query";
  subject: string;
  dbRole: string;
  relationsJson: string;
  allow: boolean;
  reasonsJson: string;
  revision: string;
  sql: string;
  inputJson: string;
  maskJson: string | null;
}

interface ReplayRow {
  record_id: string | null;
  id: number;
  at: string;
  kind: "connection" | "query";
  subject: string | null;
  db_role: string;
  relations_json: string;
  allow: number;
  reasons_json: string;
  revision: string | null;
  statement_text: string | null;
  input_json: string;
  mask_json: string | null;
}

export class DecisionRepository {
  readonly #insert;
  readonly #insertRelation;

  constructor(private readonly db: SqliteDatabase) {
    this.#insert = db.prepare(
      `INSERT OR IGNORE INTO decisions (record_id, at, data_plane_id, region, session_id, subject, issuer,
         kind, allow, reasons_json, revision, statement_fingerprint, statement_text, sql_truncated, db_role,
         database, protocol, statement_kind, statement_command, relations_json, eval_micros, cached,
         client_addr, application_name, stream_seq, received_at, input_json, mask_json, shadow_revision,
         shadow_allow, shadow_reasons_json)
       VALUES (@record_id, @at, @data_plane_id, @region, @session_id, @subject, @issuer, @kind, @allow,
         @reasons_json, @revision, @fingerprint, @sql, @sql_truncated, @db_role, @database, @protocol,
         @statement_kind, @statement_command, @relations_json, @eval_micros, @cached, @client_addr,
         @application_name, @stream_seq, @received_at, @input_json, @mask_json, @shadow_revision,
         @shadow_allow, @shadow_reasons_json)`,
    );
    this.#insertRelation = db.prepare(
      `INSERT INTO decision_relations (decision_id, relation_schema, relation_name, access)
       VALUES (?, ?, ?, ?)`,
    );
  }

  /**
   * Stores records in one transaction; a record whose id is already stored is skipped. Returns the
   * records newly stored.
   */
  /**
   * Stored decisions made at or after `since` under the given revisions, counted by data plane,
   * revision and verdict (`policyErrors`: denials for a policy evaluation error, a reason starting
   * with "policy error:"). What a canary's judge needs to carry on after a restart.
   */
  verdictCountsSince(
    since: string,
    revisions: readonly string[],
  ): {
    dataPlaneId: string;
    region: string;
    revision: string;
    decisions: number;
    denied: number;
    policyErrors: number;
  }[] {
    if (revisions.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT data_plane_id, region, revision, count(*) AS decisions,
                sum(CASE WHEN allow = 0 THEN 1 ELSE 0 END) AS denied,
                sum(CASE WHEN allow = 0 AND EXISTS (SELECT 1 FROM json_each(reasons_json)
                    WHERE json_each.value LIKE 'policy error:%') THEN 1 ELSE 0 END) AS policy_errors
         FROM decisions
         WHERE at >= ? AND revision IN (${revisions.map(() => "?").join(", ")})
         GROUP BY data_plane_id, region, revision`,
      )
      .all(canonicalTime(since), ...revisions) as {
      data_plane_id: string;
      region: string;
      revision: string;
      decisions: number;
      denied: number;
      policy_errors: number;
    }[];
    return rows.map((r) => ({
      dataPlaneId: r.data_plane_id,
      region: r.region,
      revision: r.revision,
      decisions: r.decisions,
      denied: r.denied,
      policyErrors: r.policy_errors,
    }));
  }

  insertMany(items: readonly StoredDecisionInput[], receivedAt: string = new Date().toISOString()): number {
    const run = this.db.transaction((batch: readonly StoredDecisionInput[]) => {
      let inserted = 0;
      for (const { record: r, streamSeq } of batch) {
        const result = this.#insert.run({
          record_id: r.id,
          at: canonicalTime(r.at),
          data_plane_id: r.data_plane_id,
          region: r.region,
          session_id: r.session_id,
          subject: r.subject,
          issuer: r.issuer,
          kind: r.kind,
          allow: r.allow ? 1 : 0,
          reasons_json: JSON.stringify(r.reasons),
          revision: r.revision,
          fingerprint: r.fingerprint,
          sql: r.sql,
          sql_truncated: r.sql_truncated ? 1 : 0,
          db_role: r.db_role,
          database: r.database,
          protocol: r.protocol,
          statement_kind: r.statement_kind,
          statement_command: r.statement_command,
          relations_json: JSON.stringify(r.relations),
          eval_micros: r.eval_micros,
          cached: r.cached ? 1 : 0,
          client_addr: r.client_addr,
          application_name: r.application_name,
          stream_seq: streamSeq ?? null,
          received_at: receivedAt,
          input_json: r.input_json ?? null,
          mask_json: r.mask_json ?? null,
          shadow_revision: r.shadow?.revision ?? null,
          shadow_allow: r.shadow ? (r.shadow.allow ? 1 : 0) : null,
          shadow_reasons_json: r.shadow ? JSON.stringify(r.shadow.reasons) : null,
        });
        if (result.changes === 0) continue;
        inserted++;
        for (const rel of r.relations) {
          this.#insertRelation.run(result.lastInsertRowid, rel.schema ?? "", rel.name, rel.access);
        }
      }
      return inserted;
    });
    return run(items);
  }

  /** Newest first; `limit` rows after `after`, and the cursor of the next page when there is one. */
  query(
    filter: DecisionFilter,
    page: { limit: number; after?: DecisionCursor },
  ): { decisions: StoredDecision[]; next?: DecisionCursor } {
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    if (filter.subject !== undefined) {
      where.push("d.subject = @subject");
      params.subject = filter.subject;
    }
    if (filter.sessionId !== undefined) {
      where.push("d.session_id = @session");
      params.session = filter.sessionId;
    }
    if (filter.since !== undefined) {
      where.push("d.at >= @since");
      params.since = canonicalTime(filter.since);
    }
    if (filter.until !== undefined) {
      where.push("d.at < @until");
      params.until = canonicalTime(filter.until);
    }
    if (filter.allow !== undefined) {
      where.push("d.allow = @allow");
      params.allow = filter.allow ? 1 : 0;
    }
    if (filter.dataPlaneId !== undefined) {
      where.push("d.data_plane_id = @dataPlane");
      params.dataPlane = filter.dataPlaneId;
    }
    if (filter.kind !== undefined) {
      where.push("d.kind = @kind");
      params.kind = filter.kind;
    }
    if (filter.relation !== undefined) {
      params.relName = filter.relation.name;
      if (filter.relation.schema !== undefined) {
        params.relSchema = filter.relation.schema;
        where.push(
          "d.id IN (SELECT decision_id FROM decision_relations WHERE relation_name = @relName AND relation_schema = @relSchema)",
        );
      } else {
        where.push("d.id IN (SELECT decision_id FROM decision_relations WHERE relation_name = @relName)");
      }
    }
    if (page.after) {
      where.push("(d.at < @afterAt OR (d.at = @afterAt AND d.id < @afterId))");
      params.afterAt = page.after.at;
      params.afterId = page.after.rowId;
    }
    params.limit = page.limit + 1;
    const rows = this.db
      .prepare(
        `SELECT d.* FROM decisions d ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY d.at DESC, d.id DESC LIMIT @limit`,
      )
      .all(params) as DecisionRow[];
    const more = rows.length > page.limit;
    const decisions = rows.slice(0, page.limit).map(toStored);
    const last = decisions[decisions.length - 1];
    return more && last ? { decisions, next: { at: last.at, rowId: last.rowId } } : { decisions };
  }

  /** Deletes decisions made before `cutoff` (RFC 3339), in batches; returns how many. */
  pruneBefore(cutoff: string, batchSize = 5_000): number {
    const at = canonicalTime(cutoff);
    const remove = this.db.prepare(
      "DELETE FROM decisions WHERE id IN (SELECT id FROM decisions WHERE at < ? LIMIT ?)",
    );
    let total = 0;
    for (;;) {
      const { changes } = remove.run(at, batchSize);
      total += changes;
      if (changes < batchSize) return total;
    }
  }

  /**
   * The stored inputs to replay, newest first: the last `last` decisions that carry one (or all
   * since `since`), streamed from SQLite (no array of every row).
   */
  *replayable(options: { last?: number; since?: string }): Generator<ReplayableDecision> {
    const where = ["input_json IS NOT NULL"];
    const params: Record<string, string | number> = {};
    if (options.since !== undefined) {
      where.push("at >= @since");
      params.since = canonicalTime(options.since);
    }
    params.limit = options.last !== undefined && options.last > 0 ? options.last : -1;
    const statement = this.db.prepare(
      `SELECT record_id, id, at, kind, subject, db_role, relations_json, allow, reasons_json, revision,
              statement_text, input_json, mask_json
       FROM decisions WHERE ${where.join(" AND ")} ORDER BY at DESC, id DESC LIMIT @limit`,
    );
    for (const row of statement.iterate(params) as IterableIterator<ReplayRow>) {
      yield {
        id: row.record_id ?? String(row.id),
        at: row.at,
        kind: row.kind,
        subject: row.subject ?? "",
        dbRole: row.db_role,
        relationsJson: row.relations_json,
        allow: row.allow === 1,
        reasonsJson: row.reasons_json,
        revision: row.revision ?? "",
        sql: row.statement_text ?? "",
        inputJson: row.input_json,
        maskJson: row.mask_json,
      };
    }
  }

  /** The decisions a shadow revision disagreed with (newest first), optionally since a time. */
  shadowDisagreements(revision: string, since?: string): StoredDecision[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM decisions WHERE shadow_revision = @revision ${since !== undefined ? "AND at >= @since" : ""}
         ORDER BY at DESC, id DESC`,
      )
      .all({ revision, ...(since !== undefined ? { since: canonicalTime(since) } : {}) }) as DecisionRow[];
    return rows.map(toStored);
  }

  count(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM decisions").get() as { n: number }).n;
  }
}
