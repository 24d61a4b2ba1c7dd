/**
 * What node-postgres's own test suite found through the proxy (bench/driver-suite.ts), each answered
 * the way PostgreSQL answers: start-up `options`, several statements in one Parse, a Terminate before
 * authentication completes.
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import pg from "pg";
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";
import { startupMessage } from "./upstream/upstream-connection.js";

/** Sends `bytes` on a fresh TCP connection and returns everything received until the server closed. */
async function rawExchange(port: number, bytes: Buffer, timeoutMs = 15_000): Promise<Buffer | "timeout"> {
  const socket = netConnect(port, "127.0.0.1");
  return collectUntilClose(socket, timeoutMs, () => socket.write(bytes));
}

function collectUntilClose(
  socket: Socket,
  timeoutMs: number,
  onConnect?: () => void,
): Promise<Buffer | "timeout"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("timeout");
    }, timeoutMs);
    if (onConnect) socket.once("connect", onConnect);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

async function outcome(client: pg.Client, sql: string, extended = false) {
  try {
    // queryMode "extended" (node-postgres 8.12+) sends Parse/Bind/Execute even without parameters
    const config = { text: sql, ...(extended ? { queryMode: "extended" } : {}) } as pg.QueryConfig;
    const result = await client.query(config);
    return { ok: true as const, rows: result.rows as Record<string, unknown>[] };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { ok: false as const, code: e.code, message: e.message };
  }
}

describe("driver compatibility: answered as PostgreSQL answers", () => {
  let stack: ProxyStack;
  let token: string;
  beforeAll(async () => {
    stack = await startProxyStack();
    token = await stack.token(USERS.carol); // admin: unrestricted, as the driver suite runs
  });
  afterAll(async () => {
    await stack?.stop();
  });

  function proxyClient(extra: Partial<pg.ClientConfig> = {}): pg.Client {
    return new pg.Client({
      host: "127.0.0.1",
      port: stack.port,
      user: "someone@example.com",
      password: token,
      database: "app",
      ssl: { rejectUnauthorized: false },
      ...extra,
    });
  }

  it("start-up options: forwards harmless -c/-- settings it can track and refuses the rest by name, never drops one (search_path: startup-search-path.int.test.ts)", async () => {
    const client = proxyClient({
      options: "--default_transaction_isolation=serializable -c statement_timeout=5s",
    });
    await client.connect();
    try {
      expect(await outcome(client, "SHOW default_transaction_isolation")).toEqual({
        ok: true,
        rows: [{ default_transaction_isolation: "serializable" }],
      });
      expect(await outcome(client, "SHOW statement_timeout")).toEqual({
        ok: true,
        rows: [{ statement_timeout: "5s" }],
      });
    } finally {
      await client.end();
    }
    for (const options of ["-c role=analyst", "-c standard_conforming_strings=off", "-d 5"]) {
      const refused = proxyClient({ options });
      const err = await refused.connect().then(
        () => undefined,
        (e: { code?: string; message: string; severity?: string }) => e,
      );
      await refused.end().catch(() => {});
      expect(err?.code, options).toBe("0A000");
      expect(err?.message, options).toContain(`start-up option "${options.split(" ")[0]}`);
    }
  });

  it("several statements in one Parse: 42601 with the server's message, as PostgreSQL answers", async () => {
    const direct = new pg.Client({
      connectionString: stack.pg.url("admin", "app"),
      ssl: { rejectUnauthorized: false },
    });
    await direct.connect();
    const viaProxy = proxyClient();
    await viaProxy.connect();
    try {
      const sql = "SELECT 1 AS a; SELECT 2 AS b";
      const expected = await outcome(direct, sql, true);
      expect(expected).toMatchObject({ ok: false, code: "42601" });
      const got = await outcome(viaProxy, sql, true);
      expect(got).toEqual(expected);
      expect(got.ok ? "" : got.message).toBe("cannot insert multiple commands into a prepared statement");
      // the session goes on
      expect(await outcome(viaProxy, "SELECT 3 AS c", true)).toEqual({ ok: true, rows: [{ c: 3 }] });
      // the simple protocol runs both, as the server does
      expect(await outcome(viaProxy, sql)).toMatchObject({ ok: true });
    } finally {
      await direct.end();
      await viaProxy.end();
    }
  });

  it("a Terminate before authentication completes is answered by a quiet close, as PostgreSQL does", async () => {
    const terminate = Buffer.from([0x58, 0, 0, 0, 4]);
    // before any start-up packet (node-postgres ending a client that is still connecting)
    expect(await rawExchange(stack.pg.port, terminate)).toEqual(Buffer.alloc(0));
    expect(await rawExchange(stack.port, terminate)).toEqual(Buffer.alloc(0));

    // after the StartupMessage, instead of the password
    const raw = netConnect(stack.port, "127.0.0.1");
    await new Promise((resolve) => raw.once("connect", resolve));
    raw.write(serialize.requestSsl());
    await new Promise((resolve) => raw.once("data", resolve));
    const tls = tlsConnect({ socket: raw, rejectUnauthorized: false });
    await new Promise((resolve) => tls.once("secureConnect", resolve));
    const received: Buffer[] = [];
    tls.on("data", (c: Buffer) => received.push(c));
    tls.write(startupMessage({ user: "someone", database: "app" }));
    for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(Buffer.concat(received).subarray(0, 1).toString()).toBe("R"); // AuthenticationCleartextPassword
    received.length = 0;
    const closed = collectUntilClose(tls, 15_000);
    tls.write(terminate);
    expect(await closed).toEqual(Buffer.alloc(0));

    // node-postgres: connect() then end() at once (its quick-disconnect test) reports no error
    const errors: Error[] = [];
    const quick = proxyClient();
    quick.on("error", (e) => errors.push(e));
    quick.connect().catch((e: Error) => errors.push(e));
    await Promise.race([
      quick.end().catch((e: Error) => errors.push(e)),
      new Promise((r) => setTimeout(r, 10_000)),
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(errors.map((e) => e.message)).toEqual([]);
  });
});
