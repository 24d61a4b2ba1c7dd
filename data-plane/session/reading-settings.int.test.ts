/**
 * The proxy reads SQL as the server does only while standard_conforming_strings is on and the client
 * encoding is one where ASCII bytes stay ASCII. Through a real data plane and a real PostgreSQL:
 *
 * - a start-up parameter is checked under any spelling of its name (CLIENT_ENCODING=SJIS);
 * - database and role defaults (ALTER DATABASE/ROLE … SET) cannot change what a session gets: the
 *   proxy sets both settings explicitly in its upstream StartupMessage;
 * - a setting changed where the proxy cannot see it (a view whose query calls set_config) ends the
 *   session at the ParameterStatus that reports it, FATAL 0A000, with nothing after it relayed.
 */
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { LoginError, rows, summary, WireClient } from "../../test/harness/wire-client.js";

let postgres: LocalPostgres;
let stack: ProxyStack;
let token: string;
let engineer: string;

beforeAll(async () => {
  postgres = await startPostgres();
  // Reads of a relation the analyst may read; what runs inside it the proxy never sees.
  await postgres.psql(`
    CREATE FUNCTION public.change_setting(name text, value text) RETURNS text
      LANGUAGE sql AS $$ SELECT set_config(name, value, false) $$;
    CREATE VIEW sales.scs_off AS SELECT public.change_setting('standard_conforming_strings', 'off') AS v;
    CREATE VIEW sales.encoding_sjis AS SELECT public.change_setting('client_encoding', 'SJIS') AS v;
    CREATE VIEW sales.encoding_latin1 AS SELECT public.change_setting('client_encoding', 'LATIN1') AS v;
    GRANT SELECT ON sales.scs_off, sales.encoding_sjis, sales.encoding_latin1 TO analyst, app_rw;`);
  stack = await startProxyStack({ pg: postgres });
  token = await stack.token(USERS.alice, { lifetimeSeconds: 3600 });
  engineer = await stack.token(USERS.bob, { lifetimeSeconds: 3600 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await postgres?.stop();
});

const connect = (parameters?: Record<string, string>) =>
  WireClient.connect({
    host: "127.0.0.1",
    port: stack.port,
    user: "alice@example.com",
    password: token,
    database: "app",
    ...(parameters ? { parameters } : {}),
  });

async function show(c: WireClient, setting: string): Promise<string | null | undefined> {
  c.send(serialize.query(`SHOW ${setting}`));
  return rows(await c.untilReady())[0]?.[0];
}

describe("start-up parameters", () => {
  for (const key of ["client_encoding", "CLIENT_ENCODING", "Client_Encoding"]) {
    it(`refuses ${key}=SJIS (and its aliases) with 0A000`, async () => {
      for (const value of ["SJIS", "Shift_JIS", "big5", "GBK"]) {
        const login = connect({ [key]: value });
        await expect(login).rejects.toBeInstanceOf(LoginError);
        await expect(login).rejects.toMatchObject({ code: "0A000" });
      }
    });
  }

  it("forwards a safe encoding given in upper case", async () => {
    const c = await connect({ CLIENT_ENCODING: "LATIN1" });
    expect(await show(c, "client_encoding")).toBe("LATIN1");
    c.end();
  });
});

describe("database and role defaults do not reach the session", () => {
  it("ALTER DATABASE … SET client_encoding = 'SJIS' and ALTER ROLE … SET standard_conforming_strings = off", async () => {
    await postgres.psql(`
      ALTER DATABASE app SET client_encoding = 'SJIS';
      ALTER ROLE analyst SET standard_conforming_strings = off;`);
    try {
      const c = await connect();
      expect(await show(c, "client_encoding")).toBe("UTF8");
      expect(await show(c, "standard_conforming_strings")).toBe("on");
      c.end();
    } finally {
      await postgres.psql(`
        ALTER DATABASE app RESET client_encoding;
        ALTER ROLE analyst RESET standard_conforming_strings;`);
    }
  });
});

describe("settings changed during the session", () => {
  for (const view of ["sales.scs_off", "sales.encoding_sjis"]) {
    for (const protocol of ["simple", "extended"] as const) {
      it(`ends the session when ${view} changes a setting (${protocol} protocol)`, async () => {
        const c = await connect();
        if (protocol === "simple") c.send(serialize.query(`SELECT v FROM ${view}; SELECT 'after' AS a`));
        else {
          c.send(
            serialize.parse({ text: `SELECT v FROM ${view}` }),
            serialize.bind({}),
            serialize.execute({}),
            serialize.sync(),
            serialize.parse({ text: "SELECT 'after' AS a" }),
            serialize.bind({}),
            serialize.execute({}),
            serialize.sync(),
          );
        }
        expect(await c.closed()).toBe(true);
        const got = c.pending();
        const fatal = got.find((m) => m.name === "error");
        expect(fatal).toMatchObject({ code: "0A000" });
        expect(fatal?.message).toMatch(/cannot analyse safely: the session is ended/);
        // nothing the server ran with the new setting, nor the setting itself, reached the client
        expect(summary(got)).not.toContain("parameterStatus");
        expect(rows(got).flat()).not.toContain("after");
        expect(summary(got).at(-1)).toBe("error 0A000");
      });
    }
  }

  // bob may write: a statement with a backslash pipelined behind the hidden change must never run
  const insert = (name: string) =>
    `INSERT INTO sales.customers (name, email, region) VALUES ('${name}\\', 'x@example.com', 'eu')`;
  /**
   * Two string constants while standard_conforming_strings is on (what the proxy reads and allows);
   * with it off, a string, an INSERT and a comment.
   */
  const smuggled = (name: string) =>
    `SELECT 'x\\' , '; INSERT INTO sales.customers (name, email, region) VALUES ($h$${name}$h$, $h$h@example.com$h$, $h$eu$h$); --'`;
  const written = (name: string) =>
    postgres.psql(`SELECT count(*) FROM sales.customers WHERE name LIKE '${name}%'`);
  const bob = () =>
    WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "bob@example.com",
      password: engineer,
      database: "app",
    });

  it("refuses a Parse with a backslash after an Execute in the same sequence", async () => {
    const c = await bob();
    c.send(
      serialize.parse({ text: "SELECT v FROM sales.scs_off" }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.parse({ text: insert("same-sequence") }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.sync(),
    );
    const answered = await c.untilReady();
    expect(summary(answered)).toEqual([
      "parseComplete",
      "bindComplete",
      "dataRow",
      "complete SELECT 1",
      "error 42501",
      "ready I",
    ]);
    expect(answered.find((m) => m.name === "error")?.message).toMatch(/backslash after an Execute/);
    // the denial failed the sequence's implicit transaction: the hidden change was rolled back with it
    expect(await show(c, "standard_conforming_strings")).toBe("on");
    c.end();
    expect(await written("same-sequence")).toBe("0");
  });

  it("holds a text with a backslash pipelined after a Sync until the answers before it are in", async () => {
    const c = await bob();
    c.send(
      serialize.parse({ text: "SELECT v FROM sales.scs_off" }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.sync(),
      serialize.query(smuggled("next-cycle")),
    );
    expect(await c.closed()).toBe(true);
    expect(summary(c.pending()).at(-1)).toBe("error 0A000");
    expect(await written("next-cycle")).toBe("0");
  });

  it("a backslash after an Execute is fine once a Sync came between (separate writes)", async () => {
    const c = await bob();
    c.send(...[serialize.parse({ text: "SELECT 1" }), serialize.bind({}), serialize.execute({})]);
    c.send(serialize.sync());
    await c.untilReady();
    c.send(serialize.query(insert("fine")));
    expect(summary(await c.untilReady())).toEqual(["complete INSERT 0 1", "ready I"]);
    expect(await written("fine")).toBe("1");
    c.end();
  });

  it("keeps a session whose encoding changes to a safe one", async () => {
    const c = await connect();
    c.send(serialize.query("SELECT v FROM sales.encoding_latin1"));
    const answered = await c.untilReady();
    expect(summary(answered)).toContain("parameterStatus");
    expect(await show(c, "client_encoding")).toBe("LATIN1");
    c.end();
  });

  it("other sessions carry on", async () => {
    const c = await connect();
    expect(await show(c, "standard_conforming_strings")).toBe("on");
    c.end();
  });
});
