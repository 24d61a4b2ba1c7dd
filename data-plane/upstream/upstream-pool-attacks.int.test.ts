/**
 * What a client leaves in its upstream session when it goes, through a real data plane with pooling
 * in front of a real PostgreSQL: a session given to the next client of the same role must not carry
 * the work of the one before, and a client that leaves must get what PostgreSQL gives a client that
 * leaves (work it never ended with a Sync or COMMIT is rolled back, not committed by the pool's reset).
 */
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../test/harness/git-repo.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { rows, WireClient } from "../../test/harness/wire-client.js";

describe("a pooled session after a client that left mid-pipeline", () => {
  let stack: ProxyStack;
  let token: string;
  beforeAll(async () => {
    stack = await startProxyStack();
    token = await stack.token(USERS.bob);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const bob = () =>
    WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "bob@example.com",
      password: token,
      database: "app",
    });

  async function leavesWith(messages: Buffer[], name: string): Promise<void> {
    const c = await bob();
    c.send(...messages, serialize.flush());
    // the INSERT ran (its CommandComplete came back), in a transaction no Sync has ended
    for (;;) {
      const m = await c.next();
      if (m.name === "commandComplete" || m.name === "error") break;
    }
    c.send(serialize.end());
    expect(await c.closed()).toBe(true);
    // once no backend of the role holds a transaction open (the pool reset it, or closed it), the
    // client's work is over one way or the other: it must have been rolled back
    await eventually(async () => {
      const open = await stack.pg.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app_rw' AND xact_start IS NOT NULL",
      );
      return open === "0";
    }, "the transaction the client left to end");
    const count = await stack.pg.psql(`SELECT count(*) FROM sales.customers WHERE name = '${name}'`);
    expect(count).toBe("0");
  }

  it("an INSERT executed without Sync before Terminate is rolled back, not committed by the reset", async () => {
    await leavesWith(
      [
        serialize.parse({
          text: "INSERT INTO sales.customers (name, email, region) VALUES ('unsynced', 'u@example.com', 'eu')",
        }),
        serialize.bind({}),
        serialize.execute({}),
      ],
      "unsynced",
    );
  });

  it("the next client of the role starts clean after it", async () => {
    const c = await bob();
    c.send(serialize.query("SHOW search_path"));
    expect(rows(await c.untilReady())).toEqual([['"$user", public']]);
    c.end();
  });
});
