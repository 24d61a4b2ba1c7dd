import type { KeyObject } from "node:crypto";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { TokenVerifier } from "../common/auth/token-verifier.js";
import { createLogger, type Logger } from "../common/logger.js";
import { loadBundlePublicKeys, verifyBundle } from "../common/policy/bundle-verify.js";
import { PolicyHolder, PolicyRuntime } from "../common/policy/runtime.js";
import { startStatusServer } from "../common/status-server.js";
import { SHADOW_ACTIVATION_JWS_TYPE } from "../proto/activation.js";
import { decodeBundle, readBundle } from "../proto/bundle-file.js";
import type { BundlePointer } from "../proto/bus.js";
import { BUS } from "../proto/bus.js";
import { BundleWatcher } from "./bus/bundle-watcher.js";
import { DecisionLog } from "./bus/decision-log.js";
import { SessionRefused } from "./client/login.js";
import { checkServerSearchPath } from "./client/startup-search-path.js";
import { busBackoff, type DataPlaneConfig, readRolePassword } from "./config.js";
import { DataPlane } from "./data-plane.js";
import { DataPlaneMetrics } from "./metrics.js";
import { ActivationGuard } from "./policy/activation-guard.js";
import { ShadowEvaluator } from "./policy/shadow-evaluator.js";
import { SQLSTATE } from "./protocol/errors.js";
import { type SessionControls, startSessionControls } from "./revocation/session-controls.js";
import { defaultAnalysisCache } from "./sql/analysis-cache.js";
import { loadParser } from "./sql/parser.js";
import { splitIdentifierList } from "./sql/settings.js";
import { Catalog } from "./statements/catalog.js";
import { DecisionCache, ShapeCache } from "./statements/decision-cache.js";
import { SearchPath } from "./statements/search-path.js";
import { type DecisionRecord, StatementGate } from "./statements/statement-gate.js";
import { clientTlsContext } from "./tls-context.js";
import { queryFirstRow } from "./upstream/upstream-connection.js";

/**
 * Builds a running data plane from its configuration: TLS, token verifier, policy (from a local
 * bundle; the bus feeds later ones), catalog, statement gate, listener and the status server.
 */

/**
 * The proxy's one set-up query on a session's new upstream: the role's effective search_path and the
 * schemas the server really searches with it (no implicit ones, as a list splitIdentifierList reads),
 * in one round trip. `SET LOCAL statement_timeout = 0` first: a database's, role's or client's own
 * statement_timeout (even 1 ms) must not make the login fail on the proxy's question; it lasts only
 * for this implicit transaction, so the session keeps its own setting.
 */
const SESSION_PATH_SQL =
  "SET LOCAL statement_timeout = 0; SELECT pg_catalog.current_setting('search_path'), (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(s), ',' ORDER BY o) FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS t(s, o))";

export interface RunningDataPlane {
  dataPlane: DataPlane;
  host: string;
  port: number;
  metricsPort: number | undefined;
  policy: PolicyHolder;
  verifier: TokenVerifier;
  metrics: DataPlaneMetrics;
  publicKeys: KeyObject[];
  /** The bus subscriber for bundles, when `bus` is configured. */
  watcher: BundleWatcher | undefined;
  /** The bus subscriber for the shadow revision (BUS.shadowKey), when `bus` is configured. */
  shadowWatcher: BundleWatcher | undefined;
  /** Evaluates the shadow revision beside the active one (never enforced). */
  shadow: ShadowEvaluator;
  /** Revocations (with `bus`), session events and session time limits. */
  sessionControls: SessionControls | undefined;
  /** Publishes every decision on PORTCULLIS_DECISIONS, when `bus` is configured and `decision_log.enabled`. */
  decisionLog: DecisionLog | undefined;
  /** Verifies and loads a bundle's bytes, then swaps it in (statements in flight finish on the old one). */
  loadBundle(bytes: Uint8Array | string): Promise<string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  onDecision?(record: DecisionRecord): void;
  /**
   * Benchmarks only: relay statements without deciding them, to measure the cost of the statement
   * policy against the same proxy. Not reachable from the configuration file.
   */
  withoutStatementPolicy?: boolean;
}

export async function startDataPlane(
  config: DataPlaneConfig,
  options: StartOptions = {},
): Promise<RunningDataPlane> {
  const logger = options.logger ?? createLogger("portcullis-data-plane").child({ proxy: config.proxy.id });
  const env = options.env ?? process.env;
  await loadParser();

  const metrics = new DataPlaneMetrics({ proxy: config.proxy.id, region: config.proxy.region });
  const tls = await clientTlsContext(config.tls.cert_file, config.tls.key_file);
  if (tls.selfSigned)
    logger.warn("no TLS certificate configured: using a self-signed one (development only)");

  const verifier = new TokenVerifier({
    issuers: config.oidc.issuers.map((i) => ({
      issuer: i.issuer,
      audience: i.audience,
      ...(i.algorithms ? { algorithms: i.algorithms } : {}),
      ...(i.token_types ? { tokenTypes: i.token_types } : {}),
      ...(i.authorized_parties ? { authorizedParties: i.authorized_parties } : {}),
    })),
    clockSkewSeconds: config.oidc.clock_skew_seconds,
    jwksRefetchMinIntervalMs: config.oidc.jwks_refetch_min_interval_ms,
    allowInsecureIssuer: config.oidc.allow_insecure_issuer,
    logger,
  });
  await verifier.start();

  const publicKeys = await loadBundlePublicKeys(config.policy.public_key_file);
  const policy = new PolicyHolder();
  const decisions = new DecisionCache();
  const shapes = new ShapeCache();
  policy.onSwap((next) => {
    decisions.clear();
    metrics.setRevision(next.revision);
    logger.info({ revision: next.revision }, "policy bundle active");
  });
  const observer = (sample: { entrypoint: string; durationNs: number }) =>
    metrics.evaluationSeconds.observe({ entrypoint: sample.entrypoint }, sample.durationNs / 1e9);
  const loadVerified = async (files: Awaited<ReturnType<typeof readBundle>>): Promise<string> => {
    const verified = await verifyBundle(files, publicKeys);
    const runtime = await PolicyRuntime.load(verified, { observer, logger });
    policy.swap(runtime);
    return runtime.revision;
  };
  // Bundles from NATS also need the control plane's signed activation, newer than the one in force.
  const activations = new ActivationGuard(publicKeys);
  const loadActivated = async (bytes: Uint8Array, pointer: BundlePointer): Promise<void> => {
    const verified = await verifyBundle(await decodeBundle(bytes), publicKeys);
    const activation = await activations.check(pointer.activation, bytes, verified.manifest);
    const runtime = await PolicyRuntime.load(verified, { observer, logger });
    policy.swap(runtime);
    activations.accept(activation);
  };
  if (config.policy.bundle) await loadVerified(await readBundle(config.policy.bundle));
  // The shadow revision: verified and signed like the active one (its own activation type and
  // sequence), evaluated after each decision, never enforced.
  const shadow = new ShadowEvaluator({
    logger: logger.child({ component: "shadow" }),
    onDisagreement: (kind, change) => metrics.shadowDisagreements.inc({ kind, change }),
    onEvaluated: (kind) => metrics.shadowEvaluations.inc({ kind }),
    onDropped: () => metrics.shadowDropped.inc(),
  });
  const shadowActivations = new ActivationGuard(publicKeys, SHADOW_ACTIVATION_JWS_TYPE);
  const shadowPolicy = new PolicyHolder();
  const loadShadow = async (bytes: Uint8Array, pointer: BundlePointer): Promise<void> => {
    const verified = await verifyBundle(await decodeBundle(bytes), publicKeys);
    const activation = await shadowActivations.check(pointer.activation, bytes, verified.manifest);
    const runtime = await PolicyRuntime.load(verified, { logger });
    // the shadow revision gets the grants in force too (shadowPolicy holds them for the next one)
    shadowPolicy.swap(runtime);
    shadow.set(runtime);
    shadowActivations.accept(activation);
  };

  const hashKey = config.masking.hash_key_file ? readFileSync(config.masking.hash_key_file) : randomBytes(32);
  const catalog = new Catalog({
    host: config.upstream.host,
    port: config.upstream.port,
    ssl:
      config.upstream.tls === "disable"
        ? false
        : {
            rejectUnauthorized: config.upstream.tls === "verify-full",
            ...(config.upstream.ca_file ? { ca: readFileSync(config.upstream.ca_file, "utf8") } : {}),
          },
    ttlMs: config.catalog.ttl_ms,
    logger,
  });
  const analysis = defaultAnalysisCache();
  const rolePassword = (role: string) => readRolePassword(config, role, env);
  // The audit trail: records queue in memory and are published in the background; no query waits.
  let decisionLog: DecisionLog | undefined;
  if (config.bus && config.decision_log.enabled) {
    decisionLog = new DecisionLog({
      servers: config.bus,
      backoff: busBackoff(config.bus),
      id: config.proxy.id,
      region: config.proxy.region,
      maxQueue: config.decision_log.max_queue,
      publishTimeoutMs: config.decision_log.publish_timeout_ms,
      logger: logger.child({ component: "decision-log" }),
      onDropped: (count, reason) => metrics.decisionLogDropped.inc({ reason }, count),
      onPublished: (count) => metrics.decisionLogPublished.inc(count),
    });
    const log = decisionLog;
    metrics.watchDecisionLogQueue(() => log.depth);
    metrics.watchNatsLink("decision_log", () => log.connected);
    log.start();
  }

  let controls: SessionControls | undefined;
  const dataPlane = new DataPlane({
    config,
    logger,
    tls: tls.context,
    metrics,
    rolePassword,
    verifyToken: (token) => verifier.verify(token),
    checkNotRevoked: (claims) => controls?.checkLogin(claims),
    decideConnection: (input, context) => {
      const runtime = policy.current();
      const started = performance.now();
      const decision = runtime
        ? runtime.evaluateConnection(input)
        : { allow: false, reasons: ["no policy is loaded on this proxy"] };
      const evalMicros = runtime ? (performance.now() - started) * 1000 : 0;
      if (runtime) {
        metrics.decisions.inc({
          entrypoint: "connection",
          result: decision.allow ? "allow" : "deny",
          cached: "no",
        });
      }
      const event = {
        sessionId: context?.sessionId ?? "",
        input,
        decision,
        revision: runtime?.revision,
        evalMicros,
      };
      shadow.connection(input, event, () => decisionLog?.connection(event), runtime !== undefined);
      return decision;
    },
    sessionStages: options.withoutStatementPolicy
      ? undefined
      : async (session, upstream) => {
          const [path = null, searched = null] =
            (await queryFirstRow(upstream.socket, SESSION_PATH_SQL)) ?? [];
          const given = session.startupSearchPath;
          if (given) {
            // what the server really searches must be what the client gave (and the proxy decides)
            const mismatch = checkServerSearchPath(
              given,
              path,
              searched === null ? [] : splitIdentifierList(searched),
              session.dbRole,
            );
            if (mismatch) {
              logger.warn({ session: session.id, reason: mismatch }, "start-up search_path refused");
              throw new SessionRefused(
                `start-up search_path is not supported through Portcullis: ${mismatch}`,
                SQLSTATE.featureNotSupported,
              );
            }
          }
          const password = rolePassword(session.dbRole);
          await catalog.get(session.database, session.dbRole, password).catch((err: Error) => {
            logger.warn({ err: err.message, database: session.database }, "catalog snapshot unavailable");
          });
          const gate = new StatementGate({
            session: {
              id: session.id,
              subject: session.claims.sub,
              claims: session.claims,
              dbRole: session.dbRole,
              database: session.database,
              region: session.region,
            },
            policy,
            analyze: (text) => analysis.analyze(text),
            catalog,
            catalogLogin: { role: session.dbRole, password },
            searchPath: new SearchPath(path === null ? null : splitIdentifierList(path), session.dbRole),
            decisions,
            shapes,
            hashKey,
            logger,
            onDecision: (record) => {
              metrics.countStatement(record.decision.allow, record.protocol, record.cached);
              shadow.statement(record.input, record, () => decisionLog?.statement(record));
              controls?.countStatement(
                record.session.id,
                record.decision.allow,
                record.statement?.command === "DeclareCursorStmt",
              );
              options.onDecision?.(record);
            },
          });
          if (given) {
            // decided as the SET it equals, with the policy and the session's identity
            const decision = gate.decideAtLogin(given.statement);
            if (!decision.allow) {
              throw new SessionRefused(
                `permission denied by Portcullis policy: start-up search_path (${given.statement}): ${decision.reasons.join("; ") || "no reason given"}`,
                SQLSTATE.insufficientPrivilege,
              );
            }
          }
          return gate;
        },
  });
  // Bundles from the control plane over NATS; the last good one on disk covers a cold start while
  // NATS or the control plane is down.
  let watcher: BundleWatcher | undefined;
  let shadowWatcher: BundleWatcher | undefined;
  if (config.bus) {
    watcher = new BundleWatcher({
      servers: config.bus,
      backoff: busBackoff(config.bus),
      id: config.proxy.id,
      region: config.proxy.region,
      labels: config.proxy.labels,
      stateDir: config.bus.state_dir,
      statusIntervalMs: config.bus.status_interval_ms,
      sessions: () => dataPlane.registry.size,
      onBundle: loadActivated,
      logger,
    });
    if (!policy.current()) await watcher.loadLastGood();
    watcher.start();
    const bundles = watcher;
    metrics.watchNatsLink("bundles", () => bundles.state.connected);
    shadowWatcher = new BundleWatcher({
      servers: config.bus,
      backoff: busBackoff(config.bus),
      id: config.proxy.id,
      region: config.proxy.region,
      stateDir: config.bus.state_dir,
      key: BUS.shadowKey,
      shadow: true,
      onBundle: loadShadow,
      onCleared: () => shadow.set(undefined),
      logger: logger.child({ watching: "shadow" }),
    });
    shadowWatcher.start();
  }
  // Revocations are replayed before the listener opens (bounded by revocation.boot_timeout).
  controls = await startSessionControls({
    config,
    registry: dataPlane.registry,
    publicKeys,
    metrics,
    logger,
    revision: () => policy.revision ?? "",
    policy,
    onGrantsChanged: (live) => {
      decisions.clear();
      try {
        shadowPolicy.setLiveData(live);
      } catch (err) {
        logger.warn({ err }, "the shadow revision could not take the grants");
      }
    },
  });
  if (!policy.current()) logger.warn("no policy bundle loaded yet: every connection is denied until one is");
  const address = await dataPlane.listen();
  let status: { server: Server; port: number } | undefined;
  if (config.metrics.port !== undefined) {
    status = await startStatusServer({
      host: config.metrics.host,
      port: config.metrics.port,
      registry: metrics.registry,
      ready: () =>
        !policy.current()
          ? { ready: false, reason: "no policy bundle loaded" }
          : controls?.enforcer?.stale
            ? { ready: false, reason: "revocation list is stale" }
            : { ready: true },
    });
  }
  return {
    dataPlane,
    host: address.host,
    port: address.port,
    metricsPort: status?.port,
    policy,
    verifier,
    metrics,
    publicKeys,
    loadBundle: async (bytes) => {
      const raw = typeof bytes === "string" ? readFileSync(bytes) : bytes;
      return loadVerified(await decodeBundle(raw));
    },
    watcher,
    shadowWatcher,
    shadow,
    decisionLog,
    sessionControls: controls,
    async stop() {
      await watcher?.stop();
      await shadowWatcher?.stop();
      await dataPlane.stop();
      await shadow.drained();
      await controls?.stop();
      await decisionLog?.stop();
      await new Promise<void>((resolve) => (status ? status.server.close(() => resolve()) : resolve()));
      await catalog.close();
    },
  };
}
