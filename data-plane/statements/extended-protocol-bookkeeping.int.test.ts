/**
 * The extended protocol's bookkeeping, message by message, through a real data plane with the default
 * policies in front of a real PostgreSQL:
 *
 * - replies keep PostgreSQL's order when a pipeline holds a denied statement: each shape is sent both
 *   to PostgreSQL directly (where the denied statement is replaced by one that fails the same way at
 *   the same point) and through the proxy, and the message-type sequences must be equal;
 * - masked rows stay masked whatever the client's Describes, portal names, cursors and savepoints do
 *   (carol reads hr.employees with ssn, salary and email masked).
 */
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { rows as dataRows, summary, WireClient } from "../../test/harness/wire-client.js";

let postgres: LocalPostgres;
let stack: ProxyStack;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  postgres = await startPostgres();
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

const direct = () =>
  WireClient.direct({
    host: "127.0.0.1",
    port: postgres.port,
    user: "analyst",
    password: postgres.passwords.analyst,
    database: "app",
  });

const pbe = (text: string, maxRows?: number) => [
  serialize.parse({ text }),
  serialize.bind({}),
  serialize.execute(maxRows === undefined ? {} : { rows: maxRows }),
];

/**
 * Denied for alice through the proxy (she has no writes), at its Parse; on PostgreSQL directly, a
 * statement that fails at its Parse too (an unknown table). The SQLSTATEs differ by design (42501,
 * 42P01): sequences are compared by message type, the proxy's code is checked on its own.
 */
const DENIED = "DELETE FROM sales.orders WHERE id = 1";
const FAILS_LIKE_IT = "DELETE FROM no_such_table WHERE id = 1";

type Shape = (denied: string) => Buffer[][];

/** Each shape is a list of writes; `denied` is where the refused statement goes. */
const SHAPES: Record<string, Shape> = {
  "one allowed statement before the denial, one write": (denied) => [
    [...pbe("SELECT 1"), ...pbe(denied), serialize.sync()],
  ],
  "several allowed statements before the denial": (denied) => [
    [
      ...pbe("SELECT 1"),
      ...pbe("SELECT generate_series(1, 3)"),
      ...pbe("SELECT 'x' AS x"),
      ...pbe(denied),
      serialize.sync(),
    ],
  ],
  "a Flush between the allowed statement and the denial": (denied) => [
    [...pbe("SELECT 1"), serialize.flush(), ...pbe(denied), serialize.sync()],
  ],
  "a suspended portal (Execute with a row limit) before the denial": (denied) => [
    [...pbe("SELECT generate_series(1, 5)", 2), ...pbe(denied), serialize.sync()],
  ],
  "inside BEGIN, then ROLLBACK": (denied) => [
    [serialize.query("BEGIN")],
    [...pbe("SELECT 1"), ...pbe(denied), serialize.sync()],
    [serialize.query("ROLLBACK")],
  ],
  "named statements and portals, a statement Describe and a Close before the denial": (denied) => [
    [
      serialize.parse({ name: "n1", text: "SELECT $1::int AS v" }),
      serialize.describe({ type: "S", name: "n1" }),
      serialize.bind({ statement: "n1", portal: "q1", values: ["7"] }),
      serialize.execute({ portal: "q1" }),
      serialize.close({ type: "P", name: "q1" }),
      ...pbe(denied),
      serialize.sync(),
      serialize.close({ type: "S", name: "n1" }),
      serialize.sync(),
    ],
  ],
  "the denial first: nothing after it runs until Sync": (denied) => [
    [...pbe(denied), ...pbe("SELECT 1"), serialize.sync(), ...pbe("SELECT 2"), serialize.sync()],
  ],
  "a simple Query between pipelines": (denied) => [
    [...pbe("SELECT 1"), ...pbe(denied), serialize.sync(), serialize.query("SELECT 3")],
  ],
  "Describe of the allowed portal, then the denial, then a second Sync": (denied) => [
    [
      serialize.parse({ text: "SELECT 1 AS one" }),
      serialize.bind({}),
      serialize.describe({ type: "P" }),
      serialize.execute({}),
      ...pbe(denied),
      serialize.sync(),
      ...pbe("SELECT 2"),
      serialize.sync(),
    ],
  ],
};

/** Every reply up to as many ReadyForQuery as the writes hold Syncs and Queries. */
async function replies(client: WireClient, writes: Buffer[][]): Promise<string[]> {
  const out: string[] = [];
  for (const write of writes) {
    client.send(...write);
    const readies = write.filter((b) => b[0] === 0x53 /* S */ || b[0] === 0x51 /* Q */).length;
    for (let i = 0; i < readies; i++) out.push(...summary(await client.untilReady()));
  }
  return out;
}

describe("replies in a pipeline holding a denied statement come in PostgreSQL's order", () => {
  for (const [name, shape] of Object.entries(SHAPES)) {
    it(name, async () => {
      const pg = await direct();
      const expected = await replies(pg, shape(FAILS_LIKE_IT));
      pg.end();
      const proxy = await viaProxy("alice");
      const got = await replies(proxy, shape(DENIED));
      proxy.end();
      expect(expected).toContain("error 42P01");
      expect(got).toContain("error 42501");
      const types = (list: string[]) => list.map((m) => (m.startsWith("error ") ? "error" : m));
      expect(types(got)).toEqual(types(expected));
    });
  }
});

const MASKED = [
  ["Alice Analyst", "***", null],
  ["Bob Engineer", "***", null],
  ["Carol Admin", "***", null],
  ["Dave HR", "***", null],
];

/** Rows of name, ssn, salary with email dropped (its mask is a hash). */
function nameSsnSalary(answered: Parameters<typeof dataRows>[0]): (string | null)[][] {
  return dataRows(answered).map((r) => r.slice(0, 3));
}

describe("masked rows stay masked through the extended protocol (carol)", () => {
  const STAFF = "SELECT name, ssn, salary, email FROM hr.employees ORDER BY id";

  it("a client Describe of another portal before the masked portal's Bind", async () => {
    const c = await viaProxy("carol");
    c.send(
      serialize.parse({ name: "s1", text: "SELECT 1" }),
      serialize.parse({ name: "s2", text: STAFF }),
      serialize.bind({ portal: "p1", statement: "s1" }),
      serialize.describe({ type: "P", name: "p1" }),
      serialize.bind({ portal: "p2", statement: "s2" }),
      serialize.execute({ portal: "p2" }),
      serialize.sync(),
    );
    const answered = await c.untilReady();
    // the client's Describe is answered to the client; the proxy's own never is
    expect(summary(answered).slice(0, 5)).toEqual([
      "parseComplete",
      "parseComplete",
      "bindComplete",
      "rowDescription",
      "bindComplete",
    ]);
    expect(summary(answered).filter((m) => m === "rowDescription")).toHaveLength(1);
    expect(nameSsnSalary(answered)).toEqual(MASKED);
    c.end();
  });

  it("client Describes of both portals, in either order, in one pipeline", async () => {
    const c = await viaProxy("carol");
    c.send(
      serialize.parse({ name: "s2", text: STAFF }),
      serialize.parse({ name: "s1", text: "SELECT 1" }),
      serialize.bind({ portal: "p2", statement: "s2" }),
      serialize.bind({ portal: "p1", statement: "s1" }),
      serialize.describe({ type: "P", name: "p1" }),
      serialize.describe({ type: "P", name: "p2" }),
      serialize.execute({ portal: "p1" }),
      serialize.execute({ portal: "p2", rows: 2 }),
      serialize.execute({ portal: "p2" }),
      serialize.sync(),
    );
    const answered = await c.untilReady();
    expect(summary(answered).filter((m) => m === "rowDescription")).toHaveLength(2);
    expect(nameSsnSalary(answered)).toEqual([["1"], ...MASKED]);
    c.end();
  });

  it("a portal name reused by a WITH HOLD cursor after its transaction ended", async () => {
    const c = await viaProxy("carol");
    c.send(serialize.parse({ text: "SELECT 1" }), serialize.bind({ portal: "c" }), serialize.sync());
    expect(summary(await c.untilReady())).toEqual(["parseComplete", "bindComplete", "ready I"]);
    c.send(serialize.query(`DECLARE c CURSOR WITH HOLD FOR ${STAFF}`));
    expect(summary(await c.untilReady())).toEqual(["complete DECLARE CURSOR", "ready I"]);
    c.send(serialize.execute({ portal: "c" }), serialize.sync());
    const answered = await c.untilReady();
    // the portal ended with its transaction and the name is a cursor now: refused, never raw rows
    expect(summary(answered)).toEqual(["error 42501", "ready I"]);
    expect(answered[0]!.message).toMatch(/portal "c" was not bound through Portcullis/);
    c.send(serialize.query("CLOSE c"));
    await c.untilReady();
    c.end();
  });

  it("a portal closed by SQL CLOSE and its name DECLAREd again inside one transaction", async () => {
    const c = await viaProxy("carol");
    c.send(serialize.query("BEGIN"));
    await c.untilReady();
    c.send(serialize.parse({ text: "SELECT 1" }), serialize.bind({ portal: "k" }), serialize.sync());
    expect(summary(await c.untilReady())).toEqual(["parseComplete", "bindComplete", "ready T"]);
    c.send(serialize.query(`CLOSE k; DECLARE k CURSOR FOR ${STAFF}`));
    expect(summary(await c.untilReady()).at(-1)).toBe("ready T");
    c.send(serialize.execute({ portal: "k" }), serialize.sync());
    const answered = await c.untilReady();
    expect(dataRows(answered)).toEqual([]);
    expect(summary(answered)[0]).toBe("error 42501");
    c.send(serialize.query("ROLLBACK"));
    await c.untilReady();
    c.end();
  });

  it("a portal bound before a denial rolled back to a savepoint executes masked", async () => {
    const c = await viaProxy("carol");
    c.send(serialize.query("BEGIN; SAVEPOINT s"));
    expect(summary(await c.untilReady()).at(-1)).toBe("ready T");
    c.send(
      serialize.parse({ name: "staff", text: STAFF }),
      serialize.bind({ portal: "held", statement: "staff" }),
      ...pbe("SET ROLE postgres"),
      serialize.sync(),
    );
    const denied = await c.untilReady();
    expect(summary(denied)).toEqual(["parseComplete", "bindComplete", "error 42501", "ready E"]);
    c.send(serialize.query("ROLLBACK TO SAVEPOINT s"));
    expect(summary(await c.untilReady()).at(-1)).toBe("ready T");
    c.send(
      serialize.bind({ portal: "again", statement: "staff" }),
      serialize.execute({ portal: "again" }),
      serialize.sync(),
    );
    expect(nameSsnSalary(await c.untilReady())).toEqual(MASKED);
    c.send(serialize.query("ROLLBACK"));
    await c.untilReady();
    c.end();
  });

  it("a second Sync-ended sequence after a failed one in the same write is still masked", async () => {
    const c = await viaProxy("carol");
    c.send(
      ...pbe("SELECT 1/0"),
      serialize.describe({ type: "P" }),
      serialize.sync(),
      serialize.parse({ text: STAFF }),
      serialize.bind({}),
      serialize.describe({ type: "P" }),
      serialize.execute({}),
      serialize.sync(),
    );
    expect(summary(await c.untilReady())).toEqual(["parseComplete", "error 22012", "ready I"]);
    const second = await c.untilReady();
    expect(summary(second).filter((m) => m === "rowDescription")).toHaveLength(1);
    expect(nameSsnSalary(second)).toEqual(MASKED);
    c.end();
  });
});
