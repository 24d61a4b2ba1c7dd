/**
 * The live sessions of the fleet, from the data planes' session events (proto/bus.proto):
 * SessionStarted adds one, SessionEnded removes it (both from stream PORTCULLIS_SESSIONS,
 * session-consumer.ts, acknowledged once `commit()` has stored them), and each SessionHeartbeat
 * (core NATS) lists every session a data plane holds, so a session whose end was missed goes when
 * it has been missing from the heartbeats for `missingGraceMs` (the grace lets the real end, which
 * travels on the stream and can arrive after a heartbeat, come first). A data plane whose heartbeats
 * stop for `heartbeatTimeoutMs` has all its sessions dropped (reason `data plane lost`).
 *
 * Storage is idempotent: a start or end delivered again is stored once, a start arriving after its
 * end (or after the end was stored by an earlier run) leaves the session ended, an end before its
 * start is kept and completed by the start, and a reported end replaces an inferred one. WatchEvents
 * gets `session.started` and `session.ended` once per session: an end that comes after an inferred
 * one updates the store, not the watchers.
 *
 * Memory answers reads (ListSessions); SQLite keeps the history and lets a restarted control
 * plane show the sessions it knew until the data planes resync (proto/revocation.ts
 * SESSIONS_RESYNC_SUBJECT). Writes go to SQLite in batches (one transaction per flush) so a burst
 * of thousands of session events costs one commit, not thousands.
 */
import { LRUCache } from "lru-cache";
import type { Logger } from "../../common/logger.js";
import {
  BusMessageError,
  type SessionEnded,
  type SessionHeartbeat,
  type SessionStarted,
} from "../../proto/bus.js";
import {
  decodeSessionEnded,
  decodeSessionHeartbeat,
  decodeSessionStarted,
  sessionEventOf,
} from "../../proto/revocation.js";
import type { EventHub } from "../events/event-hub.js";
import { type SessionRecord, type SessionRepository, sessionRecordOf } from "../store/index.js";

export interface SessionViewOptions {
  repository: SessionRepository;
  heartbeatTimeoutMs: number;
  logger: Logger;
  events?: EventHub;
  now?: () => number;
  /** How often stale data planes are looked for (default: a quarter of the timeout, at most 5 s). */
  sweepIntervalMs?: number;
  /** Writes are batched this long (default 50 ms). */
  flushDelayMs?: number;
  /** A session missing from its data plane's heartbeats this long is taken as ended (default 10 s). */
  missingGraceMs?: number;
}

export interface SessionFilter {
  subject?: string;
  dataPlaneId?: string;
  region?: string;
  /** Case-insensitive text in the subject, data plane, region, role, database, client or id. */
  search?: string;
  limit?: number;
}

/** Where a page ends: the next one starts right after this session in the order asked for. */
export interface SessionCursor {
  startedAt: string;
  id: string;
}

export interface SessionPageRequest {
  pageSize: number;
  after?: SessionCursor;
  newestFirst?: boolean;
}

export interface SessionPage {
  sessions: SessionRecord[];
  /** The cursor of the next page; undefined on the last page. */
  next?: SessionCursor;
  /** Live sessions matching the filter, over every page. */
  total: number;
}

/** Oldest first: by start time, then id (ids are unique, so the order is total). */
function compareSessions(a: { startedAt: string; id: string }, b: { startedAt: string; id: string }): number {
  return a.startedAt < b.startedAt
    ? -1
    : a.startedAt > b.startedAt
      ? 1
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0;
}

type PendingWrite = () => void;

export class SessionView {
  readonly #options: SessionViewOptions;
  readonly #now: () => number;
  readonly #live = new Map<string, SessionRecord>();
  /** data plane id → last heartbeat (or start event) time, ms. */
  readonly #lastHeard = new Map<string, number>();
  /** Live sessions missing from their data plane's last heartbeat → first missed, ms. */
  readonly #missingSince = new Map<string, number>();
  /** Sessions whose end a data plane reported, recently (older ones are looked up in SQLite). */
  readonly #reportedEnded = new LRUCache<string, true>({ max: 200_000 });
  #pending: PendingWrite[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: SessionViewOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const now = this.#now();
    for (const record of options.repository.live()) {
      this.#live.set(record.id, record);
      // Restored sessions get one heartbeat timeout for their data plane to speak up.
      this.#lastHeard.set(record.dataPlaneId, now);
    }
  }

  start(): void {
    const every =
      this.#options.sweepIntervalMs ?? Math.min(5_000, Math.max(100, this.#options.heartbeatTimeoutMs / 4));
    this.#sweepTimer = setInterval(() => this.sweep(), every);
    this.#sweepTimer.unref();
  }

  stop(): void {
    clearInterval(this.#sweepTimer);
    this.flush();
  }

  /** Handles one message from `portcullis.sessions.>`; invalid ones are dropped with a log line. */
  handle(subject: string, data: Uint8Array): void {
    this.apply(subject, data);
  }

  /**
   * Applies one session event; false when it is invalid (dropped with a log line). Its storage is
   * queued: `commit()` stores everything queued in one transaction.
   */
  apply(subject: string, data: Uint8Array): boolean {
    const event = sessionEventOf(subject);
    if (!event) return false;
    try {
      if (event === "started") this.started(decodeSessionStarted(data));
      else if (event === "ended") this.ended(decodeSessionEnded(data));
      else this.heartbeat(decodeSessionHeartbeat(data));
      return true;
    } catch (err) {
      if (err instanceof BusMessageError) {
        this.#options.logger.warn({ err: err.message, subject }, "dropped an invalid session event");
        return false;
      }
      throw err;
    }
  }

  started(event: SessionStarted): void {
    const record = sessionRecordOf(event);
    const id = record.id;
    this.#lastHeard.set(record.dataPlaneId, this.#now());
    // Stored every time (idempotent): a redelivery after a failed commit must reach SQLite.
    this.#write(() => this.#options.repository.upsertStarted(record));
    const known = this.#live.get(id);
    if (known) {
      // a resync or a redelivery repeats what we know: keep the counters we have
      known.lastHeartbeatAt = event.at;
      this.#missingSince.delete(id);
      return;
    }
    // a start after its end (redelivered, or the end came first): stored, never live again
    if (this.#reportedEnded.has(id) || this.#options.repository.endReported(id)) return;
    this.#live.set(id, record);
    this.#options.events?.emit("session", "session.started", event);
  }

  ended(event: SessionEnded): void {
    const id = event.session_id;
    const record = this.#live.get(id);
    this.#live.delete(id);
    this.#missingSince.delete(id);
    this.#reportedEnded.set(id, true);
    this.#write(() => this.#options.repository.recordEnded(event));
    if (record) this.#options.events?.emit("session", "session.ended", { ...event, subject: record.subject });
  }

  heartbeat(event: SessionHeartbeat): void {
    const id = event.data_plane_id;
    const now = this.#now();
    this.#lastHeard.set(id, now);
    const listed = new Set(event.session_ids);
    const gone: SessionRecord[] = [];
    const grace = this.#options.missingGraceMs ?? 10_000;
    for (const record of this.#live.values()) {
      if (record.dataPlaneId !== id) continue;
      if (listed.has(record.id)) {
        record.lastHeartbeatAt = event.at;
        this.#missingSince.delete(record.id);
        continue;
      }
      const since = this.#missingSince.get(record.id);
      if (since === undefined) this.#missingSince.set(record.id, now);
      if (now - (since ?? now) >= grace) gone.push(record);
    }
    for (const record of gone) {
      this.#live.delete(record.id);
      this.#missingSince.delete(record.id);
      this.#options.events?.emit("session", "session.ended", {
        session_id: record.id,
        data_plane_id: id,
        subject: record.subject,
        reason: "not in the data plane's heartbeat",
        at: event.at,
      });
    }
    const ids = event.session_ids;
    this.#write(() => {
      this.#options.repository.heartbeat(ids, event.at);
      for (const record of gone) this.#options.repository.markEnded(record.id, event.at, "missing");
    });
  }

  /** Drops the sessions of data planes not heard from within the timeout; returns how many went. */
  sweep(): number {
    const now = this.#now();
    const at = new Date(now).toISOString();
    let dropped = 0;
    for (const [dataPlaneId, heard] of this.#lastHeard) {
      if (now - heard <= this.#options.heartbeatTimeoutMs) continue;
      this.#lastHeard.delete(dataPlaneId);
      const lost = [...this.#live.values()].filter((r) => r.dataPlaneId === dataPlaneId);
      if (lost.length === 0) continue;
      for (const record of lost) {
        this.#live.delete(record.id);
        this.#missingSince.delete(record.id);
      }
      dropped += lost.length;
      this.#write(() => this.#options.repository.endAllOf(dataPlaneId, at, "data plane lost"));
      this.#options.logger.warn(
        { dataPlane: dataPlaneId, sessions: lost.length, silentMs: now - heard },
        "no session heartbeat from a data plane: its sessions are dropped from the view",
      );
      this.#options.events?.emit("session", "session.lost", {
        data_plane_id: dataPlaneId,
        session_ids: lost.map((r) => r.id),
        at,
      });
    }
    return dropped;
  }

  list(filter: SessionFilter = {}): SessionRecord[] {
    const limit = filter.limit && filter.limit > 0 ? Math.min(filter.limit, 100_000) : 1000;
    return this.#matching(filter).sort(compareSessions).slice(0, limit);
  }

  /**
   * One page of the live sessions matching `filter`, in start order (oldest or newest first),
   * starting right after `after`. Keyset paging: a page is found by its position in the order, not
   * by an offset, so sessions that end between two calls never shift the next page (no repeat, no
   * gap), and a session live through the whole paging is on exactly one page.
   */
  page(filter: SessionFilter, request: SessionPageRequest): SessionPage {
    const matching = this.#matching(filter);
    const sign = request.newestFirst ? -1 : 1;
    const after = request.after;
    const rest = after ? matching.filter((r) => sign * compareSessions(r, after) > 0) : matching;
    rest.sort((a, b) => sign * compareSessions(a, b));
    const sessions = rest.slice(0, request.pageSize);
    const last = sessions[sessions.length - 1];
    return {
      sessions,
      total: matching.length,
      ...(rest.length > sessions.length && last ? { next: { startedAt: last.startedAt, id: last.id } } : {}),
    };
  }

  #matching(filter: SessionFilter): SessionRecord[] {
    const search = filter.search?.trim().toLowerCase();
    const out: SessionRecord[] = [];
    for (const record of this.#live.values()) {
      if (filter.subject && record.subject !== filter.subject) continue;
      if (filter.dataPlaneId && record.dataPlaneId !== filter.dataPlaneId) continue;
      if (filter.region && record.region !== filter.region) continue;
      if (
        search &&
        ![
          record.subject,
          record.dataPlaneId,
          record.region,
          record.dbRole,
          record.database,
          record.clientAddr,
          record.id,
        ].some((field) => field.toLowerCase().includes(search))
      )
        continue;
      out.push(record);
    }
    return out;
  }

  get(id: string): SessionRecord | undefined {
    return this.#live.get(id);
  }

  get size(): number {
    return this.#live.size;
  }

  /** Writes what is pending now; a failure is logged (the writes are lost). */
  flush(): void {
    try {
      this.commit();
    } catch (err) {
      this.#options.logger.error({ err: (err as Error).message }, "storing session events failed");
    }
  }

  /** Writes what is pending now, in one transaction; throws when it did not commit. */
  commit(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const writes = this.#pending;
    if (writes.length === 0) return;
    this.#pending = [];
    this.#options.repository.batch(() => {
      for (const write of writes) write();
    });
  }

  #write(write: PendingWrite): void {
    this.#pending.push(write);
    if (this.#pending.length >= 1_000) this.flush();
    else this.#flushTimer ??= setTimeout(() => this.flush(), this.#options.flushDelayMs ?? 50);
  }
}
