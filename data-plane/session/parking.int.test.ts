/**
 * Parking (session.park_idle_after_ms): a session that has sent nothing since its login gives its
 * upstream session back to the pool while idle, so idle clients hold no database backend, and takes
 * one in the same start-up state at its next message. Real data plane, real PostgreSQL, node-postgres
 * clients; what the server sees is read from pg_stat_activity.
 */
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";

const PARK_AFTER_MS = 150;
/** The pool's own limit of idle upstream sessions per role and database (upstream.pool). */
const MAX_IDLE = 4;

let postgres: LocalPostgres;
let stack: ProxyStack;
let alice: string;
const open: pg.Client[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
  stack = await startProxyStack({
    pg: postgres,
    config: {
      session: { park_idle_after_ms: PARK_AFTER_MS },
      upstream: {
        host: postgres.host,
        port: postgres.port,
        tls: "require",
        roles: { analyst: { password_file: await passwordFile(postgres.passwords.analyst) } },
        pool: { max_idle_per_key: MAX_IDLE },
      },
    },
  });
  alice = await stack.token(USERS.alice, { lifetimeSeconds: 3600 });
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.end().catch(() => {})));
  await stack?.stop();
  await postgres?.stop();
});

async function passwordFile(password: string): Promise<string> {
  const { mkdtemp, writeFile } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const file = join(await mkdtemp(join(tmpdir(), "portcullis-parking-")), "analyst.password");
  await writeFile(file, password, { mode: 0o600 });
  return file;
}

async function connect(): Promise<pg.Client> {
  const client = await stack.client(alice);
  client.on("error", () => {});
  open.push(client);
  return client;
}

/** The analyst role's session backends on the server (the pool's idle ones included; not the catalog's). */
const analystBackends = async () =>
  Number(
    await postgres.psql(
      "SELECT count(*) FROM pg_stat_activity WHERE usename = 'analyst' AND application_name <> 'portcullis-catalog'",
    ),
  );

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const parked = async () => (await stack.proxy.metrics.parkedSessions.get()).values[0]?.value ?? 0;

describe("parking idle sessions", () => {
  it("idle clients hold no backend beyond the pool's own, and each wakes in its start-up state", async () => {
    const clients = await Promise.all(Array.from({ length: 12 }, () => connect()));
    await until("every session parked", async () => (await parked()) === 12);
    // the pool keeps MAX_IDLE of the twelve upstream sessions; the rest are closed
    await until(
      "the backends the pool does not keep closed",
      async () => (await analystBackends()) <= MAX_IDLE,
    );

    const answers = await Promise.all(
      clients.map((c) =>
        c.query<{ who: string; path: string; one: number }>(
          "SELECT current_user AS who, current_setting('search_path') AS path, 1 AS one",
        ),
      ),
    );
    for (const { rows } of answers)
      expect(rows[0]).toEqual({ who: "analyst", path: '"$user", public', one: 1 });
    expect(await parked()).toBe(0);
    expect(await analystBackends()).toBeGreaterThanOrEqual(12);
    await Promise.all(clients.map((c) => c.end()));
  });

  it("a session that has run a statement keeps its backend (what it set lives there)", async () => {
    const client = await connect();
    await client.query("SET statement_timeout = '12s'");
    const before = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    await new Promise((r) => setTimeout(r, PARK_AFTER_MS * 4));
    const after = await client.query<{ pid: number; timeout: string }>(
      "SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS timeout",
    );
    expect(after.rows[0]).toEqual({ pid: before, timeout: "12s" });
    await client.end();
  });

  it("the statement policy decides after a wake as before it", async () => {
    const client = await connect();
    await until("the session parked", async () => (await parked()) >= 1);
    await expect(client.query("SELECT rolpassword FROM pg_catalog.pg_authid")).rejects.toMatchObject({
      code: "42501",
    });
    const { rows } = await client.query<{ n: number }>("SELECT 2 AS n");
    expect(rows[0]).toEqual({ n: 2 });
    await client.end();
  });

  it("a parked session is cut by a revocation like any other", async () => {
    const client = await connect();
    const ended = new Promise<Error | undefined>((resolve) => {
      client.once("error", resolve);
      client.once("end", () => resolve(undefined));
    });
    await until("the session parked", async () => (await parked()) >= 1);
    const processId = (client as unknown as { processID: number }).processID;
    const session = stack.proxy.dataPlane.registry.all().find((s) => s.processId === processId);
    expect(session).toBeDefined();
    session!.terminate("57P01", "session revoked");
    const err = await ended;
    expect((err as { code?: string } | undefined)?.code ?? "57P01").toBe("57P01");
    await until("the gauge back to zero", async () => (await parked()) === 0);
  });
});
