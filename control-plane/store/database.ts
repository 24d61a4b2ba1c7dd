/**
 * Opening the control plane's SQLite database: WAL journal, foreign keys on, a busy timeout, and
 * the numbered migrations of migrations.ts applied in order (each in its own transaction).
 */
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { MIGRATIONS, type Migration } from "./migrations.js";

export type SqliteDatabase = Database.Database;

const statementCaches = new WeakMap<SqliteDatabase, Map<string, Database.Statement>>();

/**
 * The database's prepared statement for `sql`, compiled once and reused: for the paths that run per
 * event (session events, fleet reports, acknowledgements), where compiling each time costs more
 * than running.
 */
export function prepared(db: SqliteDatabase, sql: string): Database.Statement {
  let cache = statementCaches.get(db);
  if (!cache) {
    cache = new Map();
    statementCaches.set(db, cache);
  }
  let statement = cache.get(sql);
  if (!statement) {
    statement = db.prepare(sql);
    cache.set(sql, statement);
  }
  return statement;
}

export class StoreError extends Error {
  override name = "StoreError";
}

export const DEFAULT_STORE_PATH = "./.portcullis/control-plane.db";

/** The highest migration version applied to `db` (0 for a new database). */
export function schemaVersion(db: SqliteDatabase): number {
  const row = db.prepare("SELECT max(version) AS v FROM schema_migrations").get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Applies the migrations `db` lacks, in version order; returns the versions applied by this call.
 * "Lacks" means not recorded, not "above the newest recorded": a migration numbered below one that
 * already ran (two lines of work that each added one) still runs, so migrations that touch
 * different tables must not depend on each other's order.
 */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const current = schemaVersion(db);
  const known = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  if (current > known) {
    throw new StoreError(
      `the database schema is at version ${current}, newer than this control plane knows (${known}): ` +
        "run a newer Portcullis or restore a backup",
    );
  }
  const recorded = new Set(
    (db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map(
      (r) => r.version,
    ),
  );
  const applied: number[] = [];
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  for (const migration of ordered) {
    if (recorded.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
        migration.version,
        migration.name,
        new Date().toISOString(),
      );
    })();
    applied.push(migration.version);
  }
  return applied;
}

/** Opens (creating it and its folder if needed) and migrates the database at `path`. */
export function openDatabase(path: string = DEFAULT_STORE_PATH): SqliteDatabase {
  const file = path === ":memory:" ? path : resolve(path);
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let db: SqliteDatabase;
  try {
    db = new Database(file);
  } catch (err) {
    throw new StoreError(`cannot open the control plane database ${file}: ${(err as Error).message}`);
  }
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    migrate(db);
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw new StoreError(`cannot prepare the control plane database ${file}: ${(err as Error).message}`);
  }
  return db;
}
