/**
 * A bare PostgreSQL wire-protocol client for tests that need exact control over the messages a client
 * sends (pipelined extended-protocol messages without Sync, a Bind without Describe, a CancelRequest with
 * a chosen key, Terminate). Frontend messages are serialized with pg-protocol; backend messages are parsed
 * with its Parser. TLS is negotiated as libpq does (SSLRequest), the password is sent in clear text
 * inside TLS, as the proxy asks for.
 */
import { connect as netConnect, type Socket } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { serialize } from "pg-protocol";
import type { BackendMessage } from "pg-protocol/dist/messages.js";
import { Parser } from "pg-protocol/dist/parser.js";
import { connectUpstream, startupMessage } from "../../data-plane/upstream/upstream-connection.js";

export type { BackendMessage };

export interface WireClientOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** More start-up parameters, sent as given (names not lower-cased). */
  parameters?: Record<string, string>;
}

/** A login the server refused, with its SQLSTATE. */
export class LoginError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** A backend message with the fields tests look at, whatever its kind. */
export type Message = BackendMessage & {
  name: string;
  code?: string;
  message?: string;
  status?: string;
  text?: string;
  fields?: { name: string; tableID: number; columnID: number; format: number }[];
  processID?: number;
  secretKey?: number;
};

export class WireClient {
  private readonly received: Message[] = [];
  private waiters: (() => void)[] = [];
  private closedFlag = false;
  processId = 0;
  secretKey = 0;

  private constructor(readonly socket: Socket | TLSSocket) {
    const parser = new Parser();
    socket.on("data", (chunk: Buffer) => {
      parser.parse(chunk, (msg) => {
        this.received.push(msg as Message);
        this.wake();
      });
    });
    socket.on("close", () => {
      this.closedFlag = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  static async connect(options: WireClientOptions): Promise<WireClient> {
    const raw: Socket = netConnect(options.port, options.host);
    await new Promise<void>((resolve, reject) => {
      raw.once("connect", resolve);
      raw.once("error", reject);
    });
    raw.write(serialize.requestSsl());
    const answer = await new Promise<Buffer>((resolve, reject) => {
      raw.once("data", resolve);
      raw.once("error", reject);
    });
    if (answer.toString("latin1", 0, 1) !== "S") throw new Error("the server refused TLS");
    const socket = tlsConnect({ socket: raw, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    const client = new WireClient(socket);
    // with parameters: exactly those (pg-protocol's own startup would add client_encoding=UTF8)
    client.send(
      options.parameters
        ? startupMessage({ user: options.user, database: options.database, ...options.parameters })
        : serialize.startup({ user: options.user, database: options.database }),
    );
    for (;;) {
      const msg = await client.next();
      if (msg.name === "authenticationCleartextPassword") client.send(serialize.password(options.password));
      else if (msg.name === "backendKeyData") {
        client.processId = msg.processID ?? 0;
        client.secretKey = msg.secretKey ?? 0;
      } else if (msg.name === "error") throw new LoginError(`login failed: ${msg.message}`, msg.code);
      else if (msg.name === "readyForQuery") return client;
    }
  }

  /**
   * A session straight on PostgreSQL (TLS, SCRAM, as the data plane logs in upstream), to compare the
   * server's own answers with the proxy's for the same messages.
   */
  static async direct(options: WireClientOptions): Promise<WireClient> {
    const session = await connectUpstream(
      { host: options.host, port: options.port, tls: "require", connectTimeoutMs: 10_000 },
      { user: options.user, password: options.password, database: options.database, parameters: {} },
    );
    const client = new WireClient(session.socket);
    client.processId = session.processId;
    client.secretKey = session.secretKey;
    return client;
  }

  send(...buffers: Buffer[]): void {
    this.socket.write(Buffer.concat(buffers));
  }

  /** The next backend message (waits up to `timeoutMs`). */
  async next(timeoutMs = 20_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      if (this.closedFlag) throw new Error("connection closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no backend message in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received.shift()!;
  }

  /** Every message up to and including the next ReadyForQuery. */
  async untilReady(timeoutMs = 20_000): Promise<Message[]> {
    const out: Message[] = [];
    for (;;) {
      const msg = await this.next(timeoutMs);
      out.push(msg);
      if (msg.name === "readyForQuery") return out;
    }
  }

  /** Resolves when the server closes the connection (or after `timeoutMs`, with false). */
  async closed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closedFlag) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  /** Messages already received and not yet read. */
  pending(): Message[] {
    return [...this.received];
  }

  end(): void {
    this.socket.destroy();
  }
}

/** Names of the messages, with the SQLSTATE of errors and the tag of CommandComplete: easy to compare. */
export function summary(messages: readonly Message[]): string[] {
  return messages.map((m) => {
    if (m.name === "error") return `error ${m.code}`;
    if (m.name === "commandComplete") return `complete ${m.text}`;
    if (m.name === "readyForQuery") return `ready ${m.status}`;
    return m.name;
  });
}

/** The text values of the DataRows among `messages`. */
export function rows(messages: readonly Message[]): (string | null)[][] {
  return messages
    .filter((m) => m.name === "dataRow")
    .map((m) => (m as unknown as { fields: (string | null)[] }).fields);
}

/** A CancelRequest on a fresh plain-TCP connection, as libpq sends it. */
export async function sendCancel(host: string, port: number, processId: number, secretKey: number) {
  const socket = netConnect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(processId, 8);
  packet.writeInt32BE(secretKey, 12);
  socket.write(packet);
  await new Promise<void>((resolve) => {
    socket.on("close", () => resolve());
    socket.on("error", () => resolve());
    setTimeout(() => {
      socket.destroy();
      resolve();
    }, 5_000).unref();
  });
}
