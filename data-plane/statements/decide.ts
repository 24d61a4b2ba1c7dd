import { createHash } from "node:crypto";
import { identityKey } from "../../common/policy/identity-key.js";
import type { PolicyHolder } from "../../common/policy/runtime.js";
import type { QueryDecision, QueryInput, StatementInfo, TokenClaims } from "../../proto/policy.js";
import type { ShadowVerdict } from "../policy/shadow-evaluator.js";
import type { CatalogSnapshot } from "./catalog.js";
import type { DecisionCache } from "./decision-cache.js";
import { invariantViolation } from "./invariants.js";
import { containsExecute, hasSettings } from "./statement-traits.js";

/**
 * Deciding one resolved statement: the invariants the proxy holds whatever the policy says, then the
 * decision cache, then the policy runtime (OPA-WASM); every decision is recorded for the audit trail.
 * `Decider.decide` is the one place every policy decision of a statement goes through.
 */

export interface GateSession {
  id: string;
  subject: string;
  claims: TokenClaims;
  dbRole: string;
  database: string;
  region: string;
}

/** One decided statement, for the audit trail and metrics. */
export interface DecisionRecord {
  session: GateSession;
  protocol: "simple" | "extended";
  statement: StatementInfo | null;
  text: string;
  decision: QueryDecision;
  revision: string | undefined;
  cached: boolean;
  evalMicros: number;
  /** The policy input the decision was made on (absent when the policy was not asked). */
  input?: QueryInput;
  /** What a shadow revision decided, when it disagreed (data-plane/policy/shadow-evaluator.ts). */
  shadow?: ShadowVerdict;
}

export interface DeciderDependencies {
  session: GateSession;
  policy: PolicyHolder;
  decisions: DecisionCache;
  onDecision?(record: DecisionRecord): void;
}

/** What a session's decisions may depend on of its identity (its token's lasting claims), hashed. */
function sessionKey(session: GateSession): string {
  return createHash("sha256").update(identityKey(session)).digest("base64");
}

export class Decider {
  private readonly key: string;
  /** The policy input's session part: the same object in every input of this session (never changed). */
  private readonly inputSession: QueryInput["session"];
  /** The last decision-cache key prefix (see decisionContext). */
  private context:
    | {
        revision: string;
        protocol: string;
        index: number;
        count: number;
        pathKey: string;
        loadedAt: number;
        value: string;
      }
    | undefined;

  constructor(private readonly deps: DeciderDependencies) {
    this.key = sessionKey(deps.session);
    const session = deps.session;
    this.inputSession = Object.freeze({
      id: session.id,
      subject: session.subject,
      claims: session.claims,
      db_role: session.dbRole,
      database: session.database,
      region: session.region,
    });
  }

  /** The policy generation decisions are made under now (PolicyHolder.generation). */
  get policyGeneration(): number {
    return this.deps.policy.generation;
  }

  /** Decides one resolved statement (the `index`-th of `count` in its message) with the policy. */
  decide(
    info: StatementInfo,
    protocol: "simple" | "extended",
    index: number,
    count: number,
    catalog: CatalogSnapshot | undefined,
    pathKey: string,
    /** The normalized text of a plain single statement: its decision may be reused for its whole shape. */
    shape?: string,
  ): { decision: QueryDecision } {
    const violation = hasSettings(info) ? invariantViolation(info) : undefined;
    if (violation) {
      const decision = { allow: false, reasons: [violation] };
      this.record(protocol, info, info.text, decision);
      return { decision };
    }
    const runtime = this.deps.policy.current();
    if (!runtime) {
      const decision = { allow: false, reasons: ["no policy is loaded on this proxy"] };
      this.record(protocol, info, info.text, decision);
      return { decision };
    }
    // Only decisions the policy declared cacheable for their input are stored, under a key holding
    // everything such a decision may depend on: a hit is the decision the policy would make again.
    const context = this.decisionContext(
      runtime.revision,
      protocol,
      index,
      count,
      pathKey,
      catalog?.loadedAt ?? 0,
    );
    const key = `${context}\u0000${info.text}\u0000${info.prepared_name ?? ""}`;
    // a decision the policy declared to hold for every statement of this shape (see cacheable_by_shape)
    const shapeKey = shape === undefined ? undefined : `${context}\u0000shape\u0000${shape}`;
    const hit = containsExecute(info)
      ? undefined
      : ((shapeKey !== undefined ? this.deps.decisions.get(shapeKey) : undefined) ??
        this.deps.decisions.get(key));
    // built for a cached decision too: the decision log keeps it (impact replay), the shadow asks it
    const input: QueryInput = {
      session: this.inputSession,
      protocol,
      statement: info,
      statement_index: index,
      statement_count: count,
      now_ns: Date.now() * 1_000_000,
    };
    if (hit) {
      this.record(protocol, info, info.text, hit, true, 0, runtime.revision, input);
      return { decision: hit };
    }
    const started = performance.now();
    const decision = runtime.evaluateQuery(input);
    const micros = (performance.now() - started) * 1000;
    if (!containsExecute(info) && runtime.hasCacheable && runtime.isCacheable(input)) {
      this.deps.decisions.set(key, decision);
      if (shapeKey !== undefined && runtime.isCacheableByShape(input))
        this.deps.decisions.set(shapeKey, decision);
    }
    this.record(protocol, info, info.text, decision, false, micros, runtime.revision, input);
    return { decision };
  }

  /** A denial the proxy makes without asking the policy, recorded like the policy's. */
  refuse(protocol: "simple" | "extended", info: StatementInfo, reasons: string[]): QueryDecision {
    const decision = { allow: false, reasons };
    this.record(protocol, info, info.text, decision);
    return decision;
  }

  /** The decision-cache key's prefix for one statement position, kept while its parts stay the same. */
  private decisionContext(
    revision: string,
    protocol: "simple" | "extended",
    index: number,
    count: number,
    pathKey: string,
    loadedAt: number,
  ): string {
    const c = this.context;
    if (
      c !== undefined &&
      c.revision === revision &&
      c.protocol === protocol &&
      c.index === index &&
      c.count === count &&
      c.pathKey === pathKey &&
      c.loadedAt === loadedAt
    )
      return c.value;
    const value = `${revision}\u0000${this.key}\u0000${protocol}${index}/${count}\u0000${pathKey}\u0000${loadedAt}`;
    this.context = { revision, protocol, index, count, pathKey, loadedAt, value };
    return value;
  }

  record(
    protocol: "simple" | "extended",
    statement: StatementInfo | null,
    text: string,
    decision: QueryDecision,
    cached = false,
    evalMicros = 0,
    revision = this.deps.policy.current()?.revision,
    input?: QueryInput,
  ): void {
    this.deps.onDecision?.({
      session: this.deps.session,
      protocol,
      statement,
      text,
      decision,
      revision,
      cached,
      evalMicros,
      ...(input ? { input } : {}),
    });
  }
}
