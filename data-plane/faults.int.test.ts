/**
 * Faults with real processes: PostgreSQL restarted (and crashed) under load through the proxy, and a
 * client that never reads its results. Real data plane, PostgreSQL, OIDC provider, node-postgres.
 */
import pg from "pg";
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";
import { WireClient } from "../test/harness/wire-client.js";

async function waitFor(check: () => Promise<boolean> | boolean, boundMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

interface Worker {
  ok: number;
  /** SQLSTATEs (or "none") of the errors each client got before it gave up. */
  errors: string[];
  done: Promise<void>;
}

/** One node-postgres client running queries through the proxy until `stop()` or its first error. */
function worker(stack: ProxyStack, token: string, stopped: () => boolean): Worker {
  const w: Worker = { ok: 0, errors: [], done: Promise.resolve() };
  w.done = (async () => {
    const client = new pg.Client({
      host: "127.0.0.1",
      port: stack.port,
      user: "someone@example.com",
      password: token,
      database: "app",
      ssl: { rejectUnauthorized: false },
    });
    client.on("error", (e) => w.errors.push((e as { code?: string }).code ?? "none"));
    await client.connect();
    try {
      while (!stopped()) {
        await client.query("SELECT count(*) FROM generate_series(1, 20000)");
        w.ok++;
      }
    } catch (err) {
      w.errors.push((err as { code?: string }).code ?? "none");
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return w;
}

describe("PostgreSQL restarted under load", () => {
  let stack: ProxyStack;
  let tokens: string[];
  beforeAll(async () => {
    stack = await startProxyStack();
    tokens = await Promise.all([USERS.alice, USERS.bob, USERS.carol].map((u) => stack.token(u)));
  });
  afterAll(async () => {
    await stack?.stop();
  });

  for (const crash of [false, true]) {
    it(`${crash ? "crashed (SIGKILL)" : "restarted (fast shutdown)"}: clients get a FATAL with a SQLSTATE, new sessions work without restarting the proxy`, async () => {
      let stop = false;
      const workers = Array.from({ length: 6 }, (_, i) =>
        worker(stack, tokens[i % tokens.length]!, () => stop),
      );
      expect(await waitFor(() => workers.every((w) => w.ok > 2))).toBe(true);
      await stack.pg.restart({ crash });
      await Promise.race([
        Promise.all(workers.map((w) => w.done)),
        new Promise((r) => setTimeout(r, 30_000)),
      ]);
      stop = true;
      await Promise.all(workers.map((w) => w.done));
      for (const w of workers) {
        // every client was cut, each with a clean error: the server's 57P01 on a shutdown, the proxy's
        // 08006 when the server vanished without a word; never a connection that just ends
        expect(w.errors.length).toBeGreaterThan(0);
        expect(crash ? ["08006", "57P01"] : ["57P01", "08006"]).toContain(w.errors[0]);
      }
      // the proxy recovers by itself: every role logs in again (pooled sessions of the old server dropped)
      for (const token of tokens) {
        expect(
          await waitFor(async () => {
            const client = await stack.client(token);
            try {
              const { rows } = await client.query("SELECT 1 AS v");
              return rows[0]?.v === 1;
            } finally {
              await client.end().catch(() => {});
            }
          }),
        ).toBe(true);
      }
    });
  }
});

describe("a client that never reads its results", () => {
  let stack: ProxyStack;
  let token: string;
  beforeAll(async () => {
    stack = await startProxyStack();
    token = await stack.token(USERS.carol);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("holds a bounded backlog for it (backpressure pauses the upstream), and the result is whole once it reads", async () => {
    const client = await WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "someone",
      password: token,
      database: "app",
    });
    client.socket.pause(); // reads nothing more
    const rowsWanted = 200_000;
    const width = 1_000; // about 200 MB of rows
    client.send(serialize.query(`SELECT repeat('x', ${width}) AS v FROM generate_series(1, ${rowsWanted})`));
    // the server ends up blocked writing to the proxy: the whole chain is backed up
    expect(
      await waitFor(async () => {
        const out = await stack.pg.psql(
          "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'ClientWrite' AND query LIKE 'SELECT repeat%'",
        );
        return out.trim() === "1";
      }),
    ).toBe(true);
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      samples.push(Math.max(0, ...stack.proxy.dataPlane.clientBacklogs()));
      await new Promise((r) => setTimeout(r, 100));
    }
    const total = rowsWanted * width;
    console.log(
      `backlog held for the client that does not read: max ${Math.max(...samples)} bytes of a ${total}-byte result`,
    );
    expect(Math.max(...samples)).toBeLessThan(8 * 1024 * 1024);
    // reading again delivers every row
    client.socket.resume();
    let rows = 0;
    for (;;) {
      const m = await client.next(60_000);
      if (m.name === "dataRow") rows++;
      if (m.name === "readyForQuery") break;
    }
    expect(rows).toBe(rowsWanted);
    client.end();
  });
});
