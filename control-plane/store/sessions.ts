/**
 * Client sessions reported by the data planes (table `sessions`): one row per session, live while
 * `ended_at` is null. The control plane's SessionView keeps the live ones in memory too and writes
 * here in batches; this survives a restart so the view comes back before the first heartbeats.
 */
import type { SessionEnded, SessionStarted } from "../../proto/bus.js";
import { prepared, type SqliteDatabase } from "./database.js";

export interface SessionRecord {
  id: string;
  dataPlaneId: string;
  region: string;
  subject: string;
  issuer: string;
  jti?: string;
  sid?: string;
  dbRole: string;
  database: string;
  clientAddr: string;
  applicationName: string;
  revision?: string;
  claimsDigest?: string;
  tokenExpiresAt?: string;
  maxSessionSeconds?: number;
  startedAt: string;
  lastHeartbeatAt?: string;
  endedAt?: string;
  endReason?: string;
  statements: number;
  denied: number;
}

interface SessionRow {
  id: string;
  data_plane_id: string;
  region: string;
  subject: string;
  issuer: string;
  jti: string | null;
  sid: string | null;
  db_role: string;
  database: string;
  client_addr: string;
  application_name: string;
  revision: string | null;
  claims_digest: string | null;
  token_expires_at: string | null;
  max_session_seconds: number | null;
  started_at: string;
  last_heartbeat_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  statements: number;
  denied: number;
}

function toRecord(row: SessionRow): SessionRecord {
  const record: SessionRecord = {
    id: row.id,
    dataPlaneId: row.data_plane_id,
    region: row.region,
    subject: row.subject,
    issuer: row.issuer,
    dbRole: row.db_role,
    database: row.database,
    clientAddr: row.client_addr,
    applicationName: row.application_name,
    startedAt: row.started_at,
    statements: row.statements,
    denied: row.denied,
  };
  if (row.jti !== null) record.jti = row.jti;
  if (row.sid !== null) record.sid = row.sid;
  if (row.revision !== null) record.revision = row.revision;
  if (row.claims_digest !== null) record.claimsDigest = row.claims_digest;
  if (row.token_expires_at !== null) record.tokenExpiresAt = row.token_expires_at;
  if (row.max_session_seconds !== null) record.maxSessionSeconds = row.max_session_seconds;
  if (row.last_heartbeat_at !== null) record.lastHeartbeatAt = row.last_heartbeat_at;
  if (row.ended_at !== null) record.endedAt = row.ended_at;
  if (row.end_reason !== null) record.endReason = row.end_reason;
  return record;
}

/** The record of a SessionStarted message. */
export function sessionRecordOf(event: SessionStarted): SessionRecord {
  const record: SessionRecord = {
    id: event.session_id,
    dataPlaneId: event.data_plane_id,
    region: event.region,
    subject: event.subject,
    issuer: event.issuer,
    dbRole: event.db_role,
    database: event.database,
    clientAddr: event.client_addr,
    applicationName: event.application_name,
    startedAt: event.at,
    lastHeartbeatAt: event.at,
    statements: 0,
    denied: 0,
  };
  if (event.jti !== undefined) record.jti = event.jti;
  if (event.sid !== undefined) record.sid = event.sid;
  if (event.revision) record.revision = event.revision;
  if (event.claims_digest !== undefined) record.claimsDigest = event.claims_digest;
  if (event.token_expires_at !== undefined) record.tokenExpiresAt = event.token_expires_at;
  if (event.max_session_seconds !== undefined) record.maxSessionSeconds = event.max_session_seconds;
  return record;
}

export class SessionRepository {
  constructor(private readonly db: SqliteDatabase) {}

  /** Runs `fn` in one transaction (batches of session events). */
  batch(fn: () => void): void {
    this.db.transaction(fn)();
  }

  /**
   * Records a started session. A repeat of the same id (a redelivery, a resync) updates it; one
   * whose end was inferred is live again; one whose end the data plane reported (a start arriving
   * after its end) stays ended.
   */
  upsertStarted(record: SessionRecord): void {
    prepared(
      this.db,
      `INSERT INTO sessions (id, data_plane_id, region, subject, issuer, jti, sid, db_role, database,
           client_addr, application_name, revision, claims_digest, token_expires_at, max_session_seconds,
           started_at, last_heartbeat_at, statements, denied)
         VALUES (@id, @dataPlaneId, @region, @subject, @issuer, @jti, @sid, @dbRole, @database, @clientAddr,
           @applicationName, @revision, @claimsDigest, @tokenExpiresAt, @maxSessionSeconds, @startedAt,
           @lastHeartbeatAt, @statements, @denied)
         ON CONFLICT (id) DO UPDATE SET data_plane_id = excluded.data_plane_id, region = excluded.region,
           subject = excluded.subject, issuer = excluded.issuer, jti = excluded.jti, sid = excluded.sid,
           db_role = excluded.db_role, database = excluded.database, client_addr = excluded.client_addr,
           application_name = excluded.application_name, revision = excluded.revision,
           claims_digest = excluded.claims_digest, token_expires_at = excluded.token_expires_at,
           max_session_seconds = excluded.max_session_seconds, started_at = excluded.started_at,
           start_known = 1,
           last_heartbeat_at = CASE WHEN sessions.ended_at IS NOT NULL AND sessions.end_inferred = 0
             THEN sessions.last_heartbeat_at ELSE excluded.last_heartbeat_at END,
           end_reason = CASE WHEN sessions.end_inferred = 0 THEN sessions.end_reason ELSE NULL END,
           ended_at = CASE WHEN sessions.end_inferred = 0 THEN sessions.ended_at ELSE NULL END,
           end_inferred = 0`,
    ).run({
      ...record,
      jti: record.jti ?? null,
      sid: record.sid ?? null,
      revision: record.revision ?? null,
      claimsDigest: record.claimsDigest ?? null,
      tokenExpiresAt: record.tokenExpiresAt ?? null,
      maxSessionSeconds: record.maxSessionSeconds ?? null,
      lastHeartbeatAt: record.lastHeartbeatAt ?? null,
    });
  }

  /**
   * Records the end a data plane reported: once (a redelivery changes nothing), replacing an
   * inferred end; before its start, as a row the start fills in later.
   */
  recordEnded(event: SessionEnded): void {
    prepared(
      this.db,
      `INSERT INTO sessions (id, data_plane_id, subject, started_at, ended_at, end_reason, statements,
           denied, start_known)
         VALUES (@id, @dataPlaneId, '', @at, @at, @reason, @statements, @denied, 0)
         ON CONFLICT (id) DO UPDATE SET ended_at = excluded.ended_at, end_reason = excluded.end_reason,
           statements = excluded.statements, denied = excluded.denied, end_inferred = 0
         WHERE sessions.ended_at IS NULL OR sessions.end_inferred = 1`,
    ).run({
      id: event.session_id,
      dataPlaneId: event.data_plane_id,
      at: event.at,
      reason: event.reason,
      statements: event.statements,
      denied: event.denied,
    });
  }

  /** Records an end the control plane inferred (the data plane's own end replaces it). */
  markEnded(id: string, at: string, reason: string): void {
    prepared(
      this.db,
      "UPDATE sessions SET ended_at = ?, end_reason = ?, end_inferred = 1 WHERE id = ? AND ended_at IS NULL",
    ).run(at, reason, id);
  }

  /** Whether the data plane reported this session's end (not only inferred). */
  endReported(id: string): boolean {
    const row = prepared(
      this.db,
      "SELECT 1 AS yes FROM sessions WHERE id = ? AND ended_at IS NOT NULL AND end_inferred = 0",
    ).get(id) as { yes: number } | undefined;
    return row !== undefined;
  }

  heartbeat(ids: readonly string[], at: string): void {
    const update = prepared(
      this.db,
      "UPDATE sessions SET last_heartbeat_at = ? WHERE id = ? AND ended_at IS NULL",
    );
    for (const id of ids) update.run(at, id);
  }

  /** Ends every live session of a data plane (an inferred end); returns how many. */
  endAllOf(dataPlaneId: string, at: string, reason: string): number {
    return prepared(
      this.db,
      "UPDATE sessions SET ended_at = ?, end_reason = ?, end_inferred = 1 WHERE data_plane_id = ? AND ended_at IS NULL",
    ).run(at, reason, dataPlaneId).changes;
  }

  live(): SessionRecord[] {
    return (
      prepared(
        this.db,
        "SELECT * FROM sessions WHERE ended_at IS NULL ORDER BY started_at, id",
      ).all() as SessionRow[]
    ).map(toRecord);
  }

  get(id: string): SessionRecord | undefined {
    const row = prepared(this.db, "SELECT * FROM sessions WHERE id = ?").get(id) as SessionRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Deletes ended sessions that ended before `before`; returns how many. */
  forgetEndedBefore(before: string): number {
    return prepared(this.db, "DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?").run(before)
      .changes;
  }
}
