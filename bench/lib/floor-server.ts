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
import { createSecureContext } from "node:tls";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { SocketReader } from "../../data-plane/client/socket-reader.js";
import { negotiateStartup } from "../../data-plane/client/startup.js";
import {
  authenticationCleartextPassword,
  authenticationOk,
  errorResponse,
  readyForQuery,
} from "../../data-plane/protocol/backend-messages.js";
import { MAX_AUTH_MESSAGE } from "../../data-plane/protocol/frontend-messages.js";
import { selfSignedCertificate } from "../../data-plane/tls-context.js";

const { values } = parseArgs({
  options: { nats: { type: "string" }, subject: { type: "string" } },
});
if (!values.nats || !values.subject) throw new Error("give --nats URL and --subject SUBJECT");

const secureContext = createSecureContext(await selfSignedCertificate("portcullis-bench-floor"));
const sessions = new Set<Socket>();

/** The data plane's own start-up stage (SSLRequest → TLS, StartupMessage), a password, ReadyForQuery. */
async function serve(tcp: Socket): Promise<void> {
  tcp.setNoDelay(true);
  const reader = new SocketReader(tcp);
  const startup = await negotiateStartup(tcp, reader, { secureContext, handshakeTimeoutMs: 10_000 });
  if (startup.kind !== "startup") return void tcp.destroy();
  const socket = startup.socket;
  socket.write(authenticationCleartextPassword());
  await reader.readMessage(MAX_AUTH_MESSAGE);
  reader.release();
  socket.on("error", () => socket.destroy());
  socket.on("close", () => sessions.delete(socket));
  socket.resume(); // the session stays idle: anything the client sends is dropped
  socket.write(Buffer.concat([authenticationOk(), readyForQuery("I")]));
  sessions.add(socket);
}

const server = createServer((tcp) => {
  serve(tcp).catch(() => tcp.destroy());
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
