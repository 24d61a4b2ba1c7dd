import { randomUUID } from "node:crypto";
import { decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { baseClaims, forgeAll, signWithProviderKey } from "../../test/harness/forged-tokens.js";
import { type OidcHarness, startOidcProvider } from "../../test/harness/oidc.js";
import { TokenError, TokenVerifier, type TokenVerifierOptions } from "./token-verifier.js";

// Integration: a real oidc-provider (test/harness/oidc.ts) issues ID tokens through the authorization code
// grant; the verifier discovers it with openid-client and fetches its JWKS over HTTP.

let idp: OidcHarness;
const alice = {
  sub: "alice",
  email: "alice@example.com",
  groups: ["dba", "eu-analysts"],
  roles: ["reader", "writer"],
  department: "finance",
};

beforeAll(async () => {
  idp = await startOidcProvider();
});

afterAll(async () => {
  await idp?.stop();
});

afterEach(() => {
  vi.useRealTimers();
});

async function verifierFor(options: Partial<TokenVerifierOptions> = {}): Promise<TokenVerifier> {
  const verifier = new TokenVerifier({
    issuers: [{ issuer: idp.issuer, audience: idp.clientId }],
    allowInsecureIssuer: true,
    ...options,
  });
  await verifier.start();
  return verifier;
}

async function refusal(promise: Promise<unknown>): Promise<TokenError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TokenError);
    return err as TokenError;
  }
  throw new Error("expected the token to be refused, but it verified");
}

describe("tokens from the real provider", () => {
  test("an ID token from the code flow verifies, carrying email, groups, roles and custom claims", async () => {
    const verifier = await verifierFor();
    const token = await idp.token(alice);
    const result = await verifier.verify(token);
    expect(result.issuer).toBe(idp.issuer);
    expect(result.algorithm).toBe("RS256");
    expect(result.keyId).toBe(idp.privateJwks()[0]?.kid);
    expect(result.claims).toMatchObject({
      iss: idp.issuer,
      aud: "portcullis",
      sub: "alice",
      email: "alice@example.com",
      groups: ["dba", "eu-analysts"],
      roles: ["reader", "writer"],
      department: "finance",
    });
    expect(typeof result.claims.exp).toBe("number");
    expect(typeof result.claims.iat).toBe("number");
  });

  test("ES256 and PS256 ID tokens verify", async () => {
    const verifier = await verifierFor();
    for (const algorithm of ["ES256", "PS256"] as const) {
      const token = await idp.token({ sub: "bob", groups: ["ops"] }, { algorithm });
      const result = await verifier.verify(token);
      expect(result.algorithm).toBe(algorithm);
      expect(result.claims.groups).toEqual(["ops"]);
    }
  });

  test("the requested lifetime is the token's exp - iat", async () => {
    const verifier = await verifierFor();
    const { claims } = await verifier.verify(await idp.token(alice, { lifetimeSeconds: 90 }));
    expect(claims.exp - (claims.iat ?? 0)).toBe(90);
  });

  test("a token issued to another client is refused unless that audience is configured", async () => {
    const verifier = await verifierFor();
    const foreign = await idp.token(alice, { audience: "other-app" });
    const error = await refusal(verifier.verify(foreign));
    expect(error.code).toBe("wrong_audience");
    expect(error.publicMessage).toBe("token audience not accepted");

    const both = await verifierFor({
      issuers: [{ issuer: idp.issuer, audience: ["portcullis", "other-app"] }],
    });
    expect((await both.verify(foreign)).claims.aud).toBe("other-app");
  });

  test("a verifier configured for another issuer refuses the provider's tokens", async () => {
    const other = await startOidcProvider();
    try {
      const verifier = new TokenVerifier({
        issuers: [{ issuer: other.issuer, audience: "portcullis" }],
        allowInsecureIssuer: true,
      });
      await verifier.start();
      const error = await refusal(verifier.verify(await idp.token(alice)));
      expect(error.code).toBe("unknown_issuer");
      expect(error.publicMessage).toBe("token issuer not accepted");
    } finally {
      await other.stop();
    }
  });
});

describe("attack tokens", () => {
  test("every forged token is refused with the right code", async () => {
    const verifier = await verifierFor();
    const [signingKey] = idp.privateJwks();
    if (!signingKey) throw new Error("the harness published no signing key");
    const forged = await forgeAll({ issuer: idp.issuer, audience: idp.clientId, signingKey });
    const results = [];
    for (const attack of forged) {
      const error = await refusal(verifier.verify(attack.token));
      results.push({ attack: attack.name, code: error.code });
    }
    expect(results).toEqual(forged.map((attack) => ({ attack: attack.name, code: attack.expect })));
  });

  test("a token signed with the provider's own key and correct claims verifies (the forgery baseline)", async () => {
    // Guards the attack test above: the same signing path with nothing wrong must pass, so each refusal
    // there is caused by the one thing the attack changed.
    const verifier = await verifierFor();
    const [signingKey] = idp.privateJwks();
    if (!signingKey) throw new Error("the harness published no signing key");
    const target = { issuer: idp.issuer, audience: idp.clientId, signingKey };
    expect((await verifier.verify(await signWithProviderKey(target, baseClaims(target)))).claims.sub).toBe(
      "mallory",
    );
  });
});

describe("key rotation and refetch limits", () => {
  test("after rotateSigningKey() a new token verifies without restarting the verifier", async () => {
    const verifier = await verifierFor({ jwksRefetchMinIntervalMs: 0 });
    const oldToken = await idp.token(alice);
    await verifier.verify(oldToken);
    const oldKid = decodeProtectedHeader(oldToken).kid;

    await idp.rotateSigningKey();
    const newToken = await idp.token(alice);
    const newKid = decodeProtectedHeader(newToken).kid;
    expect(newKid).not.toBe(oldKid);
    expect((await verifier.verify(newToken)).keyId).toBe(newKid);
    // The previous key stays published, so tokens issued before the rotation still verify.
    expect((await verifier.verify(oldToken)).keyId).toBe(oldKid);
  });

  test("an unknown-kid flood does not refetch the JWKS more than once per interval", async () => {
    const verifier = await verifierFor({ jwksRefetchMinIntervalMs: 60_000 });
    const { privateKey } = await generateKeyPair("RS256");
    const strangerKid = `unknown-${randomUUID()}`;
    const target = { issuer: idp.issuer, audience: idp.clientId, signingKey: idp.privateJwks()[0] ?? {} };
    const forge = () =>
      new SignJWT(baseClaims(target)).setProtectedHeader({ alg: "RS256", kid: strangerKid }).sign(privateKey);
    const flood = async () => {
      const tokens = await Promise.all(Array.from({ length: 30 }, forge));
      const errors = await Promise.all(tokens.map((t) => refusal(verifier.verify(t))));
      for (const t of tokens.slice(0, 10)) errors.push(await refusal(verifier.verify(t)));
      expect(new Set(errors.map((e) => e.code))).toEqual(new Set(["unknown_key"]));
    };

    const afterStart = idp.jwksRequestCount();
    await flood();
    expect(idp.jwksRequestCount()).toBe(afterStart);

    // Once the interval has passed (the clock is moved, nothing sleeps), one refetch, then quiet again.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    await flood();
    expect(idp.jwksRequestCount()).toBe(afterStart + 1);
    await flood();
    expect(idp.jwksRequestCount()).toBe(afterStart + 1);
  });
});
