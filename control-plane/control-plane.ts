/**
 * One control plane, wired from its configuration: the store (SQLite), the signing key, the
 * pipeline (compile → sign → store → activate), the git policy source (polling and on demand), the
 * distributor (NATS KV pointer + Object Store bytes, status reports into the fleet view), the live
 * features (revocations, the session view, admin events: revocation/live-features.ts), the admin
 * gRPC server (TLS, OIDC bearer tokens: admin/tls.ts, admin/auth.ts) and the status server
 * (/metrics, /healthz, /readyz).
 *
 * The control plane starts and serves its admin API whether or not NATS is reachable: the
 * distributor connects in the background and publishes the active bundle as soon as it can.
 */
import type { Server } from "node:http";
import { join } from "node:path";
import { createLogger, type Logger } from "../common/logger.js";
import { startStatusServer } from "../common/status-server.js";
import { createAdminAuthorizer } from "./admin/auth.js";
import { PolicyChangeApi } from "./admin/policy-change-api.js";
import {
  type AdminCaller,
  type Authorize,
  type RunningAdminServer,
  startAdminServer,
} from "./admin/server.js";
import { type AdminTls, adminServerTls } from "./admin/tls.js";
import { DecisionConsumer } from "./audit/decision-consumer.js";
import { signActivation, signShadowActivation } from "./bundle/sign-activation.js";
import { exportPublicKey, loadOrCreateSigningKey, type SigningKey } from "./bundle/signing-key.js";
import type { ControlPlaneConfig } from "./config.js";
import { type RunningConsole, startConsoleFor } from "./console/start.js";
import { Distributor } from "./distribute/distributor.js";
import { FleetView } from "./distribute/fleet.js";
import { ControlPlaneMetrics } from "./metrics.js";
import { type CommitsOutcome, Pipeline } from "./pipeline.js";
import { candidateRuntimes } from "./replay/candidate-runtime.js";
import { createLiveFeatures, type LiveFeatures } from "./revocation/live-features.js";
import { CanaryController } from "./rollout/canary.js";
import { GitSource, GitSourceError, type SourceSyncResult, sourceId } from "./source/git-source.js";
import { ControlPlaneStore } from "./store/index.js";

export interface StartControlPlaneOptions {
  logger?: Logger;
  /** Replaces the admin API's authorization (default: admin/auth.ts, from `admin.auth`). */
  authorize?: Authorize;
}

export interface RunningControlPlane {
  config: ControlPlaneConfig;
  logger: Logger;
  store: ControlPlaneStore;
  signingKey: SigningKey;
  pipeline: Pipeline;
  distributor: Distributor;
  fleet: FleetView;
  /** Reads stream PORTCULLIS_DECISIONS into SQLite (the audit trail) and prunes old decisions. */
  decisions: DecisionConsumer;
  /** Canary rollouts: started by ActivateBundle with a canary, judged and ended here. */
  canary: CanaryController;
  /** Absent when no git source is configured. */
  source: GitSource<CommitsOutcome> | undefined;
  admin: RunningAdminServer;
  /** The admin API's TLS (certFile: the certificate clients can pin; absent when plaintext). */
  adminTls: Pick<AdminTls, "certFile" | "certPem" | "selfSigned">;
  /** The web console (`console.listen`), when configured. */
  console: RunningConsole | undefined;
  /** Revocations, the live session view and admin events. */
  live: LiveFeatures;
  metrics: ControlPlaneMetrics;
  metricsPort: number | undefined;
  /** Fetches the policy repository and builds what is new (as SyncPolicies does). */
  sync(): Promise<SourceSyncResult<CommitsOutcome>>;
  stop(): Promise<void>;
}

export type { AdminCaller, Authorize };

export async function startControlPlane(
  config: ControlPlaneConfig,
  options: StartControlPlaneOptions = {},
): Promise<RunningControlPlane> {
  const logger = options.logger ?? createLogger("portcullis-control-plane");
  const store = ControlPlaneStore.open(config.store.path);
  const cleanup: (() => Promise<void> | void)[] = [() => store.close()];
  try {
    const interrupted = store.bundles.failInterrupted();
    if (interrupted.length > 0) {
      logger.warn({ revisions: interrupted }, "builds interrupted by the last stop will run again");
    }
    const signingKey = await loadOrCreateSigningKey(config.signing.key_file, logger);
    if (config.signing.public_key_out) {
      await exportPublicKey(signingKey, config.signing.public_key_out);
      logger.info({ path: config.signing.public_key_out, kid: signingKey.kid }, "bundle public key written");
    }

    const forgotten = store.fleet.forgetBefore(
      new Date(Date.now() - config.fleet.forget_after_ms).toISOString(),
    );
    if (forgotten > 0) logger.info({ forgotten }, "forgot data planes not heard from for a long time");
    const fleet = new FleetView({ repository: store.fleet, staleAfterMs: config.fleet.stale_after_ms });
    const metrics = new ControlPlaneMetrics({
      fleet: () => fleet.summary(store.bundles.active()?.revision),
    });
    metrics.setActiveRevision(store.bundles.active()?.revision);

    const distributor = new Distributor({
      servers: config.nats,
      name: config.nats.name,
      logger: logger.child({ component: "distributor" }),
      kvBucket: config.distribution.kv_bucket,
      objectBucket: config.distribution.object_bucket,
      replicas: config.distribution.replicas,
      placementCluster: config.distribution.placement_cluster,
      kvHistory: config.distribution.kv_history,
      keepObjects: config.distribution.keep_objects,
      backoff: { initialMs: config.nats.reconnect_initial_ms, maxMs: config.nats.reconnect_max_ms },
      connectTimeoutMs: config.nats.connect_timeout_ms,
      active: () => store.bundles.activeBundle(),
      signActivation: (activation) => signActivation(activation, signingKey),
      shadow: () => store.shadow.bundle(),
      signShadowActivation: (activation) => signShadowActivation(activation, signingKey),
      onPublished: (bundle, at) => store.bundles.markPublished(bundle.activationId, at),
      onStatus: (report) => fleet.record(report),
      onConnectionChange: (connected) => metrics.natsConnected.set(connected ? 1 : 0),
    });
    cleanup.unshift(() => distributor.stop());

    let canary: CanaryController | undefined;
    const decisions = new DecisionConsumer({
      servers: config.nats,
      name: `${config.nats.name}-decisions`,
      logger: logger.child({ component: "decisions" }),
      repository: store.decisions,
      durable: config.decisions.consumer,
      batchSize: config.decisions.batch_size,
      stream: {
        maxAgeMs: config.decisions.stream_max_age_ms,
        maxBytes: config.decisions.stream_max_bytes,
        replicas: config.distribution.replicas,
        placementCluster: config.distribution.placement_cluster,
      },
      retentionMs: config.decisions.retention_days * 24 * 3600 * 1000,
      pruneIntervalMs: config.decisions.prune_interval_ms,
      backoff: { initialMs: config.nats.reconnect_initial_ms, maxMs: config.nats.reconnect_max_ms },
      connectTimeoutMs: config.nats.connect_timeout_ms,
      metrics: {
        stored: (kind, result, count) => metrics.decisionsStored.inc({ kind, result }, count),
        invalid: (count) => metrics.decisionsInvalid.inc(count),
        pending: (count) => metrics.decisionsPending.set(count),
        pruned: (count) => metrics.decisionsPruned.inc(count),
        connected: (connected) => metrics.decisionConsumerConnected.set(connected ? 1 : 0),
      },
      onStored: (records) => canary?.observe(records),
    });
    cleanup.unshift(() => decisions.stop());

    const pipeline = new Pipeline({
      store,
      signingKey,
      publisher: distributor,
      logger: logger.child({ component: "pipeline" }),
      autoActivate: config.pipeline.auto_activate,
      metrics,
      compile: {
        ...(config.pipeline.opa_path ? { opaPath: config.pipeline.opa_path } : {}),
        ...(config.pipeline.opa_timeout_ms ? { timeoutMs: config.pipeline.opa_timeout_ms } : {}),
      },
    });

    let source: GitSource<CommitsOutcome> | undefined;
    const git = config.source.git;
    if (git.url) {
      const id = sourceId(git.url, git.branch, git.folder);
      const where = { url: git.url, branch: git.branch, folder: git.folder };
      const created: GitSource<CommitsOutcome> = new GitSource<CommitsOutcome>({
        url: git.url,
        branch: git.branch,
        folder: git.folder,
        workDir: join(config.data_dir, "sources", id),
        pollIntervalMs: git.poll_interval_ms,
        maxCommitsPerSync: git.max_commits_per_sync,
        timeoutMs: git.timeout_ms,
        ...(git.binary ? { git: git.binary } : {}),
        logger: logger.child({ component: "git-source" }),
        cursor: {
          lastCommit: () => store.sources.get(id)?.lastCommit,
          advance: (commit, head) =>
            void store.sources.update(id, {
              ...where,
              ...(commit ? { lastCommit: commit } : {}),
              lastHead: head,
              lastFetchedAt: new Date().toISOString(),
            }),
          isProcessed: (commit) => store.bundles.isCommitProcessed(commit),
          recordError: (message) => {
            if (message !== null) metrics.syncErrors.inc();
            store.sources.update(id, { ...where, lastError: message });
          },
        },
        onCommits: (commits) => pipeline.handleCommits(commits, created.describe()),
      });
      source = created;
      cleanup.unshift(() => created.stop());
    } else {
      logger.info("no git policy source configured (source.git.url): bundles come from PublishBundle only");
    }

    const sync = async () => {
      if (!source) throw new GitSourceError("no git policy source is configured (source.git.url)");
      return source.sync();
    };

    const live = createLiveFeatures({
      config,
      store,
      fleet,
      signingKey,
      logger,
      registry: metrics.registry,
      lagGauge: metrics.revocationLagSeconds,
    });
    cleanup.unshift(() => live.stop());
    const canarySettings = config.rollout.canary;
    const canaryController = new CanaryController({
      store,
      pipeline,
      publisher: distributor,
      fleet,
      events: live.events,
      logger: logger.child({ component: "canary" }),
      settings: {
        maxDenyRateIncrease: canarySettings.max_deny_rate_increase,
        maxErrors: canarySettings.max_errors,
        bakeSeconds: canarySettings.bake_seconds,
        minDecisions: canarySettings.min_decisions,
        checkIntervalMs: canarySettings.check_interval_ms,
      },
    });
    canary = canaryController;
    cleanup.unshift(() => canaryController.stop());
    const authorizer = options.authorize
      ? undefined
      : await createAdminAuthorizer({
          admin: config.admin,
          store,
          publicKey: signingKey.publicKey,
          logger: logger.child({ component: "admin-auth" }),
        });
    const adminTls = await adminServerTls(config, logger.child({ component: "admin" }));
    const admin = await startAdminServer({
      host: config.admin.host,
      port: config.admin.port,
      reflection: config.admin.reflection,
      store,
      pipeline,
      fleet,
      canary: canaryController,
      ...(source ? { sync, sourceFiles: (commit: string) => source!.files(commit) } : {}),
      natsConnected: () => distributor.connected,
      authorize: options.authorize ?? authorizer!.authorize,
      sessionApi: live.api,
      grants: live.grants,
      policyChange: new PolicyChangeApi({
        store,
        publishShadow: () => distributor.publishShadow(),
        candidateRuntime: candidateRuntimes(store, signingKey.publicKey),
      }),
      credentials: adminTls.credentials,
      logger: logger.child({ component: "admin" }),
    });
    cleanup.unshift(() => admin.stop());
    const consoleServer = await startConsoleFor(
      config,
      admin,
      adminTls,
      logger.child({ component: "console" }),
    );
    if (consoleServer) cleanup.unshift(() => consoleServer.stop());

    let status: { server: Server; port: number } | undefined;
    if (config.metrics.port !== undefined) {
      status = await startStatusServer({
        host: config.metrics.host,
        port: config.metrics.port,
        registry: metrics.registry,
        ready: () => (store.open ? { ready: true } : { ready: false, reason: "the store is closed" }),
      });
      const server = status.server;
      cleanup.unshift(() => new Promise<void>((resolve) => server.close(() => resolve())));
    }

    distributor.start();
    void distributor
      .whenReady()
      .then(() => canaryController.recoverAbandoned(() => distributor.readCanary()))
      .catch((err: Error) =>
        logger.warn({ err: err.message }, "checking for a canary left by a previous run failed"),
      );
    live.start();
    decisions.start();
    source?.start();
    logger.info(
      {
        admin: admin.address,
        console: consoleServer?.url,
        metricsPort: status?.port,
        store: config.store.path,
        source: source?.describe(),
        nats: config.nats.servers,
        active: store.bundles.active()?.revision,
        kid: signingKey.kid,
      },
      "control plane started",
    );

    let stopped = false;
    return {
      config,
      logger,
      store,
      signingKey,
      pipeline,
      distributor,
      fleet,
      decisions,
      canary: canaryController,
      source,
      admin,
      console: consoleServer,
      adminTls: { certFile: adminTls.certFile, certPem: adminTls.certPem, selfSigned: adminTls.selfSigned },
      live,
      metrics,
      metricsPort: status?.port,
      sync,
      async stop() {
        if (stopped) return;
        stopped = true;
        await runCleanup(cleanup, logger);
      },
    };
  } catch (err) {
    await runCleanup(cleanup, logger);
    throw err;
  }
}

async function runCleanup(steps: (() => Promise<void> | void)[], logger: Logger): Promise<void> {
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      logger.warn({ err }, "error while stopping the control plane");
    }
  }
}
