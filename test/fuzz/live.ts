/**
 * Fuzz inputs over real sockets to a live data plane: random and mutated start-up packets
 * (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest), mutated start-up and password messages
 * inside TLS, and garbage after a good login. The rule for each: the data plane answers with an
 * ErrorResponse or closes the connection (after the client's own end, within a bound); it never hangs
 * and never crashes. Used by test/fuzz/live.fuzz.int.test.ts and `make bench-hardening`.
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import fc from "fast-check";
import { serialize } from "pg-protocol";
import { WireClient } from "../harness/wire-client.js";
import { type BytesMutation, bytesMutation, mutate, startupBytes } from "./targets.js";

export type LiveOutcome = "error" | "closed" | "hang";

export type LiveInput =
  | { kind: "plain"; bytes: Uint8Array }
  | { kind: "tls"; startup: Uint8Array; password: Uint8Array }
  | { kind: "garbage_mid_session"; bytes: Uint8Array };

/**
 * Reads until the peer sent an ErrorResponse ('E' as a message type) or closed. `ended` lets the
 * caller half-close first; the bound counts from then.
 */
function outcome(socket: Socket, boundMs: number, watchTypes: boolean): Promise<LiveOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let sawError = false;
    let pending = Buffer.alloc(0);
    const finish = (o: LiveOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish(sawError ? "error" : "hang"), boundMs);
    socket.on("data", (chunk: Buffer) => {
      if (!watchTypes) return;
      pending = Buffer.concat([pending, chunk]);
      // walk whole backend messages; single-byte SSL/GSS answers ('S'/'N') come before any message
      while (pending.length > 0 && (pending[0] === 0x53 || pending[0] === 0x4e) && pending.length < 5) {
        pending = pending.subarray(1);
      }
      while (pending.length >= 5) {
        const len = pending.readInt32BE(1);
        if (pending[0] === 0x45) sawError = true;
        if (len < 4 || pending.length < len + 1) break;
        pending = pending.subarray(len + 1);
      }
    });
    socket.on("close", () => finish(sawError ? "error" : "closed"));
    socket.on("error", () => {});
  });
}

async function open(port: number): Promise<Socket> {
  const socket = netConnect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return socket;
}

export interface LiveTarget {
  port: number;
  /** A user and token the data plane accepts (for garbage after a good login). */
  user: string;
  token: string;
  boundMs?: number;
}

/** Sends one input; resolves with what the data plane did. */
export async function sendLive(target: LiveTarget, input: LiveInput): Promise<LiveOutcome> {
  const bound = target.boundMs ?? 15_000;
  if (input.kind === "plain") {
    const socket = await open(target.port);
    const result = outcome(socket, bound, false);
    socket.end(Buffer.from(input.bytes));
    return result;
  }
  if (input.kind === "tls") {
    const raw = await open(target.port);
    raw.write(serialize.requestSsl());
    const answer = await new Promise<Buffer | undefined>((resolve) => {
      raw.once("data", resolve);
      raw.once("close", () => resolve(undefined));
      raw.once("error", () => resolve(undefined));
    });
    if (answer?.[0] !== 0x53) {
      raw.destroy();
      return answer ? "error" : "closed";
    }
    const socket = tlsConnect({ socket: raw, rejectUnauthorized: false });
    const ok = await new Promise<boolean>((resolve) => {
      socket.once("secureConnect", () => resolve(true));
      socket.once("error", () => resolve(false));
    });
    if (!ok) return "closed";
    const result = outcome(socket, bound, true);
    socket.write(Buffer.from(input.startup));
    socket.end(Buffer.from(input.password));
    return result;
  }
  const client = await WireClient.connect({
    host: "127.0.0.1",
    port: target.port,
    user: target.user,
    password: target.token,
    database: "app",
  });
  const result = outcome(client.socket, bound, true);
  client.socket.end(Buffer.from(input.bytes));
  return result;
}

/** A valid StartupMessage for `user`, as bytes to mutate. */
function startupFor(user: string): Buffer {
  return serialize.startup({ user, database: "app" });
}

export function liveInput(user: string, token: string): fc.Arbitrary<LiveInput> {
  const startup = startupFor(user);
  const password = serialize.password(token);
  const maybe = (bytes: Buffer, ms: BytesMutation[]) =>
    ms.reduce<Uint8Array>((b, m) => mutate(b, m), new Uint8Array(bytes));
  return fc.oneof(
    { weight: 6, arbitrary: startupBytes.map((bytes) => ({ kind: "plain" as const, bytes })) },
    {
      weight: 2,
      arbitrary: fc
        .record({
          s: fc.array(bytesMutation, { maxLength: 2 }),
          p: fc.array(bytesMutation, { minLength: 1, maxLength: 3 }),
        })
        .map(({ s, p }) => ({
          kind: "tls" as const,
          startup: maybe(startup, s),
          password: maybe(password, p),
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.uint8Array({ minLength: 1, maxLength: 200 }),
          fc
            .tuple(
              fc.constantFrom(0x51, 0x50, 0x42, 0x45, 0x53, 0x46, 0x00, 0xff),
              fc.integer({ min: -10, max: 2 ** 31 - 1 }),
              fc.uint8Array({ maxLength: 40 }),
            )
            .map(([type, len, rest]) => {
              const head = Buffer.alloc(5);
              head[0] = type;
              head.writeInt32BE(len, 1);
              return Uint8Array.from(Buffer.concat([head, rest]));
            }),
        )
        .map((bytes) => ({ kind: "garbage_mid_session" as const, bytes })),
    },
  );
}
