import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { applyEnvOverrides, bool, duration, formatZodError, urlList } from "../common/config.js";
import { type Backoff, DEFAULT_BACKOFF } from "../common/nats-link.js";
import { checkNatsAccess, natsAccessFields, resolveNatsAccessPaths } from "../common/nats-settings.js";

/**
 * The data plane's configuration: one YAML file, validated here, with environment overrides
 * `PORTCULLIS_<SECTION>__<KEY>` (e.g. PORTCULLIS_UPSTREAM__PORT=5433). Secrets are never inline
 * values in logs: role passwords come from a file or an environment variable.
 */

const secretSource = z
  .object({
    password_file: z.string().optional(),
    password_env: z.string().optional(),
  })
  .refine((s) => Boolean(s.password_file) !== Boolean(s.password_env), {
    message: "give exactly one of password_file or password_env",
  });

export const dataPlaneConfigSchema = z
  .object({
    proxy: z
      .object({
        id: z.string().min(1).default(`${hostname()}-${process.pid}`),
        region: z.string().min(1).default("local"),
        labels: z.record(z.string(), z.string()).default({}),
      })
      .prefault({}),
    listen: z
      .object({
        host: z.string().default("127.0.0.1"),
        port: z.coerce.number().int().min(0).max(65535).default(6432),
      })
      .prefault({}),
    tls: z
      .object({
        cert_file: z.string().optional(),
        key_file: z.string().optional(),
        /** Accept a token as password over plain TCP from loopback clients (development only). */
        allow_plaintext_loopback: bool.default(false),
        handshake_timeout_ms: z.coerce.number().int().positive().default(10_000),
      })
      .prefault({})
      .refine((t) => Boolean(t.cert_file) === Boolean(t.key_file), {
        message: "give both cert_file and key_file, or neither (a self-signed certificate is then generated)",
      }),
    oidc: z.object({
      issuers: z
        .array(
          z.object({
            issuer: z.string().url(),
            audience: z.union([z.string(), z.array(z.string()).min(1)]),
            algorithms: z.array(z.string()).optional(),
            /** Accepted JWT `typ` header values (default JWT, at+jwt, application/jwt, application/at+jwt). */
            token_types: z.array(z.string().min(1)).min(1).optional(),
            /** Accepted `azp` (client ids); default not checked. */
            authorized_parties: z.array(z.string().min(1)).min(1).optional(),
          }),
        )
        .min(1, "configure at least one OIDC issuer"),
      clock_skew_seconds: z.coerce.number().int().min(0).max(300).default(30),
      jwks_refetch_min_interval_ms: z.coerce.number().int().min(0).default(30_000),
      allow_insecure_issuer: bool.default(false),
    }),
    policy: z.object({
      /** A bundle on local disk (`portcullis bundle build`); with `bus`, later bundles come from the control plane. */
      bundle: z.string().optional(),
      /** The control plane's public key (PEM or JWK) that bundles must be signed with. */
      public_key_file: z.string(),
    }),
    upstream: z.object({
      host: z.string().default("127.0.0.1"),
      port: z.coerce.number().int().min(1).max(65535).default(5432),
      tls: z.enum(["disable", "require", "verify-full"]).default("require"),
      ca_file: z.string().optional(),
      connect_timeout_ms: z.coerce.number().int().positive().default(10_000),
      /** The most SCRAM iterations the server may ask for at login (PostgreSQL's default is 4096). */
      max_scram_iterations: z.coerce.number().int().min(4096).default(100_000),
      /**
       * The longest message (a row, an error, CopyData) the server may send, length word included:
       * the relay keeps a message whole before forwarding it. At most PostgreSQL's own 1 GiB - 1.
       */
      max_message_bytes: z.coerce.number().int().min(65_536).max(0x3fff_ffff).default(268_435_456),
      /**
       * Session pooling: an upstream session whose client left cleanly (idle, nothing in flight) is
       * reset with DISCARD ALL and reused by the next client mapped to the same role and database.
       */
      pool: z
        .object({
          enabled: bool.default(true),
          max_idle_per_key: z.coerce.number().int().min(0).default(20),
          idle_timeout_ms: z.coerce.number().int().positive().default(60_000),
          max_lifetime_ms: z.coerce.number().int().positive().default(3_600_000),
        })
        .prefault({}),
      /** Credentials per database role the policy may map to. */
      roles: z.record(z.string(), secretSource),
    }),
    session: z
      .object({
        /** From accept to the client's first ReadyForQuery (TLS, start-up, password, upstream login). */
        login_timeout_ms: z.coerce.number().int().positive().default(30_000),
        /** Client connections on this data plane, logins in progress included; beyond: 53300. */
        max_client_connections: z.coerce.number().int().positive().default(2_000),
        /** Sessions (and logins in progress) of one token subject on this data plane; 0: no limit. */
        max_connections_per_subject: z.coerce.number().int().min(0).default(250),
        /**
         * A session that has sent nothing since its login gives its upstream session back to the pool
         * after this long idle, and takes one in the same start-up state at its next message, so idle
         * clients hold no database backend (needs upstream.pool); 0: off.
         */
        park_idle_after_ms: z.coerce.number().int().min(0).default(0),
        /** A session idle inside a transaction block this long is ended (25P03) and rolled back; 0: off. */
        idle_in_transaction_timeout_ms: z.coerce.number().int().min(0).default(600_000),
        /**
         * The longest message a client may send once logged in (Query, Parse, Bind, CopyData…),
         * length word included. At most PostgreSQL's own 1 GiB - 1.
         */
        max_message_bytes: z.coerce.number().int().min(65_536).max(0x3fff_ffff).default(268_435_456),
        shutdown_grace_ms: z.coerce.number().int().min(0).default(5_000),
        /** When a session's token expires: end the session (57P01 "token expired"), or let it go on. */
        on_token_expiry: z.enum(["terminate", "continue"]).default("terminate"),
      })
      .prefault({}),
    bus: z
      .object({
        /** NATS server URL(s): bundles, revocations, session events and decision logs travel here. */
        servers: urlList,
        /** Where the last good bundle is kept, to start from when NATS or the control plane is down. */
        state_dir: z.string().default("./.portcullis/data-plane"),
        /** Status reports and session heartbeats. */
        status_interval_ms: z.coerce.number().int().positive().default(10_000),
        /**
         * The longest wait between attempts to reach NATS again (backoff from 250 ms, doubling, with
         * jitter). Lower it to catch up sooner after an outage, at the cost of more attempts.
         */
        reconnect_max_ms: z.coerce.number().int().min(100).max(300_000).default(10_000),
        /**
         * Session start and end events kept in memory until stream PORTCULLIS_SESSIONS takes them
         * (NATS down, the stream missing); beyond this new ones are dropped and counted.
         */
        session_events_max_queue: z.coerce.number().int().min(1).default(20_000),
        /** Credentials and TLS (common/nats-settings.ts): this data plane's NATS user. */
        ...natsAccessFields,
      })
      .superRefine((v, ctx) => checkNatsAccess(v, ctx))
      .optional(),
    /** Revocations from stream PORTCULLIS_REVOCATIONS (needs `bus`). */
    revocation: z
      .object({
        /**
         * How long the deny-list may go without the revocation stream: after that, new connections
         * are refused (57P03 "revocation list is stale") until it is back.
         */
        max_staleness: duration.default(30_000),
        /** `strict`: a stale deny-list also ends the live sessions. */
        mode: z.enum(["refuse_new", "strict"]).default("refuse_new"),
        /** How long start-up waits for the replay of the stream before listening anyway (stale until caught up). */
        boot_timeout: duration.default(10_000),
      })
      .strict()
      .prefault({}),
    decision_log: z
      .object({
        /** Publish every connection and statement decision on stream PORTCULLIS_DECISIONS (needs `bus`). */
        enabled: bool.default(true),
        /** Records kept in memory while NATS is unreachable; records beyond this are dropped and counted. */
        max_queue: z.coerce.number().int().min(1).default(10_000),
        /** How long a publish waits for JetStream's acknowledgement before it is retried. */
        publish_timeout_ms: z.coerce.number().int().positive().default(5_000),
      })
      .strict()
      .prefault({}),
    masking: z
      .object({
        /** Key for `hash` masks; every proxy of a fleet should share it so hashes compare. Random per process when absent. */
        hash_key_file: z.string().optional(),
      })
      .prefault({}),
    catalog: z
      .object({
        /** How long a catalog snapshot (relation names, columns) is trusted before a background refresh. */
        ttl_ms: z.coerce.number().int().positive().default(30_000),
      })
      .prefault({}),
    metrics: z
      .object({
        host: z.string().default("127.0.0.1"),
        port: z.coerce.number().int().min(0).max(65535).optional(),
      })
      .prefault({}),
  })
  .strict();

export type DataPlaneConfig = z.infer<typeof dataPlaneConfigSchema>;

/** The reconnect backoff of the data plane's NATS links (`bus.reconnect_max_ms`). */
export function busBackoff(bus: { reconnect_max_ms: number }): Backoff {
  return {
    initialMs: Math.min(DEFAULT_BACKOFF.initialMs, bus.reconnect_max_ms),
    maxMs: bus.reconnect_max_ms,
  };
}

export class ConfigError extends Error {}

/** Parses and validates a config object; relative file paths resolve against `baseDir`. */
export function parseDataPlaneConfig(raw: unknown, baseDir = process.cwd()): DataPlaneConfig {
  const result = dataPlaneConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`invalid data-plane config:\n${formatZodError(result.error)}`);
  const config = result.data;
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(baseDir, p));
  config.tls.cert_file = abs(config.tls.cert_file);
  config.tls.key_file = abs(config.tls.key_file);
  config.policy.bundle = abs(config.policy.bundle);
  config.policy.public_key_file = abs(config.policy.public_key_file)!;
  config.upstream.ca_file = abs(config.upstream.ca_file);
  config.masking.hash_key_file = abs(config.masking.hash_key_file);
  if (config.bus) {
    config.bus.state_dir = abs(config.bus.state_dir)!;
    resolveNatsAccessPaths(config.bus, baseDir);
  }
  for (const role of Object.values(config.upstream.roles)) role.password_file = abs(role.password_file);
  return config;
}

export function loadDataPlaneConfig(file: string, env: NodeJS.ProcessEnv = process.env): DataPlaneConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, "utf8")) ?? {};
  } catch (err) {
    throw new ConfigError(`cannot read data-plane config ${file}: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`data-plane config ${file} must be a YAML mapping`);
  }
  const sections = new Set(Object.keys(dataPlaneConfigSchema.shape));
  return parseDataPlaneConfig(
    applyEnvOverrides(raw as Record<string, unknown>, env, sections),
    dirname(resolve(file)),
  );
}

/** Reads a role's upstream password from its file or env var; the error names the source, never the value. */
export function readRolePassword(
  config: DataPlaneConfig,
  role: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const source = config.upstream.roles[role];
  if (!source) throw new ConfigError(`no upstream credentials configured for role "${role}"`);
  if (source.password_env) {
    const value = env[source.password_env];
    if (!value)
      throw new ConfigError(
        `environment variable ${source.password_env} (password of role "${role}") is empty`,
      );
    return value;
  }
  try {
    return readFileSync(source.password_file!, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw new ConfigError(
      `cannot read password file of role "${role}": ${(err as NodeJS.ErrnoException).code}`,
    );
  }
}
