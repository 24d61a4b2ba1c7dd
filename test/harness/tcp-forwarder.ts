/**
 * A loopback TCP forwarder a test can cut: a client (a data plane's NATS link) connects to the
 * forwarder's port and talks to the real server behind it. `cut()` closes every forwarded
 * connection and refuses new ones (as a network partition that resets connections looks), until
 * `restore()`.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export interface TcpForwarder {
  port: number;
  /** `nats://127.0.0.1:<port>` style URLs are made from this. */
  host: string;
  readonly cut: boolean;
  /** Closes the forwarded connections and refuses new ones. */
  partition(): void;
  /** Accepts and forwards again. */
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpForwarder(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpForwarder> {
  const sockets = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: targetHost, port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the forwarder has no port");
  return {
    port: address.port,
    host: "127.0.0.1",
    get cut() {
      return cut;
    },
    partition() {
      cut = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
