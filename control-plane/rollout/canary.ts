/**
 * Canary rollouts: a ready revision is sent to a subset of the fleet first (proto/canary.ts: the
 * KV key `canary` with a selector, region=NAME or percent=N), judged against the revision the rest
 * of the fleet runs, then promoted to every data plane or rolled back, with no one watching.
 *
 * The judge reads two things the control plane already receives:
 *   - the decision stream as it is stored (audit/decision-consumer.ts): decisions made under the
 *     canary revision by the selected data planes (its deny rate; its evaluation errors, the
 *     fail-closed "policy error: …" denials) against the decisions made under the previous revision
 *     anywhere during the canary (the rest of the fleet, and the canary data planes before they
 *     switched);
 *   - the fleet status: a selected data plane that reports the canary as wanted with a load error.
 *
 * Every `check_interval_ms`: errors (evaluation + load) above `max_errors` → rollback; with at
 * least `min_decisions` canary decisions, a deny rate above the baseline's by more than
 * `max_deny_rate_increase` → rollback (a baseline without decisions counts as 0 denials: an
 * unjudgeable canary is not waved through); once `bake_seconds` have passed, promotion when every
 * live selected data plane runs the canary, else rollback.
 *
 * A rollback is a new activation of the previous revision, signed with `rollback: true` (its bundle
 * is older than the canary's), published on `active` before the canary key is deleted: the canary
 * data planes accept it under DESIGN.md's anti-rollback rule, and a replay of the canary pointer is
 * refused afterwards (its sequence is older). A promotion is an ordinary activation of the canary
 * revision. Another activation while a canary runs (admin or git) cancels the canary.
 *
 * A control plane that stops mid-canary takes it up again when it starts (recoverAbandoned): the
 * judge's counts are rebuilt from the decisions stored since the canary began, and the bake time runs
 * from the canary's start, so a restart neither rolls back a good canary nor forgets a bad one's
 * denials.
 *
 * Every step is an admin event of kind `canary` (`canary.started`, `canary.resumed` after a restart,
 * `canary.rolled_back` with why, `canary.promoted`, `canary.cancelled`).
 */
import type { Logger } from "../../common/logger.js";
import type { DecisionRecordMessage } from "../../proto/bus.js";
import {
  type CanaryPointer,
  type CanarySelector,
  canarySelects,
  decodeCanaryPointer,
  formatCanarySelector,
} from "../../proto/canary.js";
import type { PublishResult } from "../distribute/distributor.js";
import type { FleetView } from "../distribute/fleet.js";
import type { EventHub } from "../events/event-hub.js";
import type { ActivationOutcome, Pipeline } from "../pipeline.js";
import { type ActiveBundle, BundleStateError, type ControlPlaneStore } from "../store/index.js";

export interface CanarySettings {
  maxDenyRateIncrease: number;
  maxErrors: number;
  bakeSeconds: number;
  minDecisions: number;
  checkIntervalMs: number;
}

export interface CanaryPublisher {
  publishCanary(bundle: ActiveBundle, selector: CanarySelector, previousRevision: string): Promise<unknown>;
  clearCanary(): Promise<void>;
  publishActive(): Promise<PublishResult>;
}

export interface CanaryControllerOptions {
  store: ControlPlaneStore;
  pipeline: Pipeline;
  publisher: CanaryPublisher;
  fleet: FleetView;
  events?: EventHub;
  settings: CanarySettings;
  logger: Logger;
}

interface Counts {
  decisions: number;
  denied: number;
}

export interface CanaryMeasures {
  canary: Counts & { deny_rate: number; evaluation_errors: number };
  baseline: Counts & { deny_rate: number };
  load_errors: Record<string, string>;
}

export type CanaryState = "running" | "promoted" | "rolled_back" | "cancelled";

export interface CanaryStatus {
  revision: string;
  previousRevision: string;
  selector: CanarySelector;
  state: CanaryState;
  startedAt: string;
  endedAt?: string;
  /** Why it was rolled back or cancelled. */
  reason?: string;
  by: string;
  bakeSeconds: number;
  measures: CanaryMeasures;
}

export class CanaryError extends Error {
  override name = "CanaryError";
}

interface Run {
  status: CanaryStatus;
  started: number;
  canary: Counts;
  baseline: Counts;
  evaluationErrors: number;
  loadErrors: Map<string, string>;
  timer: NodeJS.Timeout;
  unwatchFleet: () => void;
  ending: boolean;
}

const rate = (c: Counts) => (c.decisions === 0 ? 0 : c.denied / c.decisions);
const POLICY_ERROR = "policy error:";

export class CanaryController {
  readonly #options: CanaryControllerOptions;
  readonly #logger: Logger;
  #run: Run | undefined;
  #last: CanaryStatus | undefined;

  constructor(options: CanaryControllerOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  /** The canary running now, else the last one (with how it ended); undefined when there was none. */
  status(): CanaryStatus | undefined {
    if (this.#run) return { ...this.#run.status, measures: this.#measures(this.#run) };
    return this.#last;
  }

  get running(): boolean {
    return this.#run !== undefined;
  }

  /** Whether the running canary selects this data plane. */
  selects(dataPlane: { id: string; region: string }): boolean {
    return this.#run ? canarySelects(this.#run.status.selector, dataPlane) : false;
  }

  /** Starts a canary of a ready revision; throws CanaryError / BundleStateError when it cannot. */
  async start(
    revision: string,
    selector: CanarySelector,
    options: { by: string; reason?: string },
  ): Promise<CanaryStatus> {
    if (this.#run) {
      throw new CanaryError(
        `a canary of ${this.#run.status.revision} is running: wait for its end, or activate a revision to cancel it`,
      );
    }
    const { store, fleet } = this.#options;
    const active = store.bundles.active();
    if (!active) throw new BundleStateError("no bundle is active: a canary needs one to compare with");
    const planes = fleet.summary(active.revision).dataPlanes.filter((d) => d.live);
    const selected = planes.filter((d) => canarySelects(selector, d));
    if (selected.length === 0) {
      throw new CanaryError(
        `canary ${formatCanarySelector(selector)} selects no live data plane (live: ${
          planes.map((d) => `${d.id} in ${d.region}`).join(", ") || "none"
        })`,
      );
    }
    const reason = `canary ${formatCanarySelector(selector)}${options.reason ? `: ${options.reason}` : ""}`;
    const bundle = store.bundles.canaryActivation(revision, options.by, reason);
    await this.#options.publisher.publishCanary(bundle, selector, active.revision);
    const { settings } = this.#options;
    const run = this.#begin({
      revision,
      previousRevision: active.revision,
      selector,
      state: "running",
      startedAt: bundle.activatedAt,
      by: options.by,
      bakeSeconds: settings.bakeSeconds,
      measures: emptyMeasures(),
    });
    this.#logger.info(
      {
        revision,
        previous: active.revision,
        selector: formatCanarySelector(selector),
        dataPlanes: selected.map((d) => d.id),
      },
      "canary started",
    );
    this.#emit("canary.started", {
      ...this.#payload(run.status),
      data_planes: selected.map((d) => d.id),
      max_deny_rate_increase: settings.maxDenyRateIncrease,
      max_errors: settings.maxErrors,
    });
    return { ...run.status };
  }

  /** Decisions as the consumer stored them. */
  observe(records: readonly DecisionRecordMessage[]): void {
    const run = this.#run;
    if (!run || run.ending) return;
    const { revision, previousRevision, selector } = run.status;
    for (const r of records) {
      if (r.revision === revision) {
        if (!canarySelects(selector, { id: r.data_plane_id, region: r.region })) continue;
        run.canary.decisions += 1;
        if (!r.allow) {
          run.canary.denied += 1;
          if (r.reasons.some((reason) => reason.startsWith(POLICY_ERROR))) run.evaluationErrors += 1;
        }
      } else if (r.revision === previousRevision) {
        run.baseline.decisions += 1;
        if (!r.allow) run.baseline.denied += 1;
      }
    }
  }

  /**
   * Takes up a canary a previous run of the control plane left in KV (it stopped mid-canary): the
   * judge carries on where it was. Its counts come back from the audit trail (the decisions stored
   * since the canary began, store/decisions.ts verdictCountsSince), its bake time from the pointer's
   * start, load errors from the next fleet reports. A canary that cannot be judged any more (the
   * pointer does not read, another revision became active meanwhile, its bundle is gone) is rolled
   * back with a new signed activation of the active revision. Called once NATS is ready.
   */
  async recoverAbandoned(readCanary: () => Promise<Uint8Array | undefined>): Promise<void> {
    if (this.#run) return;
    const left = await readCanary();
    if (!left) return;
    const { store } = this.#options;
    const active = store.bundles.active();
    let pointer: CanaryPointer | undefined;
    let why = "a canary left by a stopped control plane is rolled back";
    try {
      pointer = decodeCanaryPointer(left);
    } catch (err) {
      why = `a canary left by a stopped control plane does not read (${(err as Error).message}): rolled back`;
    }
    if (pointer) {
      const revision = pointer.pointer.revision;
      const bundle = store.bundles.get(revision);
      if (!active || active.revision !== pointer.previous_revision) {
        why = `a canary left by a stopped control plane is rolled back: revision ${active?.revision ?? "(none)"} is active, not ${pointer.previous_revision}`;
      } else if (bundle?.status !== "ready") {
        why = `a canary left by a stopped control plane is rolled back: its bundle ${revision} is ${bundle?.status ?? "gone"}`;
      } else {
        this.#resume(pointer);
        return;
      }
    }
    if (active) {
      const outcome = await this.#options.pipeline.activate(active.revision, {
        by: "canary",
        reason: why,
        renew: true,
      });
      if (!outcome.published) throw new Error(outcome.publishError ?? "the rollback was not published");
    }
    await this.#options.publisher.clearCanary();
    this.#logger.warn(
      { active: active?.revision, why },
      "rolled back a canary left by a stopped control plane",
    );
    this.#emit("canary.rolled_back", {
      revision: pointer?.pointer.revision ?? "",
      previous_revision: active?.revision ?? "",
      reason: why,
    });
  }

  /** The judge of a canary taken up after a restart: counts from the stored decisions since its start. */
  #resume(pointer: CanaryPointer): void {
    const { store, settings } = this.#options;
    const revision = pointer.pointer.revision;
    const selector = pointer.selector;
    const activation = store.bundles.activations({ revision, limit: 1 })[0];
    const run = this.#begin(
      {
        revision,
        previousRevision: pointer.previous_revision,
        selector,
        state: "running",
        startedAt: pointer.started_at,
        by: activation?.activatedBy ?? "",
        bakeSeconds: settings.bakeSeconds,
        measures: emptyMeasures(),
      },
      Date.parse(pointer.started_at),
    );
    for (const c of store.decisions.verdictCountsSince(pointer.started_at, [
      revision,
      pointer.previous_revision,
    ])) {
      if (c.revision === revision) {
        if (!canarySelects(selector, { id: c.dataPlaneId, region: c.region })) continue;
        run.canary.decisions += c.decisions;
        run.canary.denied += c.denied;
        run.evaluationErrors += c.policyErrors;
      } else {
        run.baseline.decisions += c.decisions;
        run.baseline.denied += c.denied;
      }
    }
    const measures = this.#measures(run);
    this.#logger.info(
      { revision, previous: pointer.previous_revision, selector: formatCanarySelector(selector), measures },
      "canary taken up after a restart",
    );
    this.#emit("canary.resumed", { ...this.#payload(run.status), measures });
  }

  /** Starts judging a canary: its check timer and fleet watch. `startedAtMs`: when it began (wall clock). */
  #begin(status: CanaryStatus, startedAtMs: number = Date.now()): Run {
    const { settings, fleet } = this.#options;
    const { revision, selector } = status;
    const run: Run = {
      status,
      started: performance.now() - Math.max(0, Date.now() - startedAtMs),
      canary: { decisions: 0, denied: 0 },
      baseline: { decisions: 0, denied: 0 },
      evaluationErrors: 0,
      loadErrors: new Map(),
      timer: setInterval(() => void this.#check(), settings.checkIntervalMs),
      unwatchFleet: fleet.onReport((record) => {
        if (record.wantedRevision === revision && record.loadError && record.revision !== revision) {
          if (canarySelects(selector, record)) run.loadErrors.set(record.id, record.loadError);
        }
      }),
      ending: false,
    };
    run.timer.unref();
    this.#run = run;
    return run;
  }

  /** Stops judging (the control plane stops); the canary key stays for the next start to end. */
  stop(): void {
    if (!this.#run) return;
    clearInterval(this.#run.timer);
    this.#run.unwatchFleet();
    this.#run = undefined;
  }

  async #check(): Promise<void> {
    const run = this.#run;
    if (!run || run.ending) return;
    const { settings, store } = this.#options;
    try {
      const active = store.bundles.active()?.revision;
      if (active !== run.status.previousRevision) {
        await this.#end(run, "cancelled", `revision ${active ?? "(none)"} was activated meanwhile`);
        return;
      }
      const errors = run.evaluationErrors + run.loadErrors.size;
      if (errors > settings.maxErrors) {
        const parts = [`${run.evaluationErrors} evaluation errors`, `${run.loadErrors.size} load errors`];
        const first = [...run.loadErrors.entries()][0];
        await this.#end(
          run,
          "rolled_back",
          `${parts.join(" and ")}, over max_errors ${settings.maxErrors}${first ? ` (${first[0]}: ${first[1]})` : ""}`,
        );
        return;
      }
      if (run.canary.decisions >= settings.minDecisions) {
        const increase = rate(run.canary) - rate(run.baseline);
        if (increase > settings.maxDenyRateIncrease) {
          await this.#end(
            run,
            "rolled_back",
            `deny rate ${pct(rate(run.canary))} on ${run.canary.decisions} decisions against ${pct(
              rate(run.baseline),
            )} on ${run.baseline.decisions} under ${run.status.previousRevision.slice(0, 12)}: ` +
              `+${pct(increase)}, over max_deny_rate_increase ${pct(settings.maxDenyRateIncrease)}`,
          );
          return;
        }
      }
      if ((performance.now() - run.started) / 1000 >= settings.bakeSeconds) {
        const selected = this.#options.fleet
          .summary(active)
          .dataPlanes.filter((d) => d.live && canarySelects(run.status.selector, d));
        const behind = selected.filter((d) => d.revision !== run.status.revision);
        if (selected.length > 0 && behind.length === 0) await this.#end(run, "promoted");
        else
          await this.#end(
            run,
            "rolled_back",
            `after ${settings.bakeSeconds} s the canary does not run on ${
              behind.map((d) => d.id).join(", ") || "any live data plane"
            }`,
          );
      }
    } catch (err) {
      run.ending = false;
      this.#logger.error({ err, revision: run.status.revision }, "judging the canary failed; retrying");
    }
  }

  async #end(run: Run, state: Exclude<CanaryState, "running">, reason?: string): Promise<void> {
    run.ending = true;
    const { pipeline, publisher } = this.#options;
    const { revision, previousRevision } = run.status;
    let activation: ActivationOutcome | undefined;
    if (state === "promoted") {
      activation = await pipeline.activate(revision, {
        by: "canary",
        reason: `canary ${formatCanarySelector(run.status.selector)} promoted after ${run.status.bakeSeconds} s`,
      });
    } else if (state === "rolled_back") {
      // a new activation of the previous revision, newer than the canary's and signed as a rollback
      activation = await pipeline.activate(previousRevision, {
        by: "canary",
        reason: `canary of ${revision.slice(0, 12)} rolled back: ${reason ?? ""}`,
        renew: true,
      });
    }
    if (activation && !activation.published) {
      throw new Error(`the end of the canary was not published: ${activation.publishError ?? "unknown"}`);
    }
    await publisher.clearCanary();
    clearInterval(run.timer);
    run.unwatchFleet();
    if (this.#run === run) this.#run = undefined;
    const status: CanaryStatus = {
      ...run.status,
      state,
      endedAt: new Date().toISOString(),
      measures: this.#measures(run),
      ...(reason ? { reason } : {}),
    };
    this.#last = status;
    const log = { revision, previous: previousRevision, reason, measures: status.measures };
    if (state === "rolled_back") this.#logger.warn(log, "canary rolled back");
    else this.#logger.info(log, state === "promoted" ? "canary promoted" : "canary cancelled");
    this.#emit(`canary.${state}`, this.#payload(status));
  }

  #measures(run: Run): CanaryMeasures {
    return {
      canary: { ...run.canary, deny_rate: rate(run.canary), evaluation_errors: run.evaluationErrors },
      baseline: { ...run.baseline, deny_rate: rate(run.baseline) },
      load_errors: Object.fromEntries(run.loadErrors),
    };
  }

  #payload(status: CanaryStatus): Record<string, unknown> {
    return {
      revision: status.revision,
      previous_revision: status.previousRevision,
      canary: formatCanarySelector(status.selector),
      state: status.state,
      started_at: status.startedAt,
      ended_at: status.endedAt ?? "",
      reason: status.reason ?? "",
      by: status.by,
      bake_seconds: status.bakeSeconds,
      measures: status.measures,
    };
  }

  #emit(type: string, payload: Record<string, unknown>): void {
    this.#options.events?.emit("canary", type, payload);
  }
}

function emptyMeasures(): CanaryMeasures {
  return {
    canary: { decisions: 0, denied: 0, deny_rate: 0, evaluation_errors: 0 },
    baseline: { decisions: 0, denied: 0, deny_rate: 0 },
    load_errors: {},
  };
}

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
