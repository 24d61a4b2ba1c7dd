import { connect as netConnect, type Socket } from "node:net";
import { createSecureContext, type SecureContext, type TLSSocket, connect as tlsConnect } from "node:tls";
import { serialize } from "pg-protocol";
import type { BackendMessage as PgMessage } from "pg-protocol/dist/messages.js";
import { Parser } from "pg-protocol/dist/parser.js";
import { startDeadline } from "../../common/deadline.js";
import { BackendFramer } from "../protocol/backend-messages.js";
import { BackendCode, SQLSTATE } from "../protocol/codes.js";
import { md5PasswordResponse, ScramSession } from "./scram.js";

/**
 * Opens a session on the real PostgreSQL server as the role the policy chose: TCP, optional TLS
 * (SSLRequest), StartupMessage, then SCRAM-SHA-256 or md5 with that role's credentials from config.
 * Uses pg-protocol both ways: its serializer for what we send, its parser for what the server answers.
 */

export interface UpstreamTarget {
  host: string;
  port: number;
  /** disable: plain TCP; require: TLS without checking the certificate; verify-full: TLS checked against `ca` and host. */
  tls: "disable" | "require" | "verify-full";
  ca?: string;
  servername?: string;
  connectTimeoutMs: number;
  /** The most SCRAM iterations the server may ask for (default DEFAULT_MAX_SCRAM_ITERATIONS). */
  maxScramIterations?: number;
  /** The longest message the server may send during login, length word included. */
  maxMessageBytes?: number;
}

export interface UpstreamLogin {
  user: string;
  password: string;
  database: string;
  /** Startup parameters forwarded from the client (already filtered to a safe set). */
  parameters: Record<string, string>;
}

export interface UpstreamSession {
  socket: Socket | TLSSocket;
  /** ParameterStatus values the server reported during login, in order. */
  parameters: [string, string][];
  processId: number;
  secretKey: number;
  /** The transaction status of the first ReadyForQuery. */
  status: string;
  /** Bytes that arrived after the first ReadyForQuery (normally none). */
  leftover: Buffer;
}

/** Server answers to a login that pass: too many connections, starting up or shutting down a moment ago. */
const TRANSIENT_SQLSTATES: ReadonlySet<string> = new Set([
  SQLSTATE.tooManyConnections,
  SQLSTATE.cannotConnectNow,
]);
/** Socket errors of a connection that a server under a burst (or restarting) dropped or reset. */
const TRANSIENT_ERRNOS = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "ECONNABORTED"]);

/** Why a login to the upstream failed. `message` is safe for logs; clients get a generic one. */
export class UpstreamError extends Error {
  /**
   * True when trying again shortly may work: the server could not be reached, dropped or reset the
   * connection, took too long, or answered with a passing SQLSTATE. False for what another try
   * cannot change: a refused password, a certificate that does not verify, TLS off on the server,
   * a database that does not exist.
   */
  readonly transient: boolean;

  constructor(
    message: string,
    readonly kind: "unreachable" | "tls" | "auth" | "server" | "timeout" | "protocol",
    readonly sqlstate?: string,
    cause?: unknown,
  ) {
    super(message);
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    this.transient =
      kind === "unreachable" ||
      kind === "timeout" ||
      (kind === "server" && TRANSIENT_SQLSTATES.has(sqlstate ?? "")) ||
      (errno !== undefined && TRANSIENT_ERRNOS.has(errno));
  }
}

/**
 * A protocol 3.0 StartupMessage with exactly these parameters, in this order. (pg-protocol's own
 * appends client_encoding=UTF8 after them, which would override the one asked for.)
 */
export function startupMessage(parameters: Record<string, string>): Buffer {
  const pairs = Object.entries(parameters).flatMap(([k, v]) => [
    Buffer.from(`${k}\0`),
    Buffer.from(`${v}\0`),
  ]);
  const body = Buffer.concat([...pairs, Buffer.from([0])]);
  const out = Buffer.alloc(8 + body.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(196_608, 4); // 3.0
  body.copy(out, 8);
  return out;
}

function openSocket(target: UpstreamTarget): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: target.host, port: target.port, noDelay: true });
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err) =>
      reject(new UpstreamError(`cannot reach upstream: ${err.message}`, "unreachable", undefined, err)),
    );
  });
}

/**
 * One TLS context per trusted CA (none: the default roots), shared by every upstream connection.
 * tls.connect would otherwise build the same context for each login: an SSL_CTX plus the root store,
 * about 0.1–0.2 ms of OpenSSL 3 work per connection. Per-connection settings (servername,
 * rejectUnauthorized, the identity check) stay on the connect call.
 */
const upstreamContexts = new Map<string, SecureContext>();

function upstreamContext(ca: string | undefined): SecureContext {
  const key = ca ?? "";
  let context = upstreamContexts.get(key);
  if (!context) {
    context = createSecureContext(ca === undefined ? {} : { ca });
    upstreamContexts.set(key, context);
  }
  return context;
}

async function startTls(socket: Socket, target: UpstreamTarget): Promise<TLSSocket> {
  socket.write(serialize.requestSsl());
  const answer = await new Promise<Buffer>((resolve, reject) => {
    socket.once("data", resolve);
    socket.once("error", (err) =>
      reject(new UpstreamError(`upstream failed during SSLRequest: ${err.message}`, "tls", undefined, err)),
    );
    // closed without an answer: what a server out of processes or shutting down does
    socket.once("close", () =>
      reject(
        new UpstreamError("upstream closed during SSLRequest", "tls", undefined, { code: "ECONNRESET" }),
      ),
    );
  });
  socket.removeAllListeners("error");
  socket.removeAllListeners("close");
  if (answer.length !== 1 || answer[0] !== 0x53 /* S */) {
    throw new UpstreamError("upstream refused TLS (ssl is off on the server)", "tls");
  }
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      socket,
      servername: target.servername ?? (/^[\d.:]+$/.test(target.host) ? undefined : target.host),
      rejectUnauthorized: target.tls === "verify-full",
      secureContext: upstreamContext(target.ca),
    });
    tls.once("secureConnect", () => {
      tls.removeAllListeners("error");
      resolve(tls);
    });
    tls.once("error", (err) =>
      reject(new UpstreamError(`upstream TLS failed: ${err.message}`, "tls", undefined, err)),
    );
  });
}

export async function connectUpstream(
  target: UpstreamTarget,
  login: UpstreamLogin,
): Promise<UpstreamSession> {
  let socket: Socket | TLSSocket | undefined;
  // the deadline covers every step, the TCP connect included (a SYN the server's full backlog dropped)
  const deadline = startDeadline(
    target.connectTimeoutMs,
    () => new UpstreamError(`upstream login timed out after ${target.connectTimeoutMs} ms`, "timeout"),
    (err) => socket?.destroy(err),
  );
  try {
    // a connection that opens after the deadline is closed at once
    socket = await deadline.within(openSocket(target), (late) => late.destroy());
    if (target.tls !== "disable") socket = await deadline.within(startTls(socket, target));
    const session = await deadline.within(authenticate(socket, login, target));
    // Until the relay takes it (session set-up reads search_path first), an error on the socket, such
    // as a write after the server closed it, must not go unheard: the close that follows is what counts.
    session.socket.on("error", () => {});
    return session;
  } catch (err) {
    socket?.destroy();
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError(`upstream login failed: ${(err as Error).message}`, "protocol", undefined, err);
  } finally {
    deadline.clear();
  }
}

function authenticate(
  socket: Socket | TLSSocket,
  login: UpstreamLogin,
  target: UpstreamTarget,
): Promise<UpstreamSession> {
  return new Promise((resolve, reject) => {
    const parser = new Parser();
    const parameters: [string, string][] = [];
    let processId = 0;
    let secretKey = 0;
    let scram: ScramSession | undefined;
    let done = false;

    const fail = (err: UpstreamError) => {
      if (done) return;
      done = true;
      cleanup();
      reject(err);
    };
    const framer = new BackendFramer(target.maxMessageBytes);
    const onData = (chunk: Buffer) => {
      try {
        let ready: string | undefined;
        const after: Buffer[] = [];
        framer.push(chunk, (type, raw) => {
          if (ready !== undefined) {
            after.push(raw); // the relay's business, not login's
            return;
          }
          if (type === BackendCode.ReadyForQuery) ready = String.fromCharCode(raw[5]!);
          parser.parse(raw, handle);
        });
        if (done || ready === undefined) return;
        done = true;
        cleanup();
        resolve({
          socket,
          parameters,
          processId,
          secretKey,
          status: ready,
          leftover: Buffer.concat([...after, framer.takePending()]),
        });
      } catch (err) {
        fail(err instanceof UpstreamError ? err : new UpstreamError((err as Error).message, "protocol"));
      }
    };
    const handle = (msg: PgMessage) => {
      const m = msg as PgMessage & Record<string, unknown>;
      switch (msg.name) {
        case "authenticationOk":
          break;
        case "authenticationSASL": {
          const mechanisms = m.mechanisms as string[];
          if (!mechanisms.includes("SCRAM-SHA-256")) {
            throw new UpstreamError(
              `upstream offers no supported SASL mechanism (${mechanisms.join(", ")})`,
              "auth",
            );
          }
          scram = new ScramSession(
            login.password,
            target.maxScramIterations !== undefined ? { maxIterations: target.maxScramIterations } : {},
          );
          socket.write(serialize.sendSASLInitialResponseMessage("SCRAM-SHA-256", scram.clientFirst()));
          break;
        }
        case "authenticationSASLContinue":
          if (!scram) throw new UpstreamError("unexpected SASL continue", "protocol");
          socket.write(serialize.sendSCRAMClientFinalMessage(scram.serverFirst(m.data as string)));
          break;
        case "authenticationSASLFinal":
          if (!scram) throw new UpstreamError("unexpected SASL final", "protocol");
          scram.serverFinal(m.data as string);
          break;
        case "authenticationMD5Password":
          socket.write(serialize.password(md5PasswordResponse(login.user, login.password, m.salt as Buffer)));
          break;
        case "authenticationCleartextPassword":
          if (!("encrypted" in socket)) {
            throw new UpstreamError("upstream asks for a cleartext password over plain TCP: refused", "auth");
          }
          socket.write(serialize.password(login.password));
          break;
        case "parameterStatus":
          parameters.push([m.parameterName as string, m.parameterValue as string]);
          break;
        case "backendKeyData":
          processId = m.processID as number;
          secretKey = m.secretKey as number;
          break;
        case "error": {
          const code = m.code as string | undefined;
          const kind = code?.startsWith("28") ? "auth" : "server";
          throw new UpstreamError(
            `upstream refused login as ${login.user}: ${m.message as string}`,
            kind,
            code,
          );
        }
        case "notice":
        case "readyForQuery":
          break;
        default:
          throw new UpstreamError(`unexpected upstream message during login: ${msg.name}`, "protocol");
      }
    };
    const onError = (err: Error) =>
      fail(
        err instanceof UpstreamError
          ? err
          : new UpstreamError(`upstream socket error: ${err.message}`, "unreachable"),
      );
    const onClose = () =>
      fail(new UpstreamError("upstream closed the connection during login", "unreachable"));
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
    socket.write(startupMessage({ user: login.user, database: login.database, ...login.parameters }));
  });
}

/** Sends a CancelRequest for an upstream backend on a fresh connection, as the protocol requires. */
export async function cancelUpstream(
  target: UpstreamTarget,
  processId: number,
  secretKey: number,
): Promise<void> {
  const socket = await openSocket(target);
  await new Promise<void>((resolve) => {
    socket.end(serialize.cancel(processId, secretKey), () => resolve());
  });
  socket.destroy();
}

/**
 * Runs one simple query on an upstream session the relay does not own yet (right after login, or a
 * pooled session being reset) and returns the first column of the first row as text.
 */
export async function queryFirstValue(
  socket: Socket | TLSSocket,
  sql: string,
  timeoutMs = 5_000,
  /** Receives the ParameterStatus messages the server sends meanwhile (a reset reports what it changed). */
  onParameter?: (name: string, value: string) => void,
): Promise<string | null> {
  const row = await queryFirstRow(socket, sql, timeoutMs, onParameter);
  return row?.[0] ?? null;
}

/**
 * Runs one simple query (its text may hold several statements) on an upstream session the relay does
 * not own yet and returns the first row any of its statements returned, its columns as text; null
 * when none returned a row.
 */
export function queryFirstRow(
  socket: Socket | TLSSocket,
  sql: string,
  timeoutMs = 5_000,
  onParameter?: (name: string, value: string) => void,
): Promise<(string | null)[] | null> {
  return new Promise((resolve, reject) => {
    const framer = new BackendFramer();
    const parser = new Parser();
    let value: (string | null)[] | null = null;
    let error: string | undefined;
    const timer = setTimeout(
      () => finish(new UpstreamError("upstream query timed out", "timeout")),
      timeoutMs,
    );
    const finish = (err?: Error) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      if (err) reject(err);
      else if (error !== undefined) reject(new UpstreamError(`upstream query failed: ${error}`, "server"));
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      try {
        framer.push(chunk, (type, raw) => {
          parser.parse(raw, (msg) => {
            const m = msg as PgMessage & Record<string, unknown>;
            if (msg.name === "dataRow" && value === null) value = [...(m.fields as (string | null)[])];
            if (msg.name === "error") error = m.message as string;
            if (msg.name === "parameterStatus")
              onParameter?.(m.parameterName as string, m.parameterValue as string);
          });
          if (type === BackendCode.ReadyForQuery) finish();
        });
      } catch (err) {
        finish(err as Error);
      }
    };
    const onClose = () => finish(new UpstreamError("upstream closed the connection", "unreachable"));
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.write(serialize.query(sql));
  });
}
