/**
 * The COPY sub-protocol in the extended protocol, through a real data plane with the default policies
 * in front of a real PostgreSQL: the server ignores a Sync (and a Flush) it reads during COPY FROM
 * STDIN, so the ReadyForQuery of a sequence whose Sync came before CopyDone answers a later Sync or
 * Query. libpq sends exactly that (Parse, Bind, Describe, Execute and Sync at once, then the data,
 * CopyDone and another Sync). Whatever the client sends after it, carol (an admin whose sessions
 * are masked on hr.employees) must never see a real value of a masked column.
 */
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { type Message, summary, WireClient } from "../../test/harness/wire-client.js";

let postgres: LocalPostgres;
let stack: ProxyStack;
let token: string;
let maskedValues: string[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
  await postgres.psql("CREATE TABLE sales.inbox (id int, note text); GRANT ALL ON sales.inbox TO admin");
  stack = await startProxyStack({ pg: postgres });
  token = await stack.token(USERS.carol, { lifetimeSeconds: 3600 });
  maskedValues = (
    await postgres.psql(
      "SELECT string_agg(v, E'\\n') FROM (SELECT ssn FROM hr.employees UNION ALL SELECT email FROM hr.employees UNION ALL SELECT salary::text FROM hr.employees) s(v)",
    )
  ).split("\n");
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await postgres?.stop();
});

const STAFF = "SELECT name, ssn, salary, email FROM hr.employees ORDER BY id";

const carol = () =>
  WireClient.connect({
    host: "127.0.0.1",
    port: stack.port,
    user: "carol@example.com",
    password: token,
    database: "app",
  });

/** Messages until one named `name` (included). */
async function until(c: WireClient, name: string): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const m = await c.next();
    out.push(m);
    if (m.name === name) return out;
  }
}

/** Everything the client can still read until the connection closes or goes quiet. */
async function drain(c: WireClient): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const m = await c.next(2_000).catch(() => undefined);
    if (m === undefined) return out;
    out.push(m);
  }
}

function leaked(messages: readonly Message[]): string[] {
  const text = JSON.stringify(messages);
  return maskedValues.filter((v) => text.includes(v));
}

/** Masks are in force for the session from its first decision on hr.employees. */
async function masked(c: WireClient): Promise<void> {
  c.send(serialize.query("SELECT name FROM hr.employees LIMIT 1"));
  await c.untilReady();
}

const COPY_IN = "COPY sales.inbox FROM STDIN";

/** libpq's extended-protocol COPY: Parse, Bind, Describe, Execute and Sync in one write. */
const LIBPQ_COPY = [
  serialize.parse({ text: COPY_IN }),
  serialize.bind({}),
  serialize.describe({ type: "P" }),
  serialize.execute({}),
  serialize.sync(),
];

const REFUSED = /while COPY FROM STDIN may be reading data is not supported through Portcullis/;

function fatal(messages: readonly Message[]): string | undefined {
  const m = messages.find((x) => x.name === "error" && (x as { severity?: string }).severity === "FATAL");
  return m ? `${(m as { code?: string }).code} ${(m as unknown as { message: string }).message}` : undefined;
}

describe("a Sync or a statement sent while COPY FROM STDIN may be reading data", () => {
  it("libpq's shape (Sync at once, then data, CopyDone, Sync), then a read of the masked table: refused", async () => {
    const c = await carol();
    try {
      await masked(c);
      c.send(...LIBPQ_COPY);
      c.send(serialize.copyData(Buffer.from("1\tone\n")), serialize.copyDone(), serialize.sync());
      c.send(serialize.query(STAFF));
      const after = await drain(c);
      expect(leaked(after), JSON.stringify(summary(after))).toEqual([]);
      expect(fatal(after)).toMatch(/^0A000 a Sync message/);
      expect(fatal(after)).toMatch(REFUSED);
    } finally {
      c.end();
    }
  });

  it("a Query right behind CopyDone of libpq's shape: refused", async () => {
    const c = await carol();
    try {
      await masked(c);
      c.send(...LIBPQ_COPY, serialize.copyDone(), serialize.query(STAFF));
      const after = await drain(c);
      expect(leaked(after), JSON.stringify(summary(after))).toEqual([]);
      expect(fatal(after)).toMatch(REFUSED);
    } finally {
      c.end();
    }
  });

  it("a Sync during a simple-protocol COPY, then CopyDone and a read of the masked table: refused", async () => {
    const c = await carol();
    try {
      await masked(c);
      c.send(serialize.query(COPY_IN));
      expect((await c.next()).name).toBe("copyInResponse");
      c.send(serialize.sync(), serialize.copyDone(), serialize.query(STAFF));
      const after = await drain(c);
      expect(leaked(after), JSON.stringify(summary(after))).toEqual([]);
      expect(fatal(after)).toMatch(REFUSED);
    } finally {
      c.end();
    }
  });

  it("a Query pipelined behind a simple-protocol COPY before its data: refused", async () => {
    const c = await carol();
    try {
      await masked(c);
      c.send(serialize.query(COPY_IN), serialize.query(STAFF));
      const after = await drain(c);
      expect(leaked(after), JSON.stringify(summary(after))).toEqual([]);
      expect(fatal(after)).toMatch(REFUSED);
    } finally {
      c.end();
    }
  });
});

describe("COPY FROM STDIN that keeps to the sub-protocol still works, and masks hold after it", () => {
  it("simple protocol: data, CopyDone, then a masked read", async () => {
    const c = await carol();
    try {
      await masked(c);
      c.send(serialize.query(COPY_IN));
      expect((await c.next()).name).toBe("copyInResponse");
      c.send(serialize.copyData(Buffer.from("2\ttwo\n")), serialize.copyDone());
      expect(summary(await c.untilReady())).toEqual(["complete COPY 1", "ready I"]);
      c.send(serialize.query(STAFF));
      const after = await c.untilReady();
      expect(summary(after).at(-1)).toBe("ready I");
      expect(after.filter((m) => m.name === "dataRow").length).toBeGreaterThan(0);
      expect(leaked(after)).toEqual([]);
    } finally {
      c.end();
    }
  });

  it("extended protocol with the Sync after CopyDone, then extended and simple masked reads", async () => {
    const c = await carol();
    try {
      await masked(c);
      c.send(serialize.parse({ text: COPY_IN }), serialize.bind({}), serialize.execute({}));
      await until(c, "copyInResponse");
      c.send(serialize.copyData(Buffer.from("3\tthree\n")), serialize.copyDone(), serialize.sync());
      expect(summary(await c.untilReady())).toEqual(["complete COPY 1", "ready I"]);
      c.send(serialize.parse({ text: STAFF }), serialize.bind({}), serialize.execute({}), serialize.sync());
      const extended = await c.untilReady();
      expect(extended.filter((m) => m.name === "dataRow").length).toBeGreaterThan(0);
      c.send(serialize.query(STAFF));
      const simple = await c.untilReady();
      expect(simple.filter((m) => m.name === "dataRow").length).toBeGreaterThan(0);
      expect(leaked([...extended, ...simple])).toEqual([]);
    } finally {
      c.end();
    }
  });

  it("extended protocol: a COPY the server refuses before reading data, then its Sync", async () => {
    const c = await carol();
    try {
      await masked(c);
      c.send(
        serialize.parse({ text: "COPY sales.inbox (no_such_column) FROM STDIN" }),
        serialize.bind({}),
        serialize.execute({}),
        serialize.flush(),
      );
      expect(summary(await until(c, "error")).at(-1)).toBe("error 42703");
      c.send(serialize.sync());
      expect(summary(await c.untilReady())).toEqual(["ready I"]);
      c.send(serialize.query(STAFF));
      const after = await c.untilReady();
      expect(after.filter((m) => m.name === "dataRow").length).toBeGreaterThan(0);
      expect(leaked(after)).toEqual([]);
    } finally {
      c.end();
    }
  });
});
