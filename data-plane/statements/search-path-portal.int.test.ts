/**
 * A portal of `SELECT set_config('search_path', …)` runs its call once, when the server computes its
 * one row, whatever number of Executes follow: an Execute of a suspended portal returns no row and
 * runs nothing. Through a real data plane and a real PostgreSQL: re-executing the portal after a SET
 * must not make the proxy believe the set_config ran again (it would resolve `secrets` on a path the
 * server no longer has: sales.secrets for the proxy, hr.secrets for the server). A cursor's
 * set_config runs when its rows are fetched or moved over, or at COMMIT for a WITH HOLD cursor, which
 * the proxy cannot follow: after such a DECLARE the path is unknown to the proxy for good.
 */
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { rows, summary, WireClient } from "../../test/harness/wire-client.js";

let postgres: LocalPostgres;
let stack: ProxyStack;
let token: string;

beforeAll(async () => {
  postgres = await startPostgres();
  // hr.secrets, which the policy never lets alice read (the database would), and a decoy of that
  // name in sales, which it does
  await postgres.psql(`
    CREATE TABLE hr.secrets (id int, code text);
    INSERT INTO hr.secrets VALUES (1, 'the-secret');
    CREATE TABLE sales.secrets (id int, code text);
    INSERT INTO sales.secrets VALUES (1, 'not-a-secret');
    GRANT SELECT ON hr.secrets, sales.secrets TO analyst;
    CREATE FUNCTION hr.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS 'SELECT $2';`);
  stack = await startProxyStack({ pg: postgres });
  token = await stack.token(USERS.alice, { lifetimeSeconds: 3600 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await postgres?.stop();
});

describe("a set_config portal executed again", () => {
  it("does not count as a second set_config: the proxy resolves names on the server's path", async () => {
    const c = await WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "alice@example.com",
      password: token,
      database: "app",
    });
    try {
      c.send(serialize.query("BEGIN"));
      expect(summary(await c.untilReady()).at(-1)).toBe("ready T");
      // the call runs here, once: the path becomes sales (the portal is suspended after its one row)
      c.send(
        serialize.parse({ name: "s", text: "SELECT set_config('search_path', 'pg_catalog, sales', false)" }),
        serialize.bind({ statement: "s", portal: "p" }),
        serialize.execute({ portal: "p", rows: 1 }),
        serialize.sync(),
      );
      const first = await c.untilReady();
      expect(summary(first).filter((m) => m.startsWith("error"))).toEqual([]);
      c.send(serialize.query("SET search_path = pg_catalog, hr"));
      expect(summary(await c.untilReady()).at(-1)).toBe("ready T");
      // the portal again: no row, no call; the server's path stays hr
      c.send(serialize.execute({ portal: "p", rows: 0 }), serialize.sync());
      await c.untilReady();
      c.send(serialize.query("SHOW search_path"));
      expect(rows(await c.untilReady())[0]?.[0]).toBe("pg_catalog, hr");
      c.send(serialize.query("SELECT code FROM secrets"));
      const read = await c.untilReady();
      const values = rows(read).flat();
      expect(values).not.toContain("the-secret");
      expect(summary(read)).toContain("error 42501");
    } finally {
      c.end();
    }
  });

  for (const [name, script] of [
    [
      "runs at FETCH",
      [
        "BEGIN; DECLARE k CURSOR FOR SELECT set_config('search_path', 'pg_catalog, hr', false); SET search_path = pg_catalog, sales",
        "FETCH k",
      ],
    ],
    [
      "runs at MOVE",
      [
        "BEGIN; DECLARE k CURSOR FOR SELECT set_config('search_path', 'pg_catalog, hr', false); SET search_path = pg_catalog, sales",
        "MOVE k",
      ],
    ],
    [
      "of a WITH HOLD cursor runs at COMMIT",
      [
        "BEGIN; DECLARE k CURSOR WITH HOLD FOR SELECT set_config('search_path', 'pg_catalog, hr', false); SET search_path = pg_catalog, sales",
        "COMMIT",
      ],
    ],
  ] as const) {
    it(`a cursor's set_config ${name}: the path is unknown from then on, never the one the proxy last saw set`, async () => {
      const c = await WireClient.connect({
        host: "127.0.0.1",
        port: stack.port,
        user: "alice@example.com",
        password: token,
        database: "app",
      });
      try {
        for (const sql of script) {
          c.send(serialize.query(sql));
          await c.untilReady();
        }
        c.send(serialize.query("SHOW search_path"));
        expect(rows(await c.untilReady())[0]?.[0]).toBe("pg_catalog, hr");
        c.send(serialize.query("SELECT code FROM secrets"));
        const read = await c.untilReady();
        expect(rows(read).flat()).not.toContain("the-secret");
        expect(summary(read)).toContain("error 42501");
        expect(read.find((m) => m.name === "error")?.message).toMatch(/search_path is unknown/);
        // qualified names still resolve
        c.send(serialize.query("ROLLBACK"));
        await c.untilReady();
        c.send(serialize.query("SELECT code FROM sales.secrets"));
        expect(rows(await c.untilReady())).toEqual([["not-a-secret"]]);
      } finally {
        c.end();
      }
    });
  }

  it("a set_config portal closed and bound again under the same name runs its call again: the proxy follows it", async () => {
    const c = await WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "alice@example.com",
      password: token,
      database: "app",
    });
    try {
      c.send(serialize.query("BEGIN"));
      await c.untilReady();
      c.send(
        serialize.parse({ name: "s", text: "SELECT set_config('search_path', 'pg_catalog, hr', false)" }),
        serialize.bind({ statement: "s", portal: "p" }),
        serialize.execute({ portal: "p", rows: 1 }),
        serialize.sync(),
      );
      await c.untilReady();
      c.send(serialize.query("SET search_path = pg_catalog, sales"));
      await c.untilReady();
      // a fresh portal of that name: its first Execute makes the call again
      c.send(
        serialize.close({ type: "P", name: "p" }),
        serialize.bind({ statement: "s", portal: "p" }),
        serialize.execute({ portal: "p", rows: 1 }),
        serialize.sync(),
      );
      await c.untilReady();
      c.send(serialize.query("SHOW search_path"));
      expect(rows(await c.untilReady())[0]?.[0]).toBe("pg_catalog, hr");
      c.send(serialize.query("SELECT code FROM secrets"));
      const read = await c.untilReady();
      expect(rows(read).flat()).not.toContain("the-secret");
      expect(summary(read)).toContain("error 42501");
    } finally {
      c.end();
    }
  });

  it("a cursor declared through the extended protocol, fetched in a later transaction: the path is unknown", async () => {
    const c = await WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "alice@example.com",
      password: token,
      database: "app",
    });
    try {
      c.send(serialize.query("BEGIN"));
      await c.untilReady();
      c.send(
        serialize.parse({
          text: "DECLARE k CURSOR WITH HOLD FOR SELECT set_config('search_path', 'pg_catalog, hr', false) FROM generate_series(1, 2)",
        }),
        serialize.bind({}),
        serialize.execute({}),
        serialize.sync(),
      );
      await c.untilReady();
      c.send(serialize.query("COMMIT"));
      await c.untilReady();
      c.send(serialize.query("SET search_path = pg_catalog, sales"));
      await c.untilReady();
      // the call ran at COMMIT (the held rows were computed there), out of the proxy's sight: the
      // path stays unknown for the session, even after a SET
      c.send(serialize.query("FETCH ALL k"));
      await c.untilReady();
      c.send(serialize.query("SELECT code FROM secrets"));
      const read = await c.untilReady();
      expect(rows(read).flat()).not.toContain("the-secret");
      expect(summary(read)).toContain("error 42501");
      expect(read.find((m) => m.name === "error")?.message).toMatch(/search_path is unknown/);
    } finally {
      c.end();
    }
  });

  it("a path listing a schema before pg_catalog is refused, so an unqualified set_config is the built-in", async () => {
    const c = await WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "alice@example.com",
      password: token,
      database: "app",
    });
    try {
      // hr.set_config (a no-op) would be what the server calls on such a path
      for (const sql of [
        "SET search_path = hr, pg_catalog",
        "SELECT set_config('search_path', 'hr, pg_catalog', false)",
        "SELECT pg_catalog.set_config('search_path', 'hr, pg_catalog', false)",
      ]) {
        c.send(serialize.query(sql));
        expect(summary(await c.untilReady())).toEqual(["error 42501", "ready I"]);
      }
      c.send(serialize.query("SELECT set_config('search_path', 'pg_catalog, sales', false)"));
      await c.untilReady();
      c.send(serialize.query("SHOW search_path"));
      expect(rows(await c.untilReady())[0]?.[0]).toBe("pg_catalog, sales");
    } finally {
      c.end();
    }
  });
});
