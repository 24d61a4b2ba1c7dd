/**
 * Session starts and ends from stream PORTCULLIS_SESSIONS into the session view and SQLite: a
 * durable JetStream consumer, as for decision records (audit/decision-consumer.ts).
 *
 * The control plane creates the stream (subjects `portcullis.sessions.{started,ended}.*`, limits
 * retention, `sessions.stream_max_age`) and brings it to its configuration on every (re)connection.
 * While the control plane is down the data planes keep publishing and the stream keeps the events;
 * when it is back the consumer delivers them. An event is acknowledged only once the SQLite
 * transaction holding it has committed (SessionView.commit); one delivered again is stored once
 * (the view and the store are idempotent). A message that is not a valid event is logged and
 * terminated (never redelivered).
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import { consumeInBatches } from "../../common/consume-in-batches.js";
import type { Logger } from "../../common/logger.js";
import { type Backoff, NatsLink } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";
import { BUS } from "../../proto/bus.js";
import { SESSION_STREAM_SUBJECTS } from "../../proto/revocation.js";
import type { SessionView } from "./session-view.js";

export interface SessionConsumerOptions {
  servers: NatsTarget;
  name?: string;
  logger: Logger;
  view: SessionView;
  /** The durable consumer's name: one per control plane deployment. */
  durable: string;
  /** How long JetStream waits for an acknowledgement before delivering an event again. */
  ackWaitMs: number;
  /** max_age of the stream: the longest control plane outage that loses no session event. */
  streamMaxAgeMs: number;
  replicas?: number;
  placementCluster?: string;
  /** Events stored per transaction (at most). */
  batchSize?: number;
  backoff?: Backoff;
  connectTimeoutMs?: number;
  onConnectionChange?: (connected: boolean) => void;
}

/** Starts announced again (a resync, a retried publish) within this window are stored once by JetStream. */
export const SESSIONS_DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_NOT_FOUND = 10014;

function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

export class SessionConsumer {
  readonly #options: SessionConsumerOptions;
  readonly #logger: Logger;
  readonly #link: NatsLink;
  readonly #batchSize: number;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #stored = 0;

  constructor(options: SessionConsumerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#batchSize = Math.max(1, options.batchSize ?? 256);
    this.#link = new NatsLink({
      servers: options.servers,
      name: options.name ?? "portcullis-control-plane-sessions",
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

  /** Session events stored (and acknowledged) by this process since start. */
  get stored(): number {
    return this.#stored;
  }

  async whenReady(timeoutMs?: number): Promise<void> {
    await this.#link.whenReady(timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#messages?.stop();
    await this.#link.stop();
    await this.#loop?.catch(() => undefined);
    this.#options.onConnectionChange?.(false);
  }

  async #ensureStream(jsm: JetStreamManager): Promise<void> {
    const wanted: Partial<StreamConfig> & { name: string } = {
      name: BUS.sessionsStream,
      description: "Portcullis session starts and ends, read by the control plane",
      subjects: [...SESSION_STREAM_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(this.#options.streamMaxAgeMs),
      num_replicas: this.#options.replicas ?? 1,
      duplicate_window: nanos(SESSIONS_DUPLICATE_WINDOW_MS),
      ...(this.#options.placementCluster
        ? { placement: { cluster: this.#options.placementCluster, tags: [] } }
        : {}),
    };
    let existing: StreamConfig | undefined;
    try {
      existing = (await jsm.streams.info(wanted.name)).config;
    } catch (err) {
      if (apiCode(err) !== STREAM_NOT_FOUND) throw err;
    }
    if (!existing) {
      try {
        await jsm.streams.add(wanted);
        this.#logger.info({ stream: wanted.name }, "session stream created");
        return;
      } catch (err) {
        if (apiCode(err) !== STREAM_NAME_IN_USE) throw err;
        existing = (await jsm.streams.info(wanted.name)).config;
      }
    }
    const sameSubjects =
      [...existing.subjects].sort().join(",") === [...(wanted.subjects ?? [])].sort().join(",");
    if (
      !sameSubjects ||
      existing.max_age !== wanted.max_age ||
      existing.num_replicas !== wanted.num_replicas ||
      existing.duplicate_window !== wanted.duplicate_window
    ) {
      await jsm.streams.update(wanted.name, {
        subjects: wanted.subjects,
        max_age: wanted.max_age,
        num_replicas: wanted.num_replicas,
        duplicate_window: wanted.duplicate_window,
      });
      this.#logger.info({ stream: wanted.name }, "session stream updated");
    }
  }

  async #onReady(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    await this.#ensureStream(jsm);
    const durable = this.#options.durable;
    const config = {
      durable_name: durable,
      description: "The control plane's session view and history: every session start and end into SQLite",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.#options.ackWaitMs),
      max_ack_pending: Math.max(1_000, this.#batchSize * 4),
    };
    try {
      const info = await jsm.consumers.info(BUS.sessionsStream, durable);
      if (
        info.config.ack_wait !== config.ack_wait ||
        info.config.max_ack_pending !== config.max_ack_pending
      ) {
        await jsm.consumers.update(BUS.sessionsStream, durable, {
          ack_wait: config.ack_wait,
          max_ack_pending: config.max_ack_pending,
        });
      }
    } catch (err) {
      if (apiCode(err) !== CONSUMER_NOT_FOUND) throw err;
      await jsm.consumers.add(BUS.sessionsStream, config);
      this.#logger.info({ durable }, "created the durable session consumer");
    }
    const consumer = await jetstream(nc).consumers.get(BUS.sessionsStream, durable);
    // A fresh iterator after every (re)connection; what the old one held unacknowledged comes again.
    this.#messages?.stop();
    await this.#loop?.catch(() => undefined);
    const messages = await consumer.consume({ max_messages: this.#batchSize * 2 });
    this.#messages = messages;
    this.#loop = this.#consume(messages).catch((err: unknown) =>
      this.#logger.error({ err }, "the session consumer loop failed"),
    );
    this.#options.onConnectionChange?.(true);
  }

  #consume(messages: ConsumerMessages): Promise<void> {
    return consumeInBatches<JsMsg>(messages, {
      batchSize: this.#batchSize,
      take: (m) => m,
      store: (batch) => this.#store(batch),
    });
  }

  #store(batch: JsMsg[]): void {
    const valid: JsMsg[] = [];
    for (const m of batch) {
      try {
        if (this.#options.view.apply(m.subject, m.data)) valid.push(m);
        else m.term();
      } catch (err) {
        this.#logger.error({ err, subject: m.subject, seq: m.seq }, "handling a session event failed");
        m.nak(5_000);
      }
    }
    if (valid.length === 0) return;
    try {
      this.#options.view.commit();
    } catch (err) {
      this.#logger.error(
        { err: (err as Error).message, events: valid.length },
        "storing session events failed; JetStream delivers them again",
      );
      for (const m of valid) m.nak(5_000);
      return;
    }
    for (const m of valid) m.ack();
    this.#stored += valid.length;
  }
}
