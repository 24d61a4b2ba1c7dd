/**
 * Session events for the control plane's live view (proto/bus.proto): SessionStarted and
 * SessionEnded on `portcullis.sessions.{started,ended}.<id>` as sessions come and go, and a
 * SessionHeartbeat listing every live session every `heartbeatMs`. Core NATS, fire and forget:
 * while NATS is unreachable nothing is sent, and on each (re)connection, or when the control plane
 * asks (`portcullis.sessions.resync`), every live session is announced again with a heartbeat, so
 * the view converges whatever was missed. Start and end events are sent in batches, every
 * `batchMs` (25 ms by default): a burst (a revocation ending hundreds of sessions, a login storm)
 * costs a few socket writes instead of one per session, and never competes with cutting clients.
 */
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
  logger: Logger;
}

type SessionEvent = "started" | "ended" | "heartbeat";

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
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #resync: { nc: NatsConnection; sub: Subscription } | undefined;
  #queue: { event: SessionEvent; message: unknown }[] = [];
  #batchTimer: NodeJS.Timeout | undefined;

  constructor(options: SessionReporterOptions) {
    this.#options = options;
  }

  start(): void {
    this.#unsubscribe = this.#options.registry.subscribe((event) => {
      if (event.type === "added") this.#enqueue("started", this.startedOf(event.session));
      else this.#enqueue("ended", this.endedOf(event.session, event.reason));
    });
    this.#timer = setInterval(() => this.heartbeat(), this.#options.heartbeatMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#unsubscribe?.();
    clearInterval(this.#timer);
    this.flush();
    this.#resync?.sub.unsubscribe();
    this.#resync = undefined;
  }

  /** Called after each (re)connection: answer resync requests on it, and announce everything now. */
  connected(nc: NatsConnection): void {
    if (this.#resync?.nc !== nc) {
      this.#resync = { nc, sub: nc.subscribe(SESSIONS_RESYNC_SUBJECT, { callback: () => this.resync() }) };
    }
    this.resync();
  }

  /** Announces every live session again, then a heartbeat. */
  resync(): void {
    for (const session of this.#options.registry.all()) this.#enqueue("started", this.startedOf(session));
    this.heartbeat();
  }

  heartbeat(): void {
    // what the heartbeat lists was announced first
    this.flush();
    const message: SessionHeartbeat = {
      data_plane_id: this.#options.id,
      session_ids: this.#options.registry.all().map((s) => s.id),
      at: new Date().toISOString(),
      region: this.#options.region,
    };
    this.#publish("heartbeat", message);
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

  /** Sends the queued start and end events now. */
  flush(): void {
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    for (const { event, message } of this.#queue.splice(0)) this.#publish(event, message);
  }

  #enqueue(event: SessionEvent, message: unknown): void {
    this.#queue.push({ event, message });
    this.#batchTimer ??= setTimeout(() => this.flush(), this.#options.batchMs ?? 25);
  }

  #publish(event: SessionEvent, message: unknown): void {
    const nc = this.#options.connection();
    if (!nc) return;
    try {
      nc.publish(sessionSubject(event, this.#options.id), encodeBusMessage(message));
    } catch (err) {
      this.#options.logger.debug({ err: (err as Error).message, event }, "session event not sent");
    }
  }
}
