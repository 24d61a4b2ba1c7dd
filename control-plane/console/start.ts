/** Starts the console when `console.listen` is set, on the admin API's certificate. */
import * as grpc from "@grpc/grpc-js";
import { withoutIpServerName } from "../../common/grpc-tls.js";
import type { Logger } from "../../common/logger.js";
import type { RunningAdminServer } from "../admin/server.js";
import type { AdminTls } from "../admin/tls.js";
import type { ControlPlaneConfig } from "../config.js";
import { type RunningConsole, startConsoleServer } from "./server.js";

export type { RunningConsole };

export async function startConsoleFor(
  config: ControlPlaneConfig,
  admin: RunningAdminServer,
  tls: AdminTls,
  logger: Logger,
): Promise<RunningConsole | undefined> {
  const listen = config.console.listen;
  if (!listen) return undefined;
  if (!tls.certPem || !tls.keyPem) {
    throw new Error(
      "console.listen needs the admin API's TLS (admin.tls.enabled): the console is served over it",
    );
  }
  const issuer = config.console.oidc.issuer ?? config.admin.oidc.issuers[0]?.issuer;
  if (!issuer) {
    throw new Error(
      "console.listen needs an OIDC issuer to log in with: console.oidc.issuer or admin.oidc.issuers",
    );
  }
  const wildcard = admin.host === "0.0.0.0" || admin.host === "::" || admin.host === "";
  const adminHost = wildcard ? "127.0.0.1" : admin.host.includes(":") ? `[${admin.host}]` : admin.host;
  return startConsoleServer({
    listen,
    certPem: tls.certPem,
    keyPem: tls.keyPem,
    adminAddress: `${adminHost}:${admin.port}`,
    adminCredentials: withoutIpServerName(grpc.credentials.createSsl(Buffer.from(tls.certPem))),
    oidc: { issuer, client_id: config.console.oidc.client_id, scope: config.console.oidc.scope },
    logger,
  });
}
