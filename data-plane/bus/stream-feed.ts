/**
 * A signed feed on NATS, as a data plane reads it: a JetStream stream read with an ordered
 * consumer from its first message, then live, plus a core NATS subject carrying the same messages
 * first (the fast path). Revocations (bus/revocations.ts) and grants (grants/grant-feed.ts) use it.
 *
 * On every (re)connection the stream is replayed from its first message (such feeds are small, and
 * a replay also covers a stream that was recreated while this data plane was away); the handler
 * deduplicates, and the feed counts as *caught up* once it has handled every message the stream
 * held when the replay began. `onCaughtUp` / `onLost` say when what it feeds is current and when it
 * stops being so. The NATS link reconnects forever with backoff (common/nats-link.ts) and never
 * throws into the proxy.
 */
import { type ConsumerMessages, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { ConnectionOptions, NatsConnection, Subscription } from "@nats-io/transport-node";
import { type Logger, silentLogger } from "../../common/logger.js";
import { type Backoff, NatsLink } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";

/** Pull expiry of the revocation consumer (the server's idle heartbeat is half of it). */
const CONSUME_EXPIRES_MS = 5_000;

export interface FeedContext {
  /** Part of the first replay after start (the data plane was not running when it was made). */
  bootReplay: boolean;
  /** Received after the feed had caught up (made now). */
  live: boolean;
}

export interface StreamFeedOptions {
  servers: NatsTarget;
  /** The NATS connection's name. */
  name: string;
  /** What the feed carries, for logs ("revocation", "grant"). */
  what: string;
  stream: string;
  /** The core NATS subject of the fast path. */
  liveSubject: string;
  /** Handles one raw message (from the stream or the fast path, possibly both: deduplicate). */
  onMessage: (nc: NatsConnection, data: Uint8Array, context: FeedContext) => Promise<void>;
  /** The feed has handled everything the stream held: what it feeds is current. */
  onCaughtUp?: () => void;
  /** The connection is lost: what it feeds stops being current. */
  onLost?: () => void;
  /** After each (re)connection, with the connection (session events use it too). */
  onConnected?: (nc: NatsConnection) => void;
  /** An attempt to connect to NATS failed (it is retried with backoff). */
  onUnreachable?: (err: Error) => void;
  backoff?: Backoff;
  connectTimeoutMs?: number;
  connectionOptions?: Partial<ConnectionOptions>;
  logger?: Logger;
}

export class StreamFeed {
  readonly #options: StreamFeedOptions;
  readonly #logger: Logger;
  readonly #link: NatsLink;
  readonly #stream: string;
  #messages: ConsumerMessages | undefined;
  #live: Subscription | undefined;
  #generation = 0;
  #caughtUp = false;
  #everCaughtUp = false;
  #waiters: ((caughtUp: boolean) => void)[] = [];
  #stopped = false;

  constructor(options: StreamFeedOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: `${options.what}-feed` });
    this.#stream = options.stream;
    this.#link = new NatsLink({
      servers: options.servers,
      name: options.name,
      logger: this.#logger,
      backoff: options.backoff,
      connectTimeoutMs: options.connectTimeoutMs,
      // a lost server is noticed within seconds even without a socket error
      pingIntervalMs: 5_000,
      connectionOptions: options.connectionOptions,
      onReady: (nc) => this.#onReady(nc),
      onDown: () => this.#lost(),
      onConnectFailed: (err) => options.onUnreachable?.(err),
    });
  }

  start(): void {
    this.#link.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#generation += 1;
    await this.#messages?.close().catch(() => undefined);
    this.#messages = undefined;
    this.#live?.unsubscribe();
    this.#live = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter(false);
    await this.#link.stop();
  }

  /** The NATS connection, when connected. */
  get connection(): NatsConnection | undefined {
    return this.#link.connection;
  }

  get connected(): boolean {
    return this.#link.connected;
  }

  get caughtUp(): boolean {
    return this.#caughtUp;
  }

  /** Resolves true once caught up, false after `timeoutMs` (or on stop). */
  whenCaughtUp(timeoutMs: number): Promise<boolean> {
    if (this.#caughtUp) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      this.#waiters.push(waiter);
    });
  }

  #lost(): void {
    this.#generation += 1;
    if (this.#caughtUp) {
      this.#caughtUp = false;
      this.#options.onLost?.();
    }
  }

  #markCaughtUp(generation: number): void {
    if (generation !== this.#generation || this.#caughtUp) return;
    this.#caughtUp = true;
    this.#everCaughtUp = true;
    this.#logger.info({ stream: this.#stream }, `${this.#options.what} stream caught up`);
    this.#options.onCaughtUp?.();
    for (const waiter of this.#waiters.splice(0)) waiter(true);
  }

  async #onReady(nc: NatsConnection): Promise<void> {
    // A new connection (or a reconnection): replay from the start.
    const generation = ++this.#generation;
    if (this.#caughtUp) {
      this.#caughtUp = false;
      this.#options.onLost?.();
    }
    await this.#messages?.close().catch(() => undefined);
    this.#messages = undefined;
    // The fast path (core NATS): subscribed before the replay so nothing made meanwhile waits for
    // the stream; the handler verifies each like the stream's copies and deduplicates, so the
    // second delivery of one is a no-op.
    this.#live?.unsubscribe();
    this.#live = nc.subscribe(this.#options.liveSubject, {
      callback: (err, msg) => {
        if (err || this.#stopped) return;
        void this.#options
          .onMessage(nc, msg.data, { bootReplay: false, live: true })
          .catch((e: Error) =>
            this.#logger.warn({ err: e.message }, `a fast ${this.#options.what} could not be handled`),
          );
      },
    });
    const jsm = await jetstreamManager(nc);
    // Throws while the control plane has not created the stream: the link retries with backoff.
    const info = await jsm.streams.info(this.#stream);
    const target = info.state.messages === 0 ? 0 : info.state.last_seq;
    const consumer = await jetstream(nc).consumers.get(this.#stream, { deliver_policy: DeliverPolicy.All });
    // Short pulls: the server heartbeats every expires/2, so a consumer lost with its NATS node
    // (an ordered consumer has one replica) is noticed in seconds rather than a minute.
    const messages = await consumer.consume({ max_messages: 512, expires: CONSUME_EXPIRES_MS });
    if (generation !== this.#generation || this.#stopped) {
      await messages.close().catch(() => undefined);
      return;
    }
    this.#messages = messages;
    this.#options.onConnected?.(nc);
    const bootReplay = !this.#everCaughtUp;
    if (target === 0) this.#markCaughtUp(generation);
    void (async () => {
      try {
        for await (const m of messages) {
          if (generation !== this.#generation) break;
          const live = this.#caughtUp;
          await this.#options
            .onMessage(nc, m.data, { bootReplay: bootReplay && !live, live })
            .catch((e: Error) =>
              this.#logger.error({ err: e.message }, `a ${this.#options.what} could not be handled`),
            );
          if (!this.#caughtUp && (m.seq >= target || m.info.pending === 0)) this.#markCaughtUp(generation);
        }
      } catch (err) {
        this.#logger.warn({ err: (err as Error).message }, `${this.#options.what} consumer ended`);
      }
    })();
    void (async () => {
      for await (const status of messages.status()) {
        if (generation !== this.#generation) break;
        if (status.type === "heartbeats_missed" && status.count >= 2) {
          // The client alone would re-check only every 30 s; the node holding the consumer is
          // likely gone: start over on a fresh consumer (the stream's other replicas have it all;
          // the handler deduplicates and keeps serving meanwhile).
          this.#logger.warn(
            { missed: status.count, stream: this.#stream },
            "stream heartbeats missed: starting over",
          );
          this.#lost();
          void this.#link.refresh();
          break;
        } else if (status.type === "stream_not_found" || status.type === "consumer_deleted") {
          this.#logger.warn(
            { status: status.type, stream: this.#stream },
            "stream or consumer gone: starting over",
          );
          this.#lost();
          void this.#link.refresh();
          break;
        }
      }
    })();
  }
}
