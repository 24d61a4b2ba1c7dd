import { beforeAll, describe, expect, it } from "vitest";
import type { StatementInfo, StatementKind } from "../../proto/policy.js";
import { analyzeUncached } from "./analysis-cache.js";
import { functionLabel } from "./function-label.js";
import { loadParser, parseStatements } from "./parser.js";
import type { Setting } from "./settings.js";
import { nameParts, str, walk } from "./walk.js";

beforeAll(async () => {
  await loadParser();
});

function analyzeAll(sql: string): StatementInfo[] {
  const r = analyzeUncached(sql);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(sql)} to analyse, got: ${r.error}`);
  return r.statements;
}

function one(sql: string): StatementInfo {
  const all = analyzeAll(sql);
  expect(all, sql).toHaveLength(1);
  return all[0] as StatementInfo;
}

/** "schema.name:r" / "name:w" */
function rels(s: StatementInfo): string[] {
  return s.relations.map((r) => `${r.schema === null ? "" : `${r.schema}.`}${r.name}:${r.access[0]}`).sort();
}

/** "relation|column|o" / "?|column|e" */
function cols(s: StatementInfo): string[] {
  return (s.columns ?? []).map((c) => `${c.relation ?? "?"}|${c.column}|${c.context[0]}`).sort();
}

interface Case {
  sql: string;
  kind: StatementKind;
  command?: string;
  /** Exact set of relations. */
  rels?: string[];
  /** Exact set of functions. */
  fns?: string[];
  /** has_where; null = must be absent. */
  where?: boolean | null;
  /** Exact settings. */
  settings?: Setting[];
  /** Exact set of column uses. */
  cols?: string[];
  /** Column uses that must be present. */
  colsHas?: string[];
  check?: (s: StatementInfo) => void;
}

/** Every single-statement SQL of the tables below, for the cross-checks at the end. */
const ALL_SQL: string[] = [];

function runCases(cases: Case[]): void {
  ALL_SQL.push(...cases.map((c) => c.sql));
  it.each(cases.map((c) => [c.sql, c] as const))("%s", (_sql, c) => {
    const s = one(c.sql);
    expect(s.kind, "kind").toBe(c.kind);
    if (c.command !== undefined) expect(s.command, "command").toBe(c.command);
    if (c.rels !== undefined) expect(rels(s), "relations").toEqual([...c.rels].sort());
    if (c.fns !== undefined) expect([...s.functions].sort(), "functions").toEqual([...c.fns].sort());
    if (c.where === null) expect(s.has_where, "has_where").toBeUndefined();
    else if (c.where !== undefined) expect(s.has_where, "has_where").toBe(c.where);
    if (c.settings !== undefined) expect(s.settings ?? [], "settings").toEqual(c.settings);
    if (c.cols !== undefined) expect(cols(s), "columns").toEqual([...c.cols].sort());
    if (c.colsHas !== undefined) expect(cols(s), "columns").toEqual(expect.arrayContaining(c.colsHas));
    c.check?.(s);
    // Invariants of every analysis.
    expect(s.text.length).toBeGreaterThan(0);
    expect(s.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    for (const r of s.relations) expect(r.resolved, `resolved of ${r.name}`).toBe(r.schema !== null);
    expect(new Set(rels(s)).size, "relations deduplicated").toBe(s.relations.length);
  });
}

describe("statement kinds: queries and DML", () => {
  runCases([
    { sql: "SELECT 1", kind: "select", command: "SelectStmt", rels: [], fns: [], where: null, cols: [] },
    {
      sql: "SELECT * FROM hr.employees",
      kind: "select",
      rels: ["hr.employees:r"],
      cols: ["hr.employees|*|o"],
    },
    { sql: "TABLE hr.t", kind: "select", rels: ["hr.t:r"], cols: ["hr.t|*|o"] },
    { sql: "VALUES (1, f())", kind: "select", rels: [], fns: ["f"] },
    {
      sql: "SELECT a INTO newt FROM t",
      kind: "select",
      command: "SelectStmt",
      rels: ["newt:w", "t:r"],
      cols: ["t|a|e"],
    },
    {
      sql: "SELECT * INTO TEMP x FROM hr.e UNION SELECT * FROM hr.f",
      kind: "select",
      rels: ["x:w", "hr.e:r", "hr.f:r"],
    },
    {
      sql: "INSERT INTO t (a) VALUES (1)",
      kind: "insert",
      command: "InsertStmt",
      rels: ["t:w"],
      where: null,
    },
    { sql: "INSERT INTO t DEFAULT VALUES", kind: "insert", rels: ["t:w"] },
    {
      sql: "INSERT INTO app.t SELECT * FROM app.s WHERE s.x > 0",
      kind: "insert",
      rels: ["app.t:w", "app.s:r"],
      cols: ["app.s|*|e", "app.s|x|e"],
    },
    {
      sql: "INSERT INTO t (id, a) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET a = excluded.a WHERE t.b > 0 RETURNING id",
      kind: "insert",
      rels: ["t:w"],
      cols: ["?|a|e", "t|b|e", "t|id|e"],
      check: (s) => expect(s.relations[0]?.columns).toEqual(expect.arrayContaining(["id", "a", "b"])),
    },
    {
      sql: "INSERT INTO t (a) SELECT b FROM s ON CONFLICT DO NOTHING",
      kind: "insert",
      rels: ["t:w", "s:r"],
      cols: ["s|b|e"],
    },
    { sql: "UPDATE t SET a = 1", kind: "update", command: "UpdateStmt", rels: ["t:w"], where: false },
    {
      sql: "UPDATE hr.e SET a = s.b FROM s WHERE e.id = s.id",
      kind: "update",
      rels: ["hr.e:w", "s:r"],
      where: true,
      cols: ["s|b|e", "hr.e|id|e", "s|id|e"],
    },
    {
      sql: "UPDATE t SET a = (SELECT max(b) FROM s), (c, d) = (SELECT 1, 2)",
      kind: "update",
      rels: ["t:w", "s:r"],
      fns: ["max"],
      where: false,
    },
    { sql: "UPDATE t SET a = 1 WHERE CURRENT OF c", kind: "update", where: true },
    { sql: "DELETE FROM t", kind: "delete", command: "DeleteStmt", rels: ["t:w"], where: false },
    { sql: "DELETE FROM ONLY hr.t x WHERE x.id = 1", kind: "delete", rels: ["hr.t:w"], where: true },
    {
      sql: "DELETE FROM t USING s WHERE t.id = s.id RETURNING t.*",
      kind: "delete",
      rels: ["t:w", "s:r"],
      where: true,
      cols: ["t|id|e", "s|id|e", "t|*|e"],
    },
    { sql: "DELETE FROM t WHERE CURRENT OF c", kind: "delete", where: true },
    {
      sql: "DELETE FROM t WHERE id IN (SELECT id FROM gone)",
      kind: "delete",
      rels: ["t:w", "gone:r"],
      where: true,
    },
    {
      sql: "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a WHEN NOT MATCHED THEN INSERT (a) VALUES (s.a)",
      kind: "merge",
      command: "MergeStmt",
      rels: ["t:w", "s:r"],
      where: true,
      cols: ["t|id|e", "s|id|e", "s|a|e"],
    },
    {
      sql: "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE",
      kind: "merge",
      where: false,
    },
    {
      sql: "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE AND t.keep = false THEN DELETE",
      kind: "merge",
      where: true,
    },
    {
      sql: "MERGE INTO hr.t AS tgt USING (SELECT * FROM stage.s WHERE ok) src ON tgt.id = src.id WHEN MATCHED THEN DELETE",
      kind: "merge",
      rels: ["hr.t:w", "stage.s:r"],
      where: true,
    },
  ]);
});

describe("statement kinds: DDL, COPY, grants, roles, utilities", () => {
  runCases([
    { sql: "CREATE TABLE t (a int)", kind: "ddl", command: "CreateStmt", rels: ["t:w"] },
    {
      sql: "CREATE TABLE t (a int DEFAULT nextval('s'), b int CHECK (b > f(a)), c int REFERENCES o(id)) INHERITS (p)",
      kind: "ddl",
      rels: ["t:w", "o:r", "p:w"],
      fns: ["nextval", "f"],
    },
    { sql: "CREATE TABLE t2 (LIKE hr.t INCLUDING ALL)", kind: "ddl", rels: ["t2:w", "hr.t:r"] },
    {
      sql: "CREATE TABLE x AS SELECT ssn FROM hr.e",
      kind: "ddl",
      command: "CreateTableAsStmt",
      rels: ["x:w", "hr.e:r"],
      cols: ["hr.e|ssn|e"],
      check: (s) => {
        expect(s.inner?.kind).toBe("select");
        expect(rels(s.inner as StatementInfo)).toEqual(["hr.e:r"]);
      },
    },
    {
      sql: "CREATE MATERIALIZED VIEW mv AS SELECT a FROM t WITH NO DATA",
      kind: "ddl",
      rels: ["mv:w", "t:r"],
    },
    {
      sql: "CREATE TABLE x AS EXECUTE p(1)",
      kind: "ddl",
      rels: ["x:w"],
      check: (s) => {
        expect(s.inner?.kind).toBe("execute");
        expect(s.inner?.prepared_name).toBe("p");
      },
    },
    {
      sql: "CREATE VIEW v AS SELECT ssn FROM hr.e",
      kind: "ddl",
      command: "ViewStmt",
      rels: ["v:w", "hr.e:r"],
      cols: ["hr.e|ssn|e"],
    },
    { sql: "ALTER TABLE hr.t ADD COLUMN z int DEFAULT g()", kind: "ddl", rels: ["hr.t:w"], fns: ["g"] },
    { sql: "ALTER TABLE t ATTACH PARTITION p FOR VALUES IN (1)", kind: "ddl", rels: ["t:w", "p:w"] },
    { sql: "ALTER TABLE t RENAME TO u", kind: "ddl", command: "RenameStmt", rels: ["t:w"] },
    { sql: "ALTER TABLE t SET SCHEMA archive", kind: "ddl", rels: ["t:w"] },
    {
      sql: "DROP TABLE IF EXISTS hr.t, u CASCADE",
      kind: "ddl",
      command: "DropStmt",
      rels: ["hr.t:w", "u:w"],
    },
    { sql: "DROP TRIGGER tr ON hr.t", kind: "ddl", rels: ["hr.t:w"] },
    { sql: "DROP FUNCTION f(int)", kind: "ddl", rels: [], fns: [] },
    { sql: "DROP SCHEMA hr CASCADE", kind: "ddl", rels: [] },
    { sql: "TRUNCATE a, ONLY s.b", kind: "ddl", command: "TruncateStmt", rels: ["a:w", "s.b:w"] },
    { sql: "COMMENT ON TABLE hr.t IS 'x'", kind: "ddl", command: "CommentStmt", rels: ["hr.t:w"] },
    {
      sql: "COMMENT ON COLUMN hr.t.c IS 'x'",
      kind: "ddl",
      rels: ["hr.t:w"],
      check: (s) => expect(s.relations[0]?.columns).toEqual(["c"]),
    },
    {
      sql: "CREATE INDEX i ON t (lower(a)) WHERE b > 0",
      kind: "ddl",
      command: "IndexStmt",
      rels: ["t:w"],
      fns: ["lower"],
      cols: ["t|a|e", "t|b|e"],
    },
    {
      sql: "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW WHEN (new.x > 0) EXECUTE FUNCTION audit.trg()",
      kind: "ddl",
      rels: ["t:w"],
      fns: ["audit.trg"],
      cols: ["t|x|e"],
    },
    {
      sql: "CREATE POLICY p ON hr.e USING (ssn = current_user)",
      kind: "ddl",
      rels: ["hr.e:w"],
      cols: ["hr.e|ssn|e"],
    },
    {
      sql: "CREATE RULE r AS ON DELETE TO t DO INSTEAD DELETE FROM u WHERE u.id = old.id",
      kind: "ddl",
      rels: ["t:w", "u:w"],
    },
    { sql: "CREATE SCHEMA s CREATE TABLE t (a int)", kind: "ddl", rels: ["t:w"] },
    {
      sql: "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DELETE FROM t; RETURN 1; END $$",
      kind: "ddl",
      command: "CreateFunctionStmt",
      rels: [],
    },
    {
      sql: "CREATE FUNCTION f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM t; END",
      kind: "ddl",
      rels: ["t:r"],
    },
    { sql: "CREATE EXTENSION IF NOT EXISTS dblink", kind: "ddl", command: "CreateExtensionStmt" },
    { sql: "REFRESH MATERIALIZED VIEW CONCURRENTLY mv", kind: "ddl", rels: ["mv:w"] },
    { sql: "CREATE SEQUENCE s", kind: "ddl", rels: ["s:w"] },
    { sql: "CREATE PUBLICATION p FOR TABLE hr.t", kind: "ddl", rels: ["hr.t:r"] },
    { sql: "ALTER SYSTEM SET work_mem = '1GB'", kind: "ddl", command: "AlterSystemStmt", settings: [] },
    { sql: "ALTER DATABASE d SET search_path = x", kind: "ddl", settings: [] },
    {
      sql: "COPY hr.t (a, b) FROM '/tmp/x' WITH (FORMAT csv)",
      kind: "copy",
      command: "CopyStmt",
      rels: ["hr.t:w"],
      cols: [],
      check: (s) => {
        expect(s.copy).toEqual({ direction: "from", program: false, file: true });
        expect(s.relations[0]?.columns).toEqual(["a", "b"]);
      },
    },
    {
      sql: "COPY t TO PROGRAM 'gzip > /tmp/t.gz'",
      kind: "copy",
      rels: ["t:r"],
      cols: ["t|*|e"],
      check: (s) => expect(s.copy).toEqual({ direction: "to", program: true, file: false }),
    },
    {
      sql: "COPY t FROM STDIN WHERE a > 1",
      kind: "copy",
      rels: ["t:w"],
      check: (s) => expect(s.copy).toEqual({ direction: "from", program: false, file: false }),
    },
    { sql: "COPY t (a) TO STDOUT", kind: "copy", rels: ["t:r"], cols: ["t|a|e"] },
    {
      sql: "COPY (SELECT ssn FROM hr.e WHERE lower(name) = 'x') TO STDOUT",
      kind: "copy",
      rels: ["hr.e:r"],
      fns: ["lower"],
      cols: ["hr.e|ssn|e", "hr.e|name|e"],
    },
    { sql: "COPY (DELETE FROM t RETURNING *) TO STDOUT", kind: "copy", rels: ["t:w"], where: false },
    {
      sql: "LOCK TABLE a, s.b IN ACCESS EXCLUSIVE MODE",
      kind: "lock",
      command: "LockStmt",
      rels: ["a:w", "s.b:w"],
    },
    { sql: "GRANT SELECT ON hr.t, u TO bob", kind: "grant", command: "GrantStmt", rels: ["hr.t:w", "u:w"] },
    { sql: "GRANT ALL ON ALL TABLES IN SCHEMA hr TO bob", kind: "grant", rels: [] },
    { sql: "REVOKE SELECT ON t FROM bob", kind: "grant", rels: ["t:w"] },
    { sql: "GRANT admin TO bob", kind: "grant", command: "GrantRoleStmt" },
    { sql: "ALTER DEFAULT PRIVILEGES IN SCHEMA hr GRANT SELECT ON TABLES TO bob", kind: "grant" },
    { sql: "CREATE ROLE x LOGIN PASSWORD 'p'", kind: "role", command: "CreateRoleStmt" },
    { sql: "CREATE USER u", kind: "role", command: "CreateRoleStmt" },
    { sql: "ALTER USER u WITH SUPERUSER", kind: "role", command: "AlterRoleStmt" },
    { sql: "ALTER ROLE bob SET search_path = x", kind: "role", command: "AlterRoleSetStmt", settings: [] },
    { sql: "ALTER ROLE bob RENAME TO rob", kind: "role", command: "RenameStmt" },
    { sql: "DROP ROLE IF EXISTS u", kind: "role", command: "DropRoleStmt" },
    { sql: "VACUUM (ANALYZE) t (a)", kind: "utility", command: "VacuumStmt", rels: ["t:w"] },
    { sql: "ANALYZE hr.t", kind: "utility", command: "VacuumStmt", rels: ["hr.t:w"] },
    { sql: "CLUSTER t USING t_pkey", kind: "utility", rels: ["t:w"] },
    { sql: "REINDEX TABLE t", kind: "utility", rels: ["t:w"] },
    { sql: "CHECKPOINT", kind: "utility", command: "CheckPointStmt" },
    { sql: "DISCARD ALL", kind: "utility", command: "DiscardStmt" },
    { sql: "LOAD 'auto_explain'", kind: "utility", command: "LoadStmt" },
    { sql: "FETCH 10 FROM c", kind: "utility", command: "FetchStmt" },
    { sql: "CLOSE c", kind: "utility", command: "ClosePortalStmt" },
    { sql: "SET CONSTRAINTS ALL DEFERRED", kind: "utility", command: "ConstraintsSetStmt" },
    {
      sql: "DECLARE c CURSOR WITH HOLD FOR SELECT ssn FROM hr.e",
      kind: "select",
      command: "DeclareCursorStmt",
      rels: ["hr.e:r"],
      cols: ["hr.e|ssn|o"],
    },
  ]);
});

describe("statement kinds: session, transactions, prepared statements, EXPLAIN, code", () => {
  runCases([
    {
      sql: "SET statement_timeout = '5s'",
      kind: "set",
      command: "VariableSetStmt",
      settings: [{ name: "statement_timeout", value: "5s", local: false }],
    },
    { sql: "SET LOCAL work_mem = 0", kind: "set", settings: [{ name: "work_mem", value: "0", local: true }] },
    { sql: "SET Work_Mem TO 64", kind: "set", settings: [{ name: "work_mem", value: "64", local: false }] },
    {
      sql: "SET search_path TO a, \"B\", '$user', 'c d'",
      kind: "set",
      settings: [{ name: "search_path", value: 'a, "B", "$user", "c d"', local: false }],
    },
    {
      sql: "SET search_path = hr",
      kind: "set",
      settings: [{ name: "search_path", value: "hr", local: false }],
    },
    { sql: "SET SCHEMA 'Hr'", kind: "set", settings: [{ name: "search_path", value: '"Hr"', local: false }] },
    {
      sql: "SET search_path = DEFAULT",
      kind: "set",
      settings: [{ name: "search_path", value: null, local: false, reset: true }],
    },
    {
      sql: "RESET search_path",
      kind: "set",
      settings: [{ name: "search_path", value: null, local: false, reset: true }],
    },
    { sql: "RESET ALL", kind: "set", settings: [{ name: "all", value: null, local: false, reset: true }] },
    {
      sql: "SET work_mem FROM CURRENT",
      kind: "set",
      settings: [{ name: "work_mem", value: null, local: false }],
    },
    { sql: "SET TIME ZONE 'UTC'", kind: "set", settings: [{ name: "timezone", value: "UTC", local: false }] },
    {
      sql: "SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE",
      kind: "set",
      settings: [{ name: "timezone", value: null, local: false }],
    },
    {
      sql: "SET NAMES 'utf8'",
      kind: "set",
      settings: [{ name: "client_encoding", value: "utf8", local: false }],
    },
    { sql: "SET x.y = -1.5", kind: "set", settings: [{ name: "x.y", value: "-1.5", local: false }] },
    {
      sql: "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY",
      kind: "set",
      settings: [
        { name: "transaction_isolation", value: "serializable", local: true },
        { name: "transaction_read_only", value: "1", local: true },
      ],
    },
    {
      sql: "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
      kind: "set",
      settings: [{ name: "default_transaction_read_only", value: "0", local: false }],
    },
    { sql: "SET ROLE admin", kind: "role", settings: [{ name: "role", value: "admin", local: false }] },
    { sql: "SET ROLE NONE", kind: "role", settings: [{ name: "role", value: "none", local: false }] },
    {
      sql: 'SET LOCAL ROLE "Admin"',
      kind: "role",
      settings: [{ name: "role", value: "Admin", local: true }],
    },
    { sql: "RESET ROLE", kind: "role", settings: [{ name: "role", value: null, local: false, reset: true }] },
    {
      sql: "SET SESSION AUTHORIZATION bob",
      kind: "role",
      settings: [{ name: "session_authorization", value: "bob", local: false }],
    },
    {
      sql: "SET SESSION AUTHORIZATION DEFAULT",
      kind: "role",
      settings: [{ name: "session_authorization", value: null, local: false, reset: true }],
    },
    {
      sql: "RESET SESSION AUTHORIZATION",
      kind: "role",
      settings: [{ name: "session_authorization", value: null, local: false, reset: true }],
    },
    {
      sql: "SHOW search_path",
      kind: "show",
      command: "VariableShowStmt",
      settings: [{ name: "search_path", value: null, local: false }],
    },
    { sql: "SHOW ALL", kind: "show", settings: [{ name: "all", value: null, local: false }] },
    {
      sql: "BEGIN",
      kind: "transaction",
      command: "TransactionStmt",
      check: (s) => expect(s.transaction).toBe("begin"),
    },
    {
      sql: "START TRANSACTION ISOLATION LEVEL REPEATABLE READ",
      kind: "transaction",
      settings: [{ name: "transaction_isolation", value: "repeatable read", local: true }],
      check: (s) => expect(s.transaction).toBe("begin"),
    },
    { sql: "COMMIT", kind: "transaction", check: (s) => expect(s.transaction).toBe("commit") },
    { sql: "END", kind: "transaction", check: (s) => expect(s.transaction).toBe("commit") },
    { sql: "ROLLBACK", kind: "transaction", check: (s) => expect(s.transaction).toBe("rollback") },
    { sql: "ABORT", kind: "transaction", check: (s) => expect(s.transaction).toBe("rollback") },
    { sql: "SAVEPOINT sp1", kind: "transaction", check: (s) => expect(s.transaction).toBe("savepoint") },
    {
      sql: "RELEASE SAVEPOINT sp1",
      kind: "transaction",
      check: (s) => expect(s.transaction).toBe("release"),
    },
    {
      sql: "ROLLBACK TO SAVEPOINT sp1",
      kind: "transaction",
      check: (s) => expect(s.transaction).toBe("rollback_to"),
    },
    {
      sql: "PREPARE TRANSACTION 'g1'",
      kind: "transaction",
      check: (s) => expect(s.transaction).toBe("prepare"),
    },
    {
      sql: "COMMIT PREPARED 'g1'",
      kind: "transaction",
      check: (s) => expect(s.transaction).toBe("commit_prepared"),
    },
    {
      sql: "ROLLBACK PREPARED 'g1'",
      kind: "transaction",
      check: (s) => expect(s.transaction).toBe("rollback_prepared"),
    },
    {
      sql: "PREPARE q (int) AS SELECT name FROM hr.e WHERE id = $1",
      kind: "prepare",
      command: "PrepareStmt",
      rels: ["hr.e:r"],
      cols: ["hr.e|name|o", "hr.e|id|e"],
      check: (s) => {
        expect(s.prepared_name).toBe("q");
        expect(s.inner?.kind).toBe("select");
        expect(s.inner?.command).toBe("SelectStmt");
        expect(rels(s.inner as StatementInfo)).toEqual(["hr.e:r"]);
      },
    },
    {
      sql: "PREPARE d AS DELETE FROM t",
      kind: "prepare",
      rels: ["t:w"],
      where: false,
      check: (s) => expect(s.inner?.has_where).toBe(false),
    },
    {
      sql: "PREPARE s AS SELECT set_config('role', 'admin', false)",
      kind: "role",
      command: "PrepareStmt",
      fns: ["set_config"],
      settings: [{ name: "role", value: "admin", local: false }],
    },
    {
      sql: "EXECUTE q(1)",
      kind: "execute",
      command: "ExecuteStmt",
      check: (s) => expect(s.prepared_name).toBe("q"),
    },
    { sql: "EXECUTE q(lower('X'))", kind: "execute", fns: ["lower"] },
    { sql: "DEALLOCATE q", kind: "deallocate", check: (s) => expect(s.prepared_name).toBe("q") },
    { sql: "DEALLOCATE PREPARE q", kind: "deallocate", check: (s) => expect(s.prepared_name).toBe("q") },
    { sql: "DEALLOCATE ALL", kind: "deallocate", check: (s) => expect(s.prepared_name).toBeUndefined() },
    {
      sql: "EXPLAIN SELECT * FROM t",
      kind: "explain",
      command: "ExplainStmt",
      rels: ["t:r"],
      check: (s) => {
        expect(s.explain_analyze).toBe(false);
        expect(s.inner?.kind).toBe("select");
      },
    },
    {
      sql: "EXPLAIN DELETE FROM t",
      kind: "explain",
      rels: ["t:r"],
      where: null,
      check: (s) => {
        expect(rels(s.inner as StatementInfo)).toEqual(["t:w"]);
        expect(s.inner?.has_where).toBe(false);
      },
    },
    {
      sql: "EXPLAIN ANALYZE DELETE FROM t",
      kind: "explain",
      rels: ["t:w"],
      where: false,
      check: (s) => expect(s.explain_analyze).toBe(true),
    },
    {
      sql: "EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1 WHERE id = 2",
      kind: "explain",
      rels: ["t:w"],
      where: true,
    },
    { sql: "EXPLAIN (ANALYZE false) DELETE FROM t", kind: "explain", rels: ["t:r"], where: null },
    { sql: "EXPLAIN (ANALYZE off, VERBOSE) DELETE FROM t", kind: "explain", rels: ["t:r"] },
    { sql: "EXPLAIN (ANALYZE 0) DELETE FROM t", kind: "explain", rels: ["t:r"] },
    { sql: "EXPLAIN (ANALYZE on) DELETE FROM t", kind: "explain", rels: ["t:w"] },
    { sql: "EXPLAIN (ANALYZE 1) DELETE FROM t", kind: "explain", rels: ["t:w"] },
    {
      sql: "EXPLAIN ANALYZE CREATE TABLE x AS SELECT * FROM hr.e",
      kind: "explain",
      rels: ["x:w", "hr.e:r"],
      check: (s) => expect(s.inner?.kind).toBe("ddl"),
    },
    {
      sql: "EXPLAIN SELECT pg_catalog.set_config('search_path', 'evil', false)",
      kind: "explain",
      fns: ["pg_catalog.set_config"],
      settings: [{ name: "search_path", value: "evil", local: false }],
    },
    { sql: "CALL s.proc(1, f(2))", kind: "call", command: "CallStmt", fns: ["s.proc", "f"] },
    {
      sql: "DO $$ BEGIN DELETE FROM t; END $$",
      kind: "do",
      command: "DoStmt",
      rels: [],
      check: (s) => expect(s.do_language).toBe("plpgsql"),
    },
    { sql: "DO LANGUAGE PLPerl 'system(1)'", kind: "do", check: (s) => expect(s.do_language).toBe("plperl") },
    { sql: "LISTEN ch", kind: "listen", command: "ListenStmt", check: (s) => expect(s.channel).toBe("ch") },
    {
      sql: "UNLISTEN ch",
      kind: "listen",
      command: "UnlistenStmt",
      check: (s) => expect(s.channel).toBe("ch"),
    },
    { sql: "UNLISTEN *", kind: "listen", check: (s) => expect(s.channel).toBeUndefined() },
    {
      sql: "NOTIFY ch, 'hello'",
      kind: "notify",
      command: "NotifyStmt",
      check: (s) => expect(s.channel).toBe("ch"),
    },
  ]);
});

describe("relations: quoting, CTEs, subqueries, joins, locking", () => {
  runCases([
    {
      sql: 'SELECT * FROM "Sales"."Orders" o',
      kind: "select",
      rels: ["Sales.Orders:r"],
      cols: ["Sales.Orders|*|o"],
      check: (s) => expect(s.relations[0]).toMatchObject({ schema: "Sales", name: "Orders", resolved: true }),
    },
    { sql: 'SELECT * FROM SALES.Orders, "sales"."orders"', kind: "select", rels: ["sales.orders:r"] },
    {
      sql: "SELECT * FROM orders",
      kind: "select",
      check: (s) =>
        expect(s.relations[0]).toEqual({
          schema: null,
          name: "orders",
          access: "read",
          resolved: false,
          columns: ["*"],
        }),
    },
    { sql: "SELECT * FROM mydb.hr.t", kind: "select", rels: ["hr.t:r"] },
    {
      sql: 'SELECT * FROM "a.b"',
      kind: "select",
      rels: ["a.b:r"],
      check: (s) => expect(s.relations[0]?.schema).toBeNull(),
    },
    { sql: "WITH x AS (SELECT * FROM t) SELECT * FROM x", kind: "select", rels: ["t:r"] },
    {
      sql: "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
      kind: "select",
      rels: ["t:w"],
      where: false,
    },
    {
      sql: "WITH x AS (UPDATE t SET a = 1 WHERE id = 2 RETURNING id) SELECT * FROM x",
      kind: "select",
      rels: ["t:w"],
      where: true,
    },
    {
      sql: "WITH d AS (DELETE FROM a RETURNING id) UPDATE b SET x = 1 WHERE id IN (SELECT id FROM d)",
      kind: "update",
      rels: ["a:w", "b:w"],
      where: false,
    },
    { sql: "WITH t AS (SELECT * FROM t) SELECT * FROM t", kind: "select", rels: ["t:r"] },
    {
      sql: "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
      kind: "select",
      rels: [],
    },
    { sql: "WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b", kind: "select", rels: [] },
    { sql: "WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b", kind: "select", rels: ["a:r"] },
    { sql: "WITH t AS (SELECT 1) SELECT * FROM public.t", kind: "select", rels: ["public.t:r"] },
    {
      sql: "SELECT * FROM (WITH t AS (SELECT 1) SELECT * FROM t) s, t",
      kind: "select",
      rels: ["t:r"],
    },
    {
      sql: "WITH t AS (SELECT 1) SELECT * FROM x WHERE EXISTS (SELECT 1 FROM t)",
      kind: "select",
      rels: ["x:r"],
    },
    {
      sql: "WITH s AS (SELECT * FROM src) INSERT INTO dst SELECT * FROM s",
      kind: "insert",
      rels: ["dst:w", "src:r"],
    },
    {
      sql: "SELECT (SELECT max(x) FROM a), b.k FROM b WHERE b.id IN (SELECT id FROM c) GROUP BY b.k HAVING count(*) > (SELECT count(*) FROM d)",
      kind: "select",
      rels: ["a:r", "b:r", "c:r", "d:r"],
      fns: ["max", "count"],
    },
    {
      sql: "SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.x = a.x) s",
      kind: "select",
      rels: ["a:r", "b:r"],
      colsHas: ["a|x|e", "b|x|e"],
    },
    {
      sql: "SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id) NATURAL JOIN d CROSS JOIN e",
      kind: "select",
      rels: ["a:r", "b:r", "c:r", "d:r", "e:r"],
    },
    {
      sql: "SELECT a FROM x UNION SELECT b FROM y INTERSECT SELECT c FROM z EXCEPT SELECT d FROM w",
      kind: "select",
      rels: ["x:r", "y:r", "z:r", "w:r"],
      cols: ["x|a|e", "y|b|e", "z|c|e", "w|d|e"],
    },
    { sql: "SELECT * FROM t TABLESAMPLE SYSTEM (10) REPEATABLE (1)", kind: "select", rels: ["t:r"] },
    { sql: "SELECT * FROM t FOR UPDATE", kind: "select", rels: ["t:r", "t:w"] },
    {
      sql: "SELECT * FROM a x JOIN b y ON true FOR UPDATE OF x NOWAIT",
      kind: "select",
      rels: ["a:r", "a:w", "b:r"],
    },
    {
      sql: "SELECT * FROM a, (SELECT * FROM b) s FOR SHARE OF s",
      kind: "select",
      rels: ["a:r", "b:r", "b:w"],
    },
    {
      sql: "SELECT * FROM generate_series(1, 3) g, ROWS FROM (f(1), g2(2)) AS r(x, y)",
      kind: "select",
      rels: [],
      fns: ["generate_series", "f", "g2"],
    },
    {
      sql: "SELECT * FROM docs d, JSON_TABLE(d.doc, '$' COLUMNS (a int PATH '$.a')) jt, XMLTABLE('/x' PASSING d.x COLUMNS b int) xt",
      kind: "select",
      rels: ["docs:r"],
      colsHas: ["docs|doc|e", "docs|x|e"],
    },
    {
      sql: "SELECT lower(name), pg_catalog.set_config('a', 'b', false), now() AT TIME ZONE 'UTC', extract(year FROM now()), count(*) FILTER (WHERE x > 0) OVER (PARTITION BY k) FROM t",
      kind: "select",
      fns: ["lower", "pg_catalog.set_config", "now", "pg_catalog.timezone", "pg_catalog.extract", "count"],
    },
    {
      sql: "SELECT a + b, a || b, a ~ 'x', NOT a, a IS NULL, COALESCE(a, b), GREATEST(a, b), current_user FROM t",
      kind: "select",
      fns: [],
    },
    { sql: 'SELECT "Lower"(x), public."F"() FROM t', kind: "select", fns: ['"Lower"', 'public."F"'] },
    {
      sql: "SELECT * FROM hr.t WHERE id = ANY (ARRAY(SELECT id FROM hr.u)) AND x IN (VALUES (1), ((SELECT 2 FROM hr.v)))",
      kind: "select",
      rels: ["hr.t:r", "hr.u:r", "hr.v:r"],
    },
  ]);
});

describe("settings from set_config()", () => {
  runCases([
    {
      sql: "SELECT set_config('search_path', 'a, \"B\"', false)",
      kind: "select",
      settings: [{ name: "search_path", value: 'a, "B"', local: false }],
    },
    {
      sql: "SELECT pg_catalog.set_config('Role', 'admin', true)",
      kind: "role",
      command: "SelectStmt",
      settings: [{ name: "role", value: "admin", local: true }],
    },
    {
      sql: "SELECT set_config(setting_name => 'work_mem', new_value => '1GB', is_local => 'on')",
      kind: "select",
      settings: [{ name: "work_mem", value: "1GB", local: true }],
    },
    {
      sql: "SELECT set_config('work_mem', (SELECT v FROM conf), false)",
      kind: "select",
      rels: ["conf:r"],
      settings: [{ name: "work_mem", value: null, local: false }],
    },
    {
      sql: "SELECT set_config('session_authorization', 'postgres', false)",
      kind: "role",
      settings: [{ name: "session_authorization", value: "postgres", local: false }],
    },
    {
      sql: "SELECT set_config(name, 'x', local) FROM conf",
      kind: "role",
      settings: [{ name: "*unknown*", value: "x", local: false }],
    },
    {
      sql: "SELECT set_config('work_mem', '1GB', false) AS w, set_config('role', current_setting('x'), false)",
      kind: "role",
      settings: [
        { name: "work_mem", value: "1GB", local: false },
        { name: "role", value: null, local: false },
      ],
    },
    { sql: "SHOW role", kind: "show", settings: [{ name: "role", value: null, local: false }] },
    {
      sql: "SELECT set_config('search_path'::text, 'x'::text, false)",
      kind: "select",
      settings: [{ name: "search_path", value: "x", local: false }],
    },
    {
      sql: "UPDATE t SET a = set_config('role', 'admin', false) WHERE id = 1",
      kind: "role",
      command: "UpdateStmt",
      settings: [{ name: "role", value: "admin", local: false }],
    },
    {
      sql: "CREATE TABLE t (a text DEFAULT set_config('role', 'x', false))",
      kind: "role",
      command: "CreateStmt",
      settings: [{ name: "role", value: "x", local: false }],
    },
  ]);
});

describe("columns: output vs expression", () => {
  runCases([
    { sql: "SELECT ssn FROM hr.employees", kind: "select", cols: ["hr.employees|ssn|o"] },
    { sql: "SELECT ssn AS x FROM hr.employees", kind: "select", cols: ["hr.employees|ssn|o"] },
    { sql: "SELECT e.ssn FROM hr.employees e", kind: "select", cols: ["hr.employees|ssn|o"] },
    { sql: "SELECT employees.ssn FROM hr.employees", kind: "select", cols: ["hr.employees|ssn|o"] },
    { sql: "SELECT hr.employees.ssn FROM hr.employees", kind: "select", cols: ["hr.employees|ssn|o"] },
    { sql: "SELECT upper(ssn) FROM hr.employees", kind: "select", cols: ["hr.employees|ssn|e"] },
    {
      sql: "SELECT ssn::text, CAST(ssn AS int) FROM hr.employees",
      kind: "select",
      cols: ["hr.employees|ssn|e"],
    },
    { sql: "SELECT ssn || '' FROM hr.employees", kind: "select", cols: ["hr.employees|ssn|e"] },
    {
      sql: "SELECT CASE WHEN ssn LIKE '1%' THEN 1 END FROM hr.employees",
      kind: "select",
      cols: ["hr.employees|ssn|e"],
    },
    { sql: "SELECT count(DISTINCT ssn) FROM hr.employees", kind: "select", cols: ["hr.employees|ssn|e"] },
    { sql: "SELECT e FROM hr.employees e", kind: "select", cols: ["hr.employees|*|e"] },
    { sql: "SELECT row_to_json(e) FROM hr.employees e", kind: "select", cols: ["hr.employees|*|e"] },
    { sql: "SELECT (e).ssn FROM hr.employees e", kind: "select", cols: ["hr.employees|*|e"] },
    { sql: "SELECT to_jsonb(employees) FROM hr.employees", kind: "select", cols: ["hr.employees|*|e"] },
    { sql: "SELECT e.* FROM hr.employees e", kind: "select", cols: ["hr.employees|*|o"] },
    { sql: "SELECT * FROM a, b", kind: "select", cols: ["a|*|o", "b|*|o"] },
    { sql: "SELECT ssn FROM a, b", kind: "select", cols: ["?|ssn|o"] },
    {
      sql: "SELECT name FROM hr.employees WHERE ssn = '123' ORDER BY hired",
      kind: "select",
      cols: ["hr.employees|name|o", "hr.employees|ssn|e", "hr.employees|hired|e"],
    },
    {
      sql: "SELECT dept, count(*) FROM hr.employees GROUP BY dept HAVING max(ssn) > '5'",
      kind: "select",
      cols: ["hr.employees|dept|o", "hr.employees|dept|e", "hr.employees|ssn|e"],
    },
    {
      sql: "SELECT (SELECT ssn FROM hr.employees LIMIT 1)",
      kind: "select",
      cols: ["hr.employees|ssn|e"],
    },
    {
      sql: "SELECT x FROM (SELECT ssn AS x FROM hr.employees) s",
      kind: "select",
      cols: ["hr.employees|ssn|e", "?|x|o"],
    },
    {
      sql: "WITH c AS (SELECT ssn FROM hr.employees) SELECT ssn FROM c",
      kind: "select",
      cols: ["hr.employees|ssn|e", "?|ssn|o"],
    },
    {
      sql: "SELECT rank() OVER (PARTITION BY ssn ORDER BY id) FROM hr.employees",
      kind: "select",
      cols: ["hr.employees|ssn|e", "hr.employees|id|e"],
    },
    {
      sql: "SELECT e.name FROM hr.employees e JOIN hr.people p ON p.ssn = e.ssn",
      kind: "select",
      cols: ["hr.employees|name|o", "hr.people|ssn|e", "hr.employees|ssn|e"],
    },
    {
      sql: "SELECT 1 FROM hr.employees JOIN hr.people USING (ssn)",
      kind: "select",
      cols: ["hr.employees|ssn|e", "hr.people|ssn|e"],
    },
    {
      sql: "SELECT 1 FROM hr.employees NATURAL JOIN hr.people",
      kind: "select",
      cols: ["hr.employees|*|e", "hr.people|*|e"],
    },
    {
      sql: "SELECT * FROM hr.employees e WHERE EXISTS (SELECT 1 FROM hr.people p WHERE p.ssn = e.ssn)",
      kind: "select",
      cols: ["hr.employees|*|o", "hr.people|ssn|e", "hr.employees|ssn|e"],
    },
    {
      sql: "UPDATE hr.employees SET name = 'x' WHERE ssn = '1' RETURNING ssn",
      kind: "update",
      cols: ["hr.employees|ssn|e"],
    },
    {
      sql: "UPDATE hr.employees SET name = 'x' RETURNING old.ssn, new.name",
      kind: "update",
      cols: ["hr.employees|ssn|e", "hr.employees|name|e"],
    },
    {
      sql: "SELECT ssn INTO leak FROM hr.employees",
      kind: "select",
      cols: ["hr.employees|ssn|e"],
    },
    {
      sql: "SELECT ssn FROM hr.employees UNION ALL SELECT ssn FROM hr.people",
      kind: "select",
      cols: ["hr.employees|ssn|e", "hr.people|ssn|e"],
    },
    {
      sql: "SELECT DISTINCT ON (ssn) name FROM hr.employees",
      kind: "select",
      cols: ["hr.employees|ssn|e", "hr.employees|name|o"],
    },
  ]);
});

describe("columns: output entries named by position or alias, renamed columns", () => {
  runCases([
    {
      sql: "SELECT name, salary FROM hr.employees ORDER BY 2 DESC",
      kind: "select",
      cols: ["hr.employees|name|o", "hr.employees|salary|o", "hr.employees|salary|e"],
    },
    {
      sql: "SELECT name, salary AS x FROM hr.employees ORDER BY x",
      kind: "select",
      colsHas: ["hr.employees|salary|e"],
    },
    {
      sql: "SELECT ssn AS k, count(*) FROM hr.employees GROUP BY 1",
      kind: "select",
      colsHas: ["hr.employees|ssn|e"],
    },
    {
      sql: "SELECT DISTINCT ON (1) ssn FROM hr.employees",
      kind: "select",
      colsHas: ["hr.employees|ssn|e"],
    },
    {
      sql: "SELECT DISTINCT ssn FROM hr.employees",
      kind: "select",
      cols: ["hr.employees|ssn|o", "hr.employees|ssn|e"],
    },
    {
      sql: "SELECT * FROM hr.employees ORDER BY 6",
      kind: "select",
      cols: ["hr.employees|*|o", "hr.employees|*|e"],
    },
    {
      sql: "SELECT name FROM hr.employees ORDER BY 1",
      kind: "select",
      cols: ["hr.employees|name|o", "hr.employees|name|e"],
    },
    {
      sql: "SELECT m FROM hr.employees AS e(i, n, d, m, s) WHERE s LIKE '1%'",
      kind: "select",
      cols: ["hr.employees|*|o", "hr.employees|*|e"],
    },
    {
      sql: "SELECT e.m FROM hr.employees AS e(i, n, d, m, s) ORDER BY e.s",
      kind: "select",
      cols: ["hr.employees|*|o", "hr.employees|*|e"],
    },
    {
      sql: "SELECT o.id FROM sales.orders o, hr.employees AS e(i, n, d, m, s) WHERE s = '1'",
      kind: "select",
      colsHas: ["hr.employees|*|e"],
    },
    {
      sql: "SELECT j.x FROM (hr.employees e JOIN sales.orders o ON true) AS j(a, b, c, d, x) WHERE j.x = '1'",
      kind: "select",
      colsHas: ["?|*|e"],
    },
  ]);
});

describe("positions inside ROLLUP, CUBE and GROUPING SETS; positional references are marked", () => {
  runCases([
    {
      sql: "SELECT name, salary FROM hr.employees GROUP BY ROLLUP (1, 2)",
      kind: "select",
      colsHas: ["hr.employees|salary|e", "hr.employees|name|e"],
      check: (s) => expect(s.positional_references).toBe(true),
    },
    {
      sql: "SELECT name, salary FROM hr.employees GROUP BY CUBE (2)",
      kind: "select",
      colsHas: ["hr.employees|salary|e"],
    },
    {
      sql: "SELECT name, ssn FROM hr.employees GROUP BY GROUPING SETS ((2), ())",
      kind: "select",
      colsHas: ["hr.employees|ssn|e"],
    },
    {
      sql: "SELECT name, ssn FROM hr.employees GROUP BY GROUPING SETS ((1, 2))",
      kind: "select",
      colsHas: ["hr.employees|ssn|e"],
    },
    {
      sql: "SELECT name, ssn FROM hr.employees GROUP BY name, GROUPING SETS (ROLLUP (1, 2))",
      kind: "select",
      colsHas: ["hr.employees|ssn|e"],
    },
    {
      sql: "SELECT DISTINCT ON (2) name, ssn FROM hr.employees",
      kind: "select",
      colsHas: ["hr.employees|ssn|e"],
      check: (s) => expect(s.positional_references).toBe(true),
    },
    {
      sql: "SELECT (SELECT max(x) FROM (SELECT ssn AS x FROM hr.employees ORDER BY 1) s)",
      kind: "select",
      check: (s) => expect(s.positional_references).toBe(true),
    },
    {
      sql: "SELECT name FROM hr.employees ORDER BY name LIMIT 2",
      kind: "select",
      check: (s) => expect(s.positional_references).toBeUndefined(),
    },
    {
      sql: "SELECT name, rank() OVER (ORDER BY 2) FROM hr.employees",
      kind: "select",
      check: (s) => expect(s.positional_references).toBeUndefined(),
    },
  ]);
  it("marks a positional reference inside EXPLAIN and PREPARE", () => {
    expect(one("EXPLAIN SELECT name, ssn FROM hr.employees ORDER BY 2").positional_references).toBe(true);
    expect(one("PREPARE p AS SELECT name FROM hr.employees ORDER BY 1").positional_references).toBe(true);
  });
});

describe("attribute notation: a qualified name is reported against its relation for the catalog check", () => {
  runCases([
    {
      sql: "SELECT e.name, e.to_jsonb FROM hr.employees e",
      kind: "select",
      cols: ["hr.employees|name|o", "hr.employees|to_jsonb|o"],
    },
    {
      sql: "SELECT employees.record_out FROM hr.employees",
      kind: "select",
      cols: ["hr.employees|record_out|o"],
    },
    {
      sql: "SELECT hr.employees.row_to_json FROM hr.employees",
      kind: "select",
      cols: ["hr.employees|row_to_json|o"],
    },
    {
      sql: "SELECT j.to_jsonb FROM (hr.employees e JOIN sales.orders o ON true) AS j",
      kind: "select",
      cols: ["?|to_jsonb|o", "hr.employees|to_jsonb|o", "sales.orders|to_jsonb|o"],
    },
    {
      sql: "SELECT e.ssn.length FROM hr.employees e",
      kind: "select",
      cols: ["hr.employees|ssn|e"],
    },
    {
      sql: "SELECT (e).ssn, (e).to_jsonb FROM hr.employees e",
      kind: "select",
      cols: ["hr.employees|*|e"],
    },
    { sql: "SELECT e::text FROM hr.employees e", kind: "select", cols: ["hr.employees|*|e"] },
    { sql: "SELECT ROW(e.*) FROM hr.employees e", kind: "select", cols: ["hr.employees|*|e"] },
    {
      sql: "COPY (SELECT e.to_jsonb FROM hr.employees e) TO STDOUT",
      kind: "copy",
      colsHas: ["hr.employees|to_jsonb|e"],
    },
    {
      sql: "CREATE TABLE public.leak AS SELECT e.row_to_json FROM hr.employees e",
      kind: "ddl",
      colsHas: ["hr.employees|row_to_json|e"],
    },
  ]);
});

describe("EXECUTE nested in CREATE TABLE AS and EXPLAIN", () => {
  it("reports the prepared name on the nested EXECUTE", () => {
    const ctas = one("CREATE TABLE public.copy AS EXECUTE p");
    expect(ctas.kind).toBe("ddl");
    expect(ctas.inner?.kind).toBe("execute");
    expect(ctas.inner?.prepared_name).toBe("p");
    const explain = one("EXPLAIN ANALYZE EXECUTE p");
    expect(explain.inner?.kind).toBe("execute");
    expect(explain.inner?.prepared_name).toBe("p");
    const deep = one("EXPLAIN ANALYZE CREATE TABLE public.copy AS EXECUTE p (1)");
    expect(deep.inner?.inner?.kind).toBe("execute");
    expect(deep.inner?.inner?.prepared_name).toBe("p");
  });
});

describe("DDL on a relation reports it written (the masked-relation DDL guard)", () => {
  runCases([
    { sql: "ALTER TABLE hr.employees RENAME COLUMN ssn TO s", kind: "ddl", rels: ["hr.employees:w"] },
    { sql: "ALTER TABLE hr.employees RENAME TO staff", kind: "ddl", rels: ["hr.employees:w"] },
    { sql: "ALTER TABLE hr.employees SET SCHEMA public", kind: "ddl", rels: ["hr.employees:w"] },
    { sql: "CREATE UNIQUE INDEX ON hr.employees (ssn)", kind: "ddl", rels: ["hr.employees:w"] },
    { sql: "COMMENT ON COLUMN hr.employees.ssn IS 'x'", kind: "ddl", rels: ["hr.employees:w"] },
    {
      sql: "CREATE STATISTICS s ON ssn, salary FROM hr.employees",
      kind: "ddl",
      rels: ["hr.employees:w"],
    },
    {
      sql: "ALTER TABLE public.t ADD FOREIGN KEY (a) REFERENCES hr.employees (ssn)",
      kind: "ddl",
      rels: ["hr.employees:r", "public.t:w"],
    },
  ]);
});

describe("splitting multi-statement strings", () => {
  it("gives each statement its own trimmed text", () => {
    const all = analyzeAll("  SELECT 1 ;\n\tSELECT 2;  ");
    expect(all.map((s) => s.text)).toEqual(["SELECT 1", "SELECT 2"]);
  });

  it("does not split on semicolons inside strings, identifiers, comments or dollar quotes", () => {
    const sql = [
      "SELECT 'a;b' AS \"c;d\"",
      "/* x; DROP TABLE t; */ SELECT 2 -- ; DROP TABLE u\n",
      "DO $body$ BEGIN DELETE FROM t; END $body$",
      "SELECT $$;$$, E'\\';'",
    ].join(";");
    const all = analyzeAll(sql);
    expect(all.map((s) => s.kind)).toEqual(["select", "select", "do", "select"]);
    expect(all.flatMap((s) => s.relations)).toEqual([]);
    expect(all[2]?.text).toBe("DO $body$ BEGIN DELETE FROM t; END $body$");
    expect(all[3]?.text).toBe("SELECT $$;$$, E'\\';'");
  });

  it("sees keywords hidden in nested comments as comments", () => {
    expect(analyzeAll("/* outer /* inner */ DROP TABLE t; */ SELECT 1").map((s) => s.kind)).toEqual([
      "select",
    ]);
  });

  it("reads a backslash in a standard string as a plain character (standard_conforming_strings = on)", () => {
    const all = analyzeAll("SELECT 'a\\'; DROP TABLE t; --'");
    expect(all.map((s) => s.command)).toEqual(["SelectStmt", "DropStmt"]);
    expect(rels(all[1] as StatementInfo)).toEqual(["t:w"]);
  });

  it("keeps an E'' escaped quote inside the string", () => {
    const all = analyzeAll("SELECT E'it\\'s; DROP TABLE t; --'");
    expect(all).toHaveLength(1);
    expect(all[0]?.relations).toEqual([]);
  });

  it("cuts texts at byte offsets correctly with multi-byte characters", () => {
    const all = analyzeAll('SELECT \'é€😀\' AS "ü"; SELECT * FROM "Größe"');
    expect(all.map((s) => s.text)).toEqual(["SELECT 'é€😀' AS \"ü\"", 'SELECT * FROM "Größe"']);
    expect(rels(all[1] as StatementInfo)).toEqual(["Größe:r"]);
  });

  it("analyses each statement of a mixed string separately", () => {
    const all = analyzeAll("BEGIN; SET LOCAL ROLE admin; DELETE FROM hr.t; COMMIT");
    expect(all.map((s) => s.kind)).toEqual(["transaction", "role", "delete", "transaction"]);
    expect(all[2]?.has_where).toBe(false);
    expect(all[2]?.text).toBe("DELETE FROM hr.t");
  });

  it.each(["", "   ", "\n\t", "-- only a comment", "/* c */", ";", ";;;", "/* c */ ; -- x"])(
    "gives no statement for %j",
    (sql) => {
      expect(analyzeUncached(sql)).toEqual({ ok: true, statements: [] });
    },
  );
});

describe("failures deny", () => {
  it("reports the parser message and position for a syntax error", () => {
    const r = analyzeUncached("selec x");
    expect(r).toEqual({ ok: false, error: 'syntax error at or near "selec"', position: 0 });
  });

  it("fails the whole string when one statement is invalid", () => {
    const r = analyzeUncached("SELECT 1; SELEC 2; SELECT 3");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain("syntax error");
  });

  it("refuses a NUL character (the parser would stop reading there)", () => {
    const r = analyzeUncached("SELECT 1\u0000; DROP TABLE t");
    expect(r.ok).toBe(false);
  });

  it("fails closed on a statement nested too deeply to analyse", () => {
    const sql = `SELECT ${"abs(".repeat(5000)}1${")".repeat(5000)}`;
    const r = analyzeUncached(sql);
    expect(r.ok).toBe(false);
  });

  it("rejects an unterminated string or dollar quote", () => {
    expect(analyzeUncached("SELECT 'abc").ok).toBe(false);
    expect(analyzeUncached("DO $$ BEGIN").ok).toBe(false);
  });
});

describe("fingerprints", () => {
  it("are equal for statements differing only in literals and differ otherwise", () => {
    const [a, b, c] = analyzeAll(
      "SELECT * FROM t WHERE id = 1; SELECT * FROM t WHERE id = 42; SELECT * FROM u WHERE id = 1",
    );
    expect(a?.fingerprint).toBe(b?.fingerprint);
    expect(a?.fingerprint).not.toBe(c?.fingerprint);
  });

  it("are those of the statement alone, not of the whole string", () => {
    const [first] = analyzeAll("SELECT 1; SELECT 2");
    expect(first?.fingerprint).toBe(one("SELECT 1").fingerprint);
  });
});

describe("cross-check against a plain walk of the AST", () => {
  // Independent of the analyzer's scoping: every table reference node and every function call node in the
  // tree must show up in the analysis (CTE references and FOR UPDATE OF alias lists excepted).
  it.each(ALL_SQL.map((sql) => [sql]))("%s", (sql) => {
    const [stmt] = parseStatements(sql);
    if (stmt === undefined) throw new Error("no statement");
    const info = one(sql);
    const ctes = new Set<string>();
    walk(stmt.node, (type, node) => {
      if (type === "CommonTableExpr" && str(node.ctename) !== undefined)
        ctes.add(str(node.ctename) as string);
      return undefined;
    });
    const reported = new Set(info.relations.map((r) => `${r.schema ?? ""}.${r.name}`));
    const functions = new Set(info.functions);
    walk(stmt.node, (type, node, parentType) => {
      if (type === "LockingClause") return false;
      if (type === "RangeVar") {
        const schema = str(node.schemaname) ?? null;
        const name = str(node.relname) as string;
        if (schema === null && ctes.has(name)) return undefined;
        expect(reported, `relation ${schema}.${name} (in ${parentType})`).toContain(
          `${schema ?? ""}.${name}`,
        );
      }
      if (type === "FuncCall") {
        const parts = nameParts(node.funcname);
        expect(functions, "function").toContain(functionLabel(parts ?? []));
      }
      return undefined;
    });
  });
});

describe("facts read from the tree, not the text: DISCARD's target, a sole set_config of search_path", () => {
  it("names what DISCARD discards", () => {
    expect(one("DISCARD ALL").discard).toBe("all");
    expect(one("discard plans").discard).toBe("plans");
    expect(one("DISCARD SEQUENCES;").discard).toBe("sequences");
    expect(one("DISCARD TEMP").discard).toBe("temp");
    expect(one("/* c */ DISCARD\n TEMPORARY").discard).toBe("temp");
  });

  it.each([
    "SELECT set_config('search_path', 'a, b', false)",
    "select pg_catalog.set_config('SEARCH_PATH', 'a', true) AS x;",
    "SELECT set_config('search_path', E'a', false)",
    "SELECT set_config('search_path', $$a$$, false)",
    "SELECT /* why */ set_config('search_path', '', true)",
  ])("a call that runs exactly once: %s", (sql) => {
    expect(one(sql).sole_set_config).toBe(true);
  });

  it.each([
    "SELECT set_config('search_path', 'a', false) WHERE false",
    "SELECT set_config('search_path', 'a', false) FROM generate_series(1, 2)",
    "SELECT set_config('search_path', 'a', false) LIMIT 0",
    "SELECT set_config('search_path', 'a', false), 1",
    "SELECT set_config('search_path', 'a', false) UNION SELECT 'x'",
    "WITH x AS (SELECT 1) SELECT set_config('search_path', 'a', false)",
    "SELECT set_config('search_path', 'a', 'false')",
    "SELECT set_config('search_path', 'a'::text, false)",
    "SELECT set_config(setting_name => 'search_path', new_value => 'a', is_local => false)",
    "SELECT other.set_config('search_path', 'a', false)",
    "SELECT set_config('work_mem', '1MB', false)",
    "SELECT set_config('search_path', 'a', false) INTO t",
    "SELECT DISTINCT set_config('search_path', 'a', false)",
    "SELECT set_config('search_path', 'a', false) ORDER BY 1",
    "SELECT set_config('search_path', 'a', false) FOR UPDATE",
    "EXPLAIN SELECT set_config('search_path', 'a', false)",
  ])("not taken at its word: %s", (sql) => {
    expect(one(sql).sole_set_config).toBeUndefined();
  });
});
