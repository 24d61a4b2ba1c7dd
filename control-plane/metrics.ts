/** Prometheus metrics of the control plane (served on /metrics by common/status-server.ts). */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface ControlPlaneMetricsOptions {
  /** Read at each scrape for the fleet gauge. */
  fleet?: () => { live: number; converged: number };
}

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  #fleetSource: ControlPlaneMetricsOptions["fleet"];
  readonly builds = new Counter({
    name: "portcullis_control_plane_bundle_builds_total",
    help: "Bundle builds by outcome (ready, failed) and failed stage",
    labelNames: ["result", "stage"] as const,
    registers: [this.registry],
  });
  readonly stageSeconds = new Histogram({
    name: "portcullis_control_plane_stage_seconds",
    help: "Duration of each stage of a commit's path: export, check, test, build, sign, store, publish",
    labelNames: ["stage"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly activations = new Counter({
    name: "portcullis_control_plane_activations_total",
    help: "Bundle activations (new commits, publishes, roll forward/back)",
    registers: [this.registry],
  });
  readonly activeRevision = new Gauge({
    name: "portcullis_control_plane_active_revision",
    help: "1 for the active bundle revision",
    labelNames: ["revision"] as const,
    registers: [this.registry],
  });
  readonly natsConnected = new Gauge({
    name: "portcullis_control_plane_nats_connected",
    help: "1 when connected to NATS with the buckets ready",
    registers: [this.registry],
  });
  readonly fleet: Gauge<"state">;
  readonly syncErrors = new Counter({
    name: "portcullis_control_plane_source_sync_errors_total",
    help: "Policy source syncs that failed (fetch, export)",
    registers: [this.registry],
  });
  readonly decisionsStored = new Counter({
    name: "portcullis_control_plane_decisions_stored_total",
    help: "Decision records stored from stream PORTCULLIS_DECISIONS, by kind (connection, query) and result (allowed, denied)",
    labelNames: ["kind", "result"] as const,
    registers: [this.registry],
  });
  readonly decisionsInvalid = new Counter({
    name: "portcullis_control_plane_decisions_invalid_total",
    help: "Messages on stream PORTCULLIS_DECISIONS that were not valid decision records (dropped)",
    registers: [this.registry],
  });
  readonly decisionsPruned = new Counter({
    name: "portcullis_control_plane_decisions_pruned_total",
    help: "Stored decisions deleted because they were older than decisions.retention_days",
    registers: [this.registry],
  });
  readonly decisionsPending = new Gauge({
    name: "portcullis_control_plane_decisions_pending",
    help: "Decision records on the stream not yet read by the control plane (as of the last one read)",
    registers: [this.registry],
  });
  readonly decisionConsumerConnected = new Gauge({
    name: "portcullis_control_plane_decision_consumer_connected",
    help: "1 when the decision record consumer is connected to NATS with its stream and consumer ready",
    registers: [this.registry],
  });
  /**
   * For the revocation engineer: set this from the revocation side of the control plane. It is how
   * long the latest revocation took to be acknowledged by every live data plane (seconds), or, while
   * some have not acknowledged yet, how long it has been waiting.
   */
  readonly revocationLagSeconds = new Gauge({
    name: "portcullis_control_plane_revocation_lag_seconds",
    help: "Time from the latest revocation to its acknowledgement by every live data plane (still growing while some have not)",
    registers: [this.registry],
  });

  constructor(options: ControlPlaneMetricsOptions = {}) {
    this.#fleetSource = options.fleet;
    const source = () => this.#fleetSource;
    this.fleet = new Gauge({
      name: "portcullis_control_plane_data_planes",
      help: "Data planes heard from within the staleness window (live) and those running the active revision (converged)",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        const read = source();
        if (!read) return;
        const { live, converged } = read();
        this.set({ state: "live" }, live);
        this.set({ state: "converged" }, converged);
      },
    });
  }

  /** Where the fleet gauge reads from (set once the fleet view exists). */
  setFleetSource(source: ControlPlaneMetricsOptions["fleet"]): void {
    this.#fleetSource = source;
  }

  setActiveRevision(revision: string | undefined): void {
    this.activeRevision.reset();
    if (revision) this.activeRevision.set({ revision }, 1);
  }

  observeStages(durations: Record<string, number>): void {
    for (const [stage, ms] of Object.entries(durations)) {
      if (stage !== "total" && Number.isFinite(ms)) this.stageSeconds.observe({ stage }, ms / 1000);
    }
  }
}
