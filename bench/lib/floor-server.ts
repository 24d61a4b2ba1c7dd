/**
 * The floor for bench-revocation: the least any proxy could do to cut its clients, measured on the
 * same machine in the same run. One process, started like a data plane, speaks just enough of the
 * PostgreSQL protocol to hold the bench's client sessions (SSLRequest → TLS, StartupMessage,
 * cleartext password, ReadyForQuery; the password is not checked and there is no upstream). When a
 * message arrives on the core NATS subject it is given, it cuts every session exactly as the data
 * plane's relay does (FATAL 57P01, then end), and nothing else: no revocation stream, signature,
 * registry, session events or acknowledgement.
 *
 * Usage: node floor-server.js --nats URL --subject SUBJECT; prints `{"port": N}` once listening.
 */
import { createServer, type Socket } from "node:net";
import { createSecureContext, TLSSocket } from "node:tls";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import {
  authenticationCleartextPassword,
  authenticationOk,
  errorResponse,
  readyForQuery,
} from "../../data-plane/protocol/backend-messages.js";
import { selfSignedCertificate } from "../../data-plane/tls-context.js";

const SSL_REQUEST = 80877103;

const { values } = parseArgs({
  options: { nats: { type: "string" }, subject: { type: "string" } },
});
if (!values.nats || !values.subject) throw new Error("give --nats URL and --subject SUBJECT");

const secureContext = createSecureContext(await selfSignedCertificate("portcullis-bench-floor"));
const sessions = new Set<Socket>();

/** Reads length-prefixed messages: `typed` when they start with a type byte (after start-up). */
function readMessages(socket: Socket, onMessage: (body: Buffer, type: number) => void, typed: () => boolean) {
  let buffer: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    for (;;) {
      const header = typed() ? 5 : 4;
      if (buffer.length < header) return;
      const length = buffer.readInt32BE(header - 4);
      if (length < 4 || length > 100_000) return socket.destroy();
      const total = header - 4 + length;
      if (buffer.length < total) return;
      const type = typed() ? buffer[0]! : 0;
      const body = buffer.subarray(header, total);
      buffer = buffer.subarray(total);
      onMessage(body, type);
    }
  });
}

/** Start-up, password, ReadyForQuery; then the session is held until the cut. */
function serve(socket: Socket): void {
  let phase: "startup" | "password" | "ready" = "startup";
  socket.on("error", () => socket.destroy());
  socket.on("close", () => sessions.delete(socket));
  readMessages(
    socket,
    (body) => {
      if (phase === "startup") {
        phase = "password";
        socket.write(authenticationCleartextPassword());
      } else if (phase === "password") {
        phase = "ready";
        socket.write(Buffer.concat([authenticationOk(), readyForQuery("I")]));
        sessions.add(socket);
      } else if (body.length === 0) {
        socket.end();
      }
    },
    () => phase !== "startup",
  );
}

const server = createServer((tcp) => {
  tcp.setNoDelay(true);
  tcp.on("error", () => tcp.destroy());
  tcp.once("data", (first: Buffer) => {
    if (first.length >= 8 && first.readInt32BE(4) === SSL_REQUEST) {
      tcp.write("S");
      serve(new TLSSocket(tcp, { isServer: true, secureContext }));
    } else {
      serve(tcp);
      tcp.emit("data", first);
    }
  });
});

const nc = await connect({ servers: values.nats });
nc.subscribe(values.subject, {
  callback: () => {
    const fatal = errorResponse({ severity: "FATAL", code: "57P01", message: "session revoked: bench" });
    for (const socket of sessions) {
      socket.cork();
      socket.write(fatal);
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    }
    sessions.clear();
  },
});
await nc.flush();

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === "object" ? address?.port : 0 })}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  void nc.close().finally(() => process.exit(0));
});
