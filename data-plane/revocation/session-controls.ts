/**
 * What a data plane does to its live sessions beyond relaying them, wired from its configuration:
 *
 * - time limits (session/session-limits.ts): token expiry and the policy's max_session_seconds;
 * - with `bus`: revocations (the feed of bus/revocations.ts into the enforcer of enforcer.ts, the
 *   deny-list kept in `<bus.state_dir>/revocations.json`) and session events for the control
 *   plane's view (bus/session-events.ts).
 *
 * `start()` replays the revocation stream before it returns (up to `revocation.boot_timeout`), so
 * the proxy starts listening with the deny-list rebuilt; when NATS cannot be reached in that time
 * the proxy listens anyway and the staleness rule decides (new logins are refused with 57P03 until
 * the list is caught up, unless the copy on disk is recent enough). Grants (grants/grant-feed.ts)
 * are replayed the same way, in parallel, within the same bound: a grant not yet replayed only
 * withholds access.
 */

import type { KeyObject } from "node:crypto";
import { join } from "node:path";
import type { Logger } from "../../common/logger.js";
import type { LiveData, PolicyHolder } from "../../common/policy/runtime.js";
import type { TokenClaims } from "../../proto/policy.js";
import { RevocationFeed } from "../bus/revocations.js";
import { SessionReporter } from "../bus/session-events.js";
import { busBackoff, type DataPlaneConfig } from "../config.js";
import { type GrantFeed, startGrantFeed } from "../grants/grant-feed.js";
import type { DataPlaneMetrics } from "../metrics.js";
import type { SessionRegistry } from "../session/registry.js";
import { SessionLimits } from "../session/session-limits.js";
import { RevocationEnforcer } from "./enforcer.js";
import { RevocationMetrics } from "./metrics.js";

export const DENY_LIST_FILE = "revocations.json";

export interface SessionControlsOptions {
  config: DataPlaneConfig;
  registry: SessionRegistry;
  publicKeys: readonly KeyObject[];
  metrics: DataPlaneMetrics;
  logger: Logger;
  /** The bundle revision in use. */
  revision: () => string;
  /** The policy in force: grants patch its live data. */
  policy?: PolicyHolder;
  /** After every change of the grants in force, with the new live data (empty the decision cache). */
  onGrantsChanged?: (live: LiveData) => void;
}

export interface SessionControls {
  limits: SessionLimits;
  enforcer: RevocationEnforcer | undefined;
  feed: RevocationFeed | undefined;
  reporter: SessionReporter | undefined;
  grants: GrantFeed | undefined;
  /** Throws LoginRefused for a revoked token or subject, or while the deny-list is stale. */
  checkLogin(claims: TokenClaims): void;
  /** Counts a statement decision against its session (session events report the totals). */
  countStatement(sessionId: string, allowed: boolean, declaresCursor?: boolean): void;
  stop(): Promise<void>;
}

export async function startSessionControls(options: SessionControlsOptions): Promise<SessionControls> {
  const { config, registry, logger } = options;
  const revocationMetrics = new RevocationMetrics(options.metrics.registry);
  const limits = new SessionLimits({
    registry,
    onTokenExpiry: config.session.on_token_expiry,
    logger,
    onEnded: (_session, reason) => revocationMetrics.sessionsEnded.inc({ reason }),
  });
  limits.start();

  let enforcer: RevocationEnforcer | undefined;
  let feed: RevocationFeed | undefined;
  let reporter: SessionReporter | undefined;
  let grants: GrantFeed | undefined;
  const bus = config.bus;
  if (bus) {
    enforcer = new RevocationEnforcer({
      registry,
      publicKeys: options.publicKeys,
      maxStalenessMs: config.revocation.max_staleness,
      mode: config.revocation.mode,
      stateFile: join(bus.state_dir, DENY_LIST_FILE),
      logger: logger.child({ component: "revocations" }),
      metrics: revocationMetrics,
      lagGauge: options.metrics.revocationLagSeconds,
    });
    await enforcer.loadSnapshot();
    enforcer.start();
    const guard = enforcer;
    let reporterRef: SessionReporter | undefined;
    // NATS refusing connections at start: with a recent deny-list on disk there is no point waiting.
    let unreachable: () => void = () => {};
    const unreachableWithFreshCopy = new Promise<void>((resolve) => {
      unreachable = () => {
        if (!guard.stale) resolve();
      };
    });
    feed = new RevocationFeed({
      servers: bus,
      backoff: busBackoff(bus),
      id: config.proxy.id,
      logger,
      onRevocation: async (revocation, context) => {
        const result = await guard.apply(revocation, { live: context.live });
        // Revocations made before this data plane started are not news to anyone waiting.
        const ack = result.accepted && (result.sessionsCut > 0 || (result.isNew && !context.bootReplay));
        return { ack, sessionsCut: result.sessionsCut };
      },
      onCaughtUp: () => guard.markCurrent(),
      onLost: () => guard.markLost(),
      onConnected: (nc) => reporterRef?.connected(nc),
      onUnreachable: () => unreachable(),
    });
    const link = feed;
    reporter = new SessionReporter({
      id: config.proxy.id,
      region: config.proxy.region,
      registry,
      connection: () => link.connection,
      revision: options.revision,
      heartbeatMs: bus.status_interval_ms,
      maxQueue: bus.session_events_max_queue,
      onDropped: (count, reason) => options.metrics.sessionEventsDropped.inc({ reason }, count),
      logger,
    });
    reporterRef = reporter;
    reporter.start();
    options.metrics.watchNatsLink("revocations", () => link.connected);
    feed.start();
    const started = performance.now();
    if (options.policy) {
      grants = startGrantFeed({
        servers: bus,
        backoff: busBackoff(bus),
        id: config.proxy.id,
        registry,
        policy: options.policy,
        publicKeys: options.publicKeys,
        metrics: options.metrics.registry,
        logger,
        onChange: (live) => options.onGrantsChanged?.(live),
      });
      const grantFeed = grants.feed;
      options.metrics.watchNatsLink("grants", () => grantFeed.connected);
    }
    const grantsReplayed = grants?.feed.whenCaughtUp(config.revocation.boot_timeout);
    const caughtUp = await Promise.race([
      feed.whenCaughtUp(config.revocation.boot_timeout),
      unreachableWithFreshCopy.then(() => false),
    ]);
    if (grantsReplayed && !(await Promise.race([grantsReplayed, unreachableWithFreshCopy.then(() => false)])))
      logger.error("the grant stream could not be read at start: listening without grants until it is");
    else if (grants) logger.info({ grants: grants.enforcer.size }, "grants rebuilt from the stream");
    if (caughtUp) {
      logger.info(
        { revocations: enforcer.denyList.size, ms: Math.round(performance.now() - started) },
        "revocation list rebuilt from the stream",
      );
    } else {
      logger.error(
        { waitedMs: Math.round(performance.now() - started), stale: enforcer.stale },
        enforcer.stale
          ? "the revocation stream could not be read at start: listening anyway, logins are refused until it is"
          : "NATS is unreachable at start: listening with the deny-list kept on disk, within revocation.max_staleness",
      );
    }
  }

  return {
    limits,
    enforcer,
    feed,
    reporter,
    grants,
    checkLogin: (claims) => enforcer?.checkLogin(claims),
    countStatement: (sessionId, allowed, declaresCursor) => {
      const session = registry.get(sessionId);
      if (!session) return;
      if (allowed && declaresCursor === true) session.cursorDeclared = true;
      session.statements = (session.statements ?? 0) + 1;
      if (!allowed) session.denied = (session.denied ?? 0) + 1;
    },
    async stop() {
      limits.stop();
      await reporter?.stop();
      await feed?.stop();
      await grants?.stop();
      await enforcer?.stop();
    },
  };
}
