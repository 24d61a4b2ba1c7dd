/** How far each policy source (git URL + branch + folder) has been read. */
import type { SqliteDatabase } from "./database.js";

export interface PolicySourceRecord {
  id: string;
  url: string;
  branch: string;
  folder: string;
  /** The newest commit touching the folder that was handed to the pipeline. */
  lastCommit?: string;
  /** The branch head at the last successful fetch. */
  lastHead?: string;
  lastFetchedAt?: string;
  lastError?: string;
  updatedAt: string;
}

interface SourceRow {
  id: string;
  url: string;
  branch: string;
  folder: string;
  last_commit: string | null;
  last_head: string | null;
  last_fetched_at: string | null;
  last_error: string | null;
  updated_at: string;
}

export interface SourceUpdate {
  url: string;
  branch: string;
  folder: string;
  lastCommit?: string;
  lastHead?: string;
  lastFetchedAt?: string;
  /** null clears the error. */
  lastError?: string | null;
}

export class SourceRepository {
  constructor(private readonly db: SqliteDatabase) {}

  get(id: string): PolicySourceRecord | undefined {
    const row = this.db.prepare("SELECT * FROM policy_sources WHERE id = ?").get(id) as SourceRow | undefined;
    if (!row) return undefined;
    const record: PolicySourceRecord = {
      id: row.id,
      url: row.url,
      branch: row.branch,
      folder: row.folder,
      updatedAt: row.updated_at,
    };
    if (row.last_commit !== null) record.lastCommit = row.last_commit;
    if (row.last_head !== null) record.lastHead = row.last_head;
    if (row.last_fetched_at !== null) record.lastFetchedAt = row.last_fetched_at;
    if (row.last_error !== null) record.lastError = row.last_error;
    return record;
  }

  /** Creates or updates a source; fields left undefined keep their value. */
  update(id: string, update: SourceUpdate): PolicySourceRecord {
    const at = new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO policy_sources (id, url, branch, folder, last_commit, last_head, last_fetched_at, last_error, updated_at)
         VALUES (@id, @url, @branch, @folder, @commit, @head, @fetched, @error, @at)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, branch = excluded.branch, folder = excluded.folder,
           last_commit = coalesce(@commit, last_commit), last_head = coalesce(@head, last_head),
           last_fetched_at = coalesce(@fetched, last_fetched_at),
           last_error = CASE WHEN @keepError THEN last_error ELSE @error END,
           updated_at = excluded.updated_at`,
      )
      .run({
        id,
        url: update.url,
        branch: update.branch,
        folder: update.folder,
        commit: update.lastCommit ?? null,
        head: update.lastHead ?? null,
        fetched: update.lastFetchedAt ?? null,
        error: update.lastError ?? null,
        keepError: update.lastError === undefined ? 1 : 0,
        at,
      });
    return this.get(id)!;
  }
}
