/**
 * A whole data plane for integration tests, built the way production builds one: the default (or a
 * given) policy folder compiled by the real opa, signed, written to disk as a bundle, then
 * `startDataPlane` with a config pointing at it, a real OIDC provider and a throwaway PostgreSQL.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { silentLogger } from "../../common/logger.js";
import { projectRoot, toolchain } from "../../common/toolchain.js";
import { signBundle } from "../../control-plane/bundle/sign.js";
import { exportPublicKey } from "../../control-plane/bundle/signing-key.js";
import { type DataPlaneConfig, parseDataPlaneConfig } from "../../data-plane/config.js";
import { type RunningDataPlane, type StartOptions, startDataPlane } from "../../data-plane/main.js";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { writeBundle } from "../../proto/bundle-file.js";
import { type OidcHarness, type OidcUser, startOidcProvider } from "./oidc.js";
import { compileFolder, throwawaySigningKey } from "./opa.js";

export const USERS = {
  alice: { sub: "alice", email: "alice@example.com", groups: ["analysts"] },
  bob: { sub: "bob", email: "bob@example.com", groups: ["engineers"] },
  carol: { sub: "carol", email: "carol@example.com", groups: ["admins"] },
  dave: { sub: "dave", email: "dave@example.com", groups: ["hr"] },
  mallory: { sub: "mallory", email: "mallory@example.com", groups: ["contractors"] },
} satisfies Record<string, OidcUser>;

export interface BuiltBundle {
  path: string;
  publicKeyFile: string;
  revision: string;
}

/** Compiles, signs and writes a bundle of `policyDir` into `dir`. */
export async function buildBundle(policyDir: string, dir: string, revision?: string): Promise<BuiltBundle> {
  const compiled = await compileFolder(policyDir, revision ? { revision } : {});
  const key = await throwawaySigningKey();
  const signed = await signBundle(compiled, key);
  const path = join(dir, "bundle.tar");
  const publicKeyFile = join(dir, "bundle-public.pem");
  await writeBundle(path, signed);
  await exportPublicKey(key, publicKeyFile);
  return { path, publicKeyFile, revision: compiled.revision };
}

export interface ProxyStack {
  pg: LocalPostgres;
  oidc: OidcHarness;
  proxy: RunningDataPlane;
  config: DataPlaneConfig;
  port: number;
  token(user: OidcUser, opts?: Parameters<OidcHarness["token"]>[1]): Promise<string>;
  /** A libpq URL through the proxy (sslmode=require unless told otherwise). */
  url(token: string, opts?: { database?: string; sslmode?: string; user?: string }): string;
  /** Runs real psql through the proxy; never throws, returns what psql printed and its exit code. */
  psql(
    token: string,
    args: string[],
    opts?: { sslmode?: string; database?: string; input?: string },
  ): Promise<PsqlResult>;
  /** A connected node-postgres client through the proxy (TLS, certificate not checked). */
  client(token: string, opts?: { database?: string; options?: string }): Promise<pg.Client>;
  stop(): Promise<void>;
}

export interface PsqlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ProxyStackOptions {
  policyDir?: string;
  /** Extra config merged over the defaults (before validation). */
  config?: Record<string, unknown>;
  start?: StartOptions;
  pg?: LocalPostgres;
  oidc?: OidcHarness;
  /** The verifier's minimum interval between JWKS fetches (default: the product default). */
  jwksRefetchMs?: number;
}

export async function startProxyStack(options: ProxyStackOptions = {}): Promise<ProxyStack> {
  const work = await mkdtemp(join(tmpdir(), "portcullis-stack-"));
  const pgServer = options.pg ?? (await startPostgres());
  const oidc = options.oidc ?? (await startOidcProvider());
  const bundle = await buildBundle(options.policyDir ?? join(projectRoot(), "policies"), work);
  const roles: Record<string, { password_file: string }> = {};
  for (const role of ["analyst", "app_rw", "admin", "legacy_md5"] as const) {
    const file = join(work, `${role}.password`);
    await writeFile(file, pgServer.passwords[role], { mode: 0o600 });
    roles[role] = { password_file: file };
  }
  const raw = {
    proxy: { id: "test-proxy", region: "test" },
    listen: { host: "127.0.0.1", port: 0 },
    oidc: {
      issuers: [{ issuer: oidc.issuer, audience: oidc.clientId }],
      allow_insecure_issuer: true,
      ...(options.jwksRefetchMs !== undefined ? { jwks_refetch_min_interval_ms: options.jwksRefetchMs } : {}),
    },
    policy: { bundle: bundle.path, public_key_file: bundle.publicKeyFile },
    upstream: { host: pgServer.host, port: pgServer.port, tls: "require", roles },
    ...options.config,
  };
  const config = parseDataPlaneConfig(raw, work);
  const proxy = await startDataPlane(config, { logger: silentLogger, ...options.start });
  const port = proxy.port;
  const url = (token: string, opts: { database?: string; sslmode?: string; user?: string } = {}) =>
    `postgresql://${encodeURIComponent(opts.user ?? "someone@example.com")}:${encodeURIComponent(token)}@127.0.0.1:${port}/${opts.database ?? "app"}?sslmode=${opts.sslmode ?? "require"}`;
  return {
    pg: pgServer,
    oidc,
    proxy,
    config,
    port,
    token: (user, opts) => oidc.token(user, opts),
    url,
    psql: (token, args, opts = {}) =>
      new Promise((resolve) => {
        const child = execFile(
          toolchain().psql,
          ["-X", "-v", "ON_ERROR_STOP=1", "-d", url(token, opts), ...args],
          { env: { ...process.env, PGCONNECT_TIMEOUT: "10" }, timeout: 30_000 },
          (err, stdout, stderr) => {
            const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
        if (opts.input !== undefined) child.stdin?.end(opts.input);
        else child.stdin?.end();
      }),
    async client(token, opts = {}) {
      const client = new pg.Client({
        host: "127.0.0.1",
        port,
        user: "someone@example.com",
        password: token,
        database: opts.database ?? "app",
        ssl: { rejectUnauthorized: false },
        ...(opts.options !== undefined ? { options: opts.options } : {}),
      });
      await client.connect();
      return client;
    },
    async stop() {
      await proxy.stop();
      if (!options.oidc) await oidc.stop();
      if (!options.pg) await pgServer.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
