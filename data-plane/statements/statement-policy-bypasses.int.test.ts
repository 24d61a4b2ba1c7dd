/**
 * The bypass classes a security review found, each refused through real sessions (psql in the simple
 * protocol, node-postgres in the extended protocol) to a real data plane with the default policies, with
 * a superuser fingerprint before and after every refusal, and their siblings:
 *
 * - built-in functions that run SQL given as text (ts_stat, ts_rewrite, query_to_xml & co, crosstab,
 *   connectby, dblink): restricted and masked sessions run allow-listed functions only, by the names
 *   the server reads (schema-qualified, quoted, U&"…" escapes, field selections that are calls);
 * - side effects by function: pg_notify, large objects, advisory locks, sleeps, sequences;
 * - predefined roles named with quotes or U&"…" escapes, role changes spelled differently;
 * - planner statistics of masked columns (pg_stats & co, ANALYZE);
 * - UPDATE/DELETE/MERGE with a condition that cannot depend on the row;
 * - names decided on a catalog from before DDL in the same transaction, query or pipeline, and
 *   unqualified names beside a masked relation of the same name, or before a relation of the same
 *   name later on the path that shows a masked relation's rows (dropped where the catalog cannot see);
 * - prepared statements run again after the search_path (through ROLLBACK, savepoints, SET LOCAL,
 *   set_config, RESET ALL, DISCARD ALL) or the catalog changed; names on a search_path the proxy
 *   does not know;
 * - relations that show a masked table's rows under another name: views (security-invoker, over
 *   views), materialized views, inheritance children, parents, foreign tables, rules; and the DDL
 *   that would make one (INHERIT, ATTACH PARTITION, LIKE, CREATE RULE, CREATE OR REPLACE VIEW);
 * - the proxy's own prepared statement name in PREPARE, EXECUTE, DEALLOCATE;
 * - results whose columns lose their table of origin.
 * Every row of a masked user also checks that no real value of a masked column reached the client.
 * Ordinary BI queries and psql's \d still work for these sessions.
 */
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { BYPASS_SETUP_SQL, MASKED_VALUES_SQL, BYPASS_ROWS as ROWS } from "../../test/harness/bypass-rows.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { rowLabel, StatementRows, type User } from "../../test/harness/statement-rows.js";
import { WireClient, rows as wireRows } from "../../test/harness/wire-client.js";

let stack: ProxyStack;
let postgres: LocalPostgres;
let rows: StatementRows;
let maskedValues: string[] = [];
const tokens = {} as Record<User, string>;

beforeAll(async () => {
  postgres = await startPostgres();
  await postgres.psql(BYPASS_SETUP_SQL);
  stack = await startProxyStack({ pg: postgres });
  for (const user of ["alice", "bob", "carol", "dave"] as const) {
    tokens[user] = await stack.token(USERS[user], { lifetimeSeconds: 3600 });
  }
  maskedValues = (await postgres.psql(MASKED_VALUES_SQL)).split("\n");
  rows = new StatementRows(stack, postgres, tokens, maskedValues);
});

afterAll(async () => {
  await stack?.stop();
  await postgres?.stop();
});

describe("bypass classes of the review, through real sessions", () => {
  it("has the rows of every class, and knows the masked values it must never see", () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(150);
    expect(maskedValues).toContain("123-45-6789");
    expect(maskedValues).toContain("567-89-0123");
  });

  it("covers both protocols and every user", () => {
    expect(new Set(ROWS.map((r) => r.via))).toEqual(new Set(["psql", "pg"]));
    expect(new Set(ROWS.map((r) => r.user))).toEqual(new Set(["alice", "bob", "carol", "dave"]));
  });

  for (const row of ROWS) it(rowLabel(row), () => rows.check(row));
});

describe("names whose meaning changes where this proxy's catalog does not see it yet", () => {
  const masked = (text: string) => maskedValues.some((v) => text.includes(v));

  it("refuses carol an unqualified name resolved before a view over a masked table, dropped elsewhere or not", async () => {
    await postgres.psql("SET ROLE admin; CREATE TABLE public.staff (id int, name text, ssn text)");
    const client = await stack.client(tokens.carol);
    try {
      await client.query("SET search_path = pg_catalog, public, hr");
      const before = await client.query("SELECT ssn FROM staff").then(
        (r) => JSON.stringify(r.rows),
        (e: Error) => e.message,
      );
      expect(before).toContain("has the name of a relation later on the search_path");
      // another data plane (here: the database directly) drops it: the server now reads hr.staff
      await postgres.psql("DROP TABLE public.staff");
      const after = await client.query("SELECT ssn FROM staff").then(
        (r) => JSON.stringify(r.rows),
        (e: Error) => e.message,
      );
      expect(masked(after), after).toBe(false);
      expect(after).toContain("permission denied by Portcullis policy");
    } finally {
      await client.end();
      await postgres.psql("DROP TABLE IF EXISTS public.staff");
    }
  });

  it("decides a prepared statement again at Bind and EXECUTE when the catalog changed since its Parse", async () => {
    // when carol prepares them, `staff3` is public.staff3 and nothing else on the path
    await postgres.psql("SET ROLE admin; CREATE TABLE public.staff3 (id int, name text, ssn text)");
    const client = await stack.client(tokens.carol);
    try {
      await client.query("SET search_path = pg_catalog, public, hr");
      await client.query({ name: "p", text: "SELECT ssn FROM staff3" });
      await client.query("PREPARE q AS SELECT ssn FROM staff3");
      // then a view over hr.employees of that name comes to exist after it on the path, and the table
      // is dropped: the server analyses both statements again and reads the view
      await postgres.psql("SET ROLE admin; CREATE VIEW hr.staff3 AS SELECT id, name, ssn FROM hr.employees");
      await client.query("DROP TABLE public.staff3");
      await client.query("SELECT 1 FROM sales.orders LIMIT 0"); // the catalog is read again
      const outcome = (q: Promise<{ rows: unknown[] }>) =>
        q.then(
          (r) => JSON.stringify(r.rows),
          (e: Error) => e.message,
        );
      const bound = await outcome(client.query({ name: "p", text: "SELECT ssn FROM staff3" }));
      expect(masked(bound), bound).toBe(false);
      expect(bound).toContain("relation hr.staff3 shows rows of masked relation hr.employees");
      const executed = await outcome(client.query("EXECUTE q"));
      expect(masked(executed), executed).toBe(false);
      expect(executed).toContain("relation hr.staff3 shows rows of masked relation hr.employees");
    } finally {
      await client.end();
      await postgres.psql("DROP VIEW IF EXISTS hr.staff3; DROP TABLE IF EXISTS public.staff3");
    }
  });
});

describe("DDL and the names after it in one extended-protocol pipeline (no Sync between)", () => {
  it("refuses carol `staff` after a DROP of the table it meant, and runs nothing of the pipeline", async () => {
    await postgres.psql("SET ROLE admin; CREATE TABLE public.staff (id int, name text, ssn text)");
    const c = await WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "carol@example.com",
      password: tokens.carol,
      database: "app",
    });
    try {
      c.send(serialize.query("SET search_path = pg_catalog, hr"));
      await c.untilReady();
      const pbe = (text: string) => [serialize.parse({ text }), serialize.bind({}), serialize.execute({})];
      c.send(
        ...pbe("SET search_path = pg_catalog, public, hr"),
        ...pbe("DROP TABLE public.staff"),
        ...pbe("SELECT ssn FROM staff"),
        serialize.sync(),
      );
      const answered = await c.untilReady();
      const values = JSON.stringify(wireRows(answered));
      expect(
        maskedValues.some((v) => values.includes(v)),
        values,
      ).toBe(false);
      const error = answered.find((m) => m.name === "error");
      expect(error?.code).toBe("42501");
      expect(error?.message).toContain("is named without a schema after DDL in this transaction");
      // the implicit transaction of the pipeline failed: the DROP did not happen
      expect(await postgres.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'staff'")).toBe("1");
    } finally {
      c.end();
      await postgres.psql("DROP TABLE IF EXISTS public.staff");
    }
  });
});

describe("ordinary queries keep working with the allow-list", () => {
  const BI = [
    `SELECT c.region, count(*), round(avg(o.amount), 2), min(o.amount), max(o.amount), sum(o.amount)
       FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id GROUP BY c.region ORDER BY 1`,
    `SELECT date_trunc('day', created_at) = date_trunc('day', now()), extract(year FROM created_at) > 2000,
            count(DISTINCT customer_id), percentile_cont(0.5) WITHIN GROUP (ORDER BY amount)
       FROM sales.orders GROUP BY 1, 2`,
    `SELECT id, status, rank() OVER (PARTITION BY status ORDER BY amount DESC), lag(amount) OVER (ORDER BY id)
       FROM sales.orders WHERE id <= 5 ORDER BY id`,
    `SELECT upper(left(name, 3)) || lpad(id::text, 4, '0'), coalesce(nullif(region, 'eu'), 'EU'),
            split_part(email, '@', 2), length(email), regexp_replace(name, '\\d+', '#'),
            to_char(id, 'FM000'), jsonb_build_object('id', id)->>'id', md5(name) = md5(name)
       FROM sales.customers WHERE id IN (1, 2, 3) ORDER BY id`,
    `SELECT string_agg(status, ',' ORDER BY status), array_length(array_agg(DISTINCT status), 1),
            json_agg(DISTINCT status ORDER BY status)::text
       FROM sales.orders WHERE status SIMILAR TO '(open|paid)'`,
    `SELECT g, to_char(make_date(2024, g, 1), 'Mon'), greatest(g, 6) FROM generate_series(1, 3) AS g`,
  ];
  for (const sql of BI) {
    it(`alice sees what the database says: ${sql.replace(/\s+/g, " ").slice(0, 80)}…`, async () => {
      const direct = await postgres.psql(sql);
      const proxied = await stack.psql(tokens.alice, ["-A", "-t", "-c", sql]);
      expect(proxied.stderr).toBe("");
      expect(proxied.stdout.trim()).toBe(direct);
    });
  }

  it("lets a masked admin describe a masked table with psql's \\d", async () => {
    const result = await stack.psql(tokens.carol, ["-c", "\\d hr.employees", "-c", "\\dt hr.*"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Table "hr.employees"');
    expect(result.stdout).toMatch(/ssn\s+\|\s+text/);
    expect(result.stdout).toContain("employees_pkey");
  });
});
