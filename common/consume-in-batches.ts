/**
 * The loop of a durable JetStream consumer whose store is synchronous (SQLite): messages are turned
 * into items (`take`; undefined skips one it already dealt with), gathered until they weigh
 * `batchSize`, and stored together (`store`, which acks); a partial batch is stored `lingerMs` after
 * its first item came. A transaction's fixed cost is most of a small one's (many data planes each
 * sending a few records at a time made transactions of one or two records), so a batch waits a
 * little to fill rather than being stored the moment the iterator has nothing pending. Between
 * stores the event loop is yielded, so a burst never holds other work (an admin call, a revocation)
 * behind it.
 */
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";

export interface BatchedConsumer<T> {
  batchSize: number;
  /** Default 20 ms. */
  lingerMs?: number;
  take(m: JsMsg): T | undefined;
  /** How much an item counts towards batchSize (default 1). */
  weight?(item: T): number;
  store(batch: T[]): void;
}

export async function consumeInBatches<T>(
  messages: ConsumerMessages,
  consumer: BatchedConsumer<T>,
): Promise<void> {
  let batch: T[] = [];
  let weight = 0;
  let timer: NodeJS.Timeout | undefined;
  const store = () => {
    clearTimeout(timer);
    timer = undefined;
    if (batch.length === 0) return;
    const taken = batch;
    batch = [];
    weight = 0;
    consumer.store(taken);
  };
  try {
    for await (const m of messages) {
      const item = consumer.take(m);
      if (item !== undefined) {
        batch.push(item);
        weight += consumer.weight?.(item) ?? 1;
      }
      if (weight >= consumer.batchSize) {
        store();
        await new Promise<void>((resolve) => setImmediate(resolve));
      } else if (batch.length > 0) {
        timer ??= setTimeout(store, consumer.lingerMs ?? 20);
      }
    }
  } finally {
    store();
  }
}
