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
