/**
 * How `portcullis admin` reaches the control plane: the bearer token it sends and the transport.
 *
 * Token, first found wins: `--token` (or $PORTCULLIS_TOKEN), `--token-file` (or
 * $PORTCULLIS_ADMIN_TOKEN_FILE), then `cachedLoginToken()` — the token a `portcullis login` has
 * cached, once that command exists.
 *
 * Transport: TLS checked against the system's CAs by default; `--ca FILE` (or
 * $PORTCULLIS_ADMIN_CA) trusts that certificate (e.g. the control plane's self-signed
 * `<data_dir>/admin-tls/cert.pem`); `--insecure` encrypts without checking the certificate
 * (development); `--plaintext` speaks without TLS to a loopback control plane configured with
 * `admin.tls.enabled: false`.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { withoutIpServerName } from "../common/grpc-tls.js";

export interface AdminConnectionOptions {
  server: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  insecure?: boolean;
  plaintext?: boolean;
}

export class AdminConnectionError extends Error {
  override name = "AdminConnectionError";
}

/**
 * The token `portcullis login` cached (cli/login.ts `cachedAdminToken`: the login named by
 * $PORTCULLIS_ISSUER / $PORTCULLIS_CLIENT_ID, else the last one; refreshed when near expiry), or
 * undefined when nobody is logged in. The same token serves every control plane: the issuer decides
 * whether it is accepted.
 */
export async function cachedLoginToken(_server: string): Promise<string | undefined> {
  const { cachedAdminToken } = await import("./login.js");
  try {
    return await cachedAdminToken();
  } catch (err) {
    throw new AdminConnectionError((err as Error).message);
  }
}

export async function resolveAdminToken(options: AdminConnectionOptions): Promise<string | undefined> {
  const given = options.token?.trim();
  if (given) return given;
  if (options.tokenFile) {
    const text = await readFile(resolve(options.tokenFile), "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new AdminConnectionError(
        `cannot read the token file ${options.tokenFile}: ${err.code ?? err.message}`,
      );
    });
    const token = text.trim();
    if (token) return token;
    throw new AdminConnectionError(`the token file ${options.tokenFile} is empty`);
  }
  return cachedLoginToken(options.server);
}

function isLoopbackServer(server: string): boolean {
  const host = server.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

export async function adminCredentials(
  options: AdminConnectionOptions,
  bearerToken: string | undefined,
): Promise<grpc.ChannelCredentials> {
  const chosen = [options.plaintext, options.insecure, options.ca].filter(Boolean).length;
  if (chosen > 1) throw new AdminConnectionError("give at most one of --plaintext, --insecure and --ca");
  if (options.plaintext) {
    if (bearerToken && !isLoopbackServer(options.server)) {
      throw new AdminConnectionError(
        `--plaintext would send the token in clear to ${options.server}: only loopback servers are allowed`,
      );
    }
    return grpc.credentials.createInsecure();
  }
  if (options.insecure) {
    return withoutIpServerName(
      grpc.credentials.createSsl(null, null, null, {
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      }),
    );
  }
  if (options.ca) {
    const ca = await readFile(resolve(options.ca)).catch((err: NodeJS.ErrnoException) => {
      throw new AdminConnectionError(`cannot read the CA file ${options.ca}: ${err.code ?? err.message}`);
    });
    return withoutIpServerName(grpc.credentials.createSsl(ca));
  }
  return withoutIpServerName(grpc.credentials.createSsl());
}
