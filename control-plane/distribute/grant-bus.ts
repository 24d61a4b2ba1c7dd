/**
 * The control plane's side of grants on NATS (proto/grant.ts):
 *
 * - stream PORTCULLIS_GRANTS (subjects `portcullis.grants.state.<id>`, one message per subject:
 *   the latest state of each grant; max_age a little over `grants.max_seconds`, file storage),
 *   created or brought to the configured limits on every (re)connection;
 * - `publishFast`: the signed state on core subject `portcullis.grants.live`, synchronously, for
 *   connected data planes (the fast path, sent before the stream stores it);
 * - `publish`: the durable copy in the stream, with `<id>:<sequence>` as message id;
 * - reconciliation: SQLite is the source of truth, so after every (re)connection each grant state
 *   not yet ended is published again (one message per grant; the stream keeps only the latest).
 *
 * NATS being down never fails the control plane: grants are stored, and published when it is back.
 */
import {
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import type { Logger } from "../../common/logger.js";
import { type Backoff, NatsLink } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";
import { encodeBusMessage } from "../../proto/bus.js";
import {
  GRANT_STATE_WILDCARD,
  GRANTS_LIVE_SUBJECT,
  GRANTS_STREAM,
  type Grant,
  grantSubject,
} from "../../proto/grant.js";
import { ensureStream } from "./ensure-stream.js";
import { publishFast } from "./fast-path.js";

export interface GrantBusOptions {
  servers: NatsTarget;
  name?: string;
  logger: Logger;
  /** The longest grant (`grants.max_seconds`), in ms: the stream keeps states a little longer. */
  maxGrantMs: number;
  replicas?: number;
  placementCluster?: string;
  backoff?: Backoff;
  connectTimeoutMs?: number;
  /** Grant states not yet ended (SQLite), oldest first. */
  unended: () => Grant[];
  /** Told when a grant state is stored in the stream. */
  onPublished: (grant: Grant, at: string) => void;
  publishTimeoutMs?: number;
}

export interface GrantPublishResult {
  published: boolean;
  error?: string;
}

export class GrantBus {
  readonly #options: GrantBusOptions;
  readonly #link: NatsLink;
  readonly #logger: Logger;

  constructor(options: GrantBusOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#link = new NatsLink({
      servers: options.servers,
      name: options.name ?? "portcullis-control-plane-grants",
      logger: options.logger,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      onReady: (nc) => this.#onReady(nc),
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
  }

  streamConfig(): Partial<StreamConfig> & { name: string } {
    return {
      name: GRANTS_STREAM,
      description:
        "Portcullis just-in-time grants (signed; the latest state of each); data planes replay it on start",
      subjects: [GRANT_STATE_WILDCARD],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: 1,
      max_age: nanos(this.#options.maxGrantMs + 3600_000),
      num_replicas: this.#options.replicas ?? 1,
      ...(this.#options.placementCluster
        ? { placement: { cluster: this.#options.placementCluster, tags: [] } }
        : {}),
      duplicate_window: nanos(2 * 60 * 1000),
    };
  }

  /** The fast path alone, synchronously; false when not connected. */
  publishFast(grant: Grant): boolean {
    return publishFast(this.#link, GRANTS_LIVE_SUBJECT, grant, this.#logger, "grant");
  }

  /** Stores the grant state in the stream. Does not throw: the result says why not. */
  async publish(grant: Grant): Promise<GrantPublishResult> {
    const nc = this.#link.connection;
    if (!nc)
      return { published: false, error: "NATS is not reachable: the grant is published when it comes back" };
    try {
      await this.#publish(nc, grant);
      return { published: true };
    } catch (err) {
      this.#logger.warn({ id: grant.id, err: (err as Error).message }, "publishing a grant failed");
      void this.#link.refresh();
      return { published: false, error: (err as Error).message };
    }
  }

  async #publish(nc: NatsConnection, grant: Grant): Promise<void> {
    await jetstream(nc).publish(grantSubject(grant.id), encodeBusMessage(grant), {
      msgID: `${grant.id}:${grant.sequence}`,
      timeout: this.#options.publishTimeoutMs ?? 5_000,
    });
    this.#options.onPublished(grant, new Date().toISOString());
  }

  async #onReady(nc: NatsConnection): Promise<void> {
    await ensureStream(await jetstreamManager(nc), this.streamConfig(), this.#logger);
    let republished = 0;
    for (const grant of this.#options.unended()) {
      await this.#publish(nc, grant);
      republished += 1;
    }
    if (republished > 0) this.#logger.info({ republished }, "grants published to the stream on (re)connect");
  }
}
