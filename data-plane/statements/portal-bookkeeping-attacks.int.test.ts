/**
 * Attacks on what the proxy remembers of the extended protocol's portals, through a real data plane
 * with the default policies in front of a real PostgreSQL, message by message:
 *
 * - a Bind the server refuses (the portal name is taken, the parameter count is wrong) or skips (an
 *   earlier message of its sequence failed) must not make the proxy believe the portal holds the
 *   statement of that Bind, while the server keeps the portal bound before: an Execute of it would
 *   run what the proxy believes is something else (a SET search_path it never saw, so names are
 *   resolved on a path the server no longer searches);
 * - the portals a sequence bound before the error are still refused or run as the server has them;
 * - a simple Query or FunctionCall inside a sequence a denial cut short ends the connection, as
 *   inside any other sequence: dropped in silence, it would never be answered, and the session would
 *   count as busy for good (out of reach of the idle-in-transaction limit).
 */
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { rows as dataRows, summary, WireClient } from "../../test/harness/wire-client.js";

/** What only hr.reviews holds: alice must never read it. */
const HR_SECRET = "hr-only performance note";

let postgres: LocalPostgres;
let stack: ProxyStack;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  postgres = await startPostgres();
  // a sales.reviews alice may read, beside an hr.reviews she may not (the database would let her
  // role): which one an unqualified `reviews` means is the search_path's choice
  await postgres.psql(
    `CREATE TABLE sales.reviews (id int, note text); INSERT INTO sales.reviews VALUES (1, 'sales decoy');
     CREATE TABLE hr.reviews (id int, note text); INSERT INTO hr.reviews VALUES (1, '${HR_SECRET}');
     GRANT SELECT ON sales.reviews, hr.reviews TO analyst`,
  );
  stack = await startProxyStack({ pg: postgres });
  for (const user of ["alice", "carol"] as const) {
    tokens[user] = await stack.token(USERS[user], { lifetimeSeconds: 3600 });
  }
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await postgres?.stop();
});

const viaProxy = (user: "alice" | "carol") =>
  WireClient.connect({
    host: "127.0.0.1",
    port: stack.port,
    user: `${user}@example.com`,
    password: tokens[user]!,
    database: "app",
  });

async function query(c: WireClient, text: string): Promise<string[]> {
  c.send(serialize.query(text));
  return summary(await c.untilReady());
}

/**
 * Alice, on the path `sales` (where `reviews` is sales.reviews), binds portal "p" to
 * `SET search_path = hr` inside a transaction, then, after a savepoint, binds "p" again to
 * `SELECT 1` in a sequence the server fails (`failing`), and rolls back to the savepoint: the server
 * still holds "p" as the SET. Returns the replies to Execute "p" and to the unqualified read after it
 * (after a rollback to the savepoint again when the Execute failed).
 */
async function staleRebindAttack(
  c: WireClient,
  failing: Buffer[],
): Promise<{ execute: string[]; read: ReturnType<typeof summary>; rows: (string | null)[][] }> {
  expect(await query(c, "SET search_path = sales")).toEqual(["complete SET", "ready I"]);
  expect(await query(c, "BEGIN")).toEqual(["complete BEGIN", "ready T"]);
  c.send(
    serialize.parse({ name: "set_hr", text: "SET search_path = hr" }),
    serialize.bind({ portal: "p", statement: "set_hr" }),
    serialize.sync(),
  );
  expect(summary(await c.untilReady())).toEqual(["parseComplete", "bindComplete", "ready T"]);
  expect(await query(c, "SAVEPOINT s")).toEqual(["complete SAVEPOINT", "ready T"]);
  c.send(...failing, serialize.sync());
  const failed = summary(await c.untilReady());
  expect(failed.at(-1)).toBe("ready E");
  expect(failed.some((m) => m.startsWith("error "))).toBe(true);
  expect(await query(c, "ROLLBACK TO SAVEPOINT s")).toEqual(["complete ROLLBACK", "ready T"]);
  c.send(serialize.execute({ portal: "p" }), serialize.sync());
  const execute = summary(await c.untilReady());
  // a refused Execute fails the transaction like a server error: back to the savepoint
  if (execute[0]?.startsWith("error ")) {
    expect(await query(c, "ROLLBACK TO SAVEPOINT s")).toEqual(["complete ROLLBACK", "ready T"]);
  }
  c.send(serialize.query("SELECT note FROM reviews ORDER BY id"));
  const answered = await c.untilReady();
  return { execute, read: summary(answered), rows: dataRows(answered) };
}

describe("a Bind the server refused or skipped leaves the portal it had", () => {
  it("refuses an Execute of a named portal whose re-Bind failed because the name was taken", async () => {
    const c = await viaProxy("alice");
    try {
      const outcome = await staleRebindAttack(c, [
        serialize.parse({ name: "one", text: "SELECT 1" }),
        // the server answers 42P03 (cursor "p" already exists) and keeps the SET in "p"
        serialize.bind({ portal: "p", statement: "one" }),
      ]);
      // the proxy cannot know what "p" holds now: refused, never run as something else
      expect(outcome.execute[0]).toBe("error 42501");
      expect(outcome.rows).toEqual([["sales decoy"]]);
    } finally {
      await query(c, "ROLLBACK");
      c.end();
    }
  });

  it("refuses an Execute of a named portal whose re-Bind the server skipped after an earlier error", async () => {
    const c = await viaProxy("alice");
    try {
      const outcome = await staleRebindAttack(c, [
        serialize.parse({ name: "one", text: "SELECT 1" }),
        serialize.parse({ name: "boom", text: "SELECT 1/0" }),
        serialize.bind({ portal: "x", statement: "boom" }),
        serialize.execute({ portal: "x" }),
        // skipped by the server: the Execute before it failed
        serialize.bind({ portal: "p", statement: "one" }),
      ]);
      expect(outcome.execute[0]).toBe("error 42501");
      expect(outcome.rows).toEqual([["sales decoy"]]);
    } finally {
      await query(c, "ROLLBACK");
      c.end();
    }
  });

  it("refuses an Execute of the unnamed portal whose re-Bind failed on its parameter count", async () => {
    const c = await viaProxy("alice");
    try {
      expect(await query(c, "SET search_path = sales")).toEqual(["complete SET", "ready I"]);
      expect(await query(c, "BEGIN")).toEqual(["complete BEGIN", "ready T"]);
      c.send(
        serialize.parse({ name: "set_hr", text: "SET search_path = hr" }),
        serialize.bind({ statement: "set_hr" }),
        serialize.sync(),
      );
      expect(summary(await c.untilReady())).toEqual(["parseComplete", "bindComplete", "ready T"]);
      expect(await query(c, "SAVEPOINT s")).toEqual(["complete SAVEPOINT", "ready T"]);
      c.send(
        serialize.parse({ name: "one", text: "SELECT $1::int" }),
        // no parameter for $1: the server refuses the Bind before it replaces the unnamed portal
        serialize.bind({ statement: "one", values: [] }),
        serialize.sync(),
      );
      expect(summary(await c.untilReady())).toEqual(["parseComplete", "error 08P01", "ready E"]);
      expect(await query(c, "ROLLBACK TO SAVEPOINT s")).toEqual(["complete ROLLBACK", "ready T"]);
      c.send(serialize.execute({}), serialize.sync());
      const execute = summary(await c.untilReady());
      // no unnamed portal is left on the server (34000) or the proxy refuses it (42501): never the SET
      expect(execute[0]).toMatch(/^error (34000|42501)$/);
    } finally {
      await query(c, "ROLLBACK");
      c.end();
    }
  });

  it("still runs a portal whose Bind completed in a sequence that then failed, rolled back past", async () => {
    const c = await viaProxy("alice");
    try {
      expect(await query(c, "BEGIN")).toEqual(["complete BEGIN", "ready T"]);
      // bound before the savepoint, in a sequence of its own: the server keeps it, and so does the proxy
      c.send(
        serialize.parse({ name: "orders", text: "SELECT count(*) FROM sales.orders" }),
        serialize.bind({ portal: "kept", statement: "orders" }),
        serialize.sync(),
      );
      expect(summary(await c.untilReady())).toEqual(["parseComplete", "bindComplete", "ready T"]);
      expect(await query(c, "SAVEPOINT s")).toEqual(["complete SAVEPOINT", "ready T"]);
      c.send(
        serialize.parse({ name: "boom", text: "SELECT 1/0" }),
        serialize.bind({ portal: "x", statement: "boom" }),
        serialize.execute({ portal: "x" }),
        serialize.sync(),
      );
      expect(summary(await c.untilReady()).at(-1)).toBe("ready E");
      expect(await query(c, "ROLLBACK TO SAVEPOINT s")).toEqual(["complete ROLLBACK", "ready T"]);
      c.send(serialize.execute({ portal: "kept" }), serialize.sync());
      const answered = await c.untilReady();
      expect(summary(answered).filter((m) => m.startsWith("error"))).toEqual([]);
      expect(dataRows(answered)).toHaveLength(1);
    } finally {
      await query(c, "ROLLBACK");
      c.end();
    }
  });
});

describe("a simple Query or FunctionCall inside a sequence a denial cut short", () => {
  for (const [label, message] of [
    ["Query", serialize.query("SELECT 1")],
    ["FunctionCall", Buffer.from([0x46, 0, 0, 0, 14, 0, 0, 0x04, 0xd2, 0, 0, 0, 0, 0, 0])],
  ] as const) {
    it(`ends the connection (${label}), as inside any other sequence`, async () => {
      const c = await viaProxy("alice");
      try {
        expect(await query(c, "BEGIN")).toEqual(["complete BEGIN", "ready T"]);
        c.send(
          // denied for alice (she has no writes): the rest of the sequence is skipped up to its Sync
          serialize.parse({ text: "DELETE FROM sales.orders WHERE id = 1" }),
          serialize.bind({}),
          serialize.execute({}),
          message,
          serialize.sync(),
        );
        const answered: string[] = [];
        let fatal: { code?: string; message?: string } | undefined;
        for (;;) {
          const m = await c.next(5_000).catch(() => undefined);
          if (m === undefined) break;
          answered.push(summary([m])[0]!);
          if (m.name === "error" && (m as { severity?: string }).severity === "FATAL") {
            fatal = m as unknown as { code?: string; message?: string };
            break;
          }
        }
        expect(fatal?.code, JSON.stringify(answered)).toBe("08P01");
        expect(fatal?.message).toMatch(
          /inside an extended-protocol sequence \(before its Sync\) is not supported/,
        );
        expect(await c.closed()).toBe(true);
      } finally {
        c.end();
      }
    });
  }
});
