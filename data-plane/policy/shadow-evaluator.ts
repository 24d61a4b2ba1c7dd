/**
 * Shadow evaluation: a candidate revision (BUS.shadowKey) loaded beside the active one and asked
 * the same question for every connection and statement decision the active one made, never
 * enforced. The active revision's decision has already been taken (and for a statement, sent on)
 * when the shadow is asked: decisions are queued here and evaluated on a later turn of the event
 * loop (setImmediate), in chunks bounded in count and in time (a slow shadow revision must not hold
 * up the enforced one), from a bounded queue; what does not fit is dropped and counted, its record
 * published without a shadow verdict.
 *
 * Every decision reaches `publish` exactly once (the decision log), with `shadow` set when the two
 * revisions disagree: allow differs, or for a statement the masks differ. Disagreements are counted
 * (`portcullis_shadow_disagreements_total`).
 */
import type { Logger } from "../../common/logger.js";
import type { PolicyRuntime } from "../../common/policy/runtime.js";
import type { ConnectionInput, QueryDecision, QueryInput } from "../../proto/policy.js";

/** What the shadow revision decided, when it differs from the enforced decision. */
export interface ShadowVerdict {
  revision: string;
  allow: boolean;
  reasons: string[];
}

/** How a shadow decision differed from the enforced one. */
export type ShadowChange = "allow_to_deny" | "deny_to_allow" | "mask_change";

export interface ShadowEvaluatorOptions {
  /** Decisions waiting for the shadow (default 10,000); beyond it they go out without. */
  maxQueue?: number;
  /** Decisions evaluated per turn of the event loop at most (default 64). */
  chunk?: number;
  /**
   * How long one turn may spend evaluating (ms, default 5): a turn stops after the evaluation that
   * goes past it, so a slow shadow revision delays the enforced path by one evaluation at most at a
   * time, never by a whole chunk of them (0: one evaluation per turn).
   */
  turnBudgetMs?: number;
  logger?: Logger;
  onDisagreement?(kind: "connection" | "query", change: ShadowChange): void;
  onEvaluated?(kind: "connection" | "query"): void;
  onDropped?(): void;
}

/** The part of a decision the shadow looks at: the input, and what the active revision decided. */
export interface ShadowSubject<D> {
  decision: D;
  shadow?: ShadowVerdict;
}

type Job =
  | {
      kind: "query";
      runtime: PolicyRuntime;
      input: QueryInput;
      event: ShadowSubject<QueryDecision>;
      publish: () => void;
    }
  | {
      kind: "connection";
      runtime: PolicyRuntime;
      input: ConnectionInput;
      event: ShadowSubject<{ allow: boolean; reasons: string[] }>;
      publish: () => void;
    };

/** The masks of a decision in a canonical form (order does not matter). */
export function maskKey(decision: QueryDecision): string {
  const masks = (decision.mask ?? []).map((m) => `${m.relation ?? ""}\u0000${m.column}\u0000${m.with}`);
  return masks.sort().join("\u0001");
}

/** How `candidate` differs from `enforced`, or undefined when it decides the same. */
export function queryChange(enforced: QueryDecision, candidate: QueryDecision): ShadowChange | undefined {
  if (enforced.allow && !candidate.allow) return "allow_to_deny";
  if (!enforced.allow && candidate.allow) return "deny_to_allow";
  if (enforced.allow && maskKey(enforced) !== maskKey(candidate)) return "mask_change";
  return undefined;
}

export class ShadowEvaluator {
  readonly #maxQueue: number;
  readonly #chunk: number;
  readonly #turnBudgetMs: number;
  readonly #options: ShadowEvaluatorOptions;
  #runtime: PolicyRuntime | undefined;
  #queue: Job[] = [];
  #head = 0;
  #scheduled = false;
  #dropped = 0;
  #disagreements = 0;
  #evaluated = 0;
  #idle: (() => void)[] = [];

  constructor(options: ShadowEvaluatorOptions = {}) {
    this.#options = options;
    this.#maxQueue = Math.max(1, options.maxQueue ?? 10_000);
    this.#chunk = Math.max(1, options.chunk ?? 64);
    this.#turnBudgetMs = Math.max(0, options.turnBudgetMs ?? 5);
  }

  /** The shadow revision loaded, if any. */
  get revision(): string | undefined {
    return this.#runtime?.revision;
  }

  get stats(): { evaluated: number; disagreements: number; dropped: number; queued: number } {
    return {
      evaluated: this.#evaluated,
      disagreements: this.#disagreements,
      dropped: this.#dropped,
      queued: this.#queue.length - this.#head,
    };
  }

  /** Loads a shadow revision (replacing any), or ends shadow evaluation (undefined). */
  set(runtime: PolicyRuntime | undefined): void {
    this.#runtime = runtime;
    this.#options.logger?.info({ shadowRevision: runtime?.revision ?? null }, "shadow revision set");
  }

  /**
   * A statement decision the active revision made on `input` (undefined when the policy was not
   * asked: nothing for the shadow to compare). `publish` is called once, now or after the shadow.
   */
  statement(input: QueryInput | undefined, event: ShadowSubject<QueryDecision>, publish: () => void): void {
    const runtime = this.#runtime;
    if (!runtime || !input) publish();
    else this.#enqueue({ kind: "query", runtime, input, event, publish });
  }

  connection(
    input: ConnectionInput,
    event: ShadowSubject<{ allow: boolean; reasons: string[] }>,
    publish: () => void,
    policyAsked: boolean,
  ): void {
    const runtime = this.#runtime;
    if (!runtime || !policyAsked) publish();
    else this.#enqueue({ kind: "connection", runtime, input, event, publish });
  }

  /** Resolves once every queued decision has been evaluated and published. */
  drained(): Promise<void> {
    if (this.#queue.length === this.#head) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #enqueue(job: Job): void {
    if (this.#queue.length - this.#head >= this.#maxQueue) {
      this.#dropped++;
      this.#options.onDropped?.();
      job.publish();
      return;
    }
    this.#queue.push(job);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#drain());
    }
  }

  #drain(): void {
    this.#scheduled = false;
    const end = Math.min(this.#queue.length, this.#head + this.#chunk);
    const started = performance.now();
    while (this.#head < end) {
      const job = this.#queue[this.#head++]!;
      try {
        this.#evaluate(job);
      } catch (err) {
        this.#options.logger?.warn({ err: (err as Error).message }, "shadow evaluation failed");
      }
      try {
        job.publish();
      } catch (err) {
        this.#options.logger?.warn({ err: (err as Error).message }, "publishing a decision failed");
      }
      // the enforced path waits while this turn runs: the rest goes on a later one
      if (performance.now() - started >= this.#turnBudgetMs) break;
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
      for (const resolve of this.#idle.splice(0)) resolve();
    } else {
      this.#scheduled = true;
      setImmediate(() => this.#drain());
    }
  }

  #evaluate(job: Job): void {
    let change: ShadowChange | undefined;
    let verdict: ShadowVerdict;
    if (job.kind === "query") {
      const candidate = job.runtime.evaluateQuery(job.input);
      change = queryChange(job.event.decision, candidate);
      verdict = { revision: job.runtime.revision, allow: candidate.allow, reasons: candidate.reasons };
    } else {
      const candidate = job.runtime.evaluateConnection(job.input);
      const enforced = job.event.decision;
      change =
        enforced.allow === candidate.allow ? undefined : enforced.allow ? "allow_to_deny" : "deny_to_allow";
      verdict = { revision: job.runtime.revision, allow: candidate.allow, reasons: candidate.reasons };
    }
    this.#evaluated++;
    this.#options.onEvaluated?.(job.kind);
    if (!change) return;
    this.#disagreements++;
    job.event.shadow = verdict;
    this.#options.onDisagreement?.(job.kind, change);
  }
}
