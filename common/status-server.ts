import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

/**
 * The small HTTP server each plane runs for operators: Prometheus `/metrics`, `/healthz` (the process
 * is alive) and `/readyz` (it can serve: the check says why not).
 */
export interface StatusServerOptions {
  host: string;
  port: number;
  registry: Registry;
  ready: () => { ready: boolean; reason?: string };
}

export async function startStatusServer(
  options: StatusServerOptions,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (url === "/metrics") {
      options.registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": options.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (url === "/readyz") {
      const state = options.ready();
      res
        .writeHead(state.ready ? 200 : 503, { "content-type": "text/plain" })
        .end(state.ready ? "ready\n" : `not ready: ${state.reason ?? "unknown"}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  return { server, port };
}
