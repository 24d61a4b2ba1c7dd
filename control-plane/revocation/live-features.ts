/**
 * The control plane's live-fleet features, wired together: the NATS link for revocations and
 * session events (distribute/revocation-bus.ts), the session view (sessions/session-view.ts), the
 * revocation service (revocation-service.ts), the event hub behind WatchEvents
 * (events/event-hub.ts) and the admin methods over them (admin/session-api.ts), plus their
 * Prometheus series on the control plane's registry.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "../../common/logger.js";
import { SessionAdminApi } from "../admin/session-api.js";
import type { SigningKey } from "../bundle/signing-key.js";
import type { ControlPlaneConfig } from "../config.js";
import type { FleetView } from "../distribute/fleet.js";
import { GrantBus } from "../distribute/grant-bus.js";
import { RevocationBus } from "../distribute/revocation-bus.js";
import { EventHub } from "../events/event-hub.js";
import { GrantService } from "../grants/grant-service.js";
import { SessionConsumer } from "../sessions/session-consumer.js";
import { SessionView } from "../sessions/session-view.js";
import type { ControlPlaneStore } from "../store/index.js";
import { RevocationService } from "./revocation-service.js";

export interface LiveFeatures {
  bus: RevocationBus;
  revocations: RevocationService;
  sessions: SessionView;
  /** Session starts and ends from stream PORTCULLIS_SESSIONS into the view. */
  sessionConsumer: SessionConsumer;
  events: EventHub;
  api: SessionAdminApi;
  /** Just-in-time grants and access requests, on stream PORTCULLIS_GRANTS. */
  grantBus: GrantBus;
  grants: GrantService;
  start(): void;
  stop(): Promise<void>;
}

export interface LiveFeaturesOptions {
  config: ControlPlaneConfig;
  store: ControlPlaneStore;
  fleet: FleetView;
  signingKey: SigningKey;
  logger: Logger;
  registry?: Registry;
  /** portcullis_control_plane_revocation_lag_seconds (RevocationService.lagSeconds), updated every second. */
  lagGauge?: { set(value: number): void };
}

export function createLiveFeatures(options: LiveFeaturesOptions): LiveFeatures {
  const { config, store, fleet, logger } = options;
  const registers = options.registry ? [options.registry] : [];
  const revocationsTotal = new Counter({
    name: "portcullis_control_plane_revocations_total",
    help: "Revocations created, by kind",
    labelNames: ["kind"] as const,
    registers,
  });
  const acksTotal = new Counter({
    name: "portcullis_control_plane_revocation_acks_total",
    help: "Revocation acknowledgements received from data planes",
    registers,
  });
  const busConnected = new Gauge({
    name: "portcullis_control_plane_revocation_bus_connected",
    help: "1 when the revocation/session NATS link is connected and the stream is in place",
    registers,
  });

  const forgetBefore = (keepMs: number) => new Date(Date.now() - keepMs).toISOString();
  const forgotten = store.revocations.forgetExpiredBefore(forgetBefore(config.revocation.keep_expired));
  const ended = store.sessions.forgetEndedBefore(forgetBefore(config.sessions.keep_ended));
  if (forgotten + ended > 0) logger.info({ revocations: forgotten, sessions: ended }, "forgot old records");

  const events = new EventHub({ store, fleet, logger: logger.child({ component: "events" }) });
  const sessions = new SessionView({
    repository: store.sessions,
    heartbeatTimeoutMs: config.sessions.heartbeat_timeout,
    missingGraceMs: config.sessions.missing_grace,
    logger: logger.child({ component: "sessions" }),
    events,
  });
  const sessionConsumer = new SessionConsumer({
    servers: config.nats,
    name: `${config.nats.name}-sessions`,
    logger: logger.child({ component: "session-consumer" }),
    view: sessions,
    durable: config.sessions.consumer,
    ackWaitMs: config.sessions.ack_wait_ms,
    streamMaxAgeMs: config.sessions.stream_max_age,
    replicas: config.distribution.replicas,
    placementCluster: config.distribution.placement_cluster,
    backoff: { initialMs: config.nats.reconnect_initial_ms, maxMs: config.nats.reconnect_max_ms },
    connectTimeoutMs: config.nats.connect_timeout_ms,
  });
  new Gauge({
    name: "portcullis_control_plane_sessions_live",
    help: "Live client sessions across the fleet (from session events)",
    registers,
    collect() {
      this.set(sessions.size);
    },
  });

  let revocations: RevocationService | undefined;
  const bus = new RevocationBus({
    servers: config.nats,
    name: `${config.nats.name}-revocations`,
    logger: logger.child({ component: "revocation-bus" }),
    retentionMs: config.revocation.retention,
    replicas: config.distribution.replicas,
    placementCluster: config.distribution.placement_cluster,
    backoff: { initialMs: config.nats.reconnect_initial_ms, maxMs: config.nats.reconnect_max_ms },
    connectTimeoutMs: config.nats.connect_timeout_ms,
    live: () => revocations?.live() ?? [],
    onPublished: (id, seq, at) => store.revocations.markPublished(id, seq, at),
    onAck: (ack) => {
      acksTotal.inc();
      revocations?.recordAck(ack);
    },
    onSessionEvent: (subject, data) => sessions.handle(subject, data),
    onConnectionChange: (connected) => busConnected.set(connected ? 1 : 0),
  });
  const service = new RevocationService({
    repository: store.revocations,
    signingKey: options.signingKey,
    bus: {
      publishFast: (revocation) => bus.publishFast(revocation),
      publish: async (revocation) => {
        revocationsTotal.inc({ kind: revocation.kind });
        return bus.publish(revocation);
      },
    },
    liveDataPlanes: () =>
      fleet
        .summary(store.bundles.active()?.revision)
        .dataPlanes.filter((d) => d.live)
        .map((d) => d.id),
    retentionMs: config.revocation.retention,
    ackTimeoutMs: config.revocation.ack_timeout,
    logger: logger.child({ component: "revocations" }),
    events,
  });
  revocations = service;
  const api = new SessionAdminApi({ sessions, revocations: service, events, logger });

  let grants: GrantService | undefined;
  const grantBus = new GrantBus({
    servers: config.nats,
    name: `${config.nats.name}-grants`,
    logger: logger.child({ component: "grant-bus" }),
    maxGrantMs: config.grants.max_seconds * 1000,
    replicas: config.distribution.replicas,
    ...(config.distribution.placement_cluster
      ? { placementCluster: config.distribution.placement_cluster }
      : {}),
    backoff: { initialMs: config.nats.reconnect_initial_ms, maxMs: config.nats.reconnect_max_ms },
    connectTimeoutMs: config.nats.connect_timeout_ms,
    unended: () => grants?.unended() ?? [],
    onPublished: (grant, at) => store.grants.markPublished(grant.id, grant.sequence, at),
  });
  grants = new GrantService({
    repository: store.grants,
    signingKey: options.signingKey,
    bus: grantBus,
    maxSeconds: config.grants.max_seconds,
    logger: logger.child({ component: "grants" }),
    events,
  });
  let lagTimer: NodeJS.Timeout | undefined;

  return {
    bus,
    revocations: service,
    sessions,
    sessionConsumer,
    events,
    api,
    grantBus,
    grants,
    start() {
      sessions.start();
      sessionConsumer.start();
      bus.start();
      grantBus.start();
      const gauge = options.lagGauge;
      if (gauge) {
        lagTimer = setInterval(() => gauge.set(service.lagSeconds()), 1_000);
        lagTimer.unref();
      }
    },
    async stop() {
      clearInterval(lagTimer);
      events.stop();
      await sessionConsumer.stop();
      await bus.stop();
      await grantBus.stop();
      sessions.stop();
    },
  };
}
