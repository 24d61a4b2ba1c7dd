/**
 * The data plane's revocation feed: stream PORTCULLIS_REVOCATIONS read with an ordered JetStream
 * consumer from the start of the stream's retention, then live.
 *
 * On every (re)connection the stream is replayed from its first message (revocations are few, and
 * a replay also covers a stream that was recreated while this data plane was away), the
 * enforcement side deduplicates by revocation id, and the feed counts as *caught up* once it has
 * handled every message the stream held when the replay began. `onCaughtUp` / `onLost` tell the
 * enforcer when the deny-list is current and when it stops being so (the connection is lost).
 *
 * After handling a revocation the feed publishes a RevocationAck (`portcullis.revocations.ack.<id>`)
 * with the sessions it cut, when `onRevocation` asks for it. The NATS link reconnects forever with
 * backoff (common/nats-link.ts) and never throws into the proxy.
 */
import { type ConsumerMessages, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { ConnectionOptions, NatsConnection, Subscription } from "@nats-io/transport-node";
import { type Logger, silentLogger } from "../../common/logger.js";
import { type Backoff, NatsLink } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";
import {
  BUS,
  BusMessageError,
  encodeBusMessage,
  type Revocation,
  type RevocationAck,
  revocationAckSubject,
} from "../../proto/bus.js";
import { decodeRevocation } from "../../proto/revocation.js";

/** Pull expiry of the revocation consumer (the server's idle heartbeat is half of it). */
const CONSUME_EXPIRES_MS = 5_000;

export interface RevocationContext {
  /** Part of the first replay after start (the data plane was not running when it was made). */
  bootReplay: boolean;
  /** Received after the feed had caught up (a revocation made now). */
  live: boolean;
}

export interface RevocationFeedOptions {
  servers: NatsTarget;
  /** This data plane's id (acks carry it). */
  id: string;
  stream?: string;
  /** Handles one revocation; resolves with whether to acknowledge it and how many sessions it cut. */
  onRevocation: (
    revocation: Revocation,
    context: RevocationContext,
  ) => Promise<{ ack: boolean; sessionsCut: number }>;
  /** The feed has handled everything the stream held: the deny-list is current. */
  onCaughtUp?: () => void;
  /** The connection is lost: the deny-list stops being current. */
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

export class RevocationFeed {
  readonly #options: RevocationFeedOptions;
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

  constructor(options: RevocationFeedOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: "revocation-feed" });
    this.#stream = options.stream ?? BUS.revocationsStream;
    this.#link = new NatsLink({
      servers: options.servers,
      name: `portcullis-data-plane-${options.id}-revocations`,
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
    this.#logger.info("revocation stream caught up");
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
    // The fast path (core NATS, proto/bus.ts revocationsLiveSubject): subscribed before the replay
    // so nothing made meanwhile waits for the stream; the enforcer verifies each like the stream's
    // copies and deduplicates by id, so the second delivery of one is a no-op.
    this.#live?.unsubscribe();
    this.#live = nc.subscribe(BUS.revocationsLiveSubject, {
      callback: (err, msg) => {
        if (err || this.#stopped) return;
        void this.#handle(nc, msg.data, { bootReplay: false, live: true }).catch((e: Error) =>
          this.#logger.warn({ err: e.message }, "a fast revocation could not be handled"),
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
          await this.#handle(nc, m.data, { bootReplay: bootReplay && !live, live });
          if (!this.#caughtUp && (m.seq >= target || m.info.pending === 0)) this.#markCaughtUp(generation);
        }
      } catch (err) {
        this.#logger.warn({ err: (err as Error).message }, "revocation consumer ended");
      }
    })();
    void (async () => {
      for await (const status of messages.status()) {
        if (generation !== this.#generation) break;
        if (status.type === "heartbeats_missed" && status.count >= 2) {
          // The client alone would re-check only every 30 s; the node holding the consumer is
          // likely gone: start over on a fresh consumer (the stream's other replicas have it all;
          // the enforcer deduplicates by id and keeps serving within max_staleness meanwhile).
          this.#logger.warn({ missed: status.count }, "revocation stream heartbeats missed: starting over");
          this.#lost();
          void this.#link.refresh();
          break;
        } else if (status.type === "stream_not_found" || status.type === "consumer_deleted") {
          this.#logger.warn({ status: status.type }, "revocation stream or consumer gone: starting over");
          this.#lost();
          void this.#link.refresh();
          break;
        }
      }
    })();
  }

  async #handle(nc: NatsConnection, data: Uint8Array, context: RevocationContext): Promise<void> {
    let revocation: Revocation;
    try {
      revocation = decodeRevocation(data);
    } catch (err) {
      if (err instanceof BusMessageError) {
        this.#logger.warn({ err: err.message }, "ignored an invalid revocation message");
        return;
      }
      throw err;
    }
    let outcome: { ack: boolean; sessionsCut: number };
    try {
      outcome = await this.#options.onRevocation(revocation, context);
    } catch (err) {
      this.#logger.error({ id: revocation.id, err }, "applying a revocation failed");
      return;
    }
    if (!outcome.ack) return;
    const ack: RevocationAck = {
      revocation_id: revocation.id,
      data_plane_id: this.#options.id,
      sessions_cut: outcome.sessionsCut,
      at: new Date().toISOString(),
    };
    try {
      nc.publish(revocationAckSubject(this.#options.id), encodeBusMessage(ack));
    } catch (err) {
      this.#logger.debug({ err: (err as Error).message }, "revocation ack not sent");
    }
  }
}
