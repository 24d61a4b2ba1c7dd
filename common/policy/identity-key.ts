/**
 * What a session's policy decisions may depend on of its identity: the subject, the database role,
 * database and region, and its token's lasting claims (not those that change from one token to the
 * next of the same identity). The data plane's decision cache and the control plane's impact replay
 * key their decisions with it, so a replayed decision is reused exactly where the data plane would.
 */
/** Left out of the key: a policy whose decision reads one of them must not declare it cacheable (policies/README.md). */
const VOLATILE_CLAIMS = new Set([
  "exp",
  "iat",
  "nbf",
  "jti",
  "auth_time",
  "at_hash",
  "c_hash",
  "nonce",
  "sid",
]);

export function identityKey(identity: {
  subject: string;
  dbRole: string;
  database: string;
  region: string;
  claims: Record<string, unknown>;
}): string {
  const claims = Object.fromEntries(
    Object.entries(identity.claims)
      .filter(([k]) => !VOLATILE_CLAIMS.has(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return JSON.stringify([identity.subject, identity.dbRole, identity.database, identity.region, claims]);
}
