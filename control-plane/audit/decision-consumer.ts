/**
 * The control plane's side of the audit trail: a durable JetStream consumer on stream
 * PORTCULLIS_DECISIONS that stores every decision record in SQLite (store/decisions.ts), and the
 * periodic pruning of stored decisions older than the retention.
 *
 * Nothing is lost while the control plane is down: the consumer is durable, so JetStream keeps the
 * records (up to the stream's limits, common/decisions-stream.ts) and delivers them when it is back.
 * A record is acknowledged only once its transaction has committed; one delivered again (a lost
 * acknowledgement, a restart mid-batch) is recognised by its id and stored once. A message that is
 * not a valid record is logged, counted and terminated (never redelivered).
 *
 * NATS being down never stops the control plane: the link reconnects in the background.
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiError,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import { consumeInBatches } from "../../common/consume-in-batches.js";
import { type DecisionsStreamLimits, ensureDecisionsStream } from "../../common/decisions-stream.js";
import type { Logger } from "../../common/logger.js";
import { type Backoff, NatsLink } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";
import {
  BUS,
  type DecisionRecordMessage,
  decodeDecisionBatch,
  decodeDecisionRecord,
} from "../../proto/bus.js";
import type { DecisionRepository, StoredDecisionInput } from "../store/decisions.js";

export interface DecisionConsumerMetrics {
  stored(kind: string, result: "allowed" | "denied", count: number): void;
  invalid(count: number): void;
  pending(count: number): void;
  pruned(count: number): void;
  connected(connected: boolean): void;
}

export interface DecisionConsumerOptions {
  servers: NatsTarget;
  /** Client name on the NATS server. */
  name?: string;
  logger: Logger;
  repository: DecisionRepository;
  /** The durable consumer's name: one per control plane deployment. */
  durable: string;
  /** Records stored per transaction (at most). */
  batchSize?: number;
  /** How long JetStream waits for an acknowledgement before delivering a record again. */
  ackWaitMs?: number;
  /** The stream's limits (the control plane sets them). */
  stream?: DecisionsStreamLimits;
  /** Stored decisions older than this are deleted. */
  retentionMs: number;
  /** How often pruning runs (0: only at start and on `prune()`). */
  pruneIntervalMs: number;
  backoff?: Backoff;
  connectTimeoutMs?: number;
  metrics?: DecisionConsumerMetrics;
  /** Told about every batch once stored (the canary's judge reads its deny and error rates here). */
  onStored?: (records: readonly DecisionRecordMessage[]) => void;
}

/** A message read from the stream, with the records it holds. */
interface Decoded {
  m: JsMsg;
  items: StoredDecisionInput[];
}

/** Subjects of batched records (proto/bus.ts decisionBatchSubject). */
const DECISION_BATCH_PREFIX = `${BUS.decisionsPrefix}.batch.`;

/** JetStream API error code: consumer not found. */
const CONSUMER_NOT_FOUND = 10014;

export class DecisionConsumer {
  readonly #options: DecisionConsumerOptions;
  readonly #logger: Logger;
  readonly #link: NatsLink;
  readonly #batchSize: number;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #stored = 0;

  constructor(options: DecisionConsumerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#batchSize = Math.max(1, options.batchSize ?? 256);
    this.#link = new NatsLink({
      servers: options.servers,
      name: options.name ?? "portcullis-control-plane-decisions",
      logger: options.logger,
      backoff: options.backoff,
      connectTimeoutMs: options.connectTimeoutMs,
      onReady: (nc) => this.#onReady(nc),
      onDown: () => options.metrics?.connected(false),
    });
  }

  /** Prunes once, then connects and consumes in the background; returns at once. */
  start(): void {
    this.prune();
    if (this.#options.pruneIntervalMs > 0) {
      this.#pruneTimer = setInterval(() => this.prune(), this.#options.pruneIntervalMs);
      this.#pruneTimer.unref();
    }
    this.#link.start();
  }

  get connected(): boolean {
    return this.#link.connected;
  }

  /** Records stored by this process since start. */
  get stored(): number {
    return this.#stored;
  }

  /** Deletes stored decisions older than the retention; returns how many. */
  prune(now: number = Date.now()): number {
    try {
      const cutoff = new Date(now - this.#options.retentionMs).toISOString();
      const pruned = this.#options.repository.pruneBefore(cutoff);
      if (pruned > 0) {
        this.#options.metrics?.pruned(pruned);
        this.#logger.info({ pruned, before: cutoff }, "pruned decisions older than the retention");
      }
      return pruned;
    } catch (err) {
      this.#logger.error({ err }, "pruning old decisions failed");
      return 0;
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#pruneTimer);
    this.#messages?.stop();
    await this.#link.stop();
    await this.#loop?.catch(() => undefined);
    this.#options.metrics?.connected(false);
  }

  async #onReady(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    const done = await ensureDecisionsStream(nc, this.#options.stream ?? {}, { update: true, jsm });
    if (done !== "unchanged") this.#logger.info({ stream: BUS.decisionsStream }, `decision stream ${done}`);
    const durable = this.#options.durable;
    const config = {
      durable_name: durable,
      description: "The control plane's audit trail: every decision record into SQLite",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.#options.ackWaitMs ?? 30_000),
      max_ack_pending: Math.max(1_000, this.#batchSize * 4),
    };
    try {
      const info = await jsm.consumers.info(BUS.decisionsStream, durable);
      if (
        info.config.ack_wait !== config.ack_wait ||
        info.config.max_ack_pending !== config.max_ack_pending
      ) {
        await jsm.consumers.update(BUS.decisionsStream, durable, {
          ack_wait: config.ack_wait,
          max_ack_pending: config.max_ack_pending,
        });
      }
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NOT_FOUND) throw err;
      await jsm.consumers.add(BUS.decisionsStream, config);
      this.#logger.info({ durable }, "created the durable decision consumer");
    }
    const consumer = await jetstream(nc).consumers.get(BUS.decisionsStream, durable);
    // A fresh iterator after every (re)connection; what the old one held unacknowledged comes again.
    this.#messages?.stop();
    await this.#loop?.catch(() => undefined);
    const messages = await consumer.consume({ max_messages: this.#batchSize * 2 });
    this.#messages = messages;
    this.#loop = this.#consume(messages).catch((err: unknown) =>
      this.#logger.error({ err }, "the decision consumer loop failed"),
    );
    this.#options.metrics?.connected(true);
  }

  #consume(messages: ConsumerMessages): Promise<void> {
    return consumeInBatches<Decoded>(messages, {
      batchSize: this.#batchSize,
      take: (m) => this.#decode(m),
      weight: (decoded) => decoded.items.length,
      store: (batch) => this.#store(batch),
    });
  }

  /**
   * A message's records: a batch (`portcullis.decisions.batch.*`) or a single record. A message
   * that is neither is dropped (terminated, never redelivered); an invalid record inside a batch is
   * dropped alone.
   */
  #decode(m: JsMsg): Decoded | undefined {
    const batched = m.subject.startsWith(DECISION_BATCH_PREFIX);
    let records: DecisionRecordMessage[];
    let invalid: string[];
    try {
      ({ records, invalid } = batched
        ? decodeDecisionBatch(m.data)
        : { records: [decodeDecisionRecord(m.data)], invalid: [] });
    } catch (err) {
      this.#dropped(m, 1, (err as Error).message);
      m.term();
      return undefined;
    }
    const items: StoredDecisionInput[] = [];
    for (const record of records) {
      if (Number.isNaN(Date.parse(record.at))) invalid.push(`record ${record.id}: a bad time`);
      // the stream sequence identifies a message; a batch's records share it
      else items.push({ record, streamSeq: m.seq });
    }
    if (invalid.length > 0) this.#dropped(m, invalid.length, invalid.join("; "));
    if (items.length === 0) {
      m.ack();
      return undefined;
    }
    return { m, items };
  }

  #dropped(m: JsMsg, count: number, why: string): void {
    this.#options.metrics?.invalid(count);
    this.#logger.warn(
      { subject: m.subject, seq: m.seq, records: count, err: why.slice(0, 2000) },
      "dropped a message on the decision stream that is not a valid decision record",
    );
  }

  #store(batch: Decoded[]): void {
    const valid = batch.flatMap(({ m, items }) => items.map((item) => ({ m, item })));
    if (valid.length === 0) return;
    let inserted: number;
    try {
      inserted = this.#options.repository.insertMany(valid.map((v) => v.item));
    } catch (err) {
      this.#logger.error(
        { err, records: valid.length },
        "storing decision records failed; JetStream delivers them again",
      );
      for (const { m } of batch) m.nak(5_000);
      return;
    }
    for (const { m } of batch) m.ack();
    this.#stored += inserted;
    if (this.#options.onStored) {
      try {
        this.#options.onStored(valid.map((v) => v.item.record));
      } catch (err) {
        this.#logger.error({ err }, "a listener of stored decisions threw");
      }
    }
    const last = valid[valid.length - 1]!;
    this.#options.metrics?.pending(last.m.info.pending);
    if (this.#options.metrics) {
      const counts = new Map<string, number>();
      for (const { item } of valid) {
        const key = `${item.record.kind}\u0000${item.record.allow ? "allowed" : "denied"}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      for (const [key, count] of counts) {
        const [kind, result] = key.split("\u0000") as [string, "allowed" | "denied"];
        this.#options.metrics.stored(kind, result, count);
      }
    }
  }
}
