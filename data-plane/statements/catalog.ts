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
  /**
   * The OIDs of the relations whose rows this one shows: the relations a view's or materialized view's
   * query reads (its rewrite rules' dependencies; rules on a table count too), and the parents of an
   * inheritance child or a partition. Direct ones only; `CatalogSnapshot.sources` follows them.
   */
  sources?: number[];
  /**
   * The OIDs of its inheritance children and partitions (direct ones): a parent's results hold its
   * children's rows, under the parent's table OID.
   */
  children?: number[];
  /** The relations its rewrite rules read (part of `sources`). */
  reads?: number[];
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

  private readonly sourceNames = new Map<number, string[]>();

  /**
   * Every relation `relation` shows rows of, transitively (a view over a view over a table, a partition
   * of a partition, the children of a parent a view reads), as "schema.name", sorted; empty for a
   * plain table.
   */
  sources(relation: CatalogRelation): string[] {
    const known = this.sourceNames.get(relation.oid);
    if (known) return known;
    // Up (what a view reads, an inheritance child's parents) and down (what a view reads, a parent's
    // children) separately: a child's sibling shows none of the other child's rows.
    const names = new Set<string>();
    const follow = (next: (r: CatalogRelation) => number[]) => {
      const seen = new Set<number>([relation.oid]);
      const queue = next(relation);
      while (queue.length > 0) {
        const oid = queue.pop()!;
        if (seen.has(oid)) continue;
        seen.add(oid);
        const source = this.byOid.get(oid);
        if (!source) continue;
        names.add(`${source.schema}.${source.name}`);
        queue.push(...next(source));
      }
    };
    follow((r) => [...(r.sources ?? [])]);
    follow((r) => [...(r.reads ?? []), ...(r.children ?? [])]);
    const out = [...names].sort();
    this.sourceNames.set(relation.oid, out);
    return out;
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

/** The direct sources of every relation that has any (see CatalogRelation.sources). */
const SOURCES_SQL = `
SELECT w.ev_class::int8 AS oid, d.refobjid::int8 AS source, 'r' AS how
FROM pg_catalog.pg_rewrite w
JOIN pg_catalog.pg_depend d
  ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = w.oid
 AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> w.ev_class
UNION
SELECT i.inhrelid::int8, i.inhparent::int8, 'p' FROM pg_catalog.pg_inherits i`;

/**
 * The catalog connection's own settings. The database owner (or a role's settings) can change what a
 * new session starts with (`ALTER DATABASE app SET statement_timeout = 1`, a `search_path` that puts
 * another schema before pg_catalog): set at start-up, which those cannot override, and again before
 * every read.
 */
const PINNED_SETTINGS: [string, string][] = [
  ["statement_timeout", "0"],
  ["lock_timeout", "0"],
  ["idle_in_transaction_session_timeout", "0"],
  ["search_path", "pg_catalog"],
  ["default_transaction_read_only", "on"],
  ["default_transaction_isolation", "read committed"],
  ["client_min_messages", "warning"],
];

const PIN_SQL = `SET ROLE NONE; ${PINNED_SETTINGS.map(([name, value]) => `SET ${name} = '${value}'`).join("; ")}`;

const PIN_OPTIONS = PINNED_SETTINGS.map(([name, value]) => `-c ${name}=${value.replace(/ /g, "\\ ")}`).join(
  " ",
);

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
  /** The generation the load in flight started in. */
  loadingGeneration?: number;
  /** Counts invalidations: a load started before the last one cannot make the entry fresh. */
  generation: number;
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
    if (entry) {
      entry.stale = true;
      entry.generation++;
    }
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
        options: PIN_OPTIONS,
      });
      pool.on("error", (err) =>
        this.source.logger.warn({ err: err.message, database }, "catalog connection error"),
      );
      entry = { pool, stale: true, generation: 0 };
      this.databases.set(database, entry);
    }
    return entry;
  }

  private load(database: string, entry: DatabaseEntry): Promise<CatalogSnapshot> {
    // a load that started before the last invalidation may read what the DDL had not committed yet
    if (entry.loading && entry.loadingGeneration === entry.generation) return entry.loading;
    const generation = entry.generation;
    const previous = entry.loading?.catch(() => undefined) ?? Promise.resolve(undefined);
    const loading: Promise<CatalogSnapshot> = previous
      .then(() => this.read(entry))
      .then(({ started, rows, usage }) => {
        const snapshot = new CatalogSnapshot(started, rows, usage);
        if (entry.generation === generation) {
          entry.snapshot = snapshot;
          entry.stale = false;
        }
        this.source.logger.debug(
          { database, relations: rows.length, ms: Date.now() - started },
          "catalog loaded",
        );
        return snapshot;
      })
      .finally(() => {
        if (entry.loading === loading) {
          entry.loading = undefined;
          entry.loadingGeneration = undefined;
        }
      });
    entry.loading = loading;
    entry.loadingGeneration = generation;
    return loading;
  }

  /** One read of the catalog on a connection whose settings are pinned first. */
  private async read(
    entry: DatabaseEntry,
  ): Promise<{ started: number; rows: CatalogRelation[]; usage: Map<string, Set<string>> }> {
    const client = await entry.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(PIN_SQL);
      const started = Date.now();
      // every read in one snapshot of the catalog
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const result = await client.query<{
        oid: string;
        schema: string;
        name: string;
        kind: string;
        columns: [number, string][];
      }>(SNAPSHOT_SQL);
      const sources = await client.query<{ oid: string; source: string; how: string }>(SOURCES_SQL);
      const usage = await client.query<{ role: string; schemas: string[] }>(USAGE_SQL);
      await client.query("COMMIT");
      const edges = {
        sources: new Map<number, number[]>(),
        reads: new Map<number, number[]>(),
        children: new Map<number, number[]>(),
      };
      const add = (map: Map<number, number[]>, from: number, to: number) => {
        const list = map.get(from);
        if (list) list.push(to);
        else map.set(from, [to]);
      };
      for (const row of sources.rows) {
        const oid = Number(row.oid);
        const source = Number(row.source);
        add(edges.sources, oid, source);
        if (row.how === "r") add(edges.reads, oid, source);
        else add(edges.children, source, oid);
      }
      return {
        started,
        usage: new Map(usage.rows.map((row) => [row.role, new Set(row.schemas)])),
        rows: result.rows.map((row) => ({
          oid: Number(row.oid),
          schema: row.schema,
          name: row.name,
          kind: KINDS[row.kind] ?? "other",
          columns: new Map(row.columns),
          sources: edges.sources.get(Number(row.oid)) ?? [],
          reads: edges.reads.get(Number(row.oid)) ?? [],
          children: edges.children.get(Number(row.oid)) ?? [],
        })),
      };
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.databases.values()].map((e) => e.pool.end().catch(() => {})));
    this.databases.clear();
  }
}
