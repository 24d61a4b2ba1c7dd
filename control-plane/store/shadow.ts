/**
 * The shadow revision: a ready (or active) bundle the data planes evaluate beside the active one
 * and never enforce. Every change is a row of `shadow_activations`; the latest is in force (a NULL
 * revision: none), and its id is the shadow activation's monotonic sequence.
 */
import type { SqliteDatabase } from "./database.js";

export interface ShadowRecord {
  /** The shadow activation's sequence (the row id). */
  sequence: number;
  /** Undefined when shadow evaluation was ended. */
  revision?: string;
  at: string;
  by: string;
  reason: string;
}

/** The shadow bundle with its bytes, for publishing. */
export interface ShadowBundle {
  revision: string;
  sha256: string;
  signature: string;
  sizeBytes: number;
  bytes: Uint8Array;
  at: string;
  sequence: number;
  manifestSequence: number;
}

export class ShadowRepository {
  constructor(private readonly db: SqliteDatabase) {}

  /** Makes `revision` the shadow one (undefined: ends shadow evaluation). */
  set(revision: string | undefined, by: string, reason = ""): ShadowRecord {
    const at = new Date().toISOString();
    const result = this.db
      .prepare("INSERT INTO shadow_activations (revision, at, by, reason) VALUES (?, ?, ?, ?)")
      .run(revision ?? null, at, by, reason);
    return {
      sequence: Number(result.lastInsertRowid),
      ...(revision !== undefined ? { revision } : {}),
      at,
      by,
      reason,
    };
  }

  current(): ShadowRecord | undefined {
    const row = this.db
      .prepare("SELECT id, revision, at, by, reason FROM shadow_activations ORDER BY id DESC LIMIT 1")
      .get() as { id: number; revision: string | null; at: string; by: string; reason: string } | undefined;
    if (!row) return undefined;
    return {
      sequence: row.id,
      ...(row.revision !== null ? { revision: row.revision } : {}),
      at: row.at,
      by: row.by,
      reason: row.reason,
    };
  }

  /** The shadow bundle in force with its bytes, or undefined when there is none. */
  bundle(): ShadowBundle | undefined {
    const row = this.db
      .prepare(
        `SELECT s.id, s.at, b.revision, b.sha256, b.signature, b.size_bytes, b.bundle,
                coalesce(b.sequence, 0) AS manifest_sequence
         FROM shadow_activations s JOIN bundles b ON b.revision = s.revision
         WHERE s.id = (SELECT max(id) FROM shadow_activations) AND b.bundle IS NOT NULL`,
      )
      .get() as
      | {
          id: number;
          at: string;
          revision: string;
          sha256: string;
          signature: string;
          size_bytes: number;
          bundle: Buffer;
          manifest_sequence: number;
        }
      | undefined;
    if (!row) return undefined;
    return {
      revision: row.revision,
      sha256: row.sha256,
      signature: row.signature,
      sizeBytes: row.size_bytes,
      bytes: new Uint8Array(row.bundle),
      at: row.at,
      sequence: row.id,
      manifestSequence: row.manifest_sequence,
    };
  }
}
