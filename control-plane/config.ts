/**
 * The control plane's configuration: one YAML file validated here, with environment overrides
 * `PORTCULLIS_<SECTION>__<KEY>` (nested keys with more `__`, e.g. PORTCULLIS_SOURCE__GIT__URL,
 * PORTCULLIS_NATS__SERVERS=nats://a:4222,nats://b:4222). Variables naming a section this file
 * does not have are ignored (the data plane shares the prefix). Relative paths resolve against the
 * config file's folder; `data_dir` holds everything the control plane writes unless told otherwise.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import {
  applyEnvOverrides as applySectionOverrides,
  bool,
  formatZodError,
  urlList,
} from "../common/config.js";

const port = z.coerce.number().int().min(0).max(65535);
const ms = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

export const controlPlaneConfigSchema = z
  .object({
    /** Where the database, the signing key and the git work dirs go by default. */
    data_dir: z.string().min(1).default("./.portcullis"),
    store: z
      .object({
        /** SQLite file; default <data_dir>/control-plane.db. */
        path: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    signing: z
      .object({
        /** Ed25519 private key (PKCS#8 PEM or JWK); generated on first start; default <data_dir>/bundle-signing.pem. */
        key_file: z.string().min(1).optional(),
        /** Also write the public key here on start (PEM, or JWK when it ends in .json/.jwk) for data planes. */
        public_key_out: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    source: z
      .object({
        git: z
          .object({
            /** A local path or URL of the policy repository. No git source when absent. */
            url: z.string().min(1).optional(),
            branch: z.string().min(1).default("main"),
            /** Folder inside the repository holding the Rego ("" for the root). */
            folder: z.string().default("policies"),
            /** 0 = no polling (SyncPolicies only). */
            poll_interval_ms: ms(30_000),
            /** Per git command. */
            timeout_ms: ms(120_000, 1),
            max_commits_per_sync: z.coerce.number().int().min(1).max(1000).default(10),
            /** git binary; default `git` from PATH. */
            binary: z.string().min(1).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    pipeline: z
      .object({
        /** Activate each sync's newest good commit (and PublishBundle sources) at once. */
        auto_activate: bool.default(true),
        /** opa binary; default PORTCULLIS_OPA, then the toolchain recorded by `make setup`. */
        opa_path: z.string().min(1).optional(),
        /** Per opa command. */
        opa_timeout_ms: z.coerce.number().int().min(1).optional(),
      })
      .strict()
      .prefault({}),
    nats: z
      .object({
        servers: urlList.default(["nats://127.0.0.1:4222"]),
        name: z.string().min(1).default("portcullis-control-plane"),
        connect_timeout_ms: ms(5_000, 1),
        reconnect_initial_ms: ms(250, 1),
        reconnect_max_ms: ms(10_000, 1),
      })
      .strict()
      .prefault({}),
    distribution: z
      .object({
        kv_bucket: z
          .string()
          .regex(/^[-\w]+$/)
          .default("portcullis_bundles"),
        object_bucket: z
          .string()
          .regex(/^[-\w]+$/)
          .default("portcullis_bundle_objects"),
        /** JetStream replicas (3 on a cluster). */
        replicas: z.coerce.number().int().min(1).max(5).default(1),
        kv_history: z.coerce.number().int().min(1).max(64).default(10),
        /** Bundle objects kept in the object store besides the active one. */
        keep_objects: z.coerce.number().int().min(0).default(10),
      })
      .strict()
      .prefault({}),
    fleet: z
      .object({
        /** A data plane not heard from for this long is not live (reports come every ~10 s). */
        stale_after_ms: ms(60_000, 1),
        /** Data planes not heard from for this long are forgotten at start (default 7 days). */
        forget_after_ms: ms(7 * 24 * 3600 * 1000, 1),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        host: z.string().min(1).default("127.0.0.1"),
        port: port.default(7070),
        reflection: bool.default(true),
        /**
         * The admin API has no authentication yet: binding to anything but loopback is refused
         * unless this is set (behind a trusted network or a proxy that authenticates).
         */
        allow_unauthenticated_remote: bool.default(false),
      })
      .strict()
      .prefault({}),
    decisions: z
      .object({
        /** Stored decisions older than this many days are deleted (checked every prune_interval_ms). */
        retention_days: z.coerce.number().positive().default(30),
        /** 0 = prune only at start. */
        prune_interval_ms: ms(3_600_000),
        /** The durable consumer on stream PORTCULLIS_DECISIONS (one per control plane deployment). */
        consumer: z
          .string()
          .regex(/^[-\w]+$/)
          .default("portcullis-control-plane"),
        /** Records stored per SQLite transaction (at most). */
        batch_size: z.coerce.number().int().min(1).max(10_000).default(256),
        /** How long the stream keeps records, read or not: the longest control plane outage that loses nothing. */
        stream_max_age_ms: ms(7 * 24 * 3600 * 1000, 1),
        /** Largest stream size in bytes (oldest records go first); -1 for no limit. */
        stream_max_bytes: z.coerce
          .number()
          .int()
          .min(-1)
          .default(1024 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        host: z.string().default("127.0.0.1"),
        /** /metrics, /healthz, /readyz; off when absent. */
        port: port.optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type ControlPlaneConfig = z.infer<typeof controlPlaneConfigSchema> & {
  store: { path: string };
  signing: { key_file: string };
};

export class ControlPlaneConfigError extends Error {
  override name = "ControlPlaneConfigError";
}

const SECTIONS: ReadonlySet<string> = new Set(Object.keys(controlPlaneConfigSchema.shape));

/**
 * Applies PORTCULLIS_<SECTION>__<KEY>[__<KEY>…]=value onto `raw` for the sections of this schema
 * (common/config.ts), and PORTCULLIS_DATA_DIR for the top-level `data_dir`. Returns `raw`.
 */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  if (env.PORTCULLIS_DATA_DIR) raw.data_dir = env.PORTCULLIS_DATA_DIR;
  return applySectionOverrides(raw, env, SECTIONS);
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127\./.test(host);
}

/**
 * Validates a config object; relative paths resolve against `baseDir`, and a git `url` that is a
 * relative local path too (URLs with a scheme or scp-like `host:path` are left as they are).
 */
export function parseControlPlaneConfig(raw: unknown, baseDir: string = process.cwd()): ControlPlaneConfig {
  const result = controlPlaneConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    throw new ControlPlaneConfigError(`invalid control-plane config:\n${formatZodError(result.error)}`);
  }
  const config = result.data;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  config.data_dir = abs(config.data_dir);
  config.store.path = config.store.path ? abs(config.store.path) : join(config.data_dir, "control-plane.db");
  config.signing.key_file = config.signing.key_file
    ? abs(config.signing.key_file)
    : join(config.data_dir, "bundle-signing.pem");
  if (config.signing.public_key_out) config.signing.public_key_out = abs(config.signing.public_key_out);
  const git = config.source.git;
  if (git.url && !/^[a-z][a-z0-9+.-]*:\/\//i.test(git.url) && !/^[^/]+@[^/:]+:/.test(git.url)) {
    git.url = abs(git.url);
  }
  if (git.binary?.includes("/")) git.binary = abs(git.binary);
  if (config.pipeline.opa_path) config.pipeline.opa_path = abs(config.pipeline.opa_path);
  if (config.nats.reconnect_max_ms < config.nats.reconnect_initial_ms) {
    throw new ControlPlaneConfigError(
      "invalid control-plane config:\n  nats.reconnect_max_ms: must not be below reconnect_initial_ms",
    );
  }
  if (!isLoopbackHost(config.admin.host) && !config.admin.allow_unauthenticated_remote) {
    throw new ControlPlaneConfigError(
      `invalid control-plane config:\n  admin.host: ${config.admin.host} is not loopback and the admin API has no ` +
        "authentication yet; bind to 127.0.0.1, or set admin.allow_unauthenticated_remote: true behind a trusted network",
    );
  }
  return config as ControlPlaneConfig;
}

/** Reads, overrides from `env` and validates the YAML file. */
export function loadControlPlaneConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): ControlPlaneConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, "utf8")) ?? {};
  } catch (err) {
    throw new ControlPlaneConfigError(`cannot read control-plane config ${file}: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ControlPlaneConfigError(`control-plane config ${file} must be a YAML mapping`);
  }
  return parseControlPlaneConfig(
    applyEnvOverrides(raw as Record<string, unknown>, env),
    dirname(resolve(file)),
  );
}
