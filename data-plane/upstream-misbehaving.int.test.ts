/**
 * An upstream that misbehaves (lessons from other proxies' CVEs): a DataRow with a negative or a huge
 * length, a SCRAM exchange asking for 100 million iterations, an ErrorResponse without SQLSTATE. The
 * upstream here is a small real TCP server speaking just enough backend protocol (test/harness/
 * backend-peer.ts); the data plane, the OIDC provider and the policy are the real ones. Every case
 * ends (or answers) only the session concerned, and the proxy keeps serving the others.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BackendPeer,
  backend,
  defaultQueryAnswer,
  type PeerConnection,
  scramWithIterations,
  startBackendPeer,
} from "../test/harness/backend-peer.js";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";

/** Logins each resetting scenario has seen. */
const resets = { "reset-twice": 0, "reset-always": 0 };

/** What each connection does, chosen by the application_name the client gives. */
const scenarios: Record<
  string,
  { startup?: (c: PeerConnection) => void; query?: (c: PeerConnection, sql: string) => void }
> = {
  "negative-datarow": {
    query(c, sql) {
      if (!/boom/.test(sql)) return defaultQueryAnswer(c, sql);
      c.socket.write(Buffer.concat([backend.rowDescription("v"), backend.header("D", -1), Buffer.alloc(64)]));
    },
  },
  "min-int-datarow": {
    query(c, sql) {
      if (!/boom/.test(sql)) return defaultQueryAnswer(c, sql);
      c.socket.write(Buffer.concat([backend.rowDescription("v"), backend.header("D", -2147483648)]));
    },
  },
  "huge-datarow": {
    query(c, sql) {
      if (!/boom/.test(sql)) return defaultQueryAnswer(c, sql);
      // announces 2 GiB - 1 and starts sending it: the proxy must not wait to buffer it
      c.socket.write(Buffer.concat([backend.rowDescription("v"), backend.header("D", 0x7fff_ffff)]));
      const chunk = Buffer.alloc(1 << 20, 0x61);
      let sent = 0;
      const more = () => {
        while (sent < 64 && !c.socket.destroyed) {
          sent++;
          if (!c.socket.write(chunk)) return void c.socket.once("drain", more);
        }
      };
      more();
    },
  },
  "error-without-sqlstate": {
    query(c, sql) {
      if (!/boom/.test(sql)) return defaultQueryAnswer(c, sql);
      c.socket.write(
        Buffer.concat([backend.error({ S: "ERROR", M: "something went wrong" }), backend.readyForQuery()]),
      );
    },
  },
  "bare-error-without-sqlstate": {
    query(c, sql) {
      if (!/boom/.test(sql)) return defaultQueryAnswer(c, sql);
      c.socket.write(Buffer.concat([backend.error({}), backend.readyForQuery()]));
    },
  },
  "login-error-without-sqlstate": {
    startup(c) {
      c.socket.end(backend.error({ S: "FATAL", M: "no" }));
    },
  },
  "scram-100m": {
    startup(c) {
      scramWithIterations(c, 100_000_000);
    },
  },
  // a server in a connection burst: resets the first two logins (TCP RST), then lets one in
  "reset-twice": {
    startup(c) {
      if (++resets["reset-twice"] <= 2) return void c.socket.resetAndDestroy();
      c.socket.write(backend.authenticationOk());
      c.finishLogin();
    },
  },
  // a server that resets every login
  "reset-always": {
    startup(c) {
      resets["reset-always"]++;
      c.socket.resetAndDestroy();
    },
  },
};

async function connect(stack: ProxyStack, token: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port: stack.port,
    user: "someone@example.com",
    password: token,
    database: "app",
    application_name: applicationName,
    ssl: { rejectUnauthorized: false },
  });
  client.on("error", () => {});
  await client.connect();
  return client;
}

async function attempt<T>(run: () => Promise<T>) {
  try {
    return { ok: true as const, value: await run() };
  } catch (err) {
    const e = err as { code?: string; message: string; severity?: string };
    return { ok: false as const, code: e.code, message: e.message, severity: e.severity };
  }
}

describe("a misbehaving upstream ends only its own session", () => {
  let peer: BackendPeer;
  let stack: ProxyStack;
  let token: string;
  let bystander: pg.Client;
  let dir: string;

  beforeAll(async () => {
    peer = await startBackendPeer({
      onStartup(c) {
        const s = scenarios[c.parameters.application_name ?? ""]?.startup;
        if (s) return s(c);
        c.socket.write(backend.authenticationOk());
        c.finishLogin();
      },
      onQuery(c, sql) {
        const q = scenarios[c.parameters.application_name ?? ""]?.query;
        if (q) q(c, sql);
        else defaultQueryAnswer(c, sql);
      },
    });
    // the data plane points at the peer (no TLS, no pooling: every client gets its own connection)
    dir = await mkdtemp(join(tmpdir(), "portcullis-peer-"));
    const roles: Record<string, { password_file: string }> = {};
    for (const role of ["analyst", "app_rw", "admin", "legacy_md5"]) {
      roles[role] = { password_file: join(dir, role) };
      await writeFile(roles[role].password_file, "unused", { mode: 0o600 });
    }
    stack = await startProxyStack({
      config: {
        upstream: { host: peer.host, port: peer.port, tls: "disable", pool: { enabled: false }, roles },
      },
    });
    token = await stack.token(USERS.carol);
    bystander = await connect(stack, token, "bystander");
  });
  afterAll(async () => {
    await bystander?.end().catch(() => {});
    await stack?.stop();
    await peer?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function bystanderStillServed() {
    const r = await bystander.query("SELECT 1 AS v");
    expect(r.rows).toEqual([{ v: "1" }]);
    const fresh = await connect(stack, token, "newcomer");
    expect((await fresh.query("SELECT 1 AS v")).rows).toEqual([{ v: "1" }]);
    await fresh.end();
  }

  for (const name of ["negative-datarow", "min-int-datarow", "huge-datarow"]) {
    it(`${name}: the session ends with a FATAL upstream protocol error, nothing buffered, others carry on`, async () => {
      const client = await connect(stack, token, name);
      const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
      const outcome = await attempt(() => client.query("SELECT boom"));
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.code).toBe("08006");
        expect(outcome.message).toMatch(
          /upstream protocol error: upstream sent (an invalid message length|a message of 2147483647 bytes)/,
        );
      }
      await Promise.race([ended, new Promise((r) => setTimeout(r, 15_000))]);
      await bystanderStillServed();
    });
  }

  it("an ErrorResponse without SQLSTATE is relayed as it came and the session stays usable", async () => {
    for (const name of ["error-without-sqlstate", "bare-error-without-sqlstate"]) {
      const client = await connect(stack, token, name);
      const outcome = await attempt(() => client.query("SELECT boom"));
      expect(outcome.ok, name).toBe(false);
      if (!outcome.ok) expect(outcome.code, name).toBeUndefined();
      expect((await client.query("SELECT 1 AS v")).rows, name).toEqual([{ v: "1" }]);
      await client.end();
    }
    // at login: the client is refused with the proxy's 57P03, nothing crashes
    const refused = await attempt(() => connect(stack, token, "login-error-without-sqlstate"));
    expect(refused).toMatchObject({ ok: false, code: "57P03" });
    await bystanderStillServed();
  });

  it("a login the upstream reset in a burst is tried again; one it always resets is refused with 57P03 after a few tries", async () => {
    const client = await connect(stack, token, "reset-twice");
    expect((await client.query("SELECT 1 AS v")).rows).toEqual([{ v: "1" }]);
    await client.end();
    expect(resets["reset-twice"]).toBe(3);
    const refused = await attempt(() => connect(stack, token, "reset-always"));
    expect(refused).toMatchObject({ ok: false, code: "57P03" });
    // tried a bounded number of times, then refused (not retried forever)
    expect(resets["reset-always"]).toBe(6);
    await bystanderStillServed();
  });

  it("an upstream asking for 100,000,000 SCRAM iterations is refused at once instead of pinning the CPU", async () => {
    // 100 million PBKDF2 rounds take minutes of CPU; the refusal comes long before this generous bound
    const refused = await Promise.race([
      attempt(() => connect(stack, token, "scram-100m")),
      new Promise((r) => setTimeout(() => r("still deriving"), 30_000)),
    ]);
    expect(refused).toMatchObject({ ok: false, code: "57P03" });
    await bystanderStillServed();
  });
});
