/**
 * A data plane's grants, wired: stream PORTCULLIS_GRANTS and its fast path
 * (`portcullis.grants.live`) read by bus/stream-feed.ts into the enforcer (grant-enforcer.ts),
 * with its Prometheus series. The stream holds the latest state of every grant, so the replay on
 * boot (before the proxy listens: session-controls.ts waits for it) rebuilds the grants in force.
 */
import type { KeyObject } from "node:crypto";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "../../common/logger.js";
import type { Backoff } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";
import type { LiveData, PolicyHolder } from "../../common/policy/runtime.js";
import { BusMessageError } from "../../proto/bus.js";
import { decodeGrant, GRANTS_LIVE_SUBJECT, GRANTS_STREAM } from "../../proto/grant.js";
import { StreamFeed } from "../bus/stream-feed.js";
import type { SessionRegistry } from "../session/registry.js";
import { GrantEnforcer } from "./grant-enforcer.js";

export interface GrantFeedOptions {
  servers: NatsTarget;
  backoff?: Backoff;
  /** This data plane's id. */
  id: string;
  registry: SessionRegistry;
  policy: PolicyHolder;
  publicKeys: readonly KeyObject[];
  metrics: Registry;
  logger: Logger;
  /** After every change of the grants in force, with the new live data (empty the decision cache). */
  onChange: (live: LiveData) => void;
}

export interface GrantFeed {
  feed: StreamFeed;
  enforcer: GrantEnforcer;
  stop(): Promise<void>;
}

export function startGrantFeed(options: GrantFeedOptions): GrantFeed {
  const logger = options.logger.child({ component: "grants" });
  const registers = [options.metrics];
  const rejected = new Counter({
    name: "portcullis_grants_rejected_total",
    help: "Grant messages refused: bad signature, older sequence, changed target, malformed",
    labelNames: ["reason"] as const,
    registers,
  });
  const sessionsEnded = new Counter({
    name: "portcullis_grant_sessions_ended_total",
    help: "Live sessions ended because the grant that allowed them ended",
    registers,
  });
  const enforcer = new GrantEnforcer({
    registry: options.registry,
    policy: options.policy,
    publicKeys: options.publicKeys,
    logger,
    onChange: options.onChange,
    onRejected: (reason) => rejected.inc({ reason }),
    onSessionEnded: () => sessionsEnded.inc(),
  });
  new Gauge({
    name: "portcullis_grants_in_force",
    help: "Just-in-time grants in force on this data plane",
    registers,
    collect() {
      this.set(enforcer.size);
    },
  });
  const feed = new StreamFeed({
    servers: options.servers,
    name: `portcullis-data-plane-${options.id}-grants`,
    what: "grant",
    stream: GRANTS_STREAM,
    liveSubject: GRANTS_LIVE_SUBJECT,
    ...(options.backoff ? { backoff: options.backoff } : {}),
    logger,
    onMessage: async (_nc, data) => {
      let grant: ReturnType<typeof decodeGrant>;
      try {
        grant = decodeGrant(data);
      } catch (err) {
        if (!(err instanceof BusMessageError)) throw err;
        logger.warn({ err: err.message }, "ignored an invalid grant message");
        rejected.inc({ reason: "malformed" });
        return;
      }
      await enforcer.apply(grant);
    },
  });
  feed.start();
  return {
    feed,
    enforcer,
    async stop() {
      enforcer.stop();
      await feed.stop();
    },
  };
}
