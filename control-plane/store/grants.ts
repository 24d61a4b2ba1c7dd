/**
 * Just-in-time grants and access requests (tables `grants`, `access_requests`, `grant_audit`,
 * `grant_sequence`, the highest sequence saved): each grant's latest signed state (what stream PORTCULLIS_GRANTS must carry),
 * the requests subjects made, and the audit trail of every request, approval, denial, grant and
 * revocation. SQLite is the source of truth the stream is reconciled to.
 */
import { type Grant, type GrantKind, grantSchema } from "../../proto/grant.js";
import { prepared, type SqliteDatabase } from "./database.js";

export type AccessRequestStatus = "pending" | "approved" | "denied";

export interface GrantRecord {
  grant: Grant;
  createdAt: string;
  revokedAt?: string;
  publishedAt?: string;
}

export interface AccessRequestRecord {
  id: string;
  subject: string;
  kind: GrantKind;
  value: string;
  seconds: number;
  reason: string;
  createdAt: string;
  status: AccessRequestStatus;
  decidedBy?: string;
  decidedAt?: string;
  decisionNote?: string;
  grantId?: string;
}

export interface GrantAuditEntry {
  at: string;
  action: "requested" | "approved" | "denied" | "granted" | "revoked";
  by: string;
  grantId?: string;
  requestId?: string;
  detail?: Record<string, unknown>;
}

interface GrantRow {
  message_json: string;
  created_at: string;
  revoked_at: string | null;
  published_at: string | null;
}

interface RequestRow {
  id: string;
  subject: string;
  kind: GrantKind;
  value: string;
  seconds: number;
  reason: string;
  created_at: string;
  status: AccessRequestStatus;
  decided_by: string | null;
  decided_at: string | null;
  decision_note: string | null;
  grant_id: string | null;
}

function grantRecord(row: GrantRow): GrantRecord {
  const record: GrantRecord = {
    grant: grantSchema.parse(JSON.parse(row.message_json)),
    createdAt: row.created_at,
  };
  if (row.revoked_at !== null) record.revokedAt = row.revoked_at;
  if (row.published_at !== null) record.publishedAt = row.published_at;
  return record;
}

function requestRecord(row: RequestRow): AccessRequestRecord {
  const r: AccessRequestRecord = {
    id: row.id,
    subject: row.subject,
    kind: row.kind,
    value: row.value,
    seconds: row.seconds,
    reason: row.reason,
    createdAt: row.created_at,
    status: row.status,
  };
  if (row.decided_by !== null) r.decidedBy = row.decided_by;
  if (row.decided_at !== null) r.decidedAt = row.decided_at;
  if (row.decision_note !== null) r.decisionNote = row.decision_note;
  if (row.grant_id !== null) r.grantId = row.grant_id;
  return r;
}

export class GrantRepository {
  /** The last sequence handed out (kept in memory; stored with each state `save` stores). */
  #sequence: number | undefined;

  constructor(private readonly db: SqliteDatabase) {}

  /**
   * The next grant message sequence. In memory, with no write: it goes in SQLite with the state that
   * uses it (`save`), so nothing is written between a grant's signature and its fast path. A sequence
   * whose state was never saved (a crash in between) may be handed out again for another grant:
   * data planes compare sequences per grant, so that is harmless.
   */
  nextSequence(): number {
    if (this.#sequence === undefined) {
      const stored = prepared(this.db, "SELECT value FROM grant_sequence WHERE id = 1").get() as
        | { value: number }
        | undefined;
      const highest = prepared(this.db, "SELECT max(sequence) AS m FROM grants").get() as {
        m: number | null;
      };
      this.#sequence = Math.max(stored?.value ?? 0, highest.m ?? 0);
    }
    this.#sequence += 1;
    return this.#sequence;
  }

  /** Stores a grant's signed state (a new grant, or a later state of one) with its audit entry. */
  save(grant: Grant, audit: GrantAuditEntry): void {
    this.db.transaction(() => {
      prepared(
        this.db,
        `INSERT INTO grants (id, sequence, subject, kind, value, reason, created_by, created_at, starts_at,
           expires_at, request_id, status, revoked_by, revoked_at, message_json)
         VALUES (@id, @sequence, @subject, @kind, @value, @reason, @created_by, @issued_at, @starts_at,
           @expires_at, @request_id, @status, @revoked_by, @revoked_at, @message_json)
         ON CONFLICT (id) DO UPDATE SET sequence = excluded.sequence, status = excluded.status,
           revoked_by = excluded.revoked_by, revoked_at = excluded.revoked_at,
           message_json = excluded.message_json, published_at = NULL
         WHERE excluded.sequence > grants.sequence`,
      ).run({
        ...grant,
        request_id: grant.request_id ?? null,
        revoked_by: grant.revoked_by ?? null,
        revoked_at: grant.status === "revoked" ? grant.issued_at : null,
        message_json: JSON.stringify(grant),
      });
      prepared(this.db, "UPDATE grant_sequence SET value = max(value, ?) WHERE id = 1").run(grant.sequence);
      this.audit(audit);
    })();
  }

  get(id: string): GrantRecord | undefined {
    const row = prepared(this.db, "SELECT * FROM grants WHERE id = ?").get(id) as GrantRow | undefined;
    return row ? grantRecord(row) : undefined;
  }

  /** Newest first; only those not ended at `now` unless `includeEnded`. */
  list(
    options: { includeEnded?: boolean; subject?: string; limit?: number; now?: string } = {},
  ): GrantRecord[] {
    const now = options.now ?? new Date().toISOString();
    const limit = Math.max(1, Math.min(options.limit ?? 100, 10_000));
    const rows = prepared(
      this.db,
      `SELECT * FROM grants
        WHERE (@all = 1 OR (status = 'active' AND expires_at > @now))
          AND (@subject IS NULL OR subject = @subject)
        ORDER BY created_at DESC, id LIMIT @limit`,
    ).all({ all: options.includeEnded ? 1 : 0, now, subject: options.subject ?? null, limit }) as GrantRow[];
    return rows.map(grantRecord);
  }

  /** Every grant state the stream must carry: those not yet ended at `now`, oldest first. */
  unended(now: string = new Date().toISOString()): GrantRecord[] {
    return (
      prepared(this.db, "SELECT * FROM grants WHERE expires_at > ? ORDER BY sequence").all(now) as GrantRow[]
    ).map(grantRecord);
  }

  markPublished(id: string, sequence: number, at: string): void {
    prepared(
      this.db,
      "UPDATE grants SET published_at = coalesce(published_at, ?) WHERE id = ? AND sequence = ?",
    ).run(at, id, sequence);
  }

  insertRequest(request: AccessRequestRecord): void {
    this.db.transaction(() => {
      prepared(
        this.db,
        `INSERT INTO access_requests (id, subject, kind, value, seconds, reason, created_at, status)
           VALUES (@id, @subject, @kind, @value, @seconds, @reason, @createdAt, 'pending')`,
      ).run(request);
      this.audit({
        at: request.createdAt,
        action: "requested",
        by: request.subject,
        requestId: request.id,
        detail: { [request.kind]: request.value, seconds: request.seconds, reason: request.reason },
      });
    })();
  }

  getRequest(id: string): AccessRequestRecord | undefined {
    const row = prepared(this.db, "SELECT * FROM access_requests WHERE id = ?").get(id) as
      | RequestRow
      | undefined;
    return row ? requestRecord(row) : undefined;
  }

  listRequests(
    options: { status?: AccessRequestStatus; subject?: string; limit?: number } = {},
  ): AccessRequestRecord[] {
    const limit = Math.max(1, Math.min(options.limit ?? 100, 10_000));
    return (
      prepared(
        this.db,
        `SELECT * FROM access_requests WHERE (@status IS NULL OR status = @status)
           AND (@subject IS NULL OR subject = @subject) ORDER BY created_at DESC, id LIMIT @limit`,
      ).all({ status: options.status ?? null, subject: options.subject ?? null, limit }) as RequestRow[]
    ).map(requestRecord);
  }

  /** Marks a pending request decided; false when it was not pending any more (decided meanwhile). */
  decideRequest(
    id: string,
    decision: { status: "approved" | "denied"; by: string; at: string; note: string; grantId?: string },
  ): boolean {
    return (
      prepared(
        this.db,
        `UPDATE access_requests SET status = @status, decided_by = @by, decided_at = @at, decision_note = @note,
           grant_id = @grantId WHERE id = @id AND status = 'pending'`,
      ).run({ ...decision, grantId: decision.grantId ?? null, id }).changes === 1
    );
  }

  audit(entry: GrantAuditEntry): void {
    prepared(
      this.db,
      `INSERT INTO grant_audit (at, action, by, grant_id, request_id, detail_json)
         VALUES (@at, @action, @by, @grantId, @requestId, @detail)`,
    ).run({
      at: entry.at,
      action: entry.action,
      by: entry.by,
      grantId: entry.grantId ?? null,
      requestId: entry.requestId ?? null,
      detail: JSON.stringify(entry.detail ?? {}),
    });
  }

  auditTrail(options: { grantId?: string; requestId?: string; limit?: number } = {}): GrantAuditEntry[] {
    const rows = prepared(
      this.db,
      `SELECT * FROM grant_audit WHERE (@grantId IS NULL OR grant_id = @grantId)
         AND (@requestId IS NULL OR request_id = @requestId) ORDER BY id LIMIT @limit`,
    ).all({
      grantId: options.grantId ?? null,
      requestId: options.requestId ?? null,
      limit: Math.max(1, Math.min(options.limit ?? 1000, 100_000)),
    }) as {
      at: string;
      action: GrantAuditEntry["action"];
      by: string;
      grant_id: string | null;
      request_id: string | null;
      detail_json: string;
    }[];
    return rows.map((r) => ({
      at: r.at,
      action: r.action,
      by: r.by,
      ...(r.grant_id !== null ? { grantId: r.grant_id } : {}),
      ...(r.request_id !== null ? { requestId: r.request_id } : {}),
      detail: JSON.parse(r.detail_json) as Record<string, unknown>,
    }));
  }
}
