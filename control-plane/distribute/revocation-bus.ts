/**
 * The control plane's side of revocations and sessions on NATS (proto/bus.proto):
 *
 * - stream PORTCULLIS_REVOCATIONS (subjects `portcullis.revocations.{session,subject,token}`,
 *   max_age = `revocation.retention`, file storage), created or brought to the configured limits
 *   on every (re)connection;
 * - publishing a signed revocation there, with its id as the JetStream message id (a repeat within
 *   the duplicate window is stored once);
 * - reconciliation, as for bundles: SQLite is the source of truth, so after every (re)connection
 *   each revocation still in force that the stream does not hold (never published, or lost with a
 *   NATS server that had no persistent storage) is published again;
 * - the data planes' acknowledgements (`portcullis.revocations.ack.>`) and session heartbeats
 *   (`portcullis.sessions.heartbeat.*`, core NATS; starts and ends come over stream
 *   PORTCULLIS_SESSIONS, sessions/session-consumer.ts), handed to the callbacks; on each
 *   (re)connection a resync request (`portcullis.sessions.resync`) makes every data plane announce
 *   its live sessions again.
 *
 * NATS being down never fails the control plane: revocations are stored and published when it is
 * back (RevokeResponse.published says so meanwhile).
 */
import {
  DiscardPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "../../common/logger.js";
import { type Backoff, NatsLink } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";
import {
  BUS,
  BusMessageError,
  encodeBusMessage,
  type Revocation,
  type RevocationAck,
  revocationSubject,
} from "../../proto/bus.js";
import {
  decodeRevocation,
  decodeRevocationAck,
  REVOCATION_ACK_WILDCARD,
  REVOCATION_STREAM_SUBJECTS,
  SESSION_HEARTBEAT_WILDCARD,
  SESSIONS_RESYNC_SUBJECT,
} from "../../proto/revocation.js";
import { ensureStream } from "./ensure-stream.js";
import { publishFast } from "./fast-path.js";

export interface RevocationBusOptions {
  servers: NatsTarget;
  name?: string;
  logger: Logger;
  /** max_age of the stream (`revocation.retention`). */
  retentionMs: number;
  replicas?: number;
  /** The JetStream cluster the stream is created in (a region's cluster in a supercluster). */
  placementCluster?: string;
  backoff?: Backoff;
  connectTimeoutMs?: number;
  /** Revocations in force (SQLite), oldest first, each with the stream sequence it was stored at. */
  live: () => { revocation: Revocation; streamSeq?: number }[];
  /** Told when a revocation is stored in the stream. */
  onPublished: (id: string, streamSeq: number, at: string) => void;
  onAck: (ack: RevocationAck) => void;
  /** Session heartbeats: the subject (`portcullis.sessions.heartbeat.<id>`) and the raw message. */
  onSessionEvent: (subject: string, data: Uint8Array) => void;
  onConnectionChange?: (connected: boolean) => void;
  /** Per publish (JetStream acknowledgement). */
  publishTimeoutMs?: number;
}

export interface RevocationPublishResult {
  published: boolean;
  streamSeq?: number;
  error?: string;
}

export class RevocationBus {
  readonly #options: RevocationBusOptions;
  readonly #link: NatsLink;
  readonly #logger: Logger;
  #subscriptions: { nc: NatsConnection; subs: Subscription[] } | undefined;

  constructor(options: RevocationBusOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#link = new NatsLink({
      servers: options.servers,
      name: options.name ?? "portcullis-control-plane-revocations",
      logger: options.logger,
      backoff: options.backoff,
      connectTimeoutMs: options.connectTimeoutMs,
      onReady: (nc) => this.#onReady(nc),
      onDown: () => options.onConnectionChange?.(false),
    });
  }

  start(): void {
    this.#link.start();
  }

  get connected(): boolean {
    return this.#link.connected;
  }

  async whenReady(timeoutMs?: number): Promise<void> {
    await this.#link.whenReady(timeoutMs);
  }

  async stop(): Promise<void> {
    await this.#link.stop();
    this.#subscriptions = undefined;
  }

  /** The stream configuration this control plane wants. */
  streamConfig(): Partial<StreamConfig> & { name: string } {
    return {
      name: BUS.revocationsStream,
      description: "Portcullis revocations (signed); data planes replay it on start",
      subjects: [...REVOCATION_STREAM_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(this.#options.retentionMs),
      num_replicas: this.#options.replicas ?? 1,
      ...(this.#options.placementCluster
        ? { placement: { cluster: this.#options.placementCluster, tags: [] } }
        : {}),
      duplicate_window: nanos(Math.min(2 * 60 * 1000, this.#options.retentionMs)),
    };
  }

  /**
   * The fast path alone: the signed revocation on core NATS (proto/bus.ts revocationsLiveSubject),
   * synchronously, for connected data planes; false when not connected. `publish` stores it.
   */
  publishFast(revocation: Revocation): boolean {
    return publishFast(this.#link, BUS.revocationsLiveSubject, revocation, this.#logger, "revocation");
  }

  /** Stores the revocation in the stream (the durable copy data planes replay). */
  async publish(revocation: Revocation): Promise<RevocationPublishResult> {
    const nc = this.#link.connection;
    if (!nc)
      return {
        published: false,
        error: "NATS is not reachable: the revocation is published when it comes back",
      };
    try {
      const seq = await this.#publish(nc, revocation);
      return { published: true, streamSeq: seq };
    } catch (err) {
      this.#logger.warn({ id: revocation.id, err: (err as Error).message }, "publishing a revocation failed");
      void this.#link.refresh();
      return { published: false, error: (err as Error).message };
    }
  }

  async #publish(nc: NatsConnection, revocation: Revocation): Promise<number> {
    const bytes = encodeBusMessage(revocation);
    const ack = await jetstream(nc).publish(revocationSubject(revocation.kind), bytes, {
      msgID: revocation.id,
      timeout: this.#options.publishTimeoutMs ?? 5_000,
    });
    this.#options.onPublished(revocation.id, ack.seq, new Date().toISOString());
    return ack.seq;
  }

  async #onReady(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, this.streamConfig(), this.#logger);
    if (this.#subscriptions?.nc !== nc) {
      const acks = nc.subscribe(REVOCATION_ACK_WILDCARD, {
        callback: (err, msg) => {
          if (err) return;
          try {
            this.#options.onAck(decodeRevocationAck(msg.data));
          } catch (e) {
            if (e instanceof BusMessageError)
              this.#logger.warn(
                { err: e.message, subject: msg.subject },
                "dropped an invalid revocation ack",
              );
            else this.#logger.error({ err: e }, "recording a revocation ack failed");
          }
        },
      });
      const sessions = nc.subscribe(SESSION_HEARTBEAT_WILDCARD, {
        callback: (err, msg) => {
          if (err) return;
          try {
            this.#options.onSessionEvent(msg.subject, msg.data);
          } catch (e) {
            this.#logger.error({ err: e, subject: msg.subject }, "handling a session event failed");
          }
        },
      });
      this.#subscriptions = { nc, subs: [acks, sessions] };
    }
    await this.#reconcile(nc, jsm);
    // Every data plane announces its live sessions again (the view may have missed some).
    nc.publish(SESSIONS_RESYNC_SUBJECT);
    this.#options.onConnectionChange?.(true);
  }

  /** Publishes every revocation in force that the stream does not hold. */
  async #reconcile(nc: NatsConnection, jsm: JetStreamManager): Promise<void> {
    let republished = 0;
    for (const { revocation, streamSeq } of this.#options.live()) {
      let present = false;
      if (streamSeq !== undefined) {
        try {
          const stored = await jsm.streams.getMessage(BUS.revocationsStream, { seq: streamSeq });
          present = stored !== null && decodeRevocation(stored.data).id === revocation.id;
        } catch {
          present = false;
        }
      }
      if (!present) {
        await this.#publish(nc, revocation);
        republished += 1;
      }
    }
    if (republished > 0)
      this.#logger.info({ republished }, "revocations published to the stream on (re)connect");
  }
}
