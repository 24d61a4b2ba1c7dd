/**
 * How both planes reach NATS: the server list, the credentials and the TLS settings, from the
 * `nats:` (control plane) or `bus:` (data plane) section of the config. One schema, one function
 * turning it into client options, so a cluster, a supercluster and a single loopback server are
 * configured the same way. Exactly one kind of credential may be given; none is fine for a
 * development server without authorization.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import {
  type Authenticator,
  type ConnectionOptions,
  credsAuthenticator,
  nkeyAuthenticator,
  type TlsOptions,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from "@nats-io/transport-node";
import { z } from "zod";
import { urlList } from "./config.js";

const file = z.string().min(1);

/** The credential and TLS fields, added to each plane's NATS section. */
export const natsAccessFields = {
  /** NATS user and password (the password from a file or an environment variable, never inline in YAML). */
  user: z.string().min(1).optional(),
  password_file: file.optional(),
  password_env: z.string().min(1).optional(),
  /** A token from a file (the server's `authorization { token }`). */
  token_file: file.optional(),
  /** An nkey seed file (`SU…`): the server knows the public key. */
  nkey_seed_file: file.optional(),
  /** A creds file (user JWT + nkey seed) for operator/JWT mode. */
  creds_file: file.optional(),
  tls: z
    .object({
      /** CA bundle that signed the NATS servers' certificates; TLS is required when any field is set. */
      ca_file: file.optional(),
      /** Client certificate and key, for servers that verify clients (`verify: true`). */
      cert_file: file.optional(),
      key_file: file.optional(),
      /** Require TLS even without a CA (the system trust store is used). */
      required: z.boolean().optional(),
    })
    .strict()
    .optional(),
};

export const natsAccessSchema = z
  .object({ servers: urlList, ...natsAccessFields })
  .superRefine((v, ctx) => checkNatsAccess(v, ctx));

export type NatsAccess = z.infer<typeof natsAccessSchema>;

/** The rules zod cannot say field by field: one credential kind, both cert and key or neither. */
export function checkNatsAccess(v: Partial<NatsAccess>, ctx: z.RefinementCtx, path: string[] = []): void {
  const kinds = [
    v.user !== undefined || v.password_file !== undefined || v.password_env !== undefined,
    v.token_file !== undefined,
    v.nkey_seed_file !== undefined,
    v.creds_file !== undefined,
  ].filter(Boolean).length;
  if (kinds > 1) {
    ctx.addIssue({
      code: "custom",
      path,
      message: "give one kind of NATS credential: user/password, token_file, nkey_seed_file or creds_file",
    });
  }
  if ((v.password_file !== undefined || v.password_env !== undefined) && v.user === undefined) {
    ctx.addIssue({ code: "custom", path: [...path, "user"], message: "a NATS password needs a user" });
  }
  if (v.password_file !== undefined && v.password_env !== undefined) {
    ctx.addIssue({ code: "custom", path, message: "give password_file or password_env, not both" });
  }
  if (Boolean(v.tls?.cert_file) !== Boolean(v.tls?.key_file)) {
    ctx.addIssue({
      code: "custom",
      path: [...path, "tls"],
      message: "give both cert_file and key_file, or neither",
    });
  }
}

/** Resolves the file paths of a NATS section against `baseDir` (in place). */
export function resolveNatsAccessPaths(v: Partial<NatsAccess>, baseDir: string): void {
  const abs = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(baseDir, p));
  v.password_file = abs(v.password_file);
  v.token_file = abs(v.token_file);
  v.nkey_seed_file = abs(v.nkey_seed_file);
  v.creds_file = abs(v.creds_file);
  if (v.tls) {
    v.tls.ca_file = abs(v.tls.ca_file);
    v.tls.cert_file = abs(v.tls.cert_file);
    v.tls.key_file = abs(v.tls.key_file);
  }
  for (const key of Object.keys(v) as (keyof NatsAccess)[]) if (v[key] === undefined) delete v[key];
}

/** Where to connect and how: what `NatsLink` takes. A plain URL or list means no credentials, no TLS. */
export type NatsTarget = string | string[] | NatsAccess;

export function natsServers(target: NatsTarget): string[] {
  if (typeof target === "string") return [target];
  if (Array.isArray(target)) return target;
  return target.servers;
}

function readSecret(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new Error(`cannot read the NATS ${what} file: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

/**
 * The client options for a target: credentials read now (files are re-read on each call, so a
 * rotated creds file is picked up by the next (re)start of the link), TLS by file paths.
 */
export function natsConnectionOptions(
  target: NatsTarget,
  env: NodeJS.ProcessEnv = process.env,
): Partial<ConnectionOptions> {
  if (typeof target === "string" || Array.isArray(target)) return {};
  const options: Partial<ConnectionOptions> = {};
  let authenticator: Authenticator | undefined;
  if (target.user !== undefined) {
    let pass: string | undefined;
    if (target.password_file) pass = readSecret(target.password_file, "password");
    if (target.password_env) {
      pass = env[target.password_env];
      if (!pass) throw new Error(`environment variable ${target.password_env} (the NATS password) is empty`);
    }
    authenticator = usernamePasswordAuthenticator(target.user, pass);
  } else if (target.token_file) {
    authenticator = tokenAuthenticator(readSecret(target.token_file, "token"));
  } else if (target.nkey_seed_file) {
    authenticator = nkeyAuthenticator(
      new TextEncoder().encode(readSecret(target.nkey_seed_file, "nkey seed")),
    );
  } else if (target.creds_file) {
    authenticator = credsAuthenticator(new TextEncoder().encode(readSecret(target.creds_file, "creds")));
  }
  if (authenticator) options.authenticator = authenticator;
  const tls = target.tls;
  if (tls && (tls.required || tls.ca_file || tls.cert_file)) {
    const t: TlsOptions = {};
    if (tls.ca_file) t.caFile = tls.ca_file;
    if (tls.cert_file) t.certFile = tls.cert_file;
    if (tls.key_file) t.keyFile = tls.key_file;
    options.tls = t;
  }
  return options;
}
