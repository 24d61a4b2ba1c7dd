import pg from "pg";
import type { Logger } from "../../common/logger.js";

/**
 * What the upstream's catalog says about relations, per database: which schema holds which name (to
 * resolve unqualified names the way the server does) and which column a (table OID, attribute number)
 * is (RowDescription names results that way; masking is keyed by it). One snapshot per database, shared
 * by all sessions, read over a small pool of its own, refreshed after a TTL or after DDL.
 */

export type RelationKind =
  | "table"
  | "view"
  | "materialized_view"
  | "foreign_table"
  | "partitioned_table"
  | "other";

export interface CatalogRelation {
  oid: number;
  schema: string;
  name: string;
  kind: RelationKind;
  columns: Map<number, string>;
}

export class CatalogSnapshot {
  readonly bySchema = new Map<string, Map<string, CatalogRelation>>();
  readonly byOid = new Map<number, CatalogRelation>();
  constructor(
    readonly loadedAt: number,
    relations: CatalogRelation[],
    /**
     * Per login role, the schemas it has USAGE on (directly, through a role it is a member of, or
     * through PUBLIC; every schema for a superuser). A role not in it has USAGE on none, as far as
     * name resolution is concerned.
     */
    private readonly usage: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
  ) {
    for (const r of relations) {
      let names = this.bySchema.get(r.schema);
      if (!names) {
        names = new Map();
        this.bySchema.set(r.schema, names);
      }
      names.set(r.name, r);
      this.byOid.set(r.oid, r);
    }
  }

  find(schema: string, name: string): CatalogRelation | undefined {
    return this.bySchema.get(schema)?.get(name);
  }

  /**
   * The schemas of `path` the server searches for `role`: it skips, silently, every schema the role
   * has no USAGE on, so a name there is never found through the path (the next schema's is).
   */
  searchable(role: string, path: string[] | null): string[] | null {
    if (path === null) return null;
    const usable = this.usage.get(role);
    return path.filter((schema) => usable?.has(schema) === true);
  }
}

const KINDS: Record<string, RelationKind> = {
  r: "table",
  v: "view",
  m: "materialized_view",
  f: "foreign_table",
  p: "partitioned_table",
};

const SNAPSHOT_SQL = `
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
       coalesce(json_agg(json_build_array(a.attnum, a.attname) ORDER BY a.attnum)
                FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%'
GROUP BY c.oid, n.nspname, c.relname, c.relkind`;

/** The schemas each login role may search (USAGE), as the server decides it (has_schema_privilege). */
const USAGE_SQL = `
SELECT r.rolname AS role,
       coalesce(json_agg(n.nspname) FILTER (WHERE pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE')),
                '[]') AS schemas
FROM pg_catalog.pg_roles r CROSS JOIN pg_catalog.pg_namespace n
WHERE r.rolcanlogin
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%'
GROUP BY r.rolname`;

export interface CatalogSource {
  host: string;
  port: number;
  ssl: false | { rejectUnauthorized: boolean; ca?: string };
  ttlMs: number;
  logger: Logger;
}

interface DatabaseEntry {
  pool: pg.Pool;
  snapshot?: CatalogSnapshot;
  loading?: Promise<CatalogSnapshot>;
  stale: boolean;
}

export class Catalog {
  private readonly databases = new Map<string, DatabaseEntry>();

  constructor(private readonly source: CatalogSource) {}

  /** The current snapshot if it is fresh; undefined when a (re)load is needed first. */
  fresh(database: string): CatalogSnapshot | undefined {
    const entry = this.databases.get(database);
    if (!entry?.snapshot || entry.stale) return undefined;
    if (Date.now() - entry.snapshot.loadedAt > this.source.ttlMs) {
      // serve the old one while a new one loads in the background
      void this.load(database, entry).catch(() => {});
    }
    return entry.snapshot;
  }

  /** Loads (or waits for) a snapshot, connecting as `role` the first time. */
  async get(database: string, role: string, password: string): Promise<CatalogSnapshot> {
    const entry = this.entry(database, role, password);
    const fresh = this.fresh(database);
    if (fresh) return fresh;
    return this.load(database, entry);
  }

  /** Called after DDL: the next statement waits for a new snapshot. */
  invalidate(database: string): void {
    const entry = this.databases.get(database);
    if (entry) entry.stale = true;
  }

  private entry(database: string, role: string, password: string): DatabaseEntry {
    let entry = this.databases.get(database);
    if (!entry) {
      const pool = new pg.Pool({
        host: this.source.host,
        port: this.source.port,
        database,
        user: role,
        password,
        ssl: this.source.ssl,
        max: 1,
        idleTimeoutMillis: 30_000,
        application_name: "portcullis-catalog",
      });
      pool.on("error", (err) =>
        this.source.logger.warn({ err: err.message, database }, "catalog connection error"),
      );
      entry = { pool, stale: true };
      this.databases.set(database, entry);
    }
    return entry;
  }

  private load(database: string, entry: DatabaseEntry): Promise<CatalogSnapshot> {
    if (entry.loading) return entry.loading;
    const started = Date.now();
    // both read in one transaction: one view of the catalog
    entry.loading = entry.pool
      .query<{ oid: string; schema: string; name: string; kind: string; columns: [number, string][] }>(
        `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${SNAPSHOT_SQL}; ${USAGE_SQL}; COMMIT`,
      )
      .then((results) => {
        const all = results as unknown as pg.QueryResult[];
        const result = all[1] as pg.QueryResult<{
          oid: string;
          schema: string;
          name: string;
          kind: string;
          columns: [number, string][];
        }>;
        const usage = new Map(
          (all[2] as pg.QueryResult<{ role: string; schemas: string[] }>).rows.map((row) => [
            row.role,
            new Set(row.schemas),
          ]),
        );
        const snapshot = new CatalogSnapshot(
          started,
          result.rows.map((row) => ({
            oid: Number(row.oid),
            schema: row.schema,
            name: row.name,
            kind: KINDS[row.kind] ?? "other",
            columns: new Map(row.columns),
          })),
          usage,
        );
        entry.snapshot = snapshot;
        entry.stale = false;
        this.source.logger.debug(
          { database, relations: result.rows.length, ms: Date.now() - started },
          "catalog loaded",
        );
        return snapshot;
      })
      .finally(() => {
        entry.loading = undefined;
      });
    return entry.loading;
  }

  async close(): Promise<void> {
    await Promise.all([...this.databases.values()].map((e) => e.pool.end().catch(() => {})));
    this.databases.clear();
  }
}
