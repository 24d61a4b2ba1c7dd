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
  duration,
  formatZodError,
  urlList,
} from "../common/config.js";
import { checkNatsAccess, natsAccessFields, resolveNatsAccessPaths } from "../common/nats-settings.js";

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
        /** Credentials and TLS (common/nats-settings.ts): the control plane's own NATS user. */
        ...natsAccessFields,
      })
      .strict()
      .superRefine((v, ctx) => checkNatsAccess(v, ctx))
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
        /** JetStream replicas (3 on a cluster): the bundle KV, the Object Store and the streams. */
        replicas: z.coerce.number().int().min(1).max(5).default(1),
        /**
         * The JetStream cluster (the region's cluster name in a supercluster) the bundle KV, Object
         * Store and streams are placed in when the control plane creates them; the server's own
         * cluster when absent. See deploy/README.md for where the streams live and why.
         */
        placement_cluster: z.string().min(1).optional(),
        kv_history: z.coerce.number().int().min(1).max(64).default(10),
        /** Bundle objects kept in the object store besides the active one. */
        keep_objects: z.coerce.number().int().min(0).default(10),
      })
      .strict()
      .prefault({}),
    rollout: z
      .object({
        /** `ActivateBundle` with a canary (control-plane/rollout/canary.ts). */
        canary: z
          .object({
            /**
             * Roll back when the canary's deny rate exceeds the baseline's (the previous revision,
             * on the rest of the fleet and on the canary data planes before they switched) by more
             * than this (0.05 = 5 percentage points).
             */
            max_deny_rate_increase: z.coerce.number().min(0).max(1).default(0.05),
            /** Roll back when evaluation errors plus load errors of the canary exceed this. */
            max_errors: z.coerce.number().int().min(0).default(0),
            /** How long the canary runs cleanly before it is promoted to the whole fleet. */
            bake_seconds: z.coerce.number().min(0.1).default(300),
            /** Decisions of the canary needed before its deny rate is judged. */
            min_decisions: z.coerce.number().int().min(1).default(20),
            /** How often the canary is judged. */
            check_interval_ms: ms(500, 10),
          })
          .strict()
          .prefault({}),
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
         * `oidc`: every call carries an OIDC bearer token, verified against `oidc.issuers` and
         * authorized by the active bundle's portcullis/admin/decision (before any bundle exists, by
         * `bootstrap`). `none`: no authentication, callers are named by address; loopback only, for
         * local development.
         */
        auth: z.enum(["oidc", "none"]).default("oidc"),
        oidc: z
          .object({
            issuers: z
              .array(
                z
                  .object({
                    issuer: z.string().url(),
                    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
                    algorithms: z.array(z.string()).optional(),
                  })
                  .strict(),
              )
              .default([]),
            clock_skew_seconds: z.coerce.number().int().min(0).max(300).default(30),
            jwks_refetch_min_interval_ms: ms(30_000),
            /** Allow http:// issuers (loopback development only). */
            allow_insecure_issuer: bool.default(false),
          })
          .strict()
          .prefault({}),
        /** Who may call before any bundle is active (then the policy decides): token `sub`s and groups. */
        bootstrap: z
          .object({
            subjects: z.array(z.string().min(1)).default([]),
            groups: z.array(z.string().min(1)).default([]),
          })
          .strict()
          .prefault({}),
        tls: z
          .object({
            /** Off only for loopback development (tokens would travel in clear). */
            enabled: bool.default(true),
            /** PEM certificate chain and key; when absent a self-signed pair is made once in <data_dir>/admin-tls/. */
            cert_file: z.string().min(1).optional(),
            key_file: z.string().min(1).optional(),
          })
          .strict()
          .prefault({})
          .refine((t) => Boolean(t.cert_file) === Boolean(t.key_file), {
            message: "give both cert_file and key_file, or neither (a self-signed pair is then made)",
          }),
      })
      .strict()
      .prefault({}),
    console: z
      .object({
        /**
         * `host:port` of the web console (HTTPS with the admin API's certificate); absent: no console.
         * Its JSON gateway calls the admin API with the browser user's token, so every call is
         * authorized by portcullis/admin/decision as the CLI's are.
         */
        listen: z.string().min(1).optional(),
        /** The OIDC provider the browser logs in with (authorization code + PKCE, a public client). */
        oidc: z
          .object({
            /** Default: the first of admin.oidc.issuers. */
            issuer: z.string().url().optional(),
            /** A public client whose redirect URI is the console's URL; it must be an admin audience. */
            client_id: z.string().min(1).default("portcullis-console"),
            scope: z.string().min(1).default("openid email groups"),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    revocation: z
      .object({
        /**
         * How long a revocation is kept and enforced, and the max_age of stream
         * PORTCULLIS_REVOCATIONS: at least the longest lifetime of a token the data planes accept.
         */
        retention: duration.default(24 * 3600 * 1000),
        /** How long a revoke call waits for every live data plane's acknowledgement by default. */
        ack_timeout: duration.default(5_000),
        /** Expired revocations stay in SQLite this long, for the record. */
        keep_expired: duration.default(30 * 24 * 3600 * 1000),
      })
      .strict()
      .prefault({}),
    grants: z
      .object({
        /** The longest a just-in-time grant or access request may last, in seconds (default 8 h). */
        max_seconds: z.coerce
          .number()
          .int()
          .positive()
          .default(8 * 3600),
      })
      .strict()
      .prefault({}),
    sessions: z
      .object({
        /** A data plane whose session heartbeats stop for this long has its sessions dropped from the view. */
        heartbeat_timeout: duration.default(30_000),
        /** Ended sessions stay in SQLite this long. */
        keep_ended: duration.default(7 * 24 * 3600 * 1000),
        /** A session missing from its data plane's heartbeats this long is taken as ended (its real end comes first). */
        missing_grace: duration.default(10_000),
        /** The durable consumer on stream PORTCULLIS_SESSIONS (one per control plane deployment). */
        consumer: z
          .string()
          .regex(/^[-\w]+$/)
          .default("portcullis-control-plane-sessions"),
        /** How long JetStream waits for the acknowledgement of a session event before delivering it again. */
        ack_wait_ms: ms(30_000, 1),
        /** How long stream PORTCULLIS_SESSIONS keeps events, read or not: the longest outage that loses none. */
        stream_max_age: duration.default(7 * 24 * 3600 * 1000),
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
        batch_size: z.coerce.number().int().min(1).max(10_000).default(64),
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
  resolveNatsAccessPaths(config.nats, baseDir);
  if (config.nats.reconnect_max_ms < config.nats.reconnect_initial_ms) {
    throw new ControlPlaneConfigError(
      "invalid control-plane config:\n  nats.reconnect_max_ms: must not be below reconnect_initial_ms",
    );
  }
  const admin = config.admin;
  if (admin.auth === "none" && !isLoopbackHost(admin.host)) {
    throw new ControlPlaneConfigError(
      `invalid control-plane config:\n  admin.auth: none (no authentication) is for loopback development only, ` +
        `and admin.host is ${admin.host}; use admin.auth: oidc with admin.oidc.issuers`,
    );
  }
  if (!admin.tls.enabled && !isLoopbackHost(admin.host)) {
    throw new ControlPlaneConfigError(
      `invalid control-plane config:\n  admin.tls.enabled: false is for loopback development only, and admin.host ` +
        `is ${admin.host}: bearer tokens would travel in clear`,
    );
  }
  if (admin.tls.cert_file) admin.tls.cert_file = abs(admin.tls.cert_file);
  if (admin.tls.key_file) admin.tls.key_file = abs(admin.tls.key_file);
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
