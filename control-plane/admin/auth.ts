/**
 * Who may call the admin API (config `admin.auth`):
 *
 * - `oidc` (the default): every call carries `authorization: Bearer <OIDC token>`. The token is
 *   verified by the data planes' own TokenVerifier (common/auth/token-verifier.ts: allow-listed
 *   algorithms, iss/aud/exp/nbf, JWKS via discovery) against `admin.oidc.issuers`; a missing,
 *   malformed or invalid token is UNAUTHENTICATED. The call is then decided by
 *   `portcullis/admin/decision` of the control plane's own active bundle, loaded into the data
 *   plane's PolicyRuntime (after the same signature check data planes make) with input
 *   `{token: claims, method, request}` (byte fields of the request replaced by their length);
 *   a denial is PERMISSION_DENIED with the policy's reasons. Before any bundle is active, only
 *   the subjects and groups of `admin.bootstrap` may call.
 * - `none`: no authentication, callers are named `unauthenticated@<peer>`; the configuration only
 *   allows it on a loopback listener, for local development.
 *
 * The caller's subject (`sub`) is what activations, publishes and revocations record.
 *
 * The verifier and the runtime live in common/ because both planes use them: using the very same
 * verifier and runtime as the data planes is the point.
 */
import type { KeyObject } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { TokenError, TokenVerifier } from "../../common/auth/token-verifier.js";
import type { Logger } from "../../common/logger.js";
import { verifyBundle } from "../../common/policy/bundle-verify.js";
import { PolicyRuntime } from "../../common/policy/runtime.js";
import { decodeBundle } from "../../proto/bundle-file.js";
import type { TokenClaims } from "../../proto/policy.js";
import type { ControlPlaneConfig } from "../config.js";
import { ControlPlaneConfigError } from "../config.js";
import type { ControlPlaneStore } from "../store/index.js";
import { AdminAuthError, type AdminCaller, type Authorize, type AuthorizeRequest } from "./server.js";

export interface AdminAuthorizer {
  authorize: Authorize;
  /** The revision whose admin policy decides now (undefined: bootstrap). */
  readonly revision: string | undefined;
  stop(): Promise<void>;
}

export interface AdminAuthorizerOptions {
  admin: ControlPlaneConfig["admin"];
  store: ControlPlaneStore;
  /** The control plane's bundle public key: its own bundles are verified like a data plane does. */
  publicKey: KeyObject;
  logger: Logger;
}

/** What a call's request looks like to the policy: bytes become `{bytes: <length>}`. */
export function policyView(value: unknown, depth = 0): unknown {
  if (depth > 20) return null;
  if (value instanceof Uint8Array) return { bytes: value.byteLength };
  if (Array.isArray(value)) return value.map((v) => policyView(v, depth + 1));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = policyView(v, depth + 1);
    return out;
  }
  return value;
}

/** The token of `authorization: Bearer <token>`; undefined when absent. */
export function bearerToken(metadata: grpc.Metadata): string | undefined {
  const values = metadata.get("authorization");
  if (values.length === 0) return undefined;
  if (values.length > 1)
    throw new AdminAuthError(grpc.status.UNAUTHENTICATED, "give one authorization header");
  const match = /^Bearer\s+(\S+)\s*$/i.exec(String(values[0]));
  if (!match)
    throw new AdminAuthError(
      grpc.status.UNAUTHENTICATED,
      "the authorization header must be `Bearer <token>`",
    );
  return match[1];
}

const noAuth: Authorize = async ({ peer }) => ({ subject: `unauthenticated@${peer}` });

export async function createAdminAuthorizer(options: AdminAuthorizerOptions): Promise<AdminAuthorizer> {
  const { admin, store, logger } = options;
  if (admin.auth === "none") {
    logger.warn("admin.auth is none: the admin API accepts every caller (loopback development only)");
    return { authorize: noAuth, revision: undefined, stop: async () => {} };
  }
  if (admin.oidc.issuers.length === 0) {
    throw new ControlPlaneConfigError(
      "invalid control-plane config:\n  admin.oidc.issuers: admin.auth is oidc (the default) and no issuer is " +
        "configured: list the OIDC issuers (and audiences) of admin tokens, or set admin.auth: none for " +
        "loopback development",
    );
  }
  const verifier = new TokenVerifier({
    issuers: admin.oidc.issuers.map((i) => ({
      issuer: i.issuer,
      audience: i.audience,
      ...(i.algorithms ? { algorithms: i.algorithms } : {}),
    })),
    clockSkewSeconds: admin.oidc.clock_skew_seconds,
    jwksRefetchMinIntervalMs: admin.oidc.jwks_refetch_min_interval_ms,
    allowInsecureIssuer: admin.oidc.allow_insecure_issuer,
    logger,
  });
  // An identity provider that is down at start is retried on the first call that needs it.
  await verifier
    .start()
    .catch((err: Error) =>
      logger.warn({ err: err.message }, "admin OIDC issuers unreachable at start; retried on the first call"),
    );

  let loaded: { revision: string; runtime: Promise<PolicyRuntime> } | undefined;
  const runtimeFor = (revision: string): Promise<PolicyRuntime> => {
    if (loaded?.revision === revision) return loaded.runtime;
    const runtime = (async () => {
      const active = store.bundles.activeBundle();
      if (!active || active.revision !== revision) throw new Error(`bundle ${revision} is no longer active`);
      const verified = await verifyBundle(await decodeBundle(active.bytes), [options.publicKey]);
      const policy = await PolicyRuntime.load(verified, { logger });
      logger.info({ revision }, "admin API authorized by the active bundle's portcullis/admin/decision");
      return policy;
    })();
    loaded = { revision, runtime };
    runtime.catch(() => {
      if (loaded?.runtime === runtime) loaded = undefined;
    });
    return runtime;
  };

  const bootstrapSubjects = new Set(admin.bootstrap.subjects);
  const bootstrapGroups = new Set(admin.bootstrap.groups);

  const authorize: Authorize = async ({
    method,
    metadata,
    request,
  }: AuthorizeRequest): Promise<AdminCaller> => {
    const token = bearerToken(metadata);
    if (!token) {
      throw new AdminAuthError(
        grpc.status.UNAUTHENTICATED,
        "a bearer token is required (authorization: Bearer <OIDC token>)",
      );
    }
    let claims: TokenClaims;
    try {
      ({ claims } = await verifier.verify(token));
    } catch (err) {
      const message = err instanceof TokenError ? err.publicMessage : "token not valid";
      logger.info({ method, reason: (err as Error).message }, "admin call with a rejected token");
      throw new AdminAuthError(grpc.status.UNAUTHENTICATED, `token rejected: ${message}`);
    }
    const caller: AdminCaller = { subject: claims.sub };
    const revision = store.bundles.active()?.revision;
    if (revision === undefined) {
      const groups = Array.isArray(claims.groups) ? claims.groups : [];
      if (bootstrapSubjects.has(claims.sub) || groups.some((g) => bootstrapGroups.has(g))) return caller;
      throw new AdminAuthError(
        grpc.status.PERMISSION_DENIED,
        `${claims.sub} may not call ${method}: no policy bundle is active yet, and only admin.bootstrap ` +
          "subjects and groups may call until one is",
      );
    }
    let runtime: PolicyRuntime;
    try {
      runtime = await runtimeFor(revision);
    } catch (err) {
      logger.error(
        { revision, err: (err as Error).message },
        "cannot load the active bundle for admin decisions",
      );
      throw new AdminAuthError(
        grpc.status.PERMISSION_DENIED,
        `${method} denied: the admin policy of bundle ${revision} cannot be evaluated`,
      );
    }
    const decision = runtime.evaluateAdmin({ token: claims, method, request: policyView(request) });
    if (!decision.allow) {
      const reasons =
        decision.reasons.length > 0 ? decision.reasons.join("; ") : "denied by the admin policy";
      logger.info({ method, sub: claims.sub, reasons: decision.reasons }, "admin call denied");
      throw new AdminAuthError(grpc.status.PERMISSION_DENIED, reasons);
    }
    return caller;
  };

  return {
    authorize,
    get revision() {
      return loaded?.revision;
    },
    stop: async () => {},
  };
}
