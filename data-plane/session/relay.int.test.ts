/**
 * The relay carries the whole PostgreSQL protocol, not only what the statement gate decides: binary
 * parameters, results much larger than a socket read (rows in the hundreds of thousands, single values
 * of megabytes, masked or not), COPY both ways, asynchronous notifications, query cancel with the keys
 * the proxy issued, pgbench in its three query modes, and Terminate. Everything runs through a real data
 * plane to a real PostgreSQL, and what comes out is compared with the same query run directly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolchain } from "../../common/toolchain.js";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { rows as dataRows, sendCancel, summary, WireClient } from "../../test/harness/wire-client.js";

type User = "alice" | "bob" | "carol";

let postgres: LocalPostgres;
let stack: ProxyStack;
const tokens = {} as Record<User, string>;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a program to completion, keeping all of its output (no buffer limit). */
function runProgram(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; started?: (child: ChildProcess) => void } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, PGCONNECT_TIMEOUT: "10", ...opts.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }),
    );
    child.stdin.end(opts.input ?? "");
    opts.started?.(child);
  });
}

/** psql through the proxy as `user`. */
function proxyPsql(user: User, args: string[], opts: Parameters<typeof runProgram>[2] = {}) {
  return runProgram(
    toolchain().psql,
    ["-X", "-v", "ON_ERROR_STOP=1", "-d", stack.url(tokens[user]), ...args],
    opts,
  );
}

/** psql directly on PostgreSQL as the superuser. */
function directPsql(args: string[], opts: Parameters<typeof runProgram>[2] = {}) {
  return runProgram(toolchain().psql, ["-X", "-v", "ON_ERROR_STOP=1", "-d", postgres.url(), ...args], {
    ...opts,
    env: { PGSSLMODE: "disable", ...opts.env },
  });
}

const md5 = (data: Buffer | string) => createHash("md5").update(data).digest("hex");

/** Polls PostgreSQL until a backend is running `query` (as the cancel tests need), at most ~20 s. */
async function waitUntilRunning(query: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const n = await postgres.psql(
      `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = '${query.replace(/'/g, "''")}'`,
    );
    if (n !== "0") return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${query} never started`);
}

beforeAll(async () => {
  postgres = await startPostgres();
  // pgbench's tables in schema sales, made directly on PostgreSQL before the proxy reads its catalog
  const init = await runProgram(toolchain().pgbench, ["-i", "-s", "1", "-q", postgres.url()], {
    env: { PGSSLMODE: "disable", PGOPTIONS: "-c search_path=sales" },
  });
  expect(init.code, init.stderr).toBe(0);
  await postgres.psql(`
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sales TO app_rw;
    ALTER ROLE app_rw IN DATABASE app SET search_path = sales, public;`);
  stack = await startProxyStack({ pg: postgres });
  for (const user of ["alice", "bob", "carol"] as const) {
    tokens[user] = await stack.token(USERS[user], { lifetimeSeconds: 3600 });
  }
});

afterAll(async () => {
  // clients a failed test left open must not see the shutdown as an unhandled error
  await Promise.all(openClients.map((c) => c.end().catch(() => {})));
  await stack?.stop();
  await postgres?.stop();
});

const openClients: { end(): Promise<void> }[] = [];

/** A node-postgres client through the proxy, ended by afterAll if a test does not. */
async function connectPg(user: User) {
  const c = await stack.client(tokens[user]);
  c.on("error", () => {});
  openClients.push(c);
  return c;
}

const wire = (user: User) =>
  WireClient.connect({
    host: "127.0.0.1",
    port: stack.port,
    user: `${user}@example.com`,
    password: tokens[user],
    database: "app",
  });

describe("extended protocol with binary parameters", () => {
  it("carries a 1 MiB bytea parameter in binary format (node-postgres)", async () => {
    const client = await connectPg("alice");
    const blob = randomBytes(1 << 20);
    const { rows } = await client.query("SELECT length($1::bytea) AS n, md5($1::bytea) AS h", [blob]);
    expect(rows[0]).toEqual({ n: 1 << 20, h: md5(blob) });
    await client.end();
  });

  it("carries binary int4 parameters and returns binary results when asked", async () => {
    const c = await wire("alice");
    const int4 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      return b;
    };
    c.send(
      serialize.parse({ name: "add", text: "SELECT $1::int4 + $2::int4 AS sum", types: [23, 23] }),
      serialize.bind({ statement: "add", values: [int4(40), int4(2)] }),
      serialize.execute({}),
      serialize.bind({ statement: "add", values: [int4(0x30313230), int4(3)], binary: true }),
      serialize.execute({}),
      serialize.sync(),
    );
    const answered = await c.untilReady();
    expect(summary(answered)).toEqual([
      "parseComplete",
      "bindComplete",
      "dataRow",
      "complete SELECT 1",
      "bindComplete",
      "dataRow",
      "complete SELECT 1",
      "ready I",
    ]);
    const values = dataRows(answered);
    expect(values[0]).toEqual(["42"]);
    // the binary result: 0x30313233 as a big-endian int4, bytes the parser hands over as text "0123"
    expect(values[1]).toEqual(["0123"]);
    c.end();
  });
});

describe("large results", () => {
  it("relays 200,000 rows byte for byte (psql, simple protocol)", async () => {
    const sql = "SELECT g, md5(g::text) FROM generate_series(1, 200000) AS g";
    const [proxied, direct] = await Promise.all([
      proxyPsql("alice", ["-A", "-t", "-c", sql]),
      directPsql(["-A", "-t", "-c", sql]),
    ]);
    expect(proxied.code, proxied.stderr).toBe(0);
    expect(proxied.stdout.toString().split("\n")).toHaveLength(200_001);
    expect(md5(proxied.stdout)).toBe(md5(direct.stdout));
  });

  it("masks every one of 200,000 rows and leaves the rest intact (node-postgres, extended protocol)", async () => {
    const client = await connectPg("carol");
    const sql =
      "SELECT e.id, e.ssn, s.g FROM hr.employees e CROSS JOIN generate_series(1, 50000) AS s(g) WHERE e.id > $1 ORDER BY e.id, s.g";
    const result = await client
      .query({ text: sql, values: [0], rowMode: "array" })
      .finally(() => client.end());
    expect(result.rows).toHaveLength(200_000);
    const proxied = md5(result.rows.map((r) => r.join("|")).join("\n"));
    const direct = await directPsql([
      "-A",
      "-t",
      "-c",
      "SELECT e.id, '***', g FROM hr.employees e CROSS JOIN generate_series(1, 50000) AS g ORDER BY e.id, g",
    ]);
    expect(proxied).toBe(md5(direct.stdout.toString().trimEnd()));
  });

  it("relays a 5 MiB value in one row, both ways, and masks a column beside one", async () => {
    const size = 5 * 1024 * 1024;
    const sql = `SELECT repeat('x', ${size}) || 'end' AS v`;
    const [proxied, direct] = await Promise.all([
      proxyPsql("alice", ["-A", "-t", "-c", sql]),
      directPsql(["-A", "-t", "-c", sql]),
    ]);
    expect(proxied.stdout.length).toBe(size + 4);
    expect(md5(proxied.stdout)).toBe(md5(direct.stdout));

    const client = await connectPg("carol");
    const big = randomBytes(size / 2).toString("hex");
    const echo = await client.query("SELECT $1::text AS v, md5($1::text) AS h", [big]);
    expect(echo.rows[0].v.length).toBe(big.length);
    expect(md5(echo.rows[0].v)).toBe(md5(big));
    expect(echo.rows[0].h).toBe(md5(big));
    const masked = await client.query(
      `SELECT ssn, repeat(name, 400000) AS long_name FROM hr.employees WHERE id = $1`,
      [1],
    );
    expect(masked.rows[0].ssn).toBe("***");
    expect(masked.rows[0].long_name).toBe("Alice Analyst".repeat(400_000));
    await client.end();
  });
});

describe("COPY through the proxy", () => {
  it("loads rows with \\copy … FROM STDIN (psql) exactly as sent", async () => {
    const lines = Array.from(
      { length: 1000 },
      (_, i) => `bulk ${String(i).padStart(4, "0")}\tbulk${i}@example.com\teu`,
    );
    const run = await proxyPsql("bob", ["-c", "\\copy sales.customers (name, email, region) FROM pstdin"], {
      input: `${lines.join("\n")}\n\\.\n`,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.toString().trim()).toBe("COPY 1000");
    const stored = await postgres.psql(
      "SELECT count(*) || ' ' || md5(string_agg(name || E'\\t' || email || E'\\t' || region, E'\\n' ORDER BY name)) FROM sales.customers WHERE name LIKE 'bulk %'",
    );
    expect(stored).toBe(`1000 ${md5([...lines].sort().join("\n"))}`);
  });

  it("loads rows with a COPY … FROM STDIN statement, and refuses to load without write rights", async () => {
    const data = "copy a\ta@example.com\tus\ncopy b\tb@example.com\tap\n\\.\n";
    const ok = await proxyPsql("bob", ["-c", "COPY sales.customers (name, email, region) FROM STDIN"], {
      input: data,
    });
    expect(ok.stdout.toString().trim()).toBe("COPY 2");
    const denied = await proxyPsql("alice", ["-c", "COPY sales.customers (name, email, region) FROM STDIN"], {
      input: data,
    });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(
      /permission denied by Portcullis policy: role analyst may not write sales\.customers/,
    );
    expect(await postgres.psql("SELECT count(*) FROM sales.customers WHERE name LIKE 'copy _'")).toBe("2");
  });

  it("unloads with COPY … TO STDOUT and \\copy … TO STDOUT exactly as PostgreSQL does", async () => {
    for (const sql of [
      "COPY (SELECT * FROM sales.orders ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)",
      "\\copy (SELECT id, name, email, region FROM sales.customers ORDER BY id) TO pstdout",
    ]) {
      const [proxied, direct] = await Promise.all([proxyPsql("alice", ["-c", sql]), directPsql(["-c", sql])]);
      expect(proxied.code, proxied.stderr).toBe(0);
      expect(proxied.stdout.length).toBeGreaterThan(10_000);
      expect(md5(proxied.stdout)).toBe(md5(direct.stdout));
    }
  });

  it("ends a COPY the client fails (CopyFail) with nothing loaded, and the session goes on", async () => {
    const c = await wire("bob");
    c.send(serialize.query("COPY sales.customers (name, email, region) FROM STDIN"));
    expect((await c.next()).name).toBe("copyInResponse");
    c.send(
      serialize.copyData(Buffer.from("failed copy\tf@example.com\teu\n")),
      serialize.copyFail("changed my mind"),
    );
    const answered = await c.untilReady();
    expect(summary(answered)).toEqual(["error 57014", "ready I"]);
    expect(answered[0]!.message).toMatch(/changed my mind/);
    expect(await postgres.psql("SELECT count(*) FROM sales.customers WHERE name = 'failed copy'")).toBe("0");
    c.send(serialize.query("SELECT 'alive'"));
    expect(dataRows(await c.untilReady())).toEqual([["alive"]]);
    c.end();
  });
});

describe("LISTEN/NOTIFY", () => {
  it("delivers notifications between two sessions through the proxy", async () => {
    const listener = await connectPg("bob");
    const notifier = await connectPg("bob");
    const received: { channel: string; payload: string | undefined }[] = [];
    const two = new Promise<void>((resolve) =>
      listener.on("notification", (n) => {
        received.push({ channel: n.channel, payload: n.payload });
        if (received.length === 2) resolve();
      }),
    );
    await listener.query("LISTEN orders_changed");
    await notifier.query("NOTIFY orders_changed, 'order 7'");
    await notifier.query("SELECT pg_notify($1, $2)", ["orders_changed", "order 8"]);
    await two;
    expect(received).toEqual([
      { channel: "orders_changed", payload: "order 7" },
      { channel: "orders_changed", payload: "order 8" },
    ]);
    await listener.query("UNLISTEN *");
    await Promise.all([listener.end(), notifier.end()]);
  });
});

/**
 * A running query without pg_sleep (which the default policy no longer allows analysts): the
 * superuser holds an exclusive lock on sales.orders, so an analyst's read of it waits until released.
 */
const WAITING_READ = "SELECT count(*) FROM sales.orders";

async function lockOrders(): Promise<{ release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: postgres.url() });
  await holder.connect();
  await holder.query("BEGIN");
  await holder.query("LOCK TABLE sales.orders IN ACCESS EXCLUSIVE MODE");
  return {
    async release() {
      await holder.query("COMMIT").catch(() => undefined);
      await holder.end();
    },
  };
}

describe("query cancel", () => {
  it("cancels psql's running query on SIGINT with the key the proxy issued", async () => {
    const lock = await lockOrders();
    try {
      const run = await proxyPsql("alice", ["-c", WAITING_READ], {
        started: (child) => {
          void waitUntilRunning(WAITING_READ).finally(() => child.kill("SIGINT"));
        },
      });
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/canceling statement due to user request/);
    } finally {
      await lock.release();
    }
  });

  it("ignores a CancelRequest with a wrong secret key or process id, honours the right one", async () => {
    const c = await wire("alice");
    const first = await lockOrders();
    c.send(serialize.query(WAITING_READ));
    await waitUntilRunning(WAITING_READ);
    await sendCancel("127.0.0.1", stack.port, c.processId, c.secretKey ^ 0x5a5a5a5a);
    await sendCancel("127.0.0.1", stack.port, c.processId ^ 1, c.secretKey);
    // give a wrongly honoured cancel time to land before the query may finish
    await new Promise((r) => setTimeout(r, 300));
    await first.release();
    expect(summary(await c.untilReady())).toEqual([
      "rowDescription",
      "dataRow",
      "complete SELECT 1",
      "ready I",
    ]);
    const second = await lockOrders();
    c.send(serialize.query(WAITING_READ));
    await waitUntilRunning(WAITING_READ);
    await sendCancel("127.0.0.1", stack.port, c.processId, c.secretKey);
    const canceled = await c.untilReady();
    await second.release();
    expect(summary(canceled).at(-2)).toBe("error 57014");
    c.send(serialize.query("SELECT 'alive'"));
    expect(dataRows(await c.untilReady())).toEqual([["alive"]]);
    c.end();
  });
});

describe("pgbench through the proxy", () => {
  for (const mode of ["simple", "extended", "prepared"] as const) {
    it(`runs 4 clients × 200 read-only transactions in ${mode} mode without a failure`, async () => {
      const run = await runProgram(
        toolchain().pgbench,
        [
          "-n",
          "-S",
          "-t",
          "200",
          "-c",
          "4",
          "-M",
          mode,
          "-h",
          "127.0.0.1",
          "-p",
          String(stack.port),
          "-U",
          "bob",
          "app",
        ],
        { env: { PGPASSWORD: tokens.bob, PGSSLMODE: "require" } },
      );
      const out = run.stdout.toString();
      expect(run.code, `${out}\n${run.stderr}`).toBe(0);
      expect(out).toMatch(/number of transactions actually processed: 800\/800/);
      expect(out).toMatch(/number of failed transactions: 0 \(0\.000%\)/);
      const tps = /tps = ([\d.]+)/.exec(out)?.[1];
      console.log(`pgbench -M ${mode} through the proxy: ${tps} tps`);
    });
  }
});

describe("Terminate", () => {
  it("ends the session cleanly: the proxy closes the connection and forgets the session", async () => {
    const before = stack.proxy.dataPlane.registry.size;
    const c = await wire("bob");
    c.send(serialize.query("SELECT 1"));
    await c.untilReady();
    expect(stack.proxy.dataPlane.registry.size).toBe(before + 1);
    c.send(serialize.end());
    expect(await c.closed()).toBe(true);
    expect(c.pending().filter((m) => m.name === "error")).toEqual([]);
    for (let i = 0; i < 50 && stack.proxy.dataPlane.registry.size !== before; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(stack.proxy.dataPlane.registry.size).toBe(before);
  });

  it("lets node-postgres and psql end their sessions without an error", async () => {
    const client = await connectPg("alice");
    await client.query("SELECT 1");
    await expect(client.end()).resolves.toBeUndefined();
    const run = await proxyPsql("alice", ["-c", "SELECT 1"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
  });
});
