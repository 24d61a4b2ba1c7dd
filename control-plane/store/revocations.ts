/**
 * Revocations (tables `revocations`, `revocation_acks`): every revocation an admin made, with who,
 * why, until when, its signature, when it reached the stream, and which data planes acknowledged
 * it with how many sessions they cut. Kept until it expires (and for `keep_expired` after, for the
 * record); SQLite is the source of truth the stream is reconciled to.
 */
import type { Revocation, RevocationKind } from "../../proto/bus.js";
import { prepared, type SqliteDatabase } from "./database.js";

export interface RevocationRecord {
  id: string;
  kind: RevocationKind;
  value: string;
  reason: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string;
  signature: string;
  streamSeq?: number;
  publishedAt?: string;
  /** Data planes that acknowledged, and the sessions they cut in total. */
  acks: number;
  sessionsCut: number;
}

export interface RevocationAckRecord {
  revocationId: string;
  dataPlaneId: string;
  sessionsCut: number;
  ackedAt: string;
}

interface RevocationRow {
  id: string;
  kind: RevocationKind;
  value: string;
  reason: string;
  created_at: string;
  created_by: string;
  expires_at: string;
  signature: string | null;
  stream_seq: number | null;
  published_at: string | null;
  acks: number;
  sessions_cut: number | null;
}

const SELECT = `SELECT r.*, (SELECT count(*) FROM revocation_acks a WHERE a.revocation_id = r.id) AS acks,
  (SELECT sum(sessions_cut) FROM revocation_acks a WHERE a.revocation_id = r.id) AS sessions_cut
  FROM revocations r`;

function toRecord(row: RevocationRow): RevocationRecord {
  const record: RevocationRecord = {
    id: row.id,
    kind: row.kind,
    value: row.value,
    reason: row.reason,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    signature: row.signature ?? "",
    acks: row.acks,
    sessionsCut: row.sessions_cut ?? 0,
  };
  if (row.stream_seq !== null) record.streamSeq = row.stream_seq;
  if (row.published_at !== null) record.publishedAt = row.published_at;
  return record;
}

/** The bus message of a stored revocation. */
export function revocationMessage(record: RevocationRecord): Revocation {
  const message: Revocation = {
    id: record.id,
    kind: record.kind,
    value: record.value,
    reason: record.reason,
    created_at: record.createdAt,
    expires_at: record.expiresAt,
    signature: record.signature,
  };
  if (record.createdBy) message.created_by = record.createdBy;
  return message;
}

export class RevocationRepository {
  constructor(private readonly db: SqliteDatabase) {}

  /** Stores a signed revocation. */
  insert(revocation: Revocation): RevocationRecord {
    prepared(
      this.db,
      `INSERT INTO revocations (id, kind, value, reason, created_at, created_by, expires_at, signature)
         VALUES (@id, @kind, @value, @reason, @created_at, @created_by, @expires_at, @signature)`,
    ).run({ ...revocation, created_by: revocation.created_by ?? "" });
    return this.get(revocation.id)!;
  }

  get(id: string): RevocationRecord | undefined {
    const row = prepared(this.db, `${SELECT} WHERE r.id = ?`).get(id) as RevocationRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Newest first; only those not expired at `now` unless `includeExpired`. */
  list(options: { includeExpired?: boolean; limit?: number; now?: string } = {}): RevocationRecord[] {
    const now = options.now ?? new Date().toISOString();
    const limit = Math.max(1, Math.min(options.limit ?? 100, 10_000));
    const rows = options.includeExpired
      ? prepared(this.db, `${SELECT} ORDER BY r.created_at DESC, r.id LIMIT ?`).all(limit)
      : prepared(this.db, `${SELECT} WHERE r.expires_at > ? ORDER BY r.created_at DESC, r.id LIMIT ?`).all(
          now,
          limit,
        );
    return (rows as RevocationRow[]).map(toRecord);
  }

  /** Every revocation not expired at `now`, oldest first (what the stream must carry). */
  live(now: string = new Date().toISOString()): RevocationRecord[] {
    return (
      prepared(this.db, `${SELECT} WHERE r.expires_at > ? ORDER BY r.created_at, r.id`).all(
        now,
      ) as RevocationRow[]
    ).map(toRecord);
  }

  markPublished(id: string, streamSeq: number, at: string): void {
    prepared(
      this.db,
      "UPDATE revocations SET stream_seq = ?, published_at = coalesce(published_at, ?) WHERE id = ?",
    ).run(streamSeq, at, id);
  }

  /** Records (or updates) a data plane's acknowledgement; false when the revocation is unknown. */
  recordAck(ack: RevocationAckRecord): boolean {
    if (!prepared(this.db, "SELECT 1 FROM revocations WHERE id = ?").get(ack.revocationId)) return false;
    prepared(
      this.db,
      `INSERT INTO revocation_acks (revocation_id, data_plane_id, sessions_cut, acked_at)
         VALUES (?, ?, ?, ?)
         ON CONFLICT (revocation_id, data_plane_id) DO UPDATE SET
           sessions_cut = revocation_acks.sessions_cut + excluded.sessions_cut, acked_at = excluded.acked_at`,
    ).run(ack.revocationId, ack.dataPlaneId, ack.sessionsCut, ack.ackedAt);
    return true;
  }

  acks(revocationId: string): RevocationAckRecord[] {
    return (
      prepared(
        this.db,
        "SELECT * FROM revocation_acks WHERE revocation_id = ? ORDER BY acked_at, data_plane_id",
      ).all(revocationId) as {
        revocation_id: string;
        data_plane_id: string;
        sessions_cut: number;
        acked_at: string;
      }[]
    ).map((r) => ({
      revocationId: r.revocation_id,
      dataPlaneId: r.data_plane_id,
      sessionsCut: r.sessions_cut,
      ackedAt: r.acked_at,
    }));
  }

  /** Deletes revocations that expired before `before` (with their acks); returns how many. */
  forgetExpiredBefore(before: string): number {
    return prepared(this.db, "DELETE FROM revocations WHERE expires_at < ?").run(before).changes;
  }
}
