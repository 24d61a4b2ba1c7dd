import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * One labelled series of a counter, bound once: the hot path adds to a plain number, with no label
 * lookup (prom-client hashes the labels on every `inc`), and the counter takes what was added when it
 * is collected (a scrape).
 */
export class BoundCount {
  n = 0;
  #reported = 0;
  constructor(
    readonly counter: Counter<string>,
    readonly labels: Record<string, string>,
  ) {}
  /** Moves what was added since the last call into the counter (called by its collect). */
  settle(): void {
    const delta = this.n - this.#reported;
    if (delta === 0) return;
    this.#reported = this.n;
    this.counter.inc(this.labels, delta);
  }
}

/** Statement decisions counted without label lookups: the slot of each label combination, bound once. */
export interface StatementCounts {
  /** [allowed ? 0 : 1][simple ? 0 : 1] */
  statements: BoundCount[][];
  /** [allowed ? 0 : 1][cached ? 0 : 1] */
  queryDecisions: BoundCount[][];
}

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
  readonly parkedSessions = new Gauge({
    name: "portcullis_sessions_parked",
    help: "Live client sessions holding no upstream session while idle (session.park_idle_after_ms)",
    registers: [this.registry],
  });
  readonly #bound: BoundCount[] = [];
  readonly statements = new Counter({
    name: "portcullis_statements_total",
    help: "Statements decided, by result (allowed, denied, error)",
    labelNames: ["result", "protocol"] as const,
    registers: [this.registry],
    collect: () => this.#settle(),
  });
  readonly decisions = new Counter({
    name: "portcullis_decisions_total",
    help: "Policy decisions by entrypoint, result and whether the decision cache answered",
    labelNames: ["entrypoint", "result", "cached"] as const,
    registers: [this.registry],
    collect: () => this.#settle(),
  });
  /** The per-statement series, bound once (see `countStatement`). */
  readonly statementCounts: StatementCounts = {
    statements: (["allowed", "denied"] as const).map((result) =>
      (["simple", "extended"] as const).map((protocol) => this.#bind(this.statements, { result, protocol })),
    ),
    queryDecisions: (["allow", "deny"] as const).map((result) =>
      (["yes", "no"] as const).map((cached) =>
        this.#bind(this.decisions, { entrypoint: "query", result, cached }),
      ),
    ),
  };
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
  /**
   * For the revocation engineer: set this from the revocation consumer. It is how far behind the
   * deny-list may be, in seconds: 0 while the PORTCULLIS_REVOCATIONS consumer is connected and caught
   * up, otherwise the time since it last was (what `revocation.max_staleness` is compared against).
   * Defined here so dashboards and the observability test can rely on the series existing.
   */
  readonly revocationLagSeconds = new Gauge({
    name: "portcullis_revocation_lag_seconds",
    help: "How far behind the revocation deny-list may be: 0 when caught up with the revocation stream, else seconds since it last was",
    registers: [this.registry],
  });
  readonly natsConnected: Gauge<"link">;
  readonly decisionLogQueue: Gauge;
  readonly decisionLogDropped = new Counter({
    name: "portcullis_decision_log_dropped_total",
    help: "Decision records dropped because the in-memory queue was full (NATS unreachable for too long) or NATS refused them",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly shadowDisagreements = new Counter({
    name: "portcullis_shadow_disagreements_total",
    help: "Decisions where the shadow revision (evaluated, never enforced) decided otherwise than the active one, by kind and change (allow_to_deny, deny_to_allow, mask_change)",
    labelNames: ["kind", "change"] as const,
    registers: [this.registry],
  });
  readonly shadowEvaluations = new Counter({
    name: "portcullis_shadow_evaluations_total",
    help: "Decisions the shadow revision was asked about, by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly shadowDropped = new Counter({
    name: "portcullis_shadow_dropped_total",
    help: "Decisions not evaluated by the shadow revision because its queue was full",
    registers: [this.registry],
  });
  readonly decisionLogPublished = new Counter({
    name: "portcullis_decision_log_published_total",
    help: "Decision records stored on the PORTCULLIS_DECISIONS stream",
    registers: [this.registry],
  });
  readonly sessionEventsDropped = new Counter({
    name: "portcullis_session_events_dropped_total",
    help: "Session start and end events dropped because the in-memory queue was full (JetStream unreachable for too long) or JetStream refused them",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly #natsLinks = new Map<string, () => boolean>();
  #decisionLogDepth: () => number = () => 0;

  constructor(labels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: "portcullis_dp_" });
    const links = this.#natsLinks;
    this.natsConnected = new Gauge({
      name: "portcullis_nats_connected",
      help: "1 when the NATS link (bundles, decision_log, revocations…) is connected and ready",
      labelNames: ["link"] as const,
      registers: [this.registry],
      collect() {
        for (const [link, connected] of links) this.set({ link }, connected() ? 1 : 0);
      },
    });
    const depth = () => this.#decisionLogDepth();
    this.decisionLogQueue = new Gauge({
      name: "portcullis_decision_log_queue_depth",
      help: "Decision records waiting in memory to be published (bounded by decision_log.max_queue)",
      registers: [this.registry],
      collect() {
        this.set(depth());
      },
    });
  }

  #bind(counter: Counter<string>, labels: Record<string, string>): BoundCount {
    const slot = new BoundCount(counter, labels);
    this.#bound.push(slot);
    return slot;
  }

  #settle(): void {
    for (const slot of this.#bound) slot.settle();
  }

  /** One statement decision on portcullis_statements_total and portcullis_decisions_total (no label lookup). */
  countStatement(allowed: boolean, protocol: "simple" | "extended", cached: boolean): void {
    const counts = this.statementCounts;
    counts.statements[allowed ? 0 : 1]![protocol === "simple" ? 0 : 1]!.n++;
    counts.queryDecisions[allowed ? 0 : 1]![cached ? 0 : 1]!.n++;
  }

  /** Reports a NATS link's state on `portcullis_nats_connected{link}` at each scrape. */
  watchNatsLink(link: string, connected: () => boolean): void {
    this.#natsLinks.set(link, connected);
  }

  /** Where `portcullis_decision_log_queue_depth` reads from. */
  watchDecisionLogQueue(depth: () => number): void {
    this.#decisionLogDepth = depth;
  }

  setRevision(revision: string): void {
    this.activeRevision.reset();
    this.activeRevision.set({ revision }, 1);
  }
}
