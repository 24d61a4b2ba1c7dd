/**
 * What the analysis reports for the policy's name and constant checks: function calls by the names the
 * server reads (schema-qualified, quoted, U&"…" escapes, field selections that are calls), role names
 * decoded from the parse tree, ANALYZE, and WHERE conditions that cannot depend on the row.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { StatementInfo } from "../../proto/policy.js";
import { analyzeUncached } from "./analysis-cache.js";
import { loadParser } from "./parser.js";

beforeAll(async () => {
  await loadParser();
});

function one(sql: string): StatementInfo {
  const r = analyzeUncached(sql);
  if (!r.ok) throw new Error(r.error);
  expect(r.statements).toHaveLength(1);
  return r.statements[0] as StatementInfo;
}

describe("functions: every call, by the name the server reads", () => {
  it.each([
    ["SELECT word FROM ts_stat($$SELECT to_tsvector(name) FROM hr.employees$$)", ["ts_stat"]],
    ["SELECT * FROM pg_catalog.ts_stat('SELECT 1')", ["pg_catalog.ts_stat"]],
    ['SELECT "pg_catalog"."ts_stat"(\'q\')', ["pg_catalog.ts_stat"]],
    ["SELECT U&\"ts\\005Fstat\"('q')", ["ts_stat"]],
    ["SELECT \"TS_STAT\"('q'), \"PG_CATALOG\".lower('x')", ['"TS_STAT"', '"PG_CATALOG".lower']],
    ['SELECT "a.b"(1), a.b(2)', ['"a.b"', "a.b"]],
    ["SELECT app.pg_catalog.lower('x')", ["app.pg_catalog.lower"]],
    // a field selection on a value that is not composite is a call: ('…'::text).ts_stat runs ts_stat
    ["SELECT ('SELECT 1'::text).ts_stat", ["ts_stat"]],
    ["SELECT (q).query_to_xml FROM (SELECT 'x'::text) s(q)", ["query_to_xml"]],
    ["SELECT * FROM ROWS FROM (lower('a'), upper('b')) AS r", ["lower", "upper"]],
    [
      "SELECT extract(year FROM now()), 'a' SIMILAR TO 'b'",
      ["pg_catalog.extract", "now", "pg_catalog.similar_to_escape"],
    ],
    [
      "SELECT lo_from_bytea(0, 'x'), pg_notify('c', 'p'), pg_sleep(1)",
      ["lo_from_bytea", "pg_notify", "pg_sleep"],
    ],
    ["CREATE TABLE t (x text DEFAULT query_to_xml('SELECT 1', true, true, ''))", ["query_to_xml"]],
    ["SELECT x::int FROM t", []],
  ])("%s", (sql, functions) => {
    expect([...one(sql).functions].sort()).toEqual([...functions].sort());
  });

  it("reports the calls of a prepared, explained or nested statement in the outer one", () => {
    expect(one("PREPARE p AS SELECT ts_stat('SELECT 1')").functions).toEqual(["ts_stat"]);
    expect(one("EXPLAIN ANALYZE SELECT * FROM crosstab('SELECT 1')").functions).toEqual(["crosstab"]);
    expect(one("SELECT (SELECT connectby('t', 'a', 'b', '1', 0))").functions).toEqual(["connectby"]);
  });
});

describe("roles: the names a statement names, decoded", () => {
  it.each([
    ['GRANT U&"pg_execute_server_progra\\006D" TO admin', ["pg_execute_server_program", "admin"]],
    ['GRANT "pg_read_server_files" TO admin', ["pg_read_server_files", "admin"]],
    ['GRANT "PG_READ_SERVER_FILES" TO admin', ["PG_READ_SERVER_FILES", "admin"]],
    ["REVOKE pg_signal_backend FROM admin GRANTED BY CURRENT_USER", ["pg_signal_backend", "admin"]],
    ["CREATE ROLE x IN ROLE pg_a ROLE pg_b ADMIN pg_c", ["x", "pg_a", "pg_b", "pg_c"]],
    ['ALTER GROUP "pg_write_server_files" ADD USER admin', ["pg_write_server_files", "admin"]],
    ['SET ROLE U&"pg\\005Fx"', ["pg_x"]],
    ["SELECT set_config('ROLE', 'pg_q', false)", ["pg_q"]],
    ["ALTER ROLE a RENAME TO b", ["a", "b"]],
    ["ALTER TABLE t OWNER TO pg_z", ["pg_z"]],
    ["CREATE POLICY p ON t TO pg_g USING (true)", ["pg_g"]],
    ["GRANT SELECT ON t TO PUBLIC", []],
  ])("%s", (sql, roles) => {
    expect(one(sql).roles ?? []).toEqual(roles);
  });
});

describe("analyze: statements that compute planner statistics", () => {
  it.each([
    ["ANALYZE", true],
    ["ANALYZE hr.employees (ssn)", true],
    ["VACUUM ANALYZE hr.employees", true],
    ["VACUUM (VERBOSE, ANALYZE) hr.employees", true],
    ["VACUUM (ANALYZE false) hr.employees", false],
    ["VACUUM hr.employees", false],
  ])("%s", (sql, analyze) => {
    expect(one(sql).analyze).toBe(analyze);
  });
});

describe("has_where: a condition that cannot depend on the row is no WHERE", () => {
  it.each([
    ["DELETE FROM sales.orders WHERE true", false],
    ["DELETE FROM sales.orders WHERE 1 = 1", false],
    ["DELETE FROM sales.orders WHERE true OR id = 1", false],
    ["DELETE FROM sales.orders WHERE NOT false", false],
    ["DELETE FROM sales.orders WHERE NOT (false AND id = 1)", false],
    ["DELETE FROM sales.orders WHERE (1 = 1) IS TRUE", false],
    ["UPDATE sales.orders SET status = 'x' WHERE $1", false],
    ["UPDATE sales.orders SET status = 'x' WHERE random() < 2", false],
    ["DELETE FROM sales.orders WHERE EXISTS (SELECT 1 FROM sales.customers)", false],
    ["DELETE FROM sales.orders WHERE EXISTS (SELECT 1 FROM sales.customers c WHERE c.id = 1)", false],
    ["DELETE FROM sales.orders o USING sales.customers c WHERE c.id = 3", false],
    ["WITH x AS (DELETE FROM sales.orders WHERE 2 > 1 RETURNING 1) SELECT * FROM x", false],
    ["MERGE INTO sales.orders t USING sales.customers s ON true WHEN MATCHED THEN DELETE", false],
    [
      "MERGE INTO sales.orders t USING sales.customers s ON s.id = 1 WHEN MATCHED THEN UPDATE SET status = 'm'",
      false,
    ],
    ["DELETE FROM sales.orders WHERE id = 1", true],
    ["DELETE FROM sales.orders o WHERE o.id = 1 OR true AND o.id = 2", true],
    ["DELETE FROM sales.orders WHERE true AND id = 1", true],
    ["DELETE FROM sales.orders WHERE NOT (id = 1)", true],
    ["DELETE FROM sales.orders WHERE id IN (SELECT order_id FROM sales.refunds)", true],
    ["DELETE FROM sales.orders o WHERE EXISTS (SELECT 1 FROM sales.refunds r WHERE r.order_id = o.id)", true],
    [
      "DELETE FROM sales.orders WHERE EXISTS (SELECT 1 FROM sales.refunds r WHERE r.order_id = sales.orders.id)",
      true,
    ],
    ["DELETE FROM sales.orders WHERE CURRENT OF c", true],
    ["UPDATE sales.orders o SET status = 'v' FROM sales.customers c WHERE c.id = o.customer_id", true],
    [
      "MERGE INTO sales.orders t USING sales.customers s ON true WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)",
      true,
    ],
    ["MERGE INTO sales.orders t USING sales.customers s ON true WHEN MATCHED AND t.id = 4 THEN DELETE", true],
    [
      "MERGE INTO sales.orders t USING sales.customers s ON t.customer_id = s.id WHEN MATCHED THEN DELETE",
      true,
    ],
  ])("%s", (sql, restricted) => {
    expect(one(sql).has_where).toBe(restricted);
  });
});
