/**
 * Data planes of a fleet for tests and benchmarks, built the way production builds them:
 * `startDataPlane` with bundles and revocations from a real control plane over real NATS
 * (`bus`), the control plane's public key, a real OIDC provider and a real PostgreSQL. Each data
 * plane keeps its state (last good bundle, deny-list) in its own folder, so it can be restarted.
 *
 * `openSession()` opens a node-postgres session through a data plane and records how it ends
 * (the ErrorResponse the proxy sent, if any), so a test can wait for a revocation to cut it.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { createLogger, type Logger, silentLogger } from "../../common/logger.js";
import { parseDataPlaneConfig } from "../../data-plane/config.js";
import { type RunningDataPlane, startDataPlane } from "../../data-plane/main.js";
import type { OidcHarness } from "../../devstack/oidc.js";
import type { LocalPostgres } from "../../devstack/postgres.js";

export interface FleetDataPlaneOptions {
  id: string;
  region: string;
  /** Where its state and secrets go (created). */
  dir: string;
  natsUrl: string;
  publicKeyFile: string;
  pg: LocalPostgres;
  oidc: OidcHarness;
  /** Extra raw config merged per section over the defaults. */
  config?: Record<string, Record<string, unknown>>;
  logger?: Logger;
}

export interface FleetDataPlane extends RunningDataPlane {
  id: string;
  region: string;
  dir: string;
  options: FleetDataPlaneOptions;
}

/** Starts one data plane of the fleet; resolves once it listens (revocations replayed). */
export async function startFleetDataPlane(options: FleetDataPlaneOptions): Promise<FleetDataPlane> {
  const secrets = join(options.dir, "secrets");
  await mkdir(secrets, { recursive: true, mode: 0o700 });
  const roles: Record<string, { password_file: string }> = {};
  for (const role of ["analyst", "app_rw", "admin"] as const) {
    const file = join(secrets, `${role}.password`);
    await writeFile(file, options.pg.passwords[role], { mode: 0o600 });
    roles[role] = { password_file: file };
  }
  const raw: Record<string, Record<string, unknown>> = {
    proxy: { id: options.id, region: options.region },
    listen: { host: "127.0.0.1", port: 0 },
    oidc: {
      issuers: [{ issuer: options.oidc.issuer, audience: options.oidc.clientId }],
      allow_insecure_issuer: true,
    },
    policy: { public_key_file: options.publicKeyFile },
    bus: { servers: [options.natsUrl], state_dir: join(options.dir, "state"), status_interval_ms: 500 },
    upstream: { host: options.pg.host, port: options.pg.port, tls: "require", roles },
  };
  for (const [section, values] of Object.entries(options.config ?? {})) {
    raw[section] = { ...raw[section], ...values };
  }
  const config = parseDataPlaneConfig(raw, options.dir);
  // PORTCULLIS_TEST_LOG=debug|info|warn: the data planes' logs on stderr, to see where a fleet test stalls
  const level = process.env.PORTCULLIS_TEST_LOG;
  const logger = options.logger ?? (level ? createLogger(options.id, { level }) : silentLogger);
  const running = await startDataPlane(config, { logger });
  return Object.assign(running, { id: options.id, region: options.region, dir: options.dir, options });
}

/** How a session ended, as the client saw it. */
export interface SessionEnd {
  /** SQLSTATE of the ErrorResponse that ended it, when the server sent one. */
  code?: string;
  message?: string;
}

export interface OpenSession {
  client: pg.Client;
  /** Resolves when the connection ends, with the error that ended it (if any). */
  ended: Promise<SessionEnd>;
  readonly isEnded: boolean;
  close(): Promise<void>;
}

/** A node-postgres session through a data plane (TLS, certificate not checked). */
export async function openSession(
  port: number,
  token: string,
  options: { database?: string; applicationName?: string } = {},
): Promise<OpenSession> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port,
    user: "someone@example.com",
    password: token,
    database: options.database ?? "app",
    ssl: { rejectUnauthorized: false },
    ...(options.applicationName ? { application_name: options.applicationName } : {}),
  });
  let done = false;
  const ended = new Promise<SessionEnd>((resolve) => {
    let error: SessionEnd | undefined;
    client.on("error", (err: Error & { code?: string }) => {
      error ??= { ...(err.code ? { code: err.code } : {}), message: err.message };
    });
    client.on("end", () => {
      done = true;
      resolve(error ?? {});
    });
  });
  await client.connect();
  return {
    client,
    ended,
    get isEnded() {
      return done;
    },
    async close() {
      if (!done) await client.end().catch(() => undefined);
    },
  };
}

/** A login attempt's outcome: ok, or the SQLSTATE and message of the refusal. */
export async function tryLogin(
  port: number,
  token: string,
): Promise<{ ok: true } | { ok: false; code?: string; message: string }> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port,
    user: "someone@example.com",
    password: token,
    database: "app",
    ssl: { rejectUnauthorized: false },
  });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    await client.end();
    return { ok: true };
  } catch (err) {
    await client.end().catch(() => undefined);
    const e = err as Error & { code?: string };
    return { ok: false, ...(e.code ? { code: e.code } : {}), message: e.message };
  }
}
