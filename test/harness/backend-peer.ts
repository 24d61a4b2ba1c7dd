/**
 * A tiny PostgreSQL server for tests of the proxy's upstream side: it speaks just enough of the backend
 * protocol (start-up, trust or a SCRAM exchange that goes as far as the server-first message, simple
 * queries) for each connection to do what its test needs, such as a DataRow with a negative length or
 * an ErrorResponse without SQLSTATE, which no real server sends. It is a test peer on a real TCP
 * socket, not a stand-in for anything Portcullis ships.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";

function message(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, "latin1");
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}

const cstr = (s: string) => Buffer.from(`${s}\0`);
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

export const backend = {
  authenticationOk: () => message("R", int32(0)),
  parameterStatus: (name: string, value: string) => message("S", Buffer.concat([cstr(name), cstr(value)])),
  backendKeyData: () => message("K", Buffer.concat([int32(4242), int32(1)])),
  readyForQuery: (status = "I") => message("Z", Buffer.from(status)),
  /** One text column. */
  rowDescription: (name: string) =>
    message(
      "T",
      Buffer.concat([
        Buffer.from([0, 1]),
        cstr(name),
        int32(0),
        Buffer.from([0, 0]),
        int32(25),
        Buffer.from([0xff, 0xff]),
        int32(-1),
        Buffer.from([0, 0]),
      ]),
    ),
  dataRow: (value: string) => {
    const v = Buffer.from(value);
    return message("D", Buffer.concat([Buffer.from([0, 1]), int32(v.length), v]));
  },
  commandComplete: (tag: string) => message("C", cstr(tag)),
  /** An ErrorResponse with exactly these fields (type letter → value): none is required here. */
  error: (fields: Record<string, string>) =>
    message(
      "E",
      Buffer.concat([
        ...Object.entries(fields).map(([k, v]) => Buffer.concat([Buffer.from(k), cstr(v)])),
        Buffer.from([0]),
      ]),
    ),
  /** A raw header: a type byte and any length word, then nothing. */
  header: (type: string, length: number) => {
    const b = Buffer.alloc(5);
    b.write(type, 0, "latin1");
    b.writeInt32BE(length | 0, 1);
    return b;
  },
};

/** One client connection of the peer, after its start-up packet. */
export interface PeerConnection {
  socket: Socket;
  parameters: Record<string, string>;
  /** Sends the usual end of a login: settings the proxy requires, key data, ReadyForQuery. */
  finishLogin(): void;
}

export interface PeerBehaviour {
  /** After the StartupMessage. Default: trust (AuthenticationOk, then finishLogin). */
  onStartup?(conn: PeerConnection): void;
  /** Each simple Query. Default: one row holding "public" (what the proxy's search_path read expects). */
  onQuery?(conn: PeerConnection, sql: string): void;
}

export interface BackendPeer {
  host: string;
  port: number;
  /** Replaces what the peer does for connections from now on. */
  behave(behaviour: PeerBehaviour): void;
  stop(): Promise<void>;
}

export function defaultQueryAnswer(conn: PeerConnection, sql: string): void {
  const value = /search_path/i.test(sql) ? "public" : "1";
  conn.socket.write(
    Buffer.concat([
      backend.rowDescription("v"),
      backend.dataRow(value),
      backend.commandComplete("SELECT 1"),
      backend.readyForQuery(),
    ]),
  );
}

/** Sends the SASL start and, to the client's first message, a server-first asking for `iterations`. */
export function scramWithIterations(conn: PeerConnection, iterations: number, onFinal?: () => void): void {
  const mechanisms = Buffer.concat([cstr("SCRAM-SHA-256"), Buffer.from([0])]);
  conn.socket.write(message("R", Buffer.concat([int32(10), mechanisms])));
  let step = 0;
  conn.socket.on("data", function onScram(chunk: Buffer) {
    if (chunk[0] !== 0x70 /* p */) return;
    step++;
    if (step === 1) {
      const text = chunk.toString("latin1");
      const nonce = /r=([^,\0]+)/.exec(text)?.[1] ?? "";
      const serverFirst = `r=${nonce}${randomBytes(9).toString("base64")},s=${randomBytes(16).toString("base64")},i=${iterations}`;
      conn.socket.write(message("R", Buffer.concat([int32(11), Buffer.from(serverFirst)])));
    } else {
      conn.socket.off("data", onScram);
      onFinal?.();
    }
  });
}

export async function startBackendPeer(initial: PeerBehaviour = {}): Promise<BackendPeer> {
  let behaviour = initial;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buffer = Buffer.alloc(0);
    let conn: PeerConnection | undefined;
    const current = behaviour;
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!conn) {
          if (buffer.length < 8) return;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) return;
          const code = buffer.readInt32BE(4);
          const body = buffer.subarray(8, length);
          buffer = buffer.subarray(length);
          if (code === 80877103) {
            socket.write("N"); // no TLS
            continue;
          }
          const parts = body.toString("utf8").split("\0");
          const parameters: Record<string, string> = {};
          for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i]) parameters[parts[i]!] = parts[i + 1]!;
          const c: PeerConnection = {
            socket,
            parameters,
            finishLogin() {
              socket.write(
                Buffer.concat([
                  backend.parameterStatus("server_version", "17.0"),
                  backend.parameterStatus("standard_conforming_strings", "on"),
                  backend.parameterStatus("client_encoding", parameters.client_encoding ?? "UTF8"),
                  backend.backendKeyData(),
                  backend.readyForQuery(),
                ]),
              );
            },
          };
          conn = c;
          if (current.onStartup) current.onStartup(c);
          else {
            socket.write(backend.authenticationOk());
            c.finishLogin();
          }
          continue;
        }
        if (buffer.length < 5) return;
        const length = buffer.readInt32BE(1);
        if (buffer.length < 1 + length) return;
        const type = String.fromCharCode(buffer[0]!);
        const body = buffer.subarray(5, 1 + length);
        buffer = buffer.subarray(1 + length);
        if (type === "X") {
          socket.end();
          return;
        }
        if (type === "Q") {
          const sql = body.toString("utf8").replace(/\0$/, "");
          (current.onQuery ?? defaultQueryAnswer)(conn, sql);
        }
        // anything else (the SASL messages a behaviour handles itself) is ignored here
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("peer has no address");
  return {
    host: "127.0.0.1",
    port: address.port,
    behave(next) {
      behaviour = next;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
