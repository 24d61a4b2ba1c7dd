/**
 * What a hostile or broken client can send before and after login (lessons from other servers' and
 * proxies' CVEs), and the limits every connection runs under. Real data plane, real PostgreSQL, real
 * OIDC provider; raw sockets where a driver would never send such bytes.
 */
import { connect as netConnect, type Socket } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { serialize } from "pg-protocol";
import { Parser } from "pg-protocol/dist/parser.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";
import { WireClient } from "../test/harness/wire-client.js";
import { startupMessage } from "./upstream/upstream-connection.js";

const FRONTEND_TYPES = ["Q", "P", "B", "E", "D", "C", "S", "H", "X", "d", "c", "f", "p", "F"];
/** Negative, just over 2^31 (wraps negative), the largest int32, just over the 1 GiB cap, below 4. */
const BAD_LENGTHS = [-1, -2147483648, 0x8000_0004 | 0, 0x7fff_ffff, 0x4000_0000, 3];

function header(type: string | null, length: number): Buffer {
  const b = Buffer.alloc(type === null ? 4 : 5);
  if (type !== null) b.write(type, 0, "latin1");
  b.writeInt32BE(length | 0, type === null ? 0 : 1);
  return b;
}

/** Everything a socket receives until it is closed (or the bound passes: "open"). */
function received(socket: Socket | TLSSocket, boundMs = 20_000): Promise<Buffer | "open"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => resolve("open"), boundMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** The ErrorResponses among backend bytes, as {severity, code, message}. */
function errors(bytes: Buffer | "open") {
  if (bytes === "open") return ["still open"];
  const out: { severity?: string; code?: string; message?: string }[] = [];
  new Parser().parse(bytes, (msg) => {
    const m = msg as unknown as { name: string; severity?: string; code?: string; message?: string };
    if (m.name === "error") out.push({ severity: m.severity, code: m.code, message: m.message });
  });
  return out;
}

async function tcp(port: number): Promise<Socket> {
  const socket = netConnect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return socket;
}

/** TCP, SSLRequest, TLS: a socket right before the StartupMessage. */
async function tlsUp(port: number): Promise<TLSSocket> {
  const raw = await tcp(port);
  raw.write(serialize.requestSsl());
  await new Promise((resolve) => raw.once("data", resolve));
  const tls = tlsConnect({ socket: raw, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    tls.once("secureConnect", resolve);
    tls.once("error", reject);
  });
  return tls;
}

/** TLS and StartupMessage sent; resolves once the proxy asked for the password. */
async function atPassword(port: number): Promise<TLSSocket> {
  const tls = await tlsUp(port);
  tls.write(startupMessage({ user: "someone", database: "app" }));
  await new Promise((resolve) => tls.once("data", resolve)); // AuthenticationCleartextPassword
  return tls;
}

describe("client hardening: lengths, SSLRequest, slow clients, limits", () => {
  let stack: ProxyStack;
  let token: string;
  beforeAll(async () => {
    stack = await startProxyStack();
    token = await stack.token(USERS.carol);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const login = () =>
    WireClient.connect({
      host: "127.0.0.1",
      port: stack.port,
      user: "someone",
      password: token,
      database: "app",
    });

  it("a bad length in any frontend message after login: FATAL 08P01 and close, never a buffer; other sessions carry on", async () => {
    const bystander = await login();
    for (const type of FRONTEND_TYPES) {
      for (const length of BAD_LENGTHS) {
        const client = await login();
        const closed = received(client.socket);
        client.send(header(type, length));
        const got: string[] = [];
        for (;;) {
          const m = await client.next(20_000).catch(() => undefined);
          if (!m) break;
          if (m.name === "error") got.push(`${(m as { severity?: string }).severity} ${m.code}`);
        }
        expect(got, `${type} ${length}`).toEqual(["FATAL 08P01"]);
        expect(await closed, `${type} ${length}`).not.toBe("open");
      }
      bystander.send(serialize.query("SELECT 1"));
      expect((await bystander.untilReady()).map((m) => m.name)).toContain("dataRow");
    }
    bystander.end();
  });

  it("a bad length at start-up or in the password message: a FATAL saying so, never a buffer", async () => {
    for (const length of [-1, -2147483648, 0x7fff_ffff, 3]) {
      const socket = await tcp(stack.port);
      const answer = received(socket);
      socket.write(header(null, length));
      expect(errors(await answer), `start-up ${length}`).toEqual([
        { severity: "FATAL", code: "08P01", message: `invalid length of startup packet (${length})` },
      ]);
    }
    for (const [length, code] of [
      [-1, "08P01"],
      [-2147483648, "08P01"],
      [0x7fff_ffff, "28P01"],
      [3, "08P01"],
    ] as const) {
      const tls = await atPassword(stack.port);
      const answer = received(tls);
      tls.write(header("p", length));
      const got = errors(await answer);
      expect(
        got.map((e) => (typeof e === "string" ? e : `${e.severity} ${e.code}`)),
        `password ${length}`,
      ).toEqual([`FATAL ${code}`]);
    }
    const client = await stack.client(token);
    expect((await client.query("SELECT 1 AS v")).rows).toEqual([{ v: 1 }]);
    await client.end();
  });

  it("bytes after SSLRequest in the same packet are refused (FATAL 08P01), never read as if encrypted", async () => {
    const socket = await tcp(stack.port);
    const answer = received(socket);
    socket.write(
      Buffer.concat([serialize.requestSsl(), startupMessage({ user: "someone", database: "app" })]),
    );
    const bytes = await answer;
    expect(bytes).not.toBe("open");
    expect((bytes as Buffer).subarray(0, 1).toString()).toBe("E"); // no "S": TLS is never started
    expect(errors(bytes)).toEqual([
      { severity: "FATAL", code: "08P01", message: "received unencrypted data after SSL request" },
    ]);
    // plaintext after the proxy's "S", where the TLS handshake should be: the handshake fails, no session
    const raw = await tcp(stack.port);
    raw.write(serialize.requestSsl());
    await new Promise((resolve) => raw.once("data", resolve));
    const after = received(raw);
    raw.write(
      Buffer.concat([startupMessage({ user: "someone", database: "app" }), serialize.query("SELECT 1")]),
    );
    const rest = await after;
    expect(rest).not.toBe("open");
    expect(errors(rest).some((e) => typeof e !== "string" && e.code !== "08P01")).toBe(false);
  });

  describe("slow clients: every start-up stage is bounded by session.login_timeout_ms", () => {
    let slow: ProxyStack;
    beforeAll(async () => {
      slow = await startProxyStack({
        pg: stack.pg,
        oidc: stack.oidc,
        config: {
          session: { login_timeout_ms: 1_500 },
          tls: { handshake_timeout_ms: 120_000 },
        },
      });
    });
    afterAll(async () => {
      await slow?.stop();
    });

    const timeoutFatal = {
      severity: "FATAL",
      code: "08P01",
      message: "canceling authentication due to timeout (session.login_timeout_ms)",
    };

    it("sends nothing, or stops inside the start-up packet: FATAL 08P01, closed", async () => {
      for (const partial of [
        Buffer.alloc(0),
        Buffer.from([0, 0]),
        startupMessage({ user: "x" }).subarray(0, 9),
      ]) {
        const socket = await tcp(slow.port);
        const answer = received(socket);
        if (partial.length > 0) socket.write(partial);
        expect(errors(await answer), partial.toString("hex")).toEqual([timeoutFatal]);
      }
    });

    it("stops inside the TLS handshake: closed (no clear-text message on a TLS stream)", async () => {
      const raw = await tcp(slow.port);
      raw.write(serialize.requestSsl());
      await new Promise((resolve) => raw.once("data", resolve));
      const answer = received(raw);
      raw.write(Buffer.from([0x16, 0x03, 0x01])); // the first bytes of a ClientHello, then nothing
      expect(await answer).not.toBe("open");
    });

    it("stops after TLS, inside the start-up packet, before or inside the password: FATAL 08P01 over TLS, closed", async () => {
      const stages: [string, () => Promise<TLSSocket>, Buffer][] = [
        ["after TLS", () => tlsUp(slow.port), Buffer.alloc(0)],
        ["inside the start-up packet", () => tlsUp(slow.port), startupMessage({ user: "x" }).subarray(0, 10)],
        ["before the password", () => atPassword(slow.port), Buffer.alloc(0)],
        ["inside the password", () => atPassword(slow.port), serialize.password("eyJhbGciOi").subarray(0, 8)],
      ];
      for (const [stage, open, partial] of stages) {
        const tls = await open();
        const answer = received(tls);
        if (partial.length > 0) tls.write(partial);
        expect(errors(await answer), stage).toEqual([timeoutFatal]);
      }
      const client = await slow.client(token);
      expect((await client.query("SELECT 1 AS v")).rows).toEqual([{ v: 1 }]);
      await client.end();
    });
  });
});
