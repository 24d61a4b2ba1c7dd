/**
 * The bypass rows of data-plane/statements/statement-policy-bypasses.int.test.ts as a module, so
 * `make bench-hardening` runs the very same rows (and counts any that is not refused as a bypass).
 * A stack that runs them needs BYPASS_SETUP_SQL run on its PostgreSQL first.
 */
import type { Row } from "./statement-rows.js";

/** The SQL-text functions of extensions exist, and the statistics the leak would read are there. */
export const BYPASS_SETUP_SQL = "CREATE EXTENSION tablefunc; CREATE EXTENSION dblink; ANALYZE hr.employees";

const LEAK = "SELECT array_to_tsvector(ARRAY[name, ssn, salary::text, email]) FROM hr.employees";

export const BYPASS_ROWS: Row[] = [
  // -- functions that run SQL given as text
  {
    user: "alice",
    via: "psql",
    sql: `SELECT word FROM ts_stat($$${LEAK}$$)`,
    expect: { denied: "function ts_stat is not allowed for role analyst" },
  },
  {
    user: "alice",
    via: "pg",
    sql: "SELECT word FROM pg_catalog.ts_stat($1)",
    params: [LEAK],
    expect: { denied: "function pg_catalog.ts_stat is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: `SELECT * FROM U&"ts\\005Fstat"($$${LEAK}$$)`,
    expect: { denied: "function ts_stat is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: `SELECT * FROM "pg_catalog"."ts_stat"($$${LEAK}$$)`,
    expect: { denied: "function pg_catalog.ts_stat is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: `SELECT ($$${LEAK}$$::text).ts_stat`,
    expect: { denied: "function ts_stat is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT ts_rewrite('a'::tsquery, $$SELECT to_tsquery(ssn), to_tsquery('b') FROM hr.employees$$)",
    expect: { denied: "function ts_rewrite is not allowed" },
  },
  {
    user: "dave",
    via: "psql",
    sql: `SELECT count(*) FROM ts_stat($$${LEAK}$$)`,
    expect: { denied: "function ts_stat is not allowed for role analyst" },
  },
  {
    user: "carol",
    via: "psql",
    sql: `SELECT word FROM ts_stat($$${LEAK}$$)`,
    expect: { denied: "function ts_stat is not allowed for role admin in a session with masks" },
  },
  {
    user: "carol",
    via: "pg",
    sql: "SELECT query_to_xml_and_xmlschema($1, true, false, '')",
    params: ["SELECT ssn FROM hr.employees"],
    expect: { denied: "function query_to_xml_and_xmlschema is not allowed" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT table_to_xml('hr.employees', true, false, '')",
    expect: { denied: "function table_to_xml is not allowed" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT schema_to_xml('hr', true, false, '')",
    expect: { denied: "function schema_to_xml is not allowed" },
  },
  {
    user: "carol",
    via: "psql",
    // denied by the policy before the server would look for the cursor
    sql: "SELECT cursor_to_xml('c', 10, true, false, '')",
    expect: { denied: "function cursor_to_xml is not allowed" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT * FROM public.crosstab('SELECT name, department, ssn FROM hr.employees ORDER BY 1') AS t(name text, ssn text)",
    expect: { denied: "function public.crosstab is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT * FROM connectby('hr.employees', 'ssn', 'name', 'Alice Analyst', 0) AS t(a text, b text, l int)",
    expect: { denied: "function connectby is not allowed" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT * FROM dblink('dbname=app', 'SELECT ssn FROM hr.employees') AS t(ssn text)",
    expect: { denied: "function dblink is not allowed" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "CREATE TABLE public.leak_default (x xml DEFAULT query_to_xml('SELECT ssn FROM hr.employees', true, false, ''))",
    expect: { denied: "function query_to_xml is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["PREPARE leak AS SELECT * FROM ts_stat('SELECT to_tsvector(ssn) FROM hr.employees')"],
    beforeErrors: 1,
    sql: "EXECUTE leak",
    expect: { denied: 'prepared statement "leak" does not exist' },
  },
  {
    user: "alice",
    via: "psql",
    sql: `EXPLAIN ANALYZE SELECT * FROM ts_stat($$${LEAK}$$)`,
    expect: { denied: "function ts_stat is not allowed" },
  },

  // -- names as the server reads them: quoted names are other functions, pg_catalog stays first
  {
    user: "alice",
    via: "psql",
    sql: `SELECT "PG_CATALOG".lower('X')`,
    expect: { denied: 'function "PG_CATALOG".lower is not allowed' },
  },
  {
    user: "alice",
    via: "psql",
    sql: `SELECT pg_catalog."lower"('X'), "lower"('Y'), U&"\\006Cower"('Z')`,
    expect: { rows: ["x|y|z"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SET search_path = public, pg_catalog",
    expect: { denied: "it must be a literal list with pg_catalog first" },
  },
  {
    user: "carol",
    via: "psql",
    sql: `SELECT set_config('search_path', 'public, "pg_catalog"', false)`,
    expect: { denied: "pg_catalog first" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SET search_path = pg_catalog, sales",
    expect: { rows: ["SET"] },
  },

  // -- side effects by function
  {
    user: "alice",
    via: "psql",
    sql: "SELECT pg_notify('orders_changed', 'from an analyst')",
    expect: { denied: "function pg_notify is not allowed for role analyst" },
  },
  {
    user: "bob",
    via: "pg",
    sql: "SELECT pg_notify($1, $2)",
    params: ["orders_changed", "from app_rw"],
    expect: { rows: [""] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT lo_from_bytea(0, 'written by an analyst')",
    expect: { denied: "function lo_from_bytea is not allowed for role analyst" },
  },
  {
    user: "alice",
    via: "pg",
    sql: "SELECT lo_create($1)",
    params: [0],
    expect: { denied: "function lo_create is not allowed" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "SELECT lo_from_bytea(0, 'x')",
    expect: { denied: "function lo_from_bytea is not allowed for role app_rw" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT lo_from_bytea(0, convert_to((SELECT string_agg(ssn, ',') FROM hr.employees), 'UTF8'))",
    expect: { denied: "function lo_from_bytea is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT pg_advisory_lock(42)",
    expect: { denied: "function pg_advisory_lock is not allowed for role analyst" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT pg_try_advisory_xact_lock(42)",
    expect: { denied: "function pg_try_advisory_xact_lock is not allowed" },
  },
  { user: "bob", via: "psql", sql: "SELECT pg_try_advisory_xact_lock(42)", expect: { rows: ["t"] } },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT pg_sleep(0)",
    expect: { denied: "function pg_sleep is not allowed for role analyst" },
  },
  {
    user: "alice",
    via: "pg",
    sql: "SELECT pg_sleep_for($1::interval)",
    params: ["0 s"],
    expect: { denied: "function pg_sleep_for is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT nextval('sales.orders_id_seq')",
    expect: { denied: "function nextval is not allowed for role analyst" },
  },

  // -- predefined roles by parsed name; role changes by another spelling
  {
    user: "carol",
    via: "psql",
    sql: 'GRANT U&"pg_execute_server_progra\\006D" TO admin',
    expect: { denied: "statements naming the predefined role pg_execute_server_program are not allowed" },
  },
  {
    user: "carol",
    via: "pg",
    sql: 'GRANT "pg_read_server_files" TO admin',
    expect: { denied: "predefined role pg_read_server_files" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "GRANT pg_write_server_files TO analyst WITH ADMIN OPTION",
    expect: { denied: "predefined role pg_write_server_files" },
  },
  {
    user: "carol",
    via: "psql",
    sql: 'ALTER GROUP "pg_signal_backend" ADD USER admin',
    expect: { denied: "role statements (AlterRoleStmt" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "COMMENT ON TABLE sales.orders IS 'not pg_execute_server_program'",
    expect: { rows: ["COMMENT"] },
  },
  { user: "carol", via: "psql", sql: 'SET ROLE U&"\\0061dmin"', expect: { denied: "role statements" } },
  { user: "alice", via: "psql", sql: 'SET "ROLE" TO admin', expect: { denied: "changing the setting role" } },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT set_config(U&'r\\006Fle', 'admin', false)",
    expect: { denied: "changing the setting role" },
  },
  {
    user: "carol",
    via: "pg",
    sql: "SELECT set_config('Session_Authorization', $1, false)",
    params: ["admin"],
    expect: { denied: "changing the setting session_authorization" },
  },

  // -- statistics of masked columns
  {
    user: "carol",
    via: "psql",
    sql: "SELECT histogram_bounds FROM pg_stats WHERE schemaname = 'hr'",
    expect: { denied: "prints column values of other tables" },
  },
  {
    user: "carol",
    via: "pg",
    sql: "SELECT most_common_vals::text FROM pg_catalog.pg_stats WHERE tablename = $1",
    params: ["employees"],
    expect: { denied: "pg_catalog.pg_stats prints column values" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT * FROM pg_catalog.pg_stats_ext_exprs",
    expect: { denied: "pg_stats_ext_exprs prints column values" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT query FROM pg_stat_activity",
    expect: { denied: "pg_stat_activity prints column values" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "ANALYZE hr.employees",
    expect: { denied: "ANALYZE of hr.employees would put values of its masked columns into pg_stats" },
  },
  {
    user: "carol",
    via: "psql",
    before: ["SET search_path = hr"],
    sql: "VACUUM (ANALYZE) employees",
    expect: { denied: "ANALYZE of hr.employees" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "ANALYZE",
    expect: { denied: "ANALYZE without a table computes statistics of masked tables too" },
  },
  { user: "carol", via: "psql", sql: "ANALYZE sales.orders", expect: { rows: ["ANALYZE"] } },
  {
    user: "dave",
    via: "psql",
    sql: "SELECT count(*) > 0 FROM pg_stats WHERE schemaname = 'hr'",
    expect: { denied: "role analyst may not read pg_catalog.pg_stats" },
  },

  // -- a WHERE that cannot depend on the row is no WHERE
  {
    user: "bob",
    via: "psql",
    sql: "DELETE FROM sales.orders WHERE true",
    expect: { denied: "DELETE without WHERE would change every row" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "DELETE FROM sales.orders WHERE 1 = 1",
    expect: { denied: "DELETE without WHERE" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "DELETE FROM sales.orders WHERE true OR id = 1",
    expect: { denied: "DELETE without WHERE" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "UPDATE sales.orders SET status = 'gone' WHERE NOT false",
    expect: { denied: "UPDATE without WHERE" },
  },
  {
    user: "bob",
    via: "pg",
    sql: "DELETE FROM sales.orders WHERE $1",
    params: [true],
    expect: { denied: "DELETE without WHERE" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "DELETE FROM sales.orders o USING sales.customers c WHERE c.id = 1",
    expect: { denied: "DELETE without WHERE" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "WITH gone AS (DELETE FROM sales.orders WHERE 2 > 1 RETURNING id) SELECT count(*) FROM gone",
    expect: { denied: "has no WHERE and would change every row" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "MERGE INTO sales.orders t USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE",
    expect: { denied: "MERGE without a join condition" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "UPDATE sales.orders SET status = 'gone' WHERE (SELECT true)",
    expect: { denied: "UPDATE without WHERE" },
  },
  {
    user: "bob",
    via: "psql",
    // decided from the parse tree alone (literals are never looked at, as the shape cache needs): an OR
    // with a part that does not depend on the row may hold for every row
    sql: "DELETE FROM sales.orders o WHERE o.id = -1 OR false",
    expect: { denied: "DELETE without WHERE" },
  },
];
