import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The data plane's Prometheus series. One instance per DataPlane (tests run several in one process). */
export class DataPlaneMetrics {
  readonly registry = new Registry();
  readonly connections = new Counter({
    name: "portcullis_connections_total",
    help: "Client connections by outcome (accepted, refused_token, refused_policy, refused_other, upstream_error)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly activeSessions = new Gauge({
    name: "portcullis_sessions_active",
    help: "Live client sessions",
    registers: [this.registry],
  });
  readonly statements = new Counter({
    name: "portcullis_statements_total",
    help: "Statements decided, by result (allowed, denied, error)",
    labelNames: ["result", "protocol"] as const,
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: "portcullis_decisions_total",
    help: "Policy decisions by entrypoint, result and whether the decision cache answered",
    labelNames: ["entrypoint", "result", "cached"] as const,
    registers: [this.registry],
  });
  readonly evaluationSeconds = new Histogram({
    name: "portcullis_policy_evaluation_seconds",
    help: "Policy evaluation latency (analysis excluded)",
    labelNames: ["entrypoint"] as const,
    buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025],
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: "portcullis_upstream_errors_total",
    help: "Upstream login failures by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly activeRevision = new Gauge({
    name: "portcullis_policy_revision_info",
    help: "The active policy bundle revision (value 1 on the active one)",
    labelNames: ["revision"] as const,
    registers: [this.registry],
  });

  constructor(labels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: "portcullis_dp_" });
  }

  setRevision(revision: string): void {
    this.activeRevision.reset();
    this.activeRevision.set({ revision }, 1);
  }
}
