/**
 * Session events for the control plane's live view and history (proto/bus.proto):
 *
 * - SessionStarted and SessionEnded on `portcullis.sessions.{started,ended}.<id>`, stream
 *   PORTCULLIS_SESSIONS (JetStream, created by the control plane): each event carries a message id
 *   (`<session id>.started` / `<session id>.ended`, its Nats-Msg-Id), so a publish retried after a
 *   lost acknowledgement, or a start announced again, is stored once. The events wait in a bounded
 *   in-memory queue (`maxQueue`, 20,000 by default) until JetStream acknowledges them: a control
 *   plane that is down loses nothing (the stream keeps them for its durable consumer), NATS down
 *   keeps them here, and beyond the bound new events are dropped and counted (`onDropped`,
 *   `portcullis_session_events_dropped_total`).
 * - A SessionHeartbeat listing every live session every `heartbeatMs`: core NATS, fire and forget.
 *
 * On each (re)connection, or when the control plane asks (`portcullis.sessions.resync`), every live
 * session is announced again with a heartbeat, so the view converges whatever was dropped. Start and
 * end events are published in batches, every `batchMs` (25 ms by default): a burst (a revocation
 * ending hundreds of sessions, a login storm) costs a few socket writes instead of one per session,
 * and never competes with cutting clients.
 */
import { JetStreamApiError, type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../../common/logger.js";
import {
  encodeBusMessage,
  type SessionEnded,
  type SessionHeartbeat,
  type SessionStarted,
  sessionSubject,
} from "../../proto/bus.js";
import { claimsDigest, SESSIONS_RESYNC_SUBJECT } from "../../proto/revocation.js";
import type { LiveSession, SessionRegistry } from "../session/registry.js";

export interface SessionReporterOptions {
  id: string;
  region: string;
  registry: SessionRegistry;
  /** The NATS connection when connected. */
  connection: () => NatsConnection | undefined;
  /** The bundle revision in use (recorded with each session). */
  revision: () => string;
  heartbeatMs: number;
  /** Start and end events wait this long to go out together (default 25 ms). */
  batchMs?: number;
  /** Start and end events kept while JetStream does not take them; beyond, new ones are dropped (default 20,000). */
  maxQueue?: number;
  /** Events published concurrently (default 256). */
  maxInFlight?: number;
  /** How long a publish waits for JetStream's acknowledgement (default 5 s). */
  publishTimeoutMs?: number;
  /** Told how many events were dropped and why. */
  onDropped?(count: number, reason: "queue_full" | "rejected"): void;
  logger: Logger;
}

interface QueuedEvent {
  event: "started" | "ended";
  /** The JetStream message id. */
  id: string;
  message: SessionStarted | SessionEnded;
  attempts: number;
}

export const SESSION_EVENTS_MAX_QUEUE = 20_000;
/** A JetStream refusal that will not change on retry gives up after this many attempts. */
const MAX_REJECTED_ATTEMPTS = 5;

/** How the relay's reason for ending becomes SessionEnded.reason. */
export function endReasonOf(session: LiveSession, relayReason: string): string {
  if (session.endReason) return session.endReason;
  if (/^client (closed|terminated|socket error)/.test(relayReason)) return "client";
  if (/^upstream/.test(relayReason)) return "server";
  if (/administrator command|shutting down/.test(relayReason)) return "shutdown";
  return "error";
}

export class SessionReporter {
  readonly #options: SessionReporterOptions;
  readonly #maxQueue: number;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #resync: { nc: NatsConnection; sub: Subscription } | undefined;
  #js: { nc: NatsConnection; js: JetStreamClient } | undefined;
  /** Events waiting for JetStream, oldest first (in flight ones are not here). */
  #queue: QueuedEvent[] = [];
  #inFlight = 0;
  #pumping = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #batchTimer: NodeJS.Timeout | undefined;
  #dropped = 0;
  #droppedUnreported = 0;
  #published = 0;
  #stopped = false;
  #idle: (() => void)[] = [];

  constructor(options: SessionReporterOptions) {
    this.#options = options;
    this.#maxQueue = Math.max(1, options.maxQueue ?? SESSION_EVENTS_MAX_QUEUE);
  }

  /** Start and end events not yet acknowledged by JetStream (in flight included). */
  get depth(): number {
    return this.#queue.length + this.#inFlight;
  }

  /** Events dropped since start (queue full, or refused by JetStream). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Events JetStream acknowledged since start. */
  get published(): number {
    return this.#published;
  }

  start(): void {
    this.#unsubscribe = this.#options.registry.subscribe((event) => {
      if (event.type === "added") this.#enqueue("started", this.startedOf(event.session));
      else this.#enqueue("ended", this.endedOf(event.session, event.reason));
    });
    this.#timer = setInterval(() => this.heartbeat(), this.#options.heartbeatMs);
    this.#timer.unref();
  }

  /** Stops reporting; what JetStream has not taken within `flushTimeoutMs` (default 2 s) is lost. */
  async stop(flushTimeoutMs = 2_000): Promise<void> {
    this.#unsubscribe?.();
    clearInterval(this.#timer);
    this.flush();
    if (this.depth > 0 && this.#js && !this.#js.nc.isClosed()) await this.whenIdle(flushTimeoutMs);
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    if (this.depth > 0)
      this.#options.logger.warn(
        { events: this.depth },
        "stopping with session events not published: they are lost",
      );
    this.#resync?.sub.unsubscribe();
    this.#resync = undefined;
  }

  /** Resolves once every queued event is acknowledged (true) or after `timeoutMs` (false). */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.depth === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#idle = this.#idle.filter((f) => f !== done);
        resolve(false);
      }, timeoutMs);
      this.#idle.push(done);
    });
  }

  /** Called after each (re)connection: answer resync requests on it, and announce everything now. */
  connected(nc: NatsConnection): void {
    if (this.#resync?.nc !== nc) {
      this.#resync = { nc, sub: nc.subscribe(SESSIONS_RESYNC_SUBJECT, { callback: () => this.resync() }) };
    }
    if (this.#js?.nc !== nc) this.#js = { nc, js: jetstream(nc) };
    this.#failures = 0;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.resync();
  }

  /** Announces every live session again, then a heartbeat. */
  resync(): void {
    for (const session of this.#options.registry.all()) this.#enqueue("started", this.startedOf(session));
    this.heartbeat();
  }

  heartbeat(): void {
    // what the heartbeat lists was handed to JetStream first
    this.flush();
    const message: SessionHeartbeat = {
      data_plane_id: this.#options.id,
      session_ids: this.#options.registry.all().map((s) => s.id),
      at: new Date().toISOString(),
      region: this.#options.region,
    };
    const nc = this.#options.connection();
    if (!nc) return;
    try {
      nc.publish(sessionSubject("heartbeat", this.#options.id), encodeBusMessage(message));
    } catch (err) {
      this.#options.logger.debug({ err: (err as Error).message }, "session heartbeat not sent");
    }
  }

  startedOf(session: LiveSession): SessionStarted {
    const claims = session.claims;
    const message: SessionStarted = {
      session_id: session.id,
      data_plane_id: this.#options.id,
      region: session.region ?? this.#options.region,
      subject: session.subject,
      issuer: typeof claims.iss === "string" ? claims.iss : "",
      db_role: session.dbRole,
      database: session.database,
      client_addr: session.clientAddr,
      application_name: session.applicationName ?? "",
      revision: this.#options.revision(),
      at: session.startedAt.toISOString(),
      claims_digest: claimsDigest(claims),
    };
    if (typeof claims.jti === "string") message.jti = claims.jti;
    if (typeof claims.sid === "string") message.sid = claims.sid;
    if (typeof claims.exp === "number" && Number.isFinite(claims.exp)) {
      message.token_expires_at = new Date(claims.exp * 1000).toISOString();
    }
    if (session.maxSessionSeconds !== undefined) message.max_session_seconds = session.maxSessionSeconds;
    return message;
  }

  endedOf(session: LiveSession, reason: string): SessionEnded {
    return {
      session_id: session.id,
      data_plane_id: this.#options.id,
      reason: endReasonOf(session, reason),
      statements: session.statements ?? 0,
      denied: session.denied ?? 0,
      at: new Date().toISOString(),
    };
  }

  /** Publishes the queued start and end events now (without waiting for the batch delay). */
  flush(): void {
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    this.#pump();
  }

  #enqueue(event: "started" | "ended", message: SessionStarted | SessionEnded): void {
    if (this.#stopped) return;
    if (this.depth >= this.#maxQueue) {
      this.#drop(1, "queue_full");
      return;
    }
    this.#queue.push({ event, id: `${message.session_id}.${event}`, message, attempts: 0 });
    this.#batchTimer ??= setTimeout(() => this.flush(), this.#options.batchMs ?? 25);
  }

  #drop(count: number, reason: "queue_full" | "rejected"): void {
    if (this.#droppedUnreported === 0 && reason === "queue_full") {
      this.#options.logger.warn(
        { maxQueue: this.#maxQueue },
        "session event queue is full: dropping new session events until JetStream takes the queued ones",
      );
    }
    this.#dropped += count;
    this.#droppedUnreported += count;
    this.#options.onDropped?.(count, reason);
  }

  #reportDrops(): void {
    if (this.#droppedUnreported === 0) return;
    this.#options.logger.warn(
      { dropped: this.#droppedUnreported, droppedSinceStart: this.#dropped },
      "session events were dropped while the session event queue was full",
    );
    this.#droppedUnreported = 0;
  }

  /** Hands queued events to JetStream, at most `maxInFlight` at a time, oldest first. */
  #pump(): void {
    if (this.#pumping || this.#stopped || this.#queue.length === 0 || this.#retryTimer) return;
    const handle = this.#js;
    const nc = this.#options.connection();
    if (!handle || !nc || handle.nc !== nc || nc.isClosed()) return; // connected() pumps again
    this.#pumping = true;
    const batch = this.#queue.splice(0, Math.max(1, this.#options.maxInFlight ?? 256));
    this.#inFlight = batch.length;
    const timeout = this.#options.publishTimeoutMs ?? 5_000;
    void Promise.allSettled(
      batch.map((item) =>
        handle.js.publish(sessionSubject(item.event, this.#options.id), encodeBusMessage(item.message), {
          msgID: item.id,
          timeout,
        }),
      ),
    ).then((results) => {
      this.#inFlight = 0;
      this.#pumping = false;
      const retry: QueuedEvent[] = [];
      let rejected = 0;
      let published = 0;
      results.forEach((result, i) => {
        const item = batch[i]!;
        if (result.status === "fulfilled") {
          published++;
          return;
        }
        const err = result.reason as Error;
        if (err instanceof JetStreamApiError && ++item.attempts >= MAX_REJECTED_ATTEMPTS) {
          rejected++;
          this.#options.logger.error({ err: err.message, id: item.id }, "JetStream refused a session event");
          return;
        }
        retry.push(item);
      });
      this.#published += published;
      if (rejected > 0) this.#drop(rejected, "rejected");
      if (retry.length > 0) {
        this.#queue = [...retry, ...this.#queue];
        this.#failures++;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(this.#failures, 6));
        this.#options.logger.debug(
          {
            failed: retry.length,
            retryInMs: delay,
            err: (results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason?.message,
          },
          "session events not acknowledged; retrying",
        );
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#pump();
        }, delay);
        this.#retryTimer.unref();
        return;
      }
      this.#failures = 0;
      if (this.depth < this.#maxQueue) this.#reportDrops();
      if (this.depth === 0) for (const resolve of this.#idle.splice(0)) resolve();
      this.#pump();
    });
  }
}
