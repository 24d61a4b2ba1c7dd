/**
 * Impact replay: the stored policy inputs of past decisions (DecisionRecord.input_json, statement
 * text normalized) re-evaluated with a candidate revision's runtime in a tight loop, rows streamed
 * from SQLite. A flip is a decision the candidate makes otherwise than the recorded one: allow to
 * deny, deny to allow, or (both allowing a statement) other masks.
 *
 * Statement decisions the candidate declares cacheable (portcullis/query/cacheable) are memoised
 * under the key the data plane's decision cache uses — everything but the session id, the clock
 * and the volatile token claims — so a log of the same statements by the same people costs one
 * evaluation per distinct statement and identity: the same contract the proxy relies on.
 */
import { identityKey } from "../../common/policy/identity-key.js";
import type { PolicyRuntime } from "../../common/policy/runtime.js";
import type { ConnectionInput, QueryDecision, QueryInput } from "../../proto/policy.js";
import type { DecisionRepository } from "../store/decisions.js";
import { type FlipChange, FlipGroups, relationNames } from "./flip-groups.js";

export interface ReplayOptions {
  /** The newest N decisions that carry their input. */
  last?: number;
  /** Or every one from this time (RFC 3339). */
  since?: string;
  /** Flips kept one by one (all are counted). */
  maxFlips?: number;
  /** No memo: every decision evaluated (the raw speed). */
  evaluateAll?: boolean;
}

export interface ReplayedFlip {
  id: string;
  at: string;
  kind: "connection" | "query";
  subject: string;
  dbRole: string;
  relations: string[];
  change: FlipChange;
  sql: string;
  recordedReasons: string[];
  candidateReasons: string[];
  recordedRevision: string;
}

export interface ReplayResult {
  against: string;
  replayed: number;
  /** Statement evaluations the candidate ran (the rest came from its cacheable decisions). */
  evaluations: number;
  durationMs: number;
  decisionsPerS: number;
  flips: ReplayedFlip[];
  groups: FlipGroups;
}

/** The masks of a decision in a canonical form (order does not matter). */
function maskKey(mask: QueryDecision["mask"] | undefined): string {
  return (mask ?? [])
    .map((m) => `${m.relation ?? ""}\u0000${m.column}\u0000${m.with}`)
    .sort()
    .join("\u0001");
}

const MEMO_ENTRIES = 100_000;

/** The candidate's query decisions, memoised when it declares them cacheable. */
class QueryReplayer {
  readonly #memo = new Map<string, QueryDecision>();
  readonly #identities = new Map<string, string>();
  evaluations = 0;

  constructor(
    private readonly candidate: PolicyRuntime,
    private readonly memo = true,
  ) {}

  decide(input: QueryInput): QueryDecision {
    const memoable = this.memo && this.candidate.hasCacheable && input.session && input.statement;
    let key: string | undefined;
    if (memoable) {
      const sessionId = input.session.id ?? "";
      let identity = this.#identities.get(sessionId);
      if (identity === undefined) {
        const { subject, db_role, database, region, claims } = input.session;
        identity = identityKey({ subject, dbRole: db_role, database, region, claims: claims ?? {} });
        if (this.#identities.size > MEMO_ENTRIES) this.#identities.clear();
        this.#identities.set(sessionId, identity);
      }
      key = `${identity}\u0000${input.protocol}${input.statement_index}/${input.statement_count}\u0000${JSON.stringify(input.statement)}`;
      const hit = this.#memo.get(key);
      if (hit) return hit;
    }
    this.evaluations++;
    const decision = this.candidate.evaluateQuery(input);
    if (key !== undefined && this.candidate.isCacheable(input)) {
      if (this.#memo.size > MEMO_ENTRIES) this.#memo.clear();
      this.#memo.set(key, decision);
    }
    return decision;
  }
}

export function replayDecisions(
  decisions: DecisionRepository,
  candidate: PolicyRuntime,
  options: ReplayOptions,
): ReplayResult {
  const maxFlips = options.maxFlips ?? 100;
  const groups = new FlipGroups();
  const flips: ReplayedFlip[] = [];
  let replayed = 0;
  const queries = new QueryReplayer(candidate, !options.evaluateAll);
  const started = performance.now();
  for (const row of decisions.replayable(options)) {
    let input: unknown;
    try {
      input = JSON.parse(row.inputJson);
    } catch {
      continue;
    }
    replayed++;
    let change: FlipChange | undefined;
    let reasons: string[];
    if (row.kind === "query") {
      const decision = queries.decide(input as QueryInput);
      reasons = decision.reasons;
      if (row.allow !== decision.allow) change = row.allow ? "allow-to-deny" : "deny-to-allow";
      else if (row.allow) {
        const recorded = row.maskJson ? (JSON.parse(row.maskJson) as QueryDecision["mask"]) : undefined;
        if (maskKey(recorded) !== maskKey(decision.mask)) change = "mask-change";
      }
    } else {
      const decision = candidate.evaluateConnection(input as ConnectionInput);
      reasons = decision.reasons;
      if (row.allow !== decision.allow) change = row.allow ? "allow-to-deny" : "deny-to-allow";
    }
    if (!change) continue;
    const relations = relationNames(row.relationsJson);
    const dbRole = row.dbRole || (input as ConnectionInput).startup?.user || "";
    groups.add(change, { subject: row.subject, dbRole, relations, reasons });
    if (flips.length < maxFlips) {
      flips.push({
        id: row.id,
        at: row.at,
        kind: row.kind,
        subject: row.subject,
        dbRole,
        relations,
        change,
        sql: row.sql,
        recordedReasons: JSON.parse(row.reasonsJson) as string[],
        candidateReasons: reasons,
        recordedRevision: row.revision,
      });
    }
  }
  const durationMs = performance.now() - started;
  return {
    against: candidate.revision,
    replayed,
    evaluations: queries.evaluations,
    durationMs,
    decisionsPerS: durationMs > 0 ? (replayed / durationMs) * 1000 : 0,
    flips,
    groups,
  };
}
