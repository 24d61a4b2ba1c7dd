/**
 * The web console (config `console.listen`): HTTPS with the admin API's certificate, serving the
 * single-page app built from control-plane/console/web (Vite, everything bundled: nothing is loaded
 * from anywhere else at run time), `/console-config.json` (the OIDC issuer, the public client id and
 * scope the browser logs in with: authorization code + PKCE, no secret) and the JSON gateway
 * (`POST /api/<Method>`, gateway.ts) onto the admin API.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "../../common/logger.js";
import { createAdminGateway } from "./gateway.js";

export interface ConsoleServerOptions {
  /** "host:port" (port 0: any free port). */
  listen: string;
  certPem: string;
  keyPem: string;
  /** The admin API the gateway calls, and how. */
  adminAddress: string;
  adminCredentials: grpc.ChannelCredentials;
  oidc: { issuer: string; client_id: string; scope: string };
  /** The built web app (default: the `console-web` folder of the build output). */
  webDir?: string;
  logger: Logger;
}

export interface RunningConsole {
  server: Server;
  /** `https://host:port/` */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

/** dist/console-web: beside the build output's top folder, found by walking up from this file. */
export function consoleWebDir(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    for (const candidate of [join(dir, "console-web"), join(dir, "dist", "console-web")]) {
      if (existsSync(join(candidate, "index.html"))) return candidate;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

export function splitListen(listen: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen.trim());
  if (!match) throw new Error(`console.listen must be host:port, not ${JSON.stringify(listen)}`);
  return { host: match[1] || "127.0.0.1", port: Number(match[2]) };
}

export async function startConsoleServer(options: ConsoleServerOptions): Promise<RunningConsole> {
  const webDir = options.webDir ?? consoleWebDir();
  if (!webDir) {
    throw new Error("the console's web app is not built (dist/console-web): run make build");
  }
  const gateway = createAdminGateway({
    address: options.adminAddress,
    credentials: options.adminCredentials,
  });
  const issuerOrigin = new URL(options.oidc.issuer).origin;
  const securityHeaders = {
    "content-security-policy": `default-src 'self'; connect-src 'self' ${issuerOrigin}; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action ${issuerOrigin}`,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=31536000",
  };
  const configJson = JSON.stringify(options.oidc);

  const serveFile = async (path: string, res: import("node:http").ServerResponse): Promise<void> => {
    const rel = normalize(decodeURIComponent(path)).replace(/^[/\\]+/, "");
    // Paths without an extension are the app's own routes: the app answers them.
    const file = extname(rel) ? join(webDir, rel) : join(webDir, "index.html");
    let body: Buffer | undefined;
    if (file.startsWith(webDir + sep)) body = await readFile(file).catch(() => undefined);
    if (!body) {
      res.writeHead(404, { "content-type": "text/plain", ...securityHeaders });
      res.end("not found\n");
      return;
    }
    const type = CONTENT_TYPES[extname(rel) || ".html"] ?? "application/octet-stream";
    res.writeHead(200, {
      "content-type": type,
      "cache-control": rel.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache",
      ...securityHeaders,
    });
    res.end(body);
  };

  const server = createServer({ cert: options.certPem, key: options.keyPem }, (req, res) => {
    const url = new URL(req.url ?? "/", "https://console.invalid");
    const path = url.pathname;
    (async () => {
      if (path.startsWith("/api/")) {
        if (req.method !== "POST") {
          res.writeHead(405, { allow: "POST", "content-type": "text/plain" });
          res.end("admin methods are called with POST\n");
          return;
        }
        const handled = await gateway.handle(path.slice("/api/".length), req, res);
        if (!handled) {
          res.writeHead(404, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              code: 12,
              status: "UNIMPLEMENTED",
              message: `no admin method ${path.slice(5)}`,
            }),
          );
        }
        return;
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET", "content-type": "text/plain" });
        res.end("method not allowed\n");
        return;
      }
      if (path === "/console-config.json") {
        res.writeHead(200, {
          "content-type": "application/json",
          "cache-control": "no-store",
          ...securityHeaders,
        });
        res.end(configJson);
        return;
      }
      await serveFile(path, res);
    })().catch((err: unknown) => {
      options.logger.error({ err, path }, "console request failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error\n");
    });
  });
  const { host, port } = splitListen(options.listen);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  const url = `https://${urlHost}:${bound}/`;
  options.logger.info({ url, methods: gateway.methods.size }, "console listening");
  return {
    server,
    url,
    port: bound,
    stop: () =>
      new Promise<void>((resolve) => {
        gateway.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
