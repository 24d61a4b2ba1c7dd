/**
 * A minimal PostgreSQL client session for benchmarks that hold thousands of connections: TLS
 * (SSLRequest) or plain TCP, StartupMessage, the token as cleartext password, then it waits for
 * ReadyForQuery and watches the socket. `ended` resolves when the socket closes, with the time
 * (epoch ms, sub-millisecond) and the SQLSTATE of the ErrorResponse the server sent before, if any.
 * Nothing else is parsed: the session stays idle until the server ends it, or, with
 * `queryEveryMs`, sends `SELECT 1` that often (one at a time) and counts answers and errors.
 */
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls, type TLSSocket } from "node:tls";
import { serialize } from "pg-protocol";

export interface BenchSessionOptions {
  host: string;
  port: number;
  user: string;
  database: string;
  password: string;
  tls: boolean;
  timeoutMs?: number;
  /** Send `SELECT 1` this often once logged in (the next only after the previous answer). */
  queryEveryMs?: number;
}

/** What a session that runs queries saw. */
export interface BenchSessionStats {
  queries: number;
  errors: number;
}

export interface BenchSessionEnd {
  /** The server's port (which data plane). */
  port: number;
  /** performance.timeOrigin + performance.now() when the socket closed. */
  at: number;
  /** When the ErrorResponse arrived (same clock as `at`). */
  errorAt?: number;
  /** When the server's end of the connection arrived (FIN). */
  endAt?: number;
  sqlstate?: string;
  message?: string;
}

export interface BenchSession {
  ended: Promise<BenchSessionEnd>;
  stats(): BenchSessionStats;
  destroy(): void;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** The fields of an ErrorResponse body (code byte → text). */
function errorFields(body: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]!);
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    fields[code] = body.toString("utf8", i + 1, end);
    i = end + 1;
  }
  return fields;
}

export function openBenchSession(options: BenchSessionOptions): Promise<BenchSession> {
  return new Promise((resolve, reject) => {
    let socket: Socket | TLSSocket = connectTcp({ host: options.host, port: options.port, noDelay: true });
    let buffer: Buffer = Buffer.alloc(0);
    let ready = false;
    let lastError: Record<string, string> | undefined;
    let errorAt: number | undefined;
    let endAt: number | undefined;
    let settle: ((end: BenchSessionEnd) => void) | undefined;
    const stats: BenchSessionStats = { queries: 0, errors: 0 };
    let queryTimer: NodeJS.Timeout | undefined;
    const query = serialize.query("SELECT 1");
    const scheduleQuery = () => {
      if (options.queryEveryMs === undefined) return;
      queryTimer = setTimeout(() => {
        if (!socket.destroyed) socket.write(query);
      }, options.queryEveryMs);
    };
    const ended = new Promise<BenchSessionEnd>((r) => {
      settle = r;
    });
    const timer = setTimeout(() => fail(new Error("login timed out")), options.timeoutMs ?? 30_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (!ready) reject(err);
    };

    const onMessages = (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      while (buffer.length >= 5) {
        const length = buffer.readInt32BE(1);
        if (buffer.length < 1 + length) break;
        const type = String.fromCharCode(buffer[0]!);
        const body = buffer.subarray(5, 1 + length);
        buffer = buffer.subarray(1 + length);
        if (type === "R") {
          const code = body.readInt32BE(0);
          if (code === 3) socket.write(serialize.password(options.password));
          else if (code !== 0) return fail(new Error(`unexpected authentication request ${code}`));
        } else if (type === "E") {
          lastError = errorFields(body);
          errorAt = nowMs();
          if (!ready) return fail(new Error(`login refused: ${lastError.C} ${lastError.M}`));
          stats.errors += 1;
        } else if (type === "Z") {
          if (!ready) {
            ready = true;
            clearTimeout(timer);
            resolve({ ended, stats: () => ({ ...stats }), destroy: () => socket.destroy() });
          } else {
            stats.queries += 1;
          }
          scheduleQuery();
        }
      }
    };

    const start = () => {
      socket.on("data", onMessages);
      // the server ended the connection: close at once (no half-close; the end is what is measured)
      socket.on("end", () => {
        endAt = nowMs();
        socket.destroy();
      });
      socket.on("close", () => {
        clearTimeout(queryTimer);
        const end: BenchSessionEnd = { port: options.port, at: nowMs() };
        if (errorAt !== undefined) end.errorAt = errorAt;
        if (endAt !== undefined) end.endAt = endAt;
        if (lastError?.C) end.sqlstate = lastError.C;
        if (lastError?.M) end.message = lastError.M;
        settle?.(end);
        if (!ready) fail(new Error("connection closed during login"));
      });
      socket.write(serialize.startup({ user: options.user, database: options.database }));
    };

    socket.on("error", (err) => fail(err));
    socket.once("connect", () => {
      if (!options.tls) return start();
      socket.write(serialize.requestSsl());
      socket.once("data", (answer: Buffer) => {
        if (answer[0] !== 0x53 /* S */) return fail(new Error("the server refused TLS"));
        const tcp = socket;
        tcp.removeAllListeners("error");
        socket = connectTls({ socket: tcp, rejectUnauthorized: false });
        socket.on("error", (err) => fail(err));
        socket.once("secureConnect", start);
      });
    });
  });
}
