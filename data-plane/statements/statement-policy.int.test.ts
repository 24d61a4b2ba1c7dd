/**
 * Every SQL statement is decided by Rego: a table of statements sent through real sessions (psql in the
 * simple protocol, node-postgres in the extended protocol with parameters) to a real data plane with the
 * default policies, against a real PostgreSQL. Each row says who sends what and what must come back:
 * rows and command tags, or a denial (42501 with a reason) or a syntax error (42601). For every refused
 * row a superuser fingerprint of the database, taken directly on PostgreSQL before and after, proves
 * nothing changed; every row then checks that the same session still answers.
 *
 * After the table come the behaviours a table row cannot show: transaction blocks aborted by a
 * denial, the extended protocol's skip-to-Sync after a denied Parse, pipelining, ReadyForQuery status,
 * prepared statements re-resolved when search_path changes, and masks on portals and cursors.
 */
import type { EventEmitter } from "node:events";
import type pg from "pg";
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { rows as dataRows, summary, WireClient } from "../../test/harness/wire-client.js";

type User = "alice" | "bob" | "carol" | "dave";

type Expect =
  /** Allowed: exactly these output lines (psql -A -t; pg rows joined with "|", null as ""). */
  | { rows: string[] }
  /** Allowed: output lines matching these patterns, one each, in order. */
  | { match: RegExp[] }
  /** Refused by the policy: 42501 with this text in the message. */
  | { denied: string }
  /** Refused as unparseable: 42601 with this text in the message. */
  | { syntax: string };

interface Row {
  user: User;
  via: "psql" | "pg";
  sql: string;
  /** pg: parameters ($1, …), sent in the extended protocol. */
  params?: unknown[];
  /** pg: run as this named prepared statement (Parse once, Bind/Execute). */
  name?: string;
  /** Statements the same session runs first, each as its own Query. */
  before?: string[];
  /** Errors expected from `before` (they do not stop the row). */
  beforeErrors?: number;
  /** psql's standard input (\copy … FROM pstdin). */
  input?: string;
  expect: Expect;
  /** For an allowed write: a superuser query on PostgreSQL and what it must print afterwards. */
  check?: [sql: string, equals: string];
}

const HASH = /[0-9a-f]{32}/.source;

// ---------------------------------------------------------------------------------------------------
// The table.

const ROWS: Row[] = [
  // -- plain reads, both protocols
  { user: "alice", via: "psql", sql: "SELECT count(*) FROM sales.orders", expect: { rows: ["500"] } },
  {
    user: "alice",
    via: "pg",
    sql: "SELECT count(*) AS n FROM sales.orders WHERE amount > $1",
    params: [3000],
    expect: { rows: ["100"] },
  },
  {
    user: "bob",
    via: "pg",
    sql: "SELECT name, region FROM sales.customers WHERE id = $1",
    params: [7],
    expect: { rows: ["customer 7|us"] },
  },

  // -- multi-statement strings: one denied, none runs
  {
    user: "alice",
    via: "psql",
    sql: "SELECT 1; DELETE FROM sales.orders WHERE id = 1",
    expect: { denied: "delete statements (DeleteStmt) are not allowed for role analyst" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "INSERT INTO sales.customers (name, email, region) VALUES ('multi', 'm@example.com', 'eu'); DELETE FROM sales.orders",
    expect: { denied: "DELETE without WHERE would change every row" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "UPDATE sales.orders SET status = 'first' WHERE id = 1; SELECT pg_read_file('/etc/hostname')",
    expect: { denied: "function pg_read_file is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SET search_path = hr; SELECT count(*) FROM employees",
    expect: { denied: "role analyst may not read hr.employees" },
  },

  // -- comments and quoting
  {
    user: "alice",
    via: "psql",
    sql: "/* DROP TABLE sales.orders; */ SELECT count(*) FROM sales.customers WHERE id <= 50",
    expect: { rows: ["50"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT 1 -- ; DELETE FROM sales.orders",
    expect: { rows: ["1"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT 2 /* nested /* ; DELETE FROM sales.orders */ still a comment */",
    expect: { rows: ["2"] },
  },
  { user: "alice", via: "psql", sql: 'SELECT count(*) FROM "sales"."orders"', expect: { rows: ["500"] } },
  {
    user: "alice",
    via: "psql",
    sql: 'SELECT count(*) FROM "Sales"."Orders"',
    expect: { denied: "role analyst may not read Sales.Orders" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT ';DELETE FROM sales.orders;' AS s",
    expect: { rows: [";DELETE FROM sales.orders;"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT E'\\';DELETE FROM sales.orders --' AS s",
    expect: { rows: ["';DELETE FROM sales.orders --"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT $$; DELETE FROM sales.orders; $$ AS s",
    expect: { rows: ["; DELETE FROM sales.orders; "] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT $x$ $$ ; DROP TABLE sales.orders $x$ AS s",
    expect: { rows: [" $$ ; DROP TABLE sales.orders "] },
  },
  {
    user: "alice",
    via: "pg",
    sql: "SELECT $1::text AS s",
    params: ["'); DELETE FROM sales.orders; --"],
    expect: { rows: ["'); DELETE FROM sales.orders; --"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: 'SELECT 1 AS "; DELETE FROM sales.orders"',
    expect: { rows: ["1"] },
  },

  // -- unparseable
  { user: "alice", via: "psql", sql: "SELEC 1", expect: { syntax: 'syntax error at or near "SELEC"' } },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT 1; SELEC 2",
    expect: { syntax: 'syntax error at or near "SELEC"' },
  },
  {
    user: "bob",
    via: "pg",
    sql: "SELECT 'unterminated",
    expect: { syntax: "unterminated quoted string" },
  },

  // -- CTE writes, INSERT … SELECT, UPDATE … FROM, DELETE … USING, MERGE
  {
    user: "alice",
    via: "psql",
    sql: "WITH x AS (DELETE FROM sales.orders WHERE id = 2 RETURNING *) SELECT count(*) FROM x",
    expect: { denied: "role analyst may not write sales.orders" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "WITH x AS (DELETE FROM sales.orders RETURNING *) SELECT count(*) FROM x",
    expect: { denied: "has no WHERE and would change every row" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "WITH x AS (UPDATE sales.orders SET status = 'cte' WHERE id = 10 RETURNING id) SELECT id FROM x",
    expect: { rows: ["10"] },
    check: ["SELECT status FROM sales.orders WHERE id = 10", "cte"],
  },
  {
    user: "alice",
    via: "psql",
    sql: "INSERT INTO sales.customers (name, email, region) SELECT name, email, region FROM sales.customers LIMIT 1",
    expect: { denied: "insert statements (InsertStmt) are not allowed for role analyst" },
  },
  {
    user: "bob",
    via: "pg",
    sql: "INSERT INTO sales.customers (name, email, region) SELECT $1, $2, region FROM sales.customers WHERE id = 1",
    params: ["from select", "fs@example.com"],
    expect: { rows: [] },
    check: ["SELECT count(*) FROM sales.customers WHERE name = 'from select'", "1"],
  },
  {
    user: "bob",
    via: "psql",
    sql: "INSERT INTO sales.customers (name, email, region) SELECT name, email, 'hr' FROM hr.employees",
    expect: { denied: "role app_rw may not read hr.employees" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "UPDATE sales.orders o SET status = 'vip' FROM sales.customers c WHERE c.id = o.customer_id AND c.region = 'ap' AND o.id < 20",
    expect: { rows: ["UPDATE 7"] },
    check: ["SELECT count(*) FROM sales.orders WHERE status = 'vip'", "7"],
  },
  {
    user: "bob",
    via: "psql",
    sql: "UPDATE sales.orders o SET amount = 0 FROM secret.orders s WHERE s.id = o.id",
    expect: { denied: "role app_rw may not read secret.orders" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "DELETE FROM sales.orders o USING sales.customers c WHERE c.id = o.customer_id AND c.name = 'nobody'",
    expect: { rows: ["DELETE 0"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "DELETE FROM sales.orders o USING sales.customers c WHERE c.id = o.customer_id",
    expect: { denied: "role analyst may not write sales.orders" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "MERGE INTO sales.customers t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET region = 'zz'",
    expect: { rows: ["MERGE 1"] },
    check: ["SELECT region FROM sales.customers WHERE id = 1", "zz"],
  },
  {
    user: "alice",
    via: "psql",
    sql: "MERGE INTO sales.customers t USING (SELECT 2 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE",
    expect: { denied: "merge statements (MergeStmt) are not allowed for role analyst" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "MERGE INTO sales.customers t USING sales.customers s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE",
    expect: { denied: "MERGE without a join condition is not allowed" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "UPDATE sales.orders SET status = 'everything'",
    expect: { denied: "UPDATE without WHERE would change every row" },
  },
  {
    user: "bob",
    via: "pg",
    sql: "DELETE FROM sales.orders",
    expect: { denied: "DELETE without WHERE would change every row" },
  },
  {
    user: "bob",
    via: "pg",
    sql: "UPDATE sales.orders SET status = $1 WHERE id = $2",
    params: ["param", 40],
    expect: { rows: [] },
    check: ["SELECT status FROM sales.orders WHERE id = 40", "param"],
  },

  // -- prepared statements and portals
  {
    user: "alice",
    via: "pg",
    name: "by_region",
    sql: "SELECT count(*) FROM sales.customers WHERE region = $1 AND id BETWEEN 11 AND 50",
    params: ["us"],
    expect: { rows: ["13"] },
  },
  {
    user: "alice",
    via: "pg",
    name: "delete_one",
    sql: "DELETE FROM sales.orders WHERE id = $1",
    params: [1],
    expect: { denied: "delete statements (DeleteStmt) are not allowed for role analyst" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["PREPARE p(int) AS SELECT name FROM sales.customers WHERE id = $1"],
    sql: "EXECUTE p(3)",
    expect: { rows: ["customer 3"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "PREPARE d(int) AS DELETE FROM sales.orders WHERE id = $1",
    expect: { denied: "delete statements (DeleteStmt) are not allowed for role analyst" },
  },
  {
    user: "bob",
    via: "psql",
    before: ["PREPARE up(int) AS UPDATE sales.orders SET status = 'prepared' WHERE id = $1"],
    sql: "EXECUTE up(30)",
    expect: { rows: ["UPDATE 1"] },
    check: ["SELECT status FROM sales.orders WHERE id = 30", "prepared"],
  },
  {
    user: "bob",
    via: "psql",
    // a WHERE that cannot depend on the row is no WHERE (issue 16, item 10)
    sql: "PREPARE wipe AS UPDATE sales.orders SET status = 'wiped' WHERE true",
    expect: { denied: "UPDATE without WHERE" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "EXECUTE never_prepared",
    expect: { denied: 'prepared statement "never_prepared" does not exist' },
  },
  {
    user: "alice",
    via: "psql",
    before: ["PREPARE gone AS SELECT 1", "DEALLOCATE gone"],
    sql: "EXECUTE gone",
    expect: { denied: 'prepared statement "gone" does not exist' },
  },
  {
    user: "alice",
    via: "psql",
    before: [
      "SET search_path = sales",
      "PREPARE pc AS SELECT count(*) FROM customers",
      "SET search_path = secret",
    ],
    sql: "EXECUTE pc",
    expect: { denied: "role analyst may not read secret.customers" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["PREPARE a1 AS SELECT 1", "PREPARE a2 AS SELECT 2"],
    sql: "DEALLOCATE ALL",
    expect: { rows: ["DEALLOCATE ALL"] },
  },

  // -- COPY
  {
    user: "alice",
    via: "psql",
    sql: "COPY (SELECT id FROM sales.customers WHERE id <= 3 ORDER BY id) TO STDOUT",
    expect: { rows: ["1", "2", "3"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "COPY sales.orders TO PROGRAM 'cat > /tmp/portcullis-copy-out'",
    expect: { denied: "COPY ... PROGRAM runs a program on the database server" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "COPY sales.orders FROM PROGRAM 'echo 1'",
    expect: { denied: "COPY ... PROGRAM runs a program on the database server" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "COPY sales.orders TO '/tmp/portcullis-orders.csv'",
    expect: { denied: "COPY to or from a file on the database server is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "COPY sales.customers FROM STDIN",
    expect: { denied: "role analyst may not write sales.customers" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "\\copy sales.customers (name, email, region) FROM pstdin",
    input: "copied one\tc1@example.com\teu\ncopied two\tc2@example.com\tus\n\\.\n",
    expect: { rows: ["COPY 2"] },
    check: ["SELECT count(*) FROM sales.customers WHERE name LIKE 'copied %'", "2"],
  },
  {
    user: "carol",
    via: "psql",
    sql: "COPY hr.employees TO STDOUT",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "COPY hr.employees (id, name) TO STDOUT",
    expect: { rows: ["1\tAlice Analyst", "2\tBob Engineer", "3\tCarol Admin", "4\tDave HR"] },
  },

  // -- role changes: statements like any other, denied to everyone
  { user: "alice", via: "psql", sql: "SET ROLE admin", expect: { denied: "changing the setting role" } },
  { user: "carol", via: "psql", sql: "SET ROLE postgres", expect: { denied: "role statements" } },
  {
    user: "bob",
    via: "psql",
    sql: "SET SESSION AUTHORIZATION admin",
    expect: { denied: "changing the setting session_authorization" },
  },
  { user: "carol", via: "psql", sql: "RESET ROLE", expect: { denied: "changing the setting role" } },
  {
    user: "alice",
    via: "pg",
    sql: "SELECT set_config('role', $1, false)",
    params: ["admin"],
    expect: { denied: "changing the setting role is not allowed" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT set_config('ro' || 'le', 'postgres', false)",
    expect: { denied: "not a literal" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "ALTER ROLE analyst SUPERUSER",
    expect: { denied: "role statements (AlterRoleStmt" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "GRANT pg_execute_server_program TO analyst",
    expect: { denied: "predefined role pg_execute_server_program" },
  },

  // -- search_path tracking
  {
    user: "alice",
    via: "psql",
    sql: "SELECT set_config('search_path', 'hr', false)",
    expect: { rows: ["hr"] },
  },
  {
    user: "alice",
    via: "psql",
    before: ["SELECT set_config('search_path', 'sales', false)"],
    sql: "SELECT count(*) FROM customers WHERE id <= 50",
    expect: { rows: ["50"] },
  },
  {
    user: "alice",
    via: "psql",
    before: ["SELECT set_config('search_path', 'sales', false) WHERE false"],
    sql: "SELECT count(*) FROM orders",
    expect: { denied: "relation orders could not be resolved to a schema" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["SET search_path = sales"],
    sql: "SELECT count(*) FROM orders",
    expect: { rows: ["500"] },
  },
  {
    user: "alice",
    via: "pg",
    before: ["SET search_path = sales"],
    sql: "SELECT count(*) FROM orders WHERE id > $1",
    params: [490],
    expect: { rows: ["10"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SET search_path = sales; SELECT count(*) FROM orders",
    expect: { rows: ["SET", "500"] },
  },
  {
    user: "alice",
    via: "psql",
    before: ["SET search_path = sales", "SHOW search_path"],
    sql: "SELECT count(*) FROM orders",
    expect: { rows: ["500"] },
  },
  {
    user: "alice",
    via: "psql",
    before: ["SET search_path = sales", "RESET search_path"],
    sql: "SELECT count(*) FROM orders",
    expect: { denied: "relation orders could not be resolved to a schema" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["BEGIN", "SET search_path = sales", "ROLLBACK"],
    sql: "SELECT count(*) FROM orders",
    expect: { denied: "relation orders could not be resolved to a schema" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["SET search_path = secret", "BEGIN; SET search_path = sales; ROLLBACK"],
    sql: "SELECT * FROM orders",
    expect: { denied: "role analyst may not read secret.orders" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["SET search_path = secret", "SET search_path = sales; SELECT 1/0"],
    beforeErrors: 1,
    sql: "SELECT * FROM orders",
    expect: { denied: "role analyst may not read secret.orders" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["SET search_path = secret", "SELECT set_config('search_path', 'sales', false), 1/0"],
    beforeErrors: 1,
    sql: "SELECT * FROM orders",
    expect: { denied: "role analyst may not read secret.orders" },
  },
  {
    user: "alice",
    via: "psql",
    before: [
      "SET search_path = secret",
      "BEGIN",
      "SAVEPOINT a",
      "SET search_path = sales",
      "ROLLBACK TO a",
      "COMMIT",
    ],
    sql: "SELECT * FROM orders",
    expect: { denied: "role analyst may not read secret.orders" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["SET search_path = secret", "BEGIN", "SET LOCAL search_path = sales", "COMMIT"],
    sql: "SELECT * FROM orders",
    expect: { denied: "role analyst may not read secret.orders" },
  },
  {
    user: "alice",
    via: "psql",
    before: ["BEGIN", "SET search_path = sales", "COMMIT"],
    sql: "SELECT count(*) FROM orders",
    expect: { rows: ["500"] },
  },
  {
    user: "dave",
    via: "psql",
    before: ["SET search_path = hr"],
    sql: "SELECT ssn FROM employees WHERE id = 1",
    expect: { rows: ["123-45-6789"] },
  },

  // -- functions, in FROM too
  {
    user: "alice",
    via: "psql",
    sql: "SELECT * FROM pg_read_file('/etc/hostname')",
    expect: { denied: "function pg_read_file is not allowed" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT pg_read_file('postgresql.conf')",
    expect: { denied: "function pg_read_file is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT count(*) FROM generate_series(1, 10)",
    expect: { rows: ["10"] },
  },
  {
    user: "alice",
    via: "pg",
    sql: "SELECT sum(g)::int FROM generate_series(1, $1::int) AS g",
    params: [100],
    expect: { rows: ["5050"] },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT * FROM pg_catalog.pg_ls_dir('.')",
    expect: { denied: "function pg_catalog.pg_ls_dir is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: 'SELECT "pg_catalog"."pg_terminate_backend"(pg_backend_pid())',
    expect: { denied: "pg_terminate_backend is not allowed" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "SELECT lo_import('/etc/hostname')",
    expect: { denied: "function lo_import is not allowed" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT dblink_connect('host=localhost')",
    expect: { denied: "function dblink_connect is not allowed" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT query_to_xml('SELECT * FROM hr.employees', true, true, '')",
    expect: { denied: "function query_to_xml is not allowed" },
  },

  // -- DDL by non-admins; code
  {
    user: "alice",
    via: "psql",
    sql: "CREATE TABLE sales.evil (id int)",
    expect: { denied: "ddl statements (CreateStmt) are not allowed for role analyst" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "DROP TABLE sales.orders",
    expect: { denied: "ddl statements (DropStmt) are not allowed for role app_rw" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "ALTER TABLE sales.orders ADD COLUMN note text",
    expect: { denied: "ddl statements (AlterTableStmt)" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "TRUNCATE sales.orders",
    expect: { denied: "ddl statements (TruncateStmt)" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "GRANT SELECT ON hr.employees TO analyst",
    expect: { denied: "grant statements (GrantStmt) are not allowed for role analyst" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "CREATE FUNCTION sales.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    expect: { denied: "CreateFunctionStmt runs code the proxy cannot inspect" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "CREATE TEMP TABLE scratch (id int)",
    expect: { denied: "ddl statements (CreateStmt) are not allowed for role analyst" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "VACUUM sales.orders",
    expect: { denied: "utility statements (VacuumStmt) are not allowed for role analyst" },
  },
  { user: "carol", via: "psql", sql: "LOAD 'auto_explain'", expect: { denied: "LoadStmt is not allowed" } },
  {
    user: "alice",
    via: "psql",
    sql: "LISTEN orders_changed",
    expect: { denied: "listen statements (ListenStmt) are not allowed for role analyst" },
  },
  {
    user: "bob",
    via: "psql",
    before: ["BEGIN"],
    sql: "LOCK TABLE sales.orders IN SHARE MODE",
    expect: { rows: ["LOCK TABLE"] },
  },
  {
    user: "carol",
    via: "psql",
    before: ["CREATE TABLE public.carol_t (id int)"],
    sql: "SELECT count(*) FROM carol_t",
    expect: { rows: ["0"] },
    check: ["SELECT to_regclass('public.carol_t') IS NOT NULL", "t"],
  },
  {
    user: "alice",
    via: "psql",
    sql: "DO $$BEGIN DELETE FROM sales.orders WHERE id = 4; END$$",
    expect: { denied: "DoStmt runs code the proxy cannot inspect" },
  },
  {
    user: "bob",
    via: "pg",
    sql: "DO $$BEGIN UPDATE sales.orders SET status = 'do' WHERE id = 4; END$$",
    expect: { denied: "DoStmt runs code the proxy cannot inspect" },
  },
  // carol is an admin, but with masks: code could read a masked column and print it
  {
    user: "carol",
    via: "psql",
    sql: "DO $$BEGIN RAISE NOTICE '%', (SELECT ssn FROM hr.employees LIMIT 1); END$$",
    expect: { denied: "could read masked columns" },
  },

  // -- settings the proxy itself depends on
  {
    user: "alice",
    via: "psql",
    sql: "SET standard_conforming_strings = off",
    expect: { denied: "standard_conforming_strings must stay on through Portcullis" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SET standard_conforming_strings TO false",
    expect: { denied: "standard_conforming_strings must stay on through Portcullis" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT set_config('standard_conforming_strings', 'off', false)",
    expect: { denied: "standard_conforming_strings must stay on through Portcullis" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SET client_encoding = 'SJIS'",
    expect: { denied: "client_encoding SJIS is not allowed through Portcullis" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "SET NAMES 'win932'",
    expect: { denied: "client_encoding win932 is not allowed through Portcullis" },
  },
  {
    user: "carol",
    via: "pg",
    sql: "SET client_encoding TO 'b_i_g_5'",
    expect: { denied: "client_encoding b_i_g_5 is not allowed through Portcullis" },
  },
  { user: "alice", via: "psql", sql: "SET client_encoding = 'LATIN1'", expect: { rows: ["SET"] } },
  { user: "alice", via: "psql", sql: "SHOW standard_conforming_strings", expect: { rows: ["on"] } },

  // -- masked result sets
  {
    user: "carol",
    via: "psql",
    sql: "SELECT ssn, salary, email, name FROM hr.employees WHERE id = 1",
    expect: { match: [new RegExp(`^\\*\\*\\*\\|\\|${HASH}\\|Alice Analyst$`)] },
  },
  {
    user: "carol",
    via: "pg",
    sql: "SELECT ssn, salary, email, name FROM hr.employees WHERE id = $1",
    params: [2],
    expect: { match: [new RegExp(`^\\*\\*\\*\\|\\|${HASH}\\|Bob Engineer$`)] },
  },
  {
    user: "dave",
    via: "psql",
    sql: "SELECT ssn, salary, email FROM hr.employees WHERE id = 1",
    expect: { rows: ["123-45-6789|98000.00|alice@example.com"] },
  },
  {
    user: "dave",
    via: "pg",
    sql: "SELECT ssn, salary, email FROM hr.employees WHERE id = $1",
    params: [4],
    expect: { rows: ["456-78-9012|87000.00|dave@example.com"] },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT ssn AS x, salary AS y FROM hr.employees ORDER BY id LIMIT 2",
    expect: { rows: ["***|", "***|"] },
  },
  {
    user: "carol",
    via: "psql",
    before: ["SET search_path = hr"],
    sql: 'SELECT e.ssn AS "name" FROM employees e ORDER BY e.id LIMIT 1',
    expect: { rows: ["***"] },
  },
  {
    user: "carol",
    via: "pg",
    name: "masked_named",
    sql: "SELECT ssn FROM hr.employees WHERE id <= $1 ORDER BY id",
    params: [4],
    expect: { rows: ["***", "***", "***", "***"] },
  },
  {
    user: "carol",
    via: "psql",
    before: ["BEGIN", "DECLARE c CURSOR FOR SELECT ssn, salary FROM hr.employees ORDER BY id"],
    sql: "FETCH 2 FROM c",
    expect: { rows: ["***|", "***|"] },
  },
  {
    user: "carol",
    via: "psql",
    before: ["PREPARE ps AS SELECT ssn FROM hr.employees ORDER BY id LIMIT 1"],
    sql: "EXECUTE ps",
    expect: { rows: ["***"] },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT name FROM hr.employees WHERE ssn = '123-45-6789'",
    expect: { denied: "masked column hr.employees.ssn may only be selected as a plain output column" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT name FROM hr.employees ORDER BY salary DESC LIMIT 1",
    expect: { denied: "masked column hr.employees.salary" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT name, salary FROM hr.employees ORDER BY 2 DESC LIMIT 1",
    expect: { denied: "masked column hr.employees.salary" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT row_to_json(e) FROM hr.employees e",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT m FROM hr.employees AS e(i, n, d, m, s) WHERE s LIKE '1%'",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "pg",
    sql: "SELECT count(*) FROM hr.employees WHERE salary > $1",
    params: [100000],
    expect: { denied: "masked column hr.employees.salary" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "CREATE TABLE public.leak AS SELECT ssn FROM hr.employees",
    expect: { denied: "masked column hr.employees.ssn" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "SELECT ssn FROM hr.employees",
    expect: { denied: "role analyst may not read hr.employees" },
  },

  // -- attribute notation: a qualified name that is no column is a function called on the whole row
  {
    user: "carol",
    via: "psql",
    sql: "SELECT e.name, e.to_jsonb FROM hr.employees e",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "pg",
    sql: "SELECT e.row_to_json FROM hr.employees e WHERE e.id = $1",
    params: [1],
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT employees.record_out FROM hr.employees",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    before: ["SET search_path = hr"],
    sql: "SELECT employees.to_json FROM employees",
    expect: { denied: "masked column employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT j.to_jsonb FROM (hr.employees e JOIN sales.orders o ON o.id = e.id) AS j",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "COPY (SELECT e.to_jsonb FROM hr.employees e) TO STDOUT",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "CREATE TABLE public.leak_rows AS SELECT e.row_to_json FROM hr.employees e",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT (e).ssn FROM hr.employees e",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT e::text FROM hr.employees e",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT ROW(e.*) FROM hr.employees e",
    expect: { denied: "masked column hr.employees.*" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT e.name, e.ssn FROM hr.employees e WHERE e.id = 1",
    expect: { rows: ["Alice Analyst|***"] },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT j.name, j.ssn FROM (hr.employees e JOIN sales.orders o ON o.id = e.id) AS j ORDER BY j.name LIMIT 1",
    expect: { rows: ["Alice Analyst|***"] },
  },

  // -- an EXECUTE nested in another statement is decided as what it executes
  {
    user: "carol",
    via: "psql",
    before: ["PREPARE leakp AS SELECT name, ssn, salary FROM hr.employees"],
    sql: "CREATE TABLE public.leak_exec AS EXECUTE leakp",
    expect: { denied: "masked column hr.employees.ssn" },
  },
  {
    user: "carol",
    via: "psql",
    before: ["PREPARE leakp AS SELECT name, ssn FROM hr.employees"],
    sql: "EXPLAIN ANALYZE CREATE TABLE public.leak_exec AS EXECUTE leakp",
    expect: { denied: "masked column hr.employees.ssn" },
  },
  {
    user: "alice",
    via: "psql",
    before: [
      "SET search_path = sales",
      "PREPARE firstc AS SELECT * FROM customers",
      "SET search_path = secret",
    ],
    sql: "EXPLAIN ANALYZE EXECUTE firstc",
    expect: { denied: "role analyst may not read secret.customers" },
  },
  {
    user: "alice",
    via: "psql",
    before: [
      "SET search_path = sales",
      "PREPARE firstc AS SELECT * FROM customers",
      "SET search_path = secret",
    ],
    sql: "CREATE TEMP TABLE c AS EXECUTE firstc",
    expect: { denied: "role analyst may not read secret.customers" },
  },
  {
    user: "carol",
    via: "psql",
    before: ["PREPARE names AS SELECT name FROM hr.employees"],
    sql: "EXPLAIN (COSTS OFF) EXECUTE names",
    expect: { match: [/Seq Scan on employees/] },
  },

  // -- masks follow OID and attribute number: no DDL on a masked relation for a masked session
  {
    user: "carol",
    via: "psql",
    sql: "ALTER TABLE hr.employees RENAME COLUMN ssn TO s",
    expect: { denied: "RenameStmt on masked relation hr.employees" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "ALTER TABLE hr.employees RENAME TO staff",
    expect: { denied: "RenameStmt on masked relation hr.employees" },
  },
  {
    user: "carol",
    via: "pg",
    sql: "ALTER TABLE hr.employees SET SCHEMA public",
    expect: { denied: "AlterObjectSchemaStmt on masked relation hr.employees" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "ALTER SCHEMA hr RENAME TO h2",
    expect: { denied: "renaming a schema or any object other than a relation" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "CREATE UNIQUE INDEX ON hr.employees (ssn)",
    expect: { denied: "IndexStmt on masked relation hr.employees" },
  },
  {
    user: "carol",
    via: "psql",
    before: ["SET search_path = hr"],
    sql: "CREATE STATISTICS st ON ssn, salary FROM employees",
    expect: { denied: "CreateStatsStmt on masked relation hr.employees" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "ALTER TABLE hr.employees ADD CONSTRAINT ssn_check CHECK (ssn <> '123-45-6789')",
    expect: { denied: "AlterTableStmt on masked relation hr.employees" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "CREATE POLICY p ON hr.employees USING (ssn LIKE '1%')",
    expect: { denied: "CreatePolicyStmt on masked relation hr.employees" },
  },

  // -- positions inside ROLLUP, CUBE and GROUPING SETS
  {
    user: "carol",
    via: "psql",
    sql: "SELECT department, ssn FROM hr.employees GROUP BY ROLLUP (1, 2)",
    expect: { denied: "masked column hr.employees.ssn" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT department, salary FROM hr.employees GROUP BY CUBE (1, 2)",
    expect: { denied: "masked column hr.employees.salary" },
  },
  {
    user: "carol",
    via: "psql",
    sql: "SELECT department, email FROM hr.employees GROUP BY GROUPING SETS ((1, 2))",
    expect: { denied: "masked column hr.employees.email" },
  },

  // -- EXPLAIN
  {
    user: "alice",
    via: "psql",
    sql: "EXPLAIN ANALYZE DELETE FROM sales.orders WHERE id = 3",
    expect: { denied: "role analyst may not write sales.orders" },
  },
  {
    user: "bob",
    via: "psql",
    sql: "EXPLAIN ANALYZE UPDATE sales.orders SET status = 'explained'",
    expect: { denied: "UPDATE without WHERE" },
  },
  {
    user: "alice",
    via: "psql",
    sql: "EXPLAIN (COSTS OFF) SELECT * FROM sales.orders WHERE id = 1",
    expect: { match: [/Index Scan using orders_pkey on orders/, /Index Cond: \(id = 1\)/] },
  },

  // -- transactions
  {
    user: "alice",
    via: "psql",
    sql: "BEGIN; SELECT count(*) FROM sales.customers WHERE id <= 50; COMMIT",
    expect: { rows: ["BEGIN", "50", "COMMIT"] },
  },
];

// ---------------------------------------------------------------------------------------------------
// Running a row.

interface Outcome {
  /** Output lines of the row's statement. */
  lines: string[];
  /** SQLSTATE of the row's statement ("00000" when it succeeded). */
  sqlstate: string;
  /** Message of the row's error, if any. */
  message: string;
  /** Errors raised by `before` statements. */
  beforeErrors: number;
  /** The session answered a query after the row. */
  alive: boolean;
}

let stack: ProxyStack;
let postgres: LocalPostgres;
const tokens = {} as Record<User, string>;

/** A fingerprint of everything a statement could change: the sample data, schema objects, grants, roles. */
const FINGERPRINT = `
SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT 'o' || t::text FROM sales.orders t UNION ALL
  SELECT 'c' || t::text FROM sales.customers t UNION ALL
  SELECT 'e' || t::text FROM hr.employees t UNION ALL
  SELECT 's' || t::text FROM secret.orders t UNION ALL
  SELECT 'k' || t::text FROM secret.customers t UNION ALL
  SELECT 'r' || c.oid::regclass::text || c.relnatts || coalesce(c.relacl::text, '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('sales', 'hr', 'secret', 'public') OR n.nspname LIKE 'pg_temp%' UNION ALL
  SELECT 'f' || p.oid::regprocedure::text
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('sales', 'hr', 'secret', 'public') UNION ALL
  SELECT 'a' || r.rolname || r.rolsuper || r.rolcreaterole || coalesce((
    SELECT string_agg(b.rolname, ',' ORDER BY b.rolname)
    FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid), '')
    FROM pg_roles r WHERE r.rolname IN ('analyst', 'app_rw', 'admin')
) s(x)`;

const ERROR_LINE = /^(?:psql:[^:]*:\d+: )?ERROR: {2}([0-9A-Z]{5}): (.*)$/;

async function runPsql(row: Row): Promise<Outcome> {
  const args = ["-A", "-t", "-v", "ON_ERROR_STOP=0", "-v", "VERBOSITY=verbose"];
  for (const b of row.before ?? []) args.push("-c", b);
  args.push("-c", "\\echo <<<", "-c", row.sql, "-c", "\\echo >>> :SQLSTATE", "-c", "SELECT 'alive'");
  const result = await stack.psql(
    tokens[row.user],
    args,
    row.input === undefined ? {} : { input: row.input },
  );
  const out = result.stdout.split("\n");
  const start = out.indexOf("<<<");
  const end = out.findIndex((l) => l.startsWith(">>> "));
  expect(start, `psql output: ${result.stdout}\n${result.stderr}`).toBeGreaterThanOrEqual(0);
  expect(end, `psql output: ${result.stdout}\n${result.stderr}`).toBeGreaterThan(start);
  const errors = result.stderr
    .split("\n")
    .map((l) => ERROR_LINE.exec(l))
    .filter((m) => m !== null);
  const sqlstate = out[end]!.slice(4);
  const failed = sqlstate !== "00000";
  return {
    lines: out.slice(start + 1, end),
    sqlstate,
    message: failed ? (errors[errors.length - 1]?.[2] ?? "") : "",
    beforeErrors: errors.length - (failed ? 1 : 0),
    alive: out.slice(end + 1).includes("alive"),
  };
}

async function runPg(row: Row): Promise<Outcome> {
  const client = await stack.client(tokens[row.user]);
  try {
    let beforeErrors = 0;
    for (const b of row.before ?? []) await client.query(b).catch(() => beforeErrors++);
    let outcome: Omit<Outcome, "alive" | "beforeErrors">;
    try {
      const result = await client.query({
        text: row.sql,
        values: row.params ?? [],
        rowMode: "array",
        queryMode: "extended",
        ...(row.name === undefined ? {} : { name: row.name }),
      } as pg.QueryArrayConfig);
      const lines = result.rows.map((r: unknown[]) => r.map((v) => (v === null ? "" : String(v))).join("|"));
      outcome = { lines, sqlstate: "00000", message: "" };
      if (row.name !== undefined) {
        // a named statement: Bind and Execute again without a Parse, same answer
        const again = await client.query({
          text: row.sql,
          values: row.params ?? [],
          rowMode: "array",
          name: row.name,
        } as pg.QueryArrayConfig);
        expect(again.rows.length).toBe(result.rows.length);
      }
    } catch (err) {
      const e = err as { code?: string; message: string };
      outcome = { lines: [], sqlstate: e.code ?? "?????", message: e.message };
    }
    const alive = await client.query("SELECT 'alive' AS a").then(
      (r) => r.rows[0]?.a === "alive",
      () => false,
    );
    return { ...outcome, beforeErrors, alive };
  } finally {
    await client.end().catch(() => {});
  }
}

function label(row: Row): string {
  const sql = row.sql.replace(/\s+/g, " ");
  return `${row.user} ${row.via}${row.before ? ` (after ${row.before.length})` : ""}: ${sql.length > 90 ? `${sql.slice(0, 87)}...` : sql}`;
}

beforeAll(async () => {
  // Tables of the same names in a schema the analysts may not read, created before the proxy starts
  // so its catalog knows them: a wrongly resolved unqualified name would reach them.
  postgres = await startPostgres();
  await postgres.psql(`
    CREATE SCHEMA secret;
    CREATE TABLE secret.orders (id int, secret text);
    INSERT INTO secret.orders VALUES (1, 'TOP SECRET');
    CREATE TABLE secret.customers (LIKE sales.customers);
    INSERT INTO secret.customers VALUES (1, 'SECRET NAME', 'secret@example.com', 'zz');
    GRANT USAGE ON SCHEMA secret TO analyst;
    GRANT SELECT ON ALL TABLES IN SCHEMA secret TO analyst;`);
  stack = await startProxyStack({ pg: postgres });
  for (const user of ["alice", "bob", "carol", "dave"] as const) {
    tokens[user] = await stack.token(USERS[user], { lifetimeSeconds: 3600 });
  }
});

afterAll(async () => {
  await stack?.stop();
  await postgres?.stop();
});

describe("statement policy, end to end: every statement decided by Rego", () => {
  it("has at least 80 statements in its table, through both protocols and every user", () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(80);
    expect(new Set(ROWS.map((r) => r.via))).toEqual(new Set(["psql", "pg"]));
    expect(new Set(ROWS.map((r) => r.user))).toEqual(new Set(["alice", "bob", "carol", "dave"]));
  });

  for (const row of ROWS) {
    it(label(row), async () => {
      const refused = "denied" in row.expect || "syntax" in row.expect;
      const before = refused ? await postgres.psql(FINGERPRINT) : "";
      const outcome = row.via === "psql" ? await runPsql(row) : await runPg(row);
      expect(outcome.beforeErrors, "errors from the statements run first").toBe(row.beforeErrors ?? 0);
      const e = row.expect;
      if ("denied" in e) {
        expect(outcome.sqlstate, outcome.message).toBe("42501");
        expect(outcome.message).toContain("permission denied by Portcullis policy");
        expect(outcome.message).toContain(e.denied);
        expect(outcome.lines, "nothing of a refused query runs").toEqual([]);
      } else if ("syntax" in e) {
        expect(outcome.sqlstate, outcome.message).toBe("42601");
        expect(outcome.message).toContain(e.syntax);
        expect(outcome.lines).toEqual([]);
      } else {
        expect(outcome.sqlstate, outcome.message).toBe("00000");
        if ("rows" in e) expect(outcome.lines).toEqual(e.rows);
        else {
          expect(outcome.lines).toHaveLength(e.match.length);
          for (const [i, pattern] of e.match.entries()) expect(outcome.lines[i]).toMatch(pattern);
        }
      }
      expect(outcome.alive, "the session answers after the statement").toBe(true);
      if (refused) expect(await postgres.psql(FINGERPRINT), "the database is unchanged").toBe(before);
      if (row.check) expect(await postgres.psql(row.check[0])).toBe(row.check[1]);
    });
  }
});

// ---------------------------------------------------------------------------------------------------
// What a table row cannot show.

/**
 * Runs a query and returns how it ended with the status byte of the ReadyForQuery after it
 * (node-postgres settles a failed query on its ErrorResponse, before that ReadyForQuery arrives).
 */
async function run(
  client: pg.Client,
  text: string,
  values?: unknown[],
): Promise<{ status: string; code: string; command: string }> {
  const ready = new Promise<string>((resolve) =>
    (client as unknown as { connection: EventEmitter }).connection.once(
      "readyForQuery",
      (msg: { status: string }) => resolve(msg.status),
    ),
  );
  const outcome = await client.query(text, values).then(
    (r) => ({ code: "00000", command: r.command }),
    (err: { code?: string }) => ({ code: err.code ?? "?", command: "" }),
  );
  return { status: await ready, ...outcome };
}

describe("denials behave like server errors", () => {
  it("aborts a transaction block: COMMIT reports ROLLBACK and the earlier write is gone (psql)", async () => {
    const result = await stack.psql(tokens.bob, [
      "-A",
      "-t",
      "-v",
      "ON_ERROR_STOP=0",
      "-v",
      "VERBOSITY=verbose",
      "-c",
      "BEGIN",
      "-c",
      "INSERT INTO sales.customers (name, email, region) VALUES ('in block', 'b@example.com', 'eu')",
      "-c",
      "DELETE FROM sales.orders",
      "-c",
      "\\echo after-denial :LAST_ERROR_SQLSTATE",
      "-c",
      "SELECT 1",
      "-c",
      "\\echo in-failed-block :SQLSTATE",
      "-c",
      "COMMIT",
      "-c",
      "SELECT 'alive'",
    ]);
    expect(result.stdout.split("\n")).toEqual([
      "BEGIN",
      "INSERT 0 1",
      "after-denial 42501",
      "in-failed-block 25P02",
      "ROLLBACK",
      "alive",
      "",
    ]);
    expect(result.stderr).toMatch(
      /ERROR: {2}42501: permission denied by Portcullis policy: DELETE without WHERE/,
    );
    expect(result.stderr).toMatch(/ERROR: {2}25P02: current transaction is aborted/);
    expect(await postgres.psql("SELECT count(*) FROM sales.customers WHERE name = 'in block'")).toBe("0");
  });

  it("carries the true transaction status in every ReadyForQuery (pg)", async () => {
    const client = await stack.client(tokens.bob);
    expect(await run(client, "SELECT 1")).toMatchObject({ status: "I", code: "00000" });
    expect(await run(client, "BEGIN")).toMatchObject({ status: "T", code: "00000" });
    const update = await run(client, "UPDATE sales.orders SET status = 'tx' WHERE id = $1", [50]);
    expect(update).toEqual({ status: "T", code: "00000", command: "UPDATE" });
    expect(await run(client, "DELETE FROM sales.orders")).toMatchObject({ status: "E", code: "42501" });
    expect(await run(client, "SELECT 1")).toMatchObject({ status: "E", code: "25P02" });
    expect(await run(client, "COMMIT")).toEqual({ status: "I", code: "00000", command: "ROLLBACK" });
    // a denial outside a block leaves the session idle, in both protocols
    expect(await run(client, "TRUNCATE sales.orders")).toMatchObject({ status: "I", code: "42501" });
    expect(await run(client, "DELETE FROM sales.orders WHERE id = $1", [1])).toMatchObject({
      status: "I",
      code: "00000",
    });
    expect(await run(client, "UPDATE sales.orders SET status = $1", ["x"])).toMatchObject({
      status: "I",
      code: "42501",
    });
    expect((await client.query("SELECT 'alive' AS a")).rows[0].a).toBe("alive");
    await client.end();
    expect(await postgres.psql("SELECT status FROM sales.orders WHERE id = 50")).not.toBe("tx");
  });

  it("rolls back to a savepoint past a denial", async () => {
    const client = await stack.client(tokens.bob);
    await client.query("BEGIN");
    await client.query("UPDATE sales.orders SET status = 'kept' WHERE id = 51");
    await client.query("SAVEPOINT s");
    await expect(client.query("DELETE FROM sales.orders")).rejects.toMatchObject({ code: "42501" });
    await client.query("ROLLBACK TO SAVEPOINT s");
    await client.query("UPDATE sales.orders SET status = 'kept too' WHERE id = 52");
    expect((await client.query("COMMIT")).command).toBe("COMMIT");
    await client.end();
    expect(await postgres.psql("SELECT status FROM sales.orders WHERE id IN (51, 52) ORDER BY id")).toBe(
      "kept\nkept too",
    );
  });
});

describe("the extended protocol, message by message", () => {
  const connect = (user: User) =>
    WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: `${user}@example.com`,
      password: tokens[user],
      database: "app",
    });

  it("discards everything after a denied Parse until Sync, then the session is usable", async () => {
    const c = await connect("bob");
    const before = await postgres.psql(FINGERPRINT);
    c.send(
      serialize.parse({ text: "DELETE FROM sales.orders" }),
      serialize.bind({}),
      serialize.describe({ type: "P" }),
      serialize.execute({}),
      serialize.parse({
        text: "INSERT INTO sales.customers (name, email, region) VALUES ('after denial', 'a@example.com', 'eu')",
      }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.sync(),
    );
    const answered = await c.untilReady();
    // the proxy's own ParseComplete/BindComplete never reach the client
    expect(summary(answered)).toEqual(["error 42501", "ready I"]);
    expect(answered[0]!.message).toMatch(/DELETE without WHERE/);
    expect(await postgres.psql(FINGERPRINT)).toBe(before);
    c.send(serialize.query("SELECT 'alive'"));
    expect(dataRows(await c.untilReady())).toEqual([["alive"]]);
    c.end();
  });

  it("answers an allowed pipeline in full and aborts the block when a later Parse is denied", async () => {
    const c = await connect("bob");
    c.send(serialize.query("BEGIN"));
    expect(summary(await c.untilReady())).toEqual(["complete BEGIN", "ready T"]);
    c.send(
      serialize.parse({
        text: "INSERT INTO sales.customers (name, email, region) VALUES ($1, 'p@example.com', 'eu')",
      }),
      serialize.bind({ values: ["pipelined"] }),
      serialize.execute({}),
      serialize.parse({ text: "UPDATE sales.orders SET status = 'none'" }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.sync(),
    );
    expect(summary(await c.untilReady())).toEqual([
      "parseComplete",
      "bindComplete",
      "complete INSERT 0 1",
      "error 42501",
      "ready E",
    ]);
    c.send(serialize.query("COMMIT"));
    expect(summary(await c.untilReady())).toEqual(["complete ROLLBACK", "ready I"]);
    expect(await postgres.psql("SELECT count(*) FROM sales.customers WHERE name = 'pipelined'")).toBe("0");
    c.end();
  });

  it("refuses unparseable text with 42601 and skips to Sync", async () => {
    const c = await connect("alice");
    c.send(
      serialize.parse({ text: "SELEC 1" }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.parse({ text: "SELECT 2" }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.sync(),
    );
    const answered = await c.untilReady();
    expect(summary(answered)).toEqual(["error 42601", "ready I"]);
    c.end();
  });

  it("decides a later pipelined Query on what the server really did with the earlier one", async () => {
    const c = await connect("alice");
    c.send(serialize.query("SET search_path = secret"));
    await c.untilReady();
    // sent together: the first fails, so the server keeps search_path = secret for the second
    c.send(
      serialize.query("SET search_path = sales; SELECT 1/0"),
      serialize.query("SELECT * FROM customers ORDER BY id LIMIT 1"),
    );
    const first = await c.untilReady();
    const second = await c.untilReady();
    expect(summary(first)).toEqual(["complete SET", "error 22012", "ready I"]);
    expect(summary(second)).toEqual(["error 42501", "ready I"]);
    expect(second[0]!.message).toMatch(/may not read secret\.customers/);
    c.end();
  });

  it("re-decides a named statement when search_path changes, as the server re-resolves it", async () => {
    const client = await stack.client(tokens.alice);
    await client.query("SET search_path = sales");
    const named = { name: "first_customer", text: "SELECT name FROM customers ORDER BY id LIMIT 1" };
    expect((await client.query(named)).rows).toHaveLength(1);
    await client.query("SET search_path = secret");
    await expect(client.query(named)).rejects.toThrow(/may not read secret\.customers/);
    await client.query("SET search_path = sales");
    expect((await client.query(named)).rows).toHaveLength(1);
    await client.end();
  });

  it("keeps deciding on the statement the server kept when a second Parse of its name fails", async () => {
    const c = await connect("alice");
    c.send(serialize.query("SET search_path = sales"));
    await c.untilReady();
    c.send(
      serialize.parse({ name: "s1", text: "SELECT name FROM customers ORDER BY id LIMIT 1" }),
      serialize.sync(),
    );
    expect(summary(await c.untilReady())).toEqual(["parseComplete", "ready I"]);
    // the name is taken: the server refuses this Parse and keeps the unqualified statement
    c.send(
      serialize.parse({ name: "s1", text: "SELECT name FROM sales.customers ORDER BY id LIMIT 1" }),
      serialize.sync(),
    );
    expect(summary(await c.untilReady())).toEqual(["error 42P05", "ready I"]);
    c.send(serialize.query("SET search_path = secret"));
    await c.untilReady();
    c.send(serialize.bind({ statement: "s1" }), serialize.execute({}), serialize.sync());
    const answered = await c.untilReady();
    expect(summary(answered)).toEqual(["error 42501", "ready I"]);
    expect(answered[0]!.message).toMatch(/may not read secret\.customers/);
    c.end();
  });

  it("masks a SQL-prepared statement bound in the protocol without a Describe", async () => {
    const c = await connect("carol");
    c.send(serialize.query("PREPARE staff AS SELECT ssn, salary, name FROM hr.employees ORDER BY id"));
    expect(summary(await c.untilReady())).toEqual(["complete PREPARE", "ready I"]);
    c.send(serialize.bind({ statement: "staff" }), serialize.execute({}), serialize.sync());
    const answered = await c.untilReady();
    expect(dataRows(answered)).toEqual([
      ["***", null, "Alice Analyst"],
      ["***", null, "Bob Engineer"],
      ["***", null, "Carol Admin"],
      ["***", null, "Dave HR"],
    ]);
    c.end();
  });

  it("refuses an Execute of a cursor's portal (its rows come with no RowDescription to mask by)", async () => {
    const c = await connect("carol");
    c.send(serialize.query("BEGIN; DECLARE cur CURSOR FOR SELECT ssn FROM hr.employees ORDER BY id"));
    expect(summary(await c.untilReady()).at(-1)).toBe("ready T");
    c.send(serialize.execute({ portal: "cur" }), serialize.sync());
    const answered = await c.untilReady();
    expect(summary(answered)).toEqual(["error 42501", "ready E"]);
    expect(answered[0]!.message).toMatch(/portal "cur" was not bound through Portcullis/);
    c.send(serialize.query("ROLLBACK"));
    expect(summary(await c.untilReady())).toEqual(["complete ROLLBACK", "ready I"]);
    c.end();
  });

  it("masks binary-format results with null", async () => {
    const c = await connect("carol");
    c.send(
      serialize.parse({ text: "SELECT ssn, name FROM hr.employees WHERE id = 1" }),
      serialize.bind({ binary: true }),
      serialize.execute({}),
      serialize.sync(),
    );
    const answered = await c.untilReady();
    const values = (answered.find((m) => m.name === "dataRow") as unknown as { fields: unknown[] }).fields;
    expect(values[0]).toBeNull();
    expect(String(values[1])).toBe("Alice Analyst");
    c.end();
  });

  it("refuses the fastpath FunctionCall and keeps the session", async () => {
    const c = await connect("alice");
    const call = Buffer.alloc(1 + 4 + 4 + 2 + 2 + 2);
    call.write("F", 0, "latin1");
    call.writeInt32BE(call.length - 1, 1);
    call.writeInt32BE(2_601, 5); // some function OID
    call.writeInt16BE(0, 9);
    call.writeInt16BE(0, 11);
    call.writeInt16BE(0, 13);
    c.send(call);
    const answered = await c.untilReady();
    expect(summary(answered)).toEqual(["error 42501", "ready I"]);
    expect(answered[0]!.message).toMatch(/FunctionCall message is not allowed/);
    c.send(serialize.query("SELECT 'alive'"));
    expect(dataRows(await c.untilReady())).toEqual([["alive"]]);
    c.end();
  });
});

describe("masks follow the column, not its name", () => {
  it("keeps masking a column renamed by someone else during the session (table OID and attribute number)", async () => {
    const client = await stack.client(tokens.carol);
    try {
      const first = await client.query("SELECT ssn FROM hr.employees WHERE id = 1");
      expect(first.rows).toEqual([{ ssn: "***" }]);
      // a rename the proxy does not see (directly on the server), then DDL through the proxy that makes
      // it reload its catalog, which now calls attribute 5 "s"
      await postgres.psql("ALTER TABLE hr.employees RENAME COLUMN ssn TO s");
      await client.query("CREATE TEMP TABLE carol_reload (id int)");
      const renamed = await client.query("SELECT s, name FROM hr.employees WHERE id = 1");
      expect(renamed.rows).toEqual([{ s: "***", name: "Alice Analyst" }]);
    } finally {
      await postgres.psql("ALTER TABLE hr.employees RENAME COLUMN s TO ssn");
      await client.end();
    }
  });
});
