/** The data plane's revocation series, on the data plane's registry. */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export class RevocationMetrics {
  readonly applied: Counter<"kind">;
  readonly rejected: Counter<"reason">;
  readonly sessionsEnded: Counter<"reason">;
  readonly loginsRefused: Counter<"reason">;
  readonly stale: Gauge;
  readonly active: Gauge;
  readonly propagationSeconds: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.applied = new Counter({
      name: "portcullis_revocations_applied_total",
      help: "Revocations added to the deny-list, by kind",
      labelNames: ["kind"] as const,
      registers,
    });
    this.rejected = new Counter({
      name: "portcullis_revocations_rejected_total",
      help: "Revocations ignored: signature not verifying with the control plane's key, malformed, or invalid",
      labelNames: ["reason"] as const,
      registers,
    });
    this.sessionsEnded = new Counter({
      name: "portcullis_sessions_ended_by_proxy_total",
      help: "Live sessions the proxy ended, by reason (revoked, expired, max_duration, stale)",
      labelNames: ["reason"] as const,
      registers,
    });
    this.loginsRefused = new Counter({
      name: "portcullis_logins_refused_revocation_total",
      help: "Logins refused by the deny-list (subject, token) or because the deny-list is stale",
      labelNames: ["reason"] as const,
      registers,
    });
    this.stale = new Gauge({
      name: "portcullis_revocation_stale",
      help: "1 while the deny-list is older than revocation.max_staleness (new connections refused)",
      registers,
    });
    this.active = new Gauge({
      name: "portcullis_revocations_active",
      help: "Revocations in force on this data plane",
      registers,
    });
    this.propagationSeconds = new Histogram({
      name: "portcullis_revocation_propagation_seconds",
      help: "From a revocation's creation at the control plane to its enforcement here (live ones only)",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
  }
}
