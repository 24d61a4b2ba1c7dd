/**
 * The data plane's revocation feed: stream PORTCULLIS_REVOCATIONS and its fast path
 * (`portcullis.revocations.live`), read by bus/stream-feed.ts (replayed from the start of the
 * stream's retention on every (re)connection, then live; caught up once it has handled every
 * message the stream held when the replay began). The enforcement side deduplicates by revocation
 * id; `onCaughtUp` / `onLost` tell the enforcer when the deny-list is current and when it stops
 * being so.
 *
 * After handling a revocation the feed publishes a RevocationAck (`portcullis.revocations.ack.<id>`)
 * with the sessions it cut, when `onRevocation` asks for it.
 */
import type { ConnectionOptions, NatsConnection } from "@nats-io/transport-node";
import { type Logger, silentLogger } from "../../common/logger.js";
import type { Backoff } from "../../common/nats-link.js";
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
import { type FeedContext, StreamFeed, type StreamFeedOptions } from "./stream-feed.js";

export type RevocationContext = FeedContext;

/** The stream feed's options (bus/stream-feed.ts) but the stream's names and the raw handler. */
export interface RevocationFeedOptions
  extends Omit<StreamFeedOptions, "name" | "what" | "stream" | "liveSubject" | "onMessage"> {
  /** This data plane's id (acks carry it). */
  id: string;
  stream?: string;
  /** Handles one revocation; resolves with whether to acknowledge it and how many sessions it cut. */
  onRevocation: (
    revocation: Revocation,
    context: RevocationContext,
  ) => Promise<{ ack: boolean; sessionsCut: number }>;
}

export class RevocationFeed {
  readonly #options: RevocationFeedOptions;
  readonly #logger: Logger;
  readonly #feed: StreamFeed;

  constructor(options: RevocationFeedOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: "revocation-feed" });
    this.#feed = new StreamFeed({
      servers: options.servers,
      name: `portcullis-data-plane-${options.id}-revocations`,
      what: "revocation",
      stream: options.stream ?? BUS.revocationsStream,
      liveSubject: BUS.revocationsLiveSubject,
      onMessage: (nc, data, context) => this.#handle(nc, data, context),
      ...(options.onCaughtUp ? { onCaughtUp: options.onCaughtUp } : {}),
      ...(options.onLost ? { onLost: options.onLost } : {}),
      ...(options.onConnected ? { onConnected: options.onConnected } : {}),
      ...(options.onUnreachable ? { onUnreachable: options.onUnreachable } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      ...(options.connectionOptions ? { connectionOptions: options.connectionOptions } : {}),
      logger: options.logger ?? silentLogger,
    });
  }

  start(): void {
    this.#feed.start();
  }

  stop(): Promise<void> {
    return this.#feed.stop();
  }

  /** The NATS connection, when connected. */
  get connection(): NatsConnection | undefined {
    return this.#feed.connection;
  }

  get connected(): boolean {
    return this.#feed.connected;
  }

  get caughtUp(): boolean {
    return this.#feed.caughtUp;
  }

  /** Resolves true once caught up, false after `timeoutMs` (or on stop). */
  whenCaughtUp(timeoutMs: number): Promise<boolean> {
    return this.#feed.whenCaughtUp(timeoutMs);
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
