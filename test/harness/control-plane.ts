/**
 * A real control plane for tests: its own data dir (SQLite, signing key, git work dir) in a temp
 * folder, the admin API on a free loopback port, no polling (tests sync on demand), and NATS at
 * the URL given (which may not be running yet).
 *
 * The admin API is plaintext without authentication (`admin.auth: none`, loopback) unless the
 * test's `config.admin` says otherwise: the tests of bundles and fleet are not about who calls;
 * the admin authentication tests configure OIDC and TLS as production does.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Logger, silentLogger } from "../../common/logger.js";
import { type ControlPlaneConfig, parseControlPlaneConfig } from "../../control-plane/config.js";
import {
  type RunningControlPlane,
  type StartControlPlaneOptions,
  startControlPlane,
} from "../../control-plane/control-plane.js";

export interface TestControlPlane extends RunningControlPlane {
  dataDir: string;
  publicKeyFile: string;
  /** Stops it and deletes its data dir. */
  destroy(): Promise<void>;
}

export interface TestControlPlaneOptions extends StartControlPlaneOptions {
  natsUrl: string;
  /** The policy repository (a local path); no git source when absent. */
  repo?: string;
  folder?: string;
  /** Reuse a data dir (a restart of the same control plane). */
  dataDir?: string;
  /** Extra raw config, merged per section. */
  config?: Record<string, Record<string, unknown>>;
  logger?: Logger;
}

/** The `admin` config section of production: OIDC bearer tokens from `oidc`, over TLS. */
export function oidcAdmin(oidc: { issuer: string; clientId: string }): Record<string, unknown> {
  return {
    auth: "oidc",
    oidc: { issuers: [{ issuer: oidc.issuer, audience: oidc.clientId }], allow_insecure_issuer: true },
    tls: { enabled: true },
  };
}

export async function startTestControlPlane(options: TestControlPlaneOptions): Promise<TestControlPlane> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "portcullis-cp-")));
  const publicKeyFile = join(dataDir, "bundle-public.pem");
  const raw: Record<string, Record<string, unknown>> = {
    store: {},
    signing: { public_key_out: publicKeyFile },
    source: options.repo
      ? {
          git: {
            url: options.repo,
            branch: "main",
            folder: options.folder ?? "policies",
            poll_interval_ms: 0,
          },
        }
      : {},
    nats: {
      servers: [options.natsUrl],
      reconnect_initial_ms: 50,
      reconnect_max_ms: 500,
      connect_timeout_ms: 2_000,
    },
    admin: { host: "127.0.0.1", port: 0, auth: "none", tls: { enabled: false } },
    fleet: { stale_after_ms: 60_000 },
  };
  for (const [section, values] of Object.entries(options.config ?? {})) {
    raw[section] = { ...raw[section], ...values };
  }
  const config: ControlPlaneConfig = parseControlPlaneConfig({ data_dir: dataDir, ...raw }, dataDir);
  let running: RunningControlPlane;
  try {
    running = await startControlPlane(config, { logger: options.logger ?? silentLogger, ...options });
  } catch (err) {
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...running,
    dataDir,
    publicKeyFile,
    async destroy() {
      await running.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
