/**
 * The shadow revision: a ready (or active) bundle the data planes evaluate beside the active one
 * and never enforce. Every change is a row of `shadow_activations`; the latest is in force (a NULL
 * revision: none), and its id is the shadow activation's monotonic sequence.
 */
import type { SqliteDatabase } from "./database.js";
import {
  SIGNED_BUNDLE_COLUMNS,
  type SignedBundle,
  type SignedBundleRow,
  signedBundle,
} from "./signed-bundle.js";

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
export interface ShadowBundle extends SignedBundle {
  at: string;
  sequence: number;
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
        `SELECT s.id, s.at, ${SIGNED_BUNDLE_COLUMNS}
         FROM shadow_activations s JOIN bundles b ON b.revision = s.revision
         WHERE s.id = (SELECT max(id) FROM shadow_activations) AND b.bundle IS NOT NULL`,
      )
      .get() as (SignedBundleRow & { id: number; at: string }) | undefined;
    if (!row) return undefined;
    return { ...signedBundle(row), at: row.at, sequence: row.id };
  }
}
