/**
 * The admin API's safe-policy-change methods: ActivateBundle with mode "shadow" (a revision the
 * data planes evaluate beside the active one, never enforcing it), ShadowReport and
 * ReplayDecisions (impact replay). Errors a caller can fix are PolicyChangeRequestError
 * (INVALID_ARGUMENT / FAILED_PRECONDITION in server.ts).
 */
import type { PolicyRuntime } from "../../common/policy/runtime.js";
import type {
  ActivateBundleRequest,
  ActivateBundleResponse,
  ReplayDecisionsRequest,
  ReplayDecisionsResponse,
  ShadowReportRequest,
  ShadowReportResponse,
} from "../../proto/load.js";
import { parseTimeBound } from "../audit/query.js";
import type { PublishResult } from "../distribute/distributor.js";
import { replayDecisions } from "../replay/impact-replay.js";
import { shadowReport } from "../replay/shadow-report.js";
import type { ControlPlaneStore } from "../store/index.js";

export class PolicyChangeRequestError extends Error {
  override name = "PolicyChangeRequestError";
}

export interface PolicyChangeApiOptions {
  store: ControlPlaneStore;
  /** Makes NATS carry the store's shadow revision (the distributor). */
  publishShadow?: () => Promise<PublishResult>;
  /** A stored revision's verified bundle loaded into a policy runtime. */
  candidateRuntime?: (revision: string) => Promise<PolicyRuntime>;
}

const DEFAULT_REPLAY_LAST = 10_000;

export class PolicyChangeApi {
  constructor(private readonly options: PolicyChangeApiOptions) {}

  /** ActivateBundle with mode "shadow". */
  async setShadow(
    request: Pick<ActivateBundleRequest, "revision" | "reason" | "clear">,
    by: string,
  ): Promise<ActivateBundleResponse> {
    const { store } = this.options;
    const previous = store.shadow.current()?.revision ?? "";
    let revision: string | undefined;
    if (request.clear) {
      if (request.revision) throw new PolicyChangeRequestError("give a revision or clear, not both");
    } else {
      if (!request.revision) throw new PolicyChangeRequestError("give the revision to shadow (or clear)");
      revision = store.bundles.resolveRevision(request.revision);
      const record = store.bundles.require(revision);
      if (record.status !== "ready" && record.status !== "active") {
        throw new PolicyChangeRequestError(
          `revision ${revision} is ${record.status}: only a built bundle can be shadowed`,
        );
      }
    }
    const set = store.shadow.set(revision, by, request.reason ?? "");
    const published = (await this.options.publishShadow?.()) ?? {
      published: false,
      error: "no distributor",
      durationMs: 0,
    };
    return {
      revision: revision ?? "",
      previous_revision: previous,
      activated_at: set.at,
      published: published.published,
      publish_error: published.error ?? "",
      canary: null,
      mode: "shadow",
    };
  }

  shadowReport(request: ShadowReportRequest): ShadowReportResponse {
    const { store } = this.options;
    const current = store.shadow.current()?.revision;
    const revision = request.revision ? store.bundles.resolveRevision(request.revision) : current;
    if (!revision) throw new PolicyChangeRequestError("no shadow revision is set: give one");
    const since = request.since ? parseTimeBound(request.since, "since") : undefined;
    const groups = shadowReport(store.decisions, revision, since);
    return {
      revision,
      current: revision === current,
      disagreements: groups.total,
      ...groups.totals,
      groups: groups.top(request.top && request.top > 0 ? request.top : 20),
    };
  }

  async replay(request: ReplayDecisionsRequest): Promise<ReplayDecisionsResponse> {
    const { store, candidateRuntime } = this.options;
    if (!request.against) throw new PolicyChangeRequestError("give the candidate revision (against)");
    if (!candidateRuntime) throw new PolicyChangeRequestError("impact replay is not available here");
    const revision = store.bundles.resolveRevision(request.against);
    const runtime = await candidateRuntime(revision);
    const since = request.since ? parseTimeBound(request.since, "since") : undefined;
    const last = request.last && request.last > 0 ? request.last : since ? undefined : DEFAULT_REPLAY_LAST;
    const result = replayDecisions(store.decisions, runtime, {
      ...(last !== undefined ? { last } : {}),
      ...(since !== undefined ? { since } : {}),
      maxFlips: request.max_flips && request.max_flips > 0 ? request.max_flips : 100,
      evaluateAll: request.evaluate_all ?? false,
    });
    return {
      against: revision,
      replayed: result.replayed,
      evaluations: result.evaluations,
      duration_ms: result.durationMs,
      decisions_per_s: result.decisionsPerS,
      ...result.groups.totals,
      flips: result.flips.map((f) => ({
        id: f.id,
        at: f.at,
        kind: f.kind,
        subject: f.subject,
        db_role: f.dbRole,
        relations: f.relations,
        change: f.change,
        sql: f.sql,
        recorded_reasons: f.recordedReasons,
        candidate_reasons: f.candidateReasons,
        recorded_revision: f.recordedRevision,
      })),
      groups: result.groups.top(request.top && request.top > 0 ? request.top : 20),
    };
  }
}
