/**
 * Impact replay: the stored policy inputs of past decisions (DecisionRecord.input_json, statement
 * text normalized) re-evaluated with a candidate revision's runtime in a tight loop, rows streamed
 * from SQLite. A flip is a decision the candidate makes otherwise than the recorded one: allow to
 * deny, deny to allow, or (both allowing a statement) other masks.
 */
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

export function replayDecisions(
  decisions: DecisionRepository,
  candidate: PolicyRuntime,
  options: ReplayOptions,
): ReplayResult {
  const maxFlips = options.maxFlips ?? 100;
  const groups = new FlipGroups();
  const flips: ReplayedFlip[] = [];
  let replayed = 0;
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
      const decision = candidate.evaluateQuery(input as QueryInput);
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
    durationMs,
    decisionsPerS: durationMs > 0 ? (replayed / durationMs) * 1000 : 0,
    flips,
    groups,
  };
}
