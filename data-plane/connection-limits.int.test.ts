/**
 * Limits every data plane enforces whatever the policy says: client connections per data plane and
 * per token subject (53300, as the server refuses), and sessions idle inside a transaction (25P03, the
 * transaction rolled back). Real data plane, PostgreSQL, OIDC provider and node-postgres.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";

async function open(stack: ProxyStack, token: string) {
  const client = new pg.Client({
    host: "127.0.0.1",
    port: stack.port,
    user: "someone@example.com",
    password: token,
    database: "app",
    ssl: { rejectUnauthorized: false },
  });
  const errors: { code?: string; message: string }[] = [];
  client.on("error", (e) => errors.push(e as { code?: string; message: string }));
  try {
    await client.connect();
    return { ok: true as const, client, errors };
  } catch (err) {
    const e = err as { code?: string; message: string };
    await client.end().catch(() => {});
    return { ok: false as const, code: e.code, message: e.message };
  }
}

async function waitFor(check: () => Promise<boolean> | boolean, boundMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe("connection limits", () => {
  let stack: ProxyStack;
  let alice: string;
  let bob: string;
  beforeAll(async () => {
    stack = await startProxyStack({
      config: { session: { max_client_connections: 4, max_connections_per_subject: 2 } },
    });
    alice = await stack.token(USERS.alice);
    bob = await stack.token(USERS.bob);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("a subject over session.max_connections_per_subject gets 53300 naming it; others and later logins go on", async () => {
    const a1 = await open(stack, alice);
    const a2 = await open(stack, alice);
    expect([a1.ok, a2.ok]).toEqual([true, true]);
    const a3 = await open(stack, alice);
    expect(a3).toMatchObject({ ok: false, code: "53300" });
    expect(a3.ok ? "" : a3.message).toMatch(
      /too many connections for subject "alice".*max_connections_per_subject 2/,
    );
    const b1 = await open(stack, bob);
    expect(b1.ok).toBe(true);
    if (a1.ok) await a1.client.end();
    expect(
      await waitFor(async () => {
        const again = await open(stack, alice);
        if (again.ok) await again.client.end();
        return again.ok;
      }),
    ).toBe(true);
    if (a2.ok) await a2.client.end();
    if (b1.ok) await b1.client.end();
  });

  it("a client over session.max_client_connections gets 53300 too many clients; a slot freed is usable again", async () => {
    const carol = await stack.token(USERS.carol);
    const dave = await stack.token(USERS.dave);
    const held = [
      await open(stack, alice),
      await open(stack, bob),
      await open(stack, carol),
      await open(stack, dave),
    ];
    expect(held.map((h) => h.ok)).toEqual([true, true, true, true]);
    const over = await open(stack, carol);
    expect(over).toMatchObject({ ok: false, code: "53300" });
    expect(over.ok ? "" : over.message).toMatch(/too many clients already/);
    const first = held[0]!;
    if (first.ok) await first.client.end();
    expect(
      await waitFor(async () => {
        const again = await open(stack, carol);
        if (again.ok) await again.client.end();
        return again.ok;
      }),
    ).toBe(true);
    for (const h of held.slice(1)) if (h.ok) await h.client.end();
  });
});

describe("idle in transaction", () => {
  let stack: ProxyStack;
  let carol: string;
  beforeAll(async () => {
    stack = await startProxyStack({ config: { session: { idle_in_transaction_timeout_ms: 1_000 } } });
    carol = await stack.token(USERS.carol);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("a session idle inside a transaction past the limit gets FATAL 25P03, and its transaction is rolled back", async () => {
    const name = `idle_${Date.now()}`;
    const s = await open(stack, carol);
    expect(s.ok).toBe(true);
    if (!s.ok) return;
    // the client's own setting does not lift the proxy's limit
    await s.client.query("SET idle_in_transaction_session_timeout = 0");
    await s.client.query("BEGIN");
    await s.client.query(`CREATE TABLE public.${name} (id int)`);
    expect(await waitFor(() => s.errors.length > 0)).toBe(true);
    expect(s.errors[0]).toMatchObject({ code: "25P03" });
    expect(s.errors[0]!.message).toBe("terminating connection due to idle-in-transaction timeout");
    // rolled back: the table never existed for anyone else, and no backend stays idle in transaction
    expect(
      await waitFor(async () => {
        const out = await stack.pg.psql(
          `SELECT to_regclass('public.${name}') IS NULL AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND usename = 'admin')`,
        );
        return out.trim() === "t";
      }),
    ).toBe(true);
    await s.client.end().catch(() => {});
  });

  it("a session idle outside a transaction, or busy inside one, is left alone", async () => {
    const s = await open(stack, carol);
    expect(s.ok).toBe(true);
    if (!s.ok) return;
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await s.client.query("SELECT 1 AS v")).rows).toEqual([{ v: 1 }]);
    await s.client.query("BEGIN");
    // a statement in flight is not idleness, whatever it takes
    await s.client.query("SELECT count(*) FROM generate_series(1, 3000000)");
    await s.client.query("COMMIT");
    expect(s.errors).toEqual([]);
    await s.client.end();
  });
});
