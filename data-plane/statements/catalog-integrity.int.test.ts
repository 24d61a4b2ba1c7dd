/**
 * What name resolution stands on, attacked through real sessions (a real data plane with the default
 * policies, a real PostgreSQL): the catalog snapshot around DDL in a transaction, the catalog connection
 * under settings an owner can change, a catalog that cannot be read, and the proxy's own prepared
 * statement. The corpus rows of test/harness/bypass-rows.ts cover the statements; these cover the
 * sequences a row cannot (a committed DDL, a second data plane, protocol messages by hand).
 */
import type pg from "pg";
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { BYPASS_SETUP_SQL } from "../../test/harness/bypass-rows.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { rows as dataRows, summary, WireClient } from "../../test/harness/wire-client.js";
import { DENIAL_STATEMENT } from "./denial.js";

let postgres: LocalPostgres;
let stack: ProxyStack;
let carol: string;

beforeAll(async () => {
  postgres = await startPostgres();
  await postgres.psql(BYPASS_SETUP_SQL);
  stack = await startProxyStack({ pg: postgres });
  carol = await stack.token(USERS.carol, { lifetimeSeconds: 3600 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await postgres?.stop();
});

async function failure(client: pg.Client, sql: string): Promise<{ code?: string; message: string }> {
  return client.query(sql).then(
    () => ({ code: "00000", message: "" }),
    (err: { code?: string; message: string }) => ({ code: err.code, message: err.message }),
  );
}

const ssnColumn =
  "SELECT count(*) FROM pg_attribute WHERE attrelid = 'hr.employees'::regclass AND attname = 'ssn'";

describe("names around DDL in a transaction", () => {
  it("decides the statement after a committed DROP on the catalog the DROP left, not one read during it", async () => {
    const client = await stack.client(carol);
    try {
      await client.query("SET search_path = pg_catalog, public, hr");
      // employees is public.employees: the proxy's catalog says so (and a masked session must qualify it)
      expect((await failure(client, "SELECT name FROM employees")).message).toContain(
        "relation employees (resolved to public.employees) has the name of masked relation hr.employees",
      );
      await client.query("BEGIN");
      await client.query("DROP TABLE public.employees");
      // a statement that makes the proxy read its catalog while the DROP is not committed: that
      // snapshot still has public.employees
      expect((await client.query("SELECT count(id)::int AS n FROM hr.employees")).rows).toEqual([{ n: 5 }]);
      await client.query("COMMIT");
      // now `employees` is hr.employees on the server; so it must be for the proxy
      const refused = await failure(client, "ALTER TABLE employees RENAME COLUMN ssn TO s");
      expect(refused.code).toBe("42501");
      expect(refused.message).toContain("RenameStmt on masked relation hr.employees is not allowed");
      expect(await postgres.psql(ssnColumn)).toBe("1");
      const masked = await client.query("SELECT ssn FROM employees ORDER BY id");
      expect(masked.rows.map((r) => r.ssn)).toEqual(["***", "***", "***", "***", "***"]);
    } finally {
      await client.end();
      await postgres.psql(
        "SET ROLE admin; CREATE TABLE IF NOT EXISTS public.employees (id int, name text, ssn text); " +
          "INSERT INTO public.employees SELECT 1, 'Public Decoy', 'not-a-secret' WHERE NOT EXISTS (SELECT FROM public.employees)",
      );
    }
  });

  it("refuses an unqualified name in the transaction that dropped what it named, in the extended protocol too", async () => {
    const client = await stack.client(carol);
    try {
      await client.query("SET search_path = pg_catalog, public, hr");
      await client.query("BEGIN");
      await client.query("DROP TABLE public.employees");
      const refused = await client
        .query({ text: "ALTER TABLE employees RENAME COLUMN ssn TO s", values: [] })
        .then(
          () => ({ code: "00000", message: "" }),
          (err: { code?: string; message: string }) => err,
        );
      expect(refused.code).toBe("42501");
      expect(refused.message).toContain("relation employees is named without a schema after DDL");
      await client.query("ROLLBACK");
      expect(await postgres.psql(ssnColumn)).toBe("1");
      expect(await postgres.psql("SELECT count(*) FROM public.employees")).toBe("1");
      // the transaction is over: the name resolves again (to public.employees)
      expect((await failure(client, "SELECT ssn FROM employees")).message).toContain(
        "relation employees (resolved to public.employees)",
      );
      expect((await client.query("SELECT ssn FROM public.employees")).rows).toEqual([
        { ssn: "not-a-secret" },
      ]);
    } finally {
      await client.end();
    }
  });
});

describe("names in a pipeline after DDL", () => {
  it("decides again at Bind a statement parsed before the DDL that runs ahead of it in the same sequence", async () => {
    const client = await WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "carol@example.com",
      password: carol,
      database: "app",
    });
    try {
      client.send(serialize.query("SET search_path = pg_catalog, sales"));
      await client.untilReady();
      // both parsed before either runs: the second was decided while the catalog was the one before the DDL
      client.send(
        serialize.parse({ name: "ddl", text: "CREATE TABLE public.pipeline_t (a int)" }),
        serialize.parse({ name: "count", text: "SELECT count(*) FROM orders" }),
        serialize.bind({ statement: "ddl" }),
        serialize.execute({}),
        serialize.bind({ statement: "count" }),
        serialize.execute({}),
        serialize.sync(),
      );
      const replies = await client.untilReady();
      expect(summary(replies)).toEqual([
        "parseComplete",
        "parseComplete",
        "bindComplete",
        "complete CREATE TABLE",
        "error 42501",
        "ready I",
      ]);
      expect(replies[4]?.message).toContain("relation orders is named without a schema after DDL");
      // the sequence was one implicit transaction: the failure undid the CREATE
      expect(await postgres.psql("SELECT to_regclass('public.pipeline_t') IS NULL")).toBe("t");
      // once it is over, the same prepared statement runs
      client.send(serialize.bind({ statement: "count" }), serialize.execute({}), serialize.sync());
      expect(dataRows(await client.untilReady())).toEqual([["500"]]);
    } finally {
      client.end();
    }
  });
});

describe("the proxy's own prepared statement", () => {
  const connect = () =>
    WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "carol@example.com",
      password: carol,
      database: "app",
    });

  for (const [what, message] of [
    ["Parse", () => serialize.parse({ name: DENIAL_STATEMENT, text: "SELECT ssn FROM hr.employees" })],
    ["Describe", () => serialize.describe({ type: "S", name: DENIAL_STATEMENT })],
    ["Close", () => serialize.close({ type: "S", name: DENIAL_STATEMENT })],
  ] as const) {
    it(`refuses a ${what} of "${DENIAL_STATEMENT}" (42501), and denials still work after it`, async () => {
      const client = await connect();
      try {
        client.send(message(), serialize.sync());
        const replies = await client.untilReady();
        expect(summary(replies)).toEqual(["error 42501", "ready I"]);
        expect(replies[0]?.message).toContain(
          `the prepared statement name "${DENIAL_STATEMENT}" is reserved`,
        );
        // a denial after it is raised by the proxy's own statement, as ever
        client.send(
          serialize.parse({ text: "SELECT ssn FROM hr.employees WHERE ssn <> ''" }),
          serialize.bind({}),
          serialize.execute({}),
          serialize.sync(),
        );
        const denied = await client.untilReady();
        expect(summary(denied)).toEqual(["error 42501", "ready I"]);
        expect(denied[0]?.message).toContain("masked column hr.employees.ssn");
        client.send(serialize.query("SELECT ssn FROM hr.employees WHERE id = 1"));
        expect(dataRows(await client.untilReady())).toEqual([["***"]]);
      } finally {
        client.end();
      }
    });
  }
});

describe("the catalog connection", () => {
  it("keeps its own settings whatever the database owner sets for new sessions", async () => {
    const owner = await stack.client(carol);
    try {
      // the database owner (carol's role) may do this; it reached the catalog's session before
      await owner.query("ALTER DATABASE app SET statement_timeout = 1");
    } finally {
      await owner.end();
    }
    // a second data plane: its catalog connection starts with the database's new settings
    const second = await startProxyStack({ pg: postgres, oidc: stack.oidc });
    try {
      // carol's own session is under the database's 1 ms too, the proxy's set-up query on it
      // included (a new backend's first query can take longer): she asks for 0 at start-up, as a
      // client would; the catalog connection asks nothing of hers
      const client = await second.client(carol, { options: "-c statement_timeout=0" });
      try {
        const refused = await failure(client, "SELECT ssn FROM hr.staff");
        expect(refused.code).toBe("42501");
        expect(refused.message).toContain("relation hr.staff shows rows of masked relation hr.employees");
      } finally {
        await client.end();
      }
    } finally {
      await second.stop();
      await postgres.psql("ALTER DATABASE app RESET statement_timeout");
    }
  });

  it("refuses statements naming relations while it cannot be read, and recovers", async () => {
    const second = await startProxyStack({ pg: postgres, oidc: stack.oidc });
    const client = await second.client(carol);
    try {
      // carol's own upstream session is the role's only allowed one: the catalog cannot connect
      await postgres.psql("ALTER ROLE admin CONNECTION LIMIT 1");
      await postgres.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'portcullis-catalog'",
      );
      // DDL: the proxy reads its catalog again before the next statement naming a relation
      await client.query("COMMENT ON TABLE sales.orders IS 'orders'");
      const refused = await failure(client, "SELECT ssn FROM hr.staff");
      expect(refused.code).toBe("42501");
      expect(refused.message).toContain("the database catalog cannot be read");
      expect(refused.message).toContain("statements naming relations are refused");
      // what names no relation needs no catalog
      expect((await client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      await postgres.psql("ALTER ROLE admin CONNECTION LIMIT -1");
      const masked = await client.query("SELECT ssn FROM hr.employees WHERE id = 2");
      expect(masked.rows).toEqual([{ ssn: "***" }]);
      const view = await failure(client, "SELECT ssn FROM hr.staff");
      expect(view.message).toContain("relation hr.staff shows rows of masked relation hr.employees");
    } finally {
      await postgres.psql("ALTER ROLE admin CONNECTION LIMIT -1");
      await client.end().catch(() => {});
      await second.stop();
    }
  });
});
