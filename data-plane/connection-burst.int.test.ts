/**
 * Connection bursts never fail: pgbench -C (a new connection for every transaction) with the default
 * policy deciding every statement, and 200 node-postgres clients connecting at once, through a real
 * data plane (pooling on, as by default) to a real PostgreSQL. Every connection must be established.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolchain } from "../common/toolchain.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";

let postgres: LocalPostgres;
let stack: ProxyStack;
let token: string;

beforeAll(async () => {
  postgres = await startPostgres();
  stack = await startProxyStack({ pg: postgres });
  token = await stack.token(USERS.alice, { lifetimeSeconds: 3600 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await postgres?.stop();
});

function run(command: string, args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env } });
    const out: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => out.push(c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out: Buffer.concat(out).toString() }));
  });
}

describe("connection bursts", () => {
  it("pgbench -C: 6 clients, a new connection per transaction, none aborted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "burst-"));
    const script = join(dir, "read.sql");
    writeFileSync(script, "SELECT count(*) FROM sales.orders WHERE id < 10;\n");
    const result = await run(
      toolchain().pgbench,
      [
        "-n",
        "-C",
        "-c",
        "6",
        "-t",
        "40",
        "-f",
        script,
        "-h",
        "127.0.0.1",
        "-p",
        String(stack.port),
        "-U",
        "alice",
        "app",
      ],
      { PGPASSWORD: token, PGSSLMODE: "require", PGCONNECT_TIMEOUT: "20" },
    );
    expect(result.out).not.toMatch(/aborted/);
    expect(result.code, result.out).toBe(0);
    expect(result.out).toMatch(/number of transactions actually processed: 240\/240/);
    expect(result.out).toMatch(/number of failed transactions: 0 \(0\.000%\)/);
  }, 180_000);

  it("a client gets in when the pooled upstream sessions' backends were terminated meanwhile", async () => {
    const first = await Promise.all(Array.from({ length: 4 }, () => stack.client(token)));
    await Promise.all(first.map((c) => c.end()));
    // wait until they are back in the pool, reset
    for (let i = 0; i < 100 && (stack.proxy.dataPlane.pool?.size ?? 0) < 4; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await postgres.psql(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'analyst'",
    );
    const next = await Promise.all(Array.from({ length: 4 }, () => stack.client(token)));
    for (const c of next) expect((await c.query("SELECT 1 AS one")).rows[0].one).toBe(1);
    await Promise.all(next.map((c) => c.end()));
  });

  it("200 node-postgres clients connecting at once all get in", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, async () => {
        const client = await stack.client(token);
        try {
          return (await client.query("SELECT 1 AS one")).rows[0].one as number;
        } finally {
          await client.end();
        }
      }),
    );
    const failed = results.filter((r) => r.status === "rejected");
    expect(failed.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(results.every((r) => r.status === "fulfilled" && r.value === 1)).toBe(true);
  }, 180_000);
});
