/**
 * Hand-made attack tokens for a given issuer and audience, built with `jose` (or by hand where jose
 * rightly refuses, e.g. `alg: none`). Each comes with the refusal a correct verifier gives it, named with
 * the codes of common/auth/token-verifier.ts.
 *
 * The claim-level attacks (expired, not yet valid, wrong audience, wrong issuer, missing `sub`, future
 * `iat`, oversized) are signed with the provider's REAL private key, so the only thing wrong with them is
 * the one thing under test: a verifier that skipped that check would accept them.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { exportJWK, exportSPKI, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from "jose";
import type { TokenErrorCode } from "../../common/auth/token-verifier.js";

/** The refusal codes a verifier is expected to give: the product's own codes, less the ones no forged token earns. */
export type ExpectedRefusal = Exclude<TokenErrorCode, "wrong_party" | "issuer_unavailable">;

export interface ForgeTarget {
  /** The issuer the verifier trusts. */
  issuer: string;
  /** An audience the verifier accepts. */
  audience: string;
  /**
   * The provider's current private RSA signing key (with its `kid`), e.g. `harness.privateJwks()[0]`: used
   * to sign the claim-level attacks and, in public form, as the HMAC secret of the key-confusion attacks.
   */
  signingKey: JWK;
  /** Default `mallory`. */
  subject?: string;
}

export interface ForgedToken {
  name: string;
  token: string;
  expect: ExpectedRefusal;
}

const now = (): number => Math.floor(Date.now() / 1000);

function b64url(input: string | Uint8Array): string {
  return Buffer.from(input).toString("base64url");
}

/** Claims a legitimate token for `target` would carry: valid for ten minutes from now. */
export function baseClaims(target: ForgeTarget, extra: JWTPayload = {}): JWTPayload {
  const issuedAt = now();
  return {
    iss: target.issuer,
    aud: target.audience,
    sub: target.subject ?? "mallory",
    iat: issuedAt,
    exp: issuedAt + 600,
    email: "mallory@example.com",
    groups: ["admins"],
    roles: ["superuser"],
    ...extra,
  };
}

function rsaKid(target: ForgeTarget): string {
  if (typeof target.signingKey.kid !== "string") throw new Error("ForgeTarget.signingKey needs its kid");
  return target.signingKey.kid;
}

/** Signs `claims` with the provider's real key (and its kid), exactly as the provider would. */
export async function signWithProviderKey(
  target: ForgeTarget,
  claims: JWTPayload,
  alg = "RS256",
  typ = "JWT",
): Promise<string> {
  const key = await importJWK(target.signingKey, alg);
  return new SignJWT(claims).setProtectedHeader({ alg, kid: rsaKid(target), typ }).sign(key);
}

/** Signed by an unrelated RSA key: with the provider's `kid` (a signature mismatch) or a fresh unknown one. */
export async function signedWithUnrelatedKey(
  target: ForgeTarget,
  kid: "provider" | "fresh",
  header: Record<string, unknown> = {},
): Promise<string> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const keyId = kid === "provider" ? rsaKid(target) : `forged-${randomUUID()}`;
  return new SignJWT(baseClaims(target))
    .setProtectedHeader({ ...header, alg: "RS256", kid: keyId, typ: "JWT" })
    .sign(privateKey);
}

/** `{"alg":"none"}` with the provider's kid and an empty signature: `eyJ….eyJ….` */
export function unsignedAlgNone(target: ForgeTarget, alg = "none"): string {
  const header = b64url(JSON.stringify({ alg, kid: rsaKid(target), typ: "JWT" }));
  return `${header}.${b64url(JSON.stringify(baseClaims(target)))}.`;
}

/** The provider's public RSA key as the verifier would find it, in the two forms HMAC confusion uses. */
export async function publicKeyMaterial(target: ForgeTarget): Promise<{ pem: string; jwkJson: string }> {
  const { d, p, q, dp, dq, qi, ...publicJwk } = target.signingKey;
  const key = await importJWK({ ...publicJwk, alg: "RS256" }, "RS256", { extractable: true });
  if (key instanceof Uint8Array) throw new Error("expected an RSA key");
  return { pem: await exportSPKI(key), jwkJson: JSON.stringify(publicJwk) };
}

/** HS256 with the provider's PUBLIC key as the HMAC secret (the classic RS/HS key-confusion attack). */
export async function hmacWithPublicKey(
  target: ForgeTarget,
  form: "pem" | "jwk",
  alg = "HS256",
): Promise<string> {
  const material = await publicKeyMaterial(target);
  const secret = new TextEncoder().encode(form === "pem" ? material.pem : material.jwkJson);
  return new SignJWT(baseClaims(target))
    .setProtectedHeader({ alg, kid: rsaKid(target), typ: "JWT" })
    .sign(secret);
}

/** Random bytes and broken structures that are not a JWS at all. */
export function garbageTokens(): { name: string; token: string }[] {
  const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
  return [
    { name: "empty string", token: "" },
    { name: "random binary bytes", token: randomBytes(96).toString("latin1") },
    { name: "random base64url, no dots", token: randomBytes(96).toString("base64url") },
    { name: "not a jwt", token: "not-a-jwt" },
    { name: "three dots of nothing", token: ".." },
    { name: "base64url of non-JSON", token: `${b64url("hello")}.${b64url("world")}.${b64url("sig")}` },
    { name: "JSON array payload", token: `${header}.${b64url("[1,2,3]")}.${b64url("sig")}` },
    { name: "header not JSON", token: `${b64url("{alg:RS256")}.${b64url("{}")}.${b64url("sig")}` },
    { name: "five segments (JWE shape)", token: `${header}.a.b.c.d` },
    { name: "whitespace inside", token: `${header}. .${b64url("sig")}` },
  ];
}

/** Every attack, each with the refusal it must get. */
export async function forgeAll(target: ForgeTarget): Promise<ForgedToken[]> {
  const t = now();
  const forged: ForgedToken[] = [
    {
      name: "unrelated RSA key, provider's kid",
      token: await signedWithUnrelatedKey(target, "provider"),
      expect: "bad_signature",
    },
    {
      name: "unrelated RSA key, unknown kid",
      token: await signedWithUnrelatedKey(target, "fresh"),
      expect: "unknown_key",
    },
    {
      name: "unrelated key embedded as a jwk header, provider's kid",
      token: await embeddedJwkHeader(target),
      expect: "bad_signature",
    },
    {
      name: "jku header pointing elsewhere, unknown kid",
      token: await signedWithUnrelatedKey(target, "fresh", { jku: "https://attacker.invalid/jwks.json" }),
      expect: "unknown_key",
    },
    { name: "alg none", token: unsignedAlgNone(target), expect: "unsupported_algorithm" },
    {
      name: "alg None (case variant)",
      token: unsignedAlgNone(target, "None"),
      expect: "unsupported_algorithm",
    },
    {
      name: "HS256 with the public key PEM as secret",
      token: await hmacWithPublicKey(target, "pem"),
      expect: "unsupported_algorithm",
    },
    {
      name: "HS256 with the public key JWK JSON as secret",
      token: await hmacWithPublicKey(target, "jwk"),
      expect: "unsupported_algorithm",
    },
    {
      name: "HS512 with the public key PEM as secret",
      token: await hmacWithPublicKey(target, "pem", "HS512"),
      expect: "unsupported_algorithm",
    },
    {
      name: "expired an hour ago",
      token: await signWithProviderKey(target, baseClaims(target, { iat: t - 7200, exp: t - 3600 })),
      expect: "expired",
    },
    {
      name: "nbf an hour in the future",
      token: await signWithProviderKey(target, baseClaims(target, { nbf: t + 3600, exp: t + 7200 })),
      expect: "not_yet_valid",
    },
    {
      name: "iat an hour in the future",
      token: await signWithProviderKey(target, baseClaims(target, { iat: t + 3600, exp: t + 7200 })),
      expect: "not_yet_valid",
    },
    {
      name: "wrong audience",
      token: await signWithProviderKey(target, baseClaims(target, { aud: "some-other-service" })),
      expect: "wrong_audience",
    },
    {
      name: "wrong issuer",
      token: await signWithProviderKey(target, baseClaims(target, { iss: "https://evil.example.com" })),
      expect: "unknown_issuer",
    },
    {
      name: "issuer with a trailing slash",
      token: await signWithProviderKey(target, baseClaims(target, { iss: `${target.issuer}/` })),
      expect: "unknown_issuer",
    },
    {
      name: "no sub",
      token: await signWithProviderKey(target, baseClaims(target, { sub: undefined })),
      expect: "missing_claim",
    },
    {
      name: "no exp",
      token: await signWithProviderKey(target, baseClaims(target, { exp: undefined })),
      expect: "missing_claim",
    },
    {
      name: "a logout token (typ logout+jwt), otherwise valid",
      token: await signWithProviderKey(target, baseClaims(target), "RS256", "logout+jwt"),
      expect: "wrong_type",
    },
    {
      name: "a security event token (typ secevent+jwt), otherwise valid",
      token: await signWithProviderKey(target, baseClaims(target), "RS256", "secevent+jwt"),
      expect: "wrong_type",
    },
    {
      name: "oversized (> 65,535 bytes), otherwise valid",
      token: await signWithProviderKey(target, baseClaims(target, { pad: "A".repeat(70_000) })),
      expect: "too_large",
    },
  ];
  for (const garbage of garbageTokens())
    forged.push({ ...garbage, name: `garbage: ${garbage.name}`, expect: "malformed" });
  return forged;
}

/** An attacker key embedded in the header (`jwk`), signing with it, claiming the provider's kid. */
async function embeddedJwkHeader(target: ForgeTarget): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  return new SignJWT(baseClaims(target))
    .setProtectedHeader({ alg: "RS256", kid: rsaKid(target), typ: "JWT", jwk })
    .sign(privateKey);
}
