import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";

describe("upstream session pooling", () => {
  let stack: ProxyStack;
  let token: string;
  beforeAll(async () => {
    stack = await startProxyStack();
    token = await stack.token(USERS.bob);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const backendPid = async (
    run: (c: Awaited<ReturnType<ProxyStack["client"]>>) => Promise<void> = async () => {},
  ) => {
    const client = await stack.client(token);
    const { rows } = await client.query("SELECT pg_backend_pid() AS pid");
    await run(client);
    await client.end();
    await new Promise((r) => setTimeout(r, 100)); // the reset (DISCARD ALL) runs after the client leaves
    return rows[0].pid as number;
  };

  it("gives a cleanly closed session to the next client of the same role, reset", async () => {
    const first = await backendPid(async (c) => {
      await c.query("SET statement_timeout = '5s'");
      await c.query("PREPARE left_behind AS SELECT 1");
      await c.query("LISTEN left_behind");
    });
    const client = await stack.client(token);
    const { rows } = await client.query(
      "SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS t",
    );
    expect(rows[0].pid).toBe(first);
    expect(rows[0].t).toBe("0");
    await expect(client.query("EXECUTE left_behind")).rejects.toThrow(/does not exist/);
    const listening = await client.query("SELECT count(*)::int AS n FROM pg_listening_channels()");
    expect(listening.rows[0].n).toBe(0);
    await client.end();
    expect(stack.proxy.dataPlane.pool?.reused).toBeGreaterThanOrEqual(1);
  });

  it("never reuses a session left inside a transaction, and rolls that transaction back", async () => {
    const pid = await backendPid(async (c) => {
      await c.query("BEGIN");
      await c.query(
        "INSERT INTO sales.customers (name, email, region) VALUES ('pooled?', 'p@example.com', 'eu')",
      );
    });
    const next = await backendPid();
    expect(next).not.toBe(pid);
    const count = await stack.pg.psql("SELECT count(*) FROM sales.customers WHERE name = 'pooled?'");
    expect(count).toBe("0");
  });

  it("keeps sessions of different roles apart", async () => {
    const bobPid = await backendPid();
    const alice = await stack.client(await stack.token(USERS.alice));
    const { rows } = await alice.query("SELECT pg_backend_pid() AS pid, current_user AS role");
    await alice.end();
    expect(rows[0].role).toBe("analyst");
    expect(rows[0].pid).not.toBe(bobPid);
  });
});
