/**
 * A NATS connection that is never given up on, for both planes: it connects in the background
 * (NATS may be down when the process starts), retries with capped exponential backoff and jitter,
 * lets the client reconnect forever after a loss, and runs `onReady` after every (re)connection
 * (create buckets, publish, re-check watched keys…) until it succeeds. Nothing here throws into
 * the caller: failures are logged and retried; `connected` and `whenReady()` say where it stands.
 */
import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "./logger.js";
import { type NatsTarget, natsConnectionOptions, natsServers } from "./nats-settings.js";

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 10_000 };

/** The delay before retry number `attempt` (1-based): doubling from initialMs, capped, ±20% jitter. */
export function backoffDelay(attempt: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)));
}

/** The server a link is on, from the server's INFO: its name and its cluster (the region in a supercluster). */
export interface NatsServerIdentity {
  url: string;
  name: string;
  cluster?: string;
}

/** The NATS server and cluster of a connection (undefined before the handshake). */
export function natsServerIdentity(nc: NatsConnection): NatsServerIdentity | undefined {
  const info = nc.info;
  if (!info) return undefined;
  return {
    url: nc.getServer(),
    name: info.server_name,
    ...(info.cluster ? { cluster: info.cluster } : {}),
  };
}

export interface NatsLinkOptions {
  /** A URL, a list of cluster members, or a config section with credentials and TLS (common/nats-settings.ts). */
  servers: NatsTarget;
  /** Client name shown by the server's monitoring. */
  name: string;
  logger: Logger;
  backoff?: Backoff;
  /** Handshake timeout per attempt. */
  connectTimeoutMs?: number;
  /** Client pings: a silent server is detected after about twice this. */
  pingIntervalMs?: number;
  /** More client options, passed as they are (over those derived from `servers`). */
  connectionOptions?: Partial<ConnectionOptions>;
  /** Runs after each connection and reconnection; a throw is logged and retried with backoff. */
  onReady?: (nc: NatsConnection) => Promise<void>;
  /** Called when the connection is lost (the client is already trying again). */
  onDown?: () => void;
  /** Called after each failed attempt to connect (before the first connection, or after a close). */
  onConnectFailed?: (err: Error, attempt: number) => void;
}

export class NatsLink {
  readonly #options: NatsLinkOptions;
  readonly #backoff: Backoff;
  #nc: NatsConnection | undefined;
  #ready = false;
  #stopping = false;
  #running: Promise<void> | undefined;
  #generation = 0;
  #reconnectAttempts = 0;
  #wake = new AbortController();
  #waiters: { resolve: (nc: NatsConnection) => void; reject: (err: Error) => void }[] = [];

  constructor(options: NatsLinkOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  /** Starts connecting in the background; returns at once. */
  start(): void {
    if (this.#running || this.#stopping) return;
    this.#running = this.#run().catch((err: unknown) =>
      this.#options.logger.error({ err }, "NATS link loop ended unexpectedly"),
    );
  }

  /** True when connected and the last `onReady` succeeded. */
  get connected(): boolean {
    return this.#ready && this.#nc !== undefined && !this.#nc.isClosed();
  }

  /** The server and cluster the link is on now (also while not ready), for status reports and logs. */
  get server(): NatsServerIdentity | undefined {
    const nc = this.#nc;
    return nc && !nc.isClosed() ? natsServerIdentity(nc) : undefined;
  }

  /** The live connection, when connected and ready. */
  get connection(): NatsConnection | undefined {
    return this.connected ? this.#nc : undefined;
  }

  /**
   * The connection for core NATS publishes, ready or not: after a node loss JetStream can time out
   * for seconds while the cluster elects leaders (onReady keeps retrying), but a core message reaches
   * every subscriber at once; while the client reconnects it holds the message and sends it on. Only
   * for what needs no JetStream (a fast path whose durable copy goes out once ready).
   */
  get coreConnection(): NatsConnection | undefined {
    const nc = this.#nc;
    return nc && !nc.isClosed() ? nc : undefined;
  }

  /** Resolves with the connection once it is ready; rejects after `timeoutMs` or on stop. */
  whenReady(timeoutMs?: number): Promise<NatsConnection> {
    const nc = this.connection;
    if (nc) return Promise.resolve(nc);
    if (this.#stopping) return Promise.reject(new Error("the NATS link is stopped"));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (c: NatsConnection) => {
          clearTimeout(timer);
          resolve(c);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.#waiters = this.#waiters.filter((w) => w !== waiter);
              reject(new Error(`NATS is not reachable (waited ${timeoutMs} ms)`));
            }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /**
   * Runs `onReady` again now (e.g. after the caller changed what it publishes), when connected.
   * Resolves once it has run; a failure is retried in the background like any other.
   */
  async refresh(): Promise<void> {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return;
    await this.#prepare(nc, ++this.#generation);
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#ready = false;
    this.#wake.abort();
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error("the NATS link is stopped"));
    const nc = this.#nc;
    if (nc && !nc.isClosed()) {
      await nc.drain().catch(() => nc.close());
    }
    await this.#running;
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#wake.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done);
    });
  }

  async #run(): Promise<void> {
    const { logger } = this.#options;
    let attempt = 0;
    while (!this.#stopping) {
      let nc: NatsConnection;
      try {
        nc = await connect({
          ...natsConnectionOptions(this.#options.servers),
          ...this.#options.connectionOptions,
          servers: natsServers(this.#options.servers),
          name: this.#options.name,
          timeout: this.#options.connectTimeoutMs ?? 5_000,
          pingInterval: this.#options.pingIntervalMs ?? 20_000,
          maxPingOut: 2,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectDelayHandler: () => backoffDelay(++this.#reconnectAttempts, this.#backoff),
          // no Error (with its stack) made ahead of every request and JetStream publish in case it
          // fails: on a busy data plane that was a few percent of its CPU, for a stack no log shows
          noAsyncTraces: true,
        });
      } catch (err) {
        attempt += 1;
        try {
          this.#options.onConnectFailed?.(err as Error, attempt);
        } catch {
          // told, no say
        }
        const delay = backoffDelay(attempt, this.#backoff);
        const log =
          attempt === 1 || attempt % 10 === 0 ? logger.warn.bind(logger) : logger.debug.bind(logger);
        log(
          {
            servers: natsServers(this.#options.servers),
            attempt,
            retryInMs: delay,
            err: (err as Error).message,
          },
          "NATS is not reachable; retrying",
        );
        await this.#sleep(delay);
        continue;
      }
      if (this.#stopping) {
        await nc.close();
        break;
      }
      attempt = 0;
      this.#nc = nc;
      logger.info({ nats: natsServerIdentity(nc) }, "connected to NATS");
      void this.#watchStatus(nc);
      await this.#prepare(nc, ++this.#generation);
      const closed = await nc.closed();
      this.#ready = false;
      if (this.#stopping) break;
      logger.warn(
        { err: closed instanceof Error ? closed.message : undefined },
        "NATS connection closed; reconnecting",
      );
      this.#options.onDown?.();
    }
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    const { logger } = this.#options;
    for await (const status of nc.status()) {
      if (this.#stopping) return;
      if (status.type === "disconnect") {
        this.#ready = false;
        this.#generation += 1;
        logger.warn({ server: status.server }, "lost the NATS connection; the client keeps reconnecting");
        try {
          this.#options.onDown?.();
        } catch (err) {
          logger.warn({ err }, "NATS onDown handler threw");
        }
      } else if (status.type === "reconnect") {
        this.#reconnectAttempts = 0;
        logger.info({ nats: natsServerIdentity(nc) }, "reconnected to NATS");
        void this.#prepare(nc, ++this.#generation);
      }
    }
  }

  /** Runs onReady until it succeeds, unless a newer (re)connection or a stop supersedes it. */
  async #prepare(nc: NatsConnection, generation: number): Promise<void> {
    const { logger } = this.#options;
    let attempt = 0;
    while (!this.#stopping && generation === this.#generation && !nc.isClosed()) {
      try {
        await this.#options.onReady?.(nc);
        if (generation !== this.#generation || nc.isClosed() || this.#stopping) return;
        this.#ready = true;
        for (const waiter of this.#waiters.splice(0)) waiter.resolve(nc);
        return;
      } catch (err) {
        attempt += 1;
        const delay = backoffDelay(attempt, this.#backoff);
        logger.warn(
          { attempt, retryInMs: delay, err: (err as Error).message },
          "NATS is connected but not ready (JetStream setup failed); retrying",
        );
        await this.#sleep(delay);
      }
    }
  }
}
