import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  calculateJwkThumbprint,
  compactVerify,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { forgeAll, publicKeyMaterial } from "../../test/harness/forged-tokens.js";
import {
  TokenError,
  type TokenErrorCode,
  TokenVerifier,
  type TokenVerifierOptions,
} from "./token-verifier.js";

// Unit tests: the identity provider is a tiny in-process node:http server publishing a discovery document
// and a JWKS built from keys generated here; tokens are signed here with jose.

interface LocalIssuer {
  issuer: string;
  /** Public keys the JWKS endpoint publishes. */
  published: JWK[];
  discoveryStatus: number;
  jwksStatus: number;
  /** When set, the discovery document claims this issuer instead of its own. */
  advertisedIssuer?: string;
  /** Extra bytes appended inside the JWKS JSON (to exceed the size cap). */
  jwksPadding: number;
  discoveryHits: number;
  jwksHits: number;
  close(): Promise<void>;
}

async function startLocalIssuer(published: JWK[]): Promise<LocalIssuer> {
  let server: Server | undefined;
  const state: LocalIssuer = {
    issuer: "",
    published,
    discoveryStatus: 200,
    jwksStatus: 200,
    jwksPadding: 0,
    discoveryHits: 0,
    jwksHits: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server?.closeAllConnections();
        server?.close(() => resolve());
      }),
  };
  server = createServer((req, res) => {
    if (req.url === "/.well-known/openid-configuration") {
      state.discoveryHits += 1;
      if (state.discoveryStatus !== 200) return void res.writeHead(state.discoveryStatus).end();
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          issuer: state.advertisedIssuer ?? state.issuer,
          jwks_uri: `${state.issuer}/jwks`,
          authorization_endpoint: `${state.issuer}/auth`,
          token_endpoint: `${state.issuer}/token`,
          response_types_supported: ["code"],
          subject_types_supported: ["public"],
          id_token_signing_alg_values_supported: ["RS256"],
        }),
      );
      return;
    }
    if (req.url === "/jwks") {
      state.jwksHits += 1;
      if (state.jwksStatus !== 200) return void res.writeHead(state.jwksStatus).end();
      res.writeHead(200, { "content-type": "application/json" });
      const body: Record<string, unknown> = { keys: state.published };
      if (state.jwksPadding > 0) body.padding = "x".repeat(state.jwksPadding);
      res.end(JSON.stringify(body));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  state.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

interface KeyPair {
  privateJwk: JWK;
  publicJwk: JWK;
}

async function newKey(alg: "RS256" | "ES256" | "EdDSA" | "ES384"): Promise<KeyPair> {
  const options = alg === "EdDSA" ? { extractable: true, crv: "Ed25519" } : { extractable: true };
  const { privateKey, publicKey } = await generateKeyPair(alg, options);
  const publicJwk = await exportJWK(publicKey);
  publicJwk.kid = await calculateJwkThumbprint(publicJwk);
  publicJwk.use = "sig";
  const privateJwk = { ...(await exportJWK(privateKey)), kid: publicJwk.kid, use: "sig" };
  return { privateJwk, publicJwk };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

async function sign(
  key: KeyPair,
  claims: JWTPayload,
  alg = "RS256",
  header: Record<string, unknown> = {},
): Promise<string> {
  const privateKey = await importJWK(key.privateJwk, alg);
  return new SignJWT(claims).setProtectedHeader({ alg, kid: key.publicJwk.kid, ...header }).sign(privateKey);
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

let rsa: KeyPair;
let ec: KeyPair;
let ed: KeyPair;
let ec384: KeyPair;
let idp: LocalIssuer;
const AUDIENCE = "portcullis";
const verifiers: TokenVerifier[] = [];
const servers: LocalIssuer[] = [];

function claimsFor(issuer: string, extra: JWTPayload = {}): JWTPayload {
  const t = nowSeconds();
  return { iss: issuer, aud: AUDIENCE, sub: "alice", iat: t, exp: t + 300, ...extra };
}

async function startedVerifier(options: Partial<TokenVerifierOptions> = {}): Promise<TokenVerifier> {
  const verifier = new TokenVerifier({
    issuers: [{ issuer: idp.issuer, audience: AUDIENCE }],
    allowInsecureIssuer: true,
    ...options,
  });
  verifiers.push(verifier);
  await verifier.start();
  return verifier;
}

beforeAll(async () => {
  [rsa, ec, ed, ec384] = await Promise.all([
    newKey("RS256"),
    newKey("ES256"),
    newKey("EdDSA"),
    newKey("ES384"),
  ]);
  idp = await startLocalIssuer([rsa.publicJwk, ec.publicJwk, ed.publicJwk, ec384.publicJwk]);
  servers.push(idp);
});

afterEach(() => {
  vi.useRealTimers();
  idp.published = [rsa.publicJwk, ec.publicJwk, ed.publicJwk, ec384.publicJwk];
  idp.jwksStatus = 200;
  idp.discoveryStatus = 200;
  idp.jwksPadding = 0;
  idp.advertisedIssuer = undefined;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe("accepts genuine tokens", () => {
  test("RS256, PS256, ES256, ES384 and EdDSA tokens verify, with their claims passed through", async () => {
    const verifier = await startedVerifier();
    const extra = {
      email: "alice@example.com",
      groups: ["dba", "eu"],
      roles: ["reader"],
      team: { name: "blue" },
    };
    const cases: [KeyPair, string][] = [
      [rsa, "RS256"],
      [rsa, "PS256"],
      [ec, "ES256"],
      [ec384, "ES384"],
      [ed, "EdDSA"],
    ];
    for (const [key, alg] of cases) {
      const result = await verifier.verify(await sign(key, claimsFor(idp.issuer, extra), alg));
      expect(result.algorithm).toBe(alg);
      expect(result.issuer).toBe(idp.issuer);
      expect(result.keyId).toBe(key.publicJwk.kid);
      expect(result.claims).toMatchObject({ sub: "alice", aud: AUDIENCE, iss: idp.issuer, ...extra });
    }
  });

  test("an aud array containing an accepted audience verifies; several accepted audiences can be configured", async () => {
    const verifier = await startedVerifier({
      issuers: [{ issuer: idp.issuer, audience: ["portcullis", "portcullis-admin"] }],
    });
    const both = await sign(rsa, claimsFor(idp.issuer, { aud: ["some-app", "portcullis-admin"] }));
    expect((await verifier.verify(both)).claims.aud).toEqual(["some-app", "portcullis-admin"]);
  });

  test("a token without kid verifies when a single key fits its algorithm", async () => {
    const verifier = await startedVerifier();
    const privateKey = await importJWK(ec.privateJwk, "ES256");
    const token = await new SignJWT(claimsFor(idp.issuer))
      .setProtectedHeader({ alg: "ES256" })
      .sign(privateKey);
    const result = await verifier.verify(token);
    expect(result.keyId).toBeUndefined();
    expect(result.claims.sub).toBe("alice");
  });

  test("clock skew: exp and nbf within the tolerance are accepted, beyond it refused", async () => {
    const verifier = await startedVerifier({ clockSkewSeconds: 30 });
    const t = nowSeconds();
    await verifier.verify(await sign(rsa, claimsFor(idp.issuer, { iat: t - 300, exp: t - 10 })));
    await verifier.verify(await sign(rsa, claimsFor(idp.issuer, { nbf: t + 10 })));
    await verifier.verify(await sign(rsa, claimsFor(idp.issuer, { iat: t + 10 })));
    const late = await refusal(
      verifier.verify(await sign(rsa, claimsFor(idp.issuer, { iat: t - 300, exp: t - 60 }))),
    );
    expect(late.code).toBe("expired");
    const early = await refusal(verifier.verify(await sign(rsa, claimsFor(idp.issuer, { nbf: t + 60 }))));
    expect(early.code).toBe("not_yet_valid");

    const strict = await startedVerifier({ clockSkewSeconds: 0 });
    const justExpired = await sign(rsa, claimsFor(idp.issuer, { iat: t - 300, exp: t - 2 }));
    expect((await refusal(strict.verify(justExpired))).code).toBe("expired");
  });
});

describe("refuses attacks", () => {
  test("every forged token gets its refusal code and a short public message", async () => {
    const verifier = await startedVerifier();
    const forged = await forgeAll({ issuer: idp.issuer, audience: AUDIENCE, signingKey: rsa.privateJwk });
    expect(forged.length).toBeGreaterThan(20);
    for (const attack of forged) {
      const error = await refusal(verifier.verify(attack.token));
      expect({ attack: attack.name, code: error.code }).toEqual({ attack: attack.name, code: attack.expect });
      expect(error.publicMessage).toMatch(/^token [a-z ,]+$/);
      expect(error.publicMessage).not.toContain(idp.issuer);
    }
  });

  test("the forgeries are well made: each is refused for its flaw only", async () => {
    const target = { issuer: idp.issuer, audience: AUDIENCE, signingKey: rsa.privateJwk };
    const forged = await forgeAll(target);
    const byName = new Map(forged.map((f) => [f.name, f.token]));
    // Key confusion: a verifier that took the public key as an HMAC secret would accept these.
    const material = await publicKeyMaterial(target);
    const pemToken = byName.get("HS256 with the public key PEM as secret") ?? "";
    await jwtVerify(pemToken, new TextEncoder().encode(material.pem), { algorithms: ["HS256"] });
    const jwkToken = byName.get("HS256 with the public key JWK JSON as secret") ?? "";
    await jwtVerify(jwkToken, new TextEncoder().encode(material.jwkJson), { algorithms: ["HS256"] });
    // Claim-level attacks carry the provider's genuine signature.
    const providerKey = await importJWK(rsa.publicJwk, "RS256");
    for (const name of [
      "expired an hour ago",
      "wrong audience",
      "wrong issuer",
      "no sub",
      "nbf an hour in the future",
    ]) {
      await compactVerify(byName.get(name) ?? "", providerKey);
    }
  });

  test("an issuer's own algorithm list narrows the global allow-list", async () => {
    const verifier = await startedVerifier({
      issuers: [{ issuer: idp.issuer, audience: AUDIENCE, algorithms: ["ES256"] }],
    });
    expect((await verifier.verify(await sign(ec, claimsFor(idp.issuer), "ES256"))).algorithm).toBe("ES256");
    const rs = await refusal(verifier.verify(await sign(rsa, claimsFor(idp.issuer))));
    expect(rs.code).toBe("unsupported_algorithm");
  });

  test("a key used with an algorithm of another family is refused (RSA key, ES256 header)", async () => {
    const verifier = await startedVerifier();
    // Signed by the EC key but claiming the RSA key's kid: no RSA key can check an ES256 signature.
    const token = await sign(ec, claimsFor(idp.issuer), "ES256", { kid: rsa.publicJwk.kid });
    expect((await refusal(verifier.verify(token))).code).toBe("unknown_key");
  });

  test("claims with the wrong type are refused", async () => {
    const verifier = await startedVerifier();
    const cases: [Record<string, unknown>, TokenErrorCode][] = [
      [{ groups: "admins" }, "malformed"],
      [{ roles: [1, 2] }, "malformed"],
      [{ email: ["a@example.com"] }, "malformed"],
      [{ sub: "" }, "missing_claim"],
      [{ sub: 42 }, "missing_claim"],
      [{ exp: "tomorrow" }, "malformed"],
      [{ aud: undefined }, "missing_claim"],
      [{ iss: 7 }, "missing_claim"],
    ];
    for (const [extra, code] of cases) {
      const token = await sign(rsa, { ...claimsFor(idp.issuer), ...extra });
      const error = await refusal(verifier.verify(token));
      expect({ extra, code: error.code }).toEqual({ extra, code });
    }
  });

  test("size is checked before parsing: maxTokenBytes + 1 bytes of anything is too_large", async () => {
    const verifier = await startedVerifier({ maxTokenBytes: 1000 });
    expect((await refusal(verifier.verify("a".repeat(1001)))).code).toBe("too_large");
    expect((await refusal(verifier.verify("a".repeat(1000)))).code).toBe("malformed");
    // Multi-byte characters count by bytes, not by string length.
    expect((await refusal(verifier.verify("é".repeat(600)))).code).toBe("too_large");
    const def = await startedVerifier();
    expect((await refusal(def.verify("a".repeat(65_536)))).code).toBe("too_large");
  });

  test("non-string input is malformed", async () => {
    const verifier = await startedVerifier();
    expect((await refusal(verifier.verify(undefined as unknown as string))).code).toBe("malformed");
    expect((await refusal(verifier.verify({} as unknown as string))).code).toBe("malformed");
  });
});

describe("token type and authorized party (typ, azp)", () => {
  test("a JWT or access-token typ verifies (any case), a token made for another purpose is refused", async () => {
    const verifier = await startedVerifier();
    for (const typ of ["JWT", "jwt", "at+jwt", "application/at+JWT"]) {
      await verifier.verify(await sign(rsa, claimsFor(idp.issuer), "RS256", { typ }));
    }
    for (const typ of ["logout+jwt", "secevent+jwt", "dpop+jwt", "JOSE"]) {
      const err = await refusal(verifier.verify(await sign(rsa, claimsFor(idp.issuer), "RS256", { typ })));
      expect(err.code, typ).toBe("wrong_type");
      expect(err.publicMessage).toBe("token type not accepted");
    }
    const only = await startedVerifier({
      issuers: [{ issuer: idp.issuer, audience: AUDIENCE, tokenTypes: ["at+jwt"] }],
    });
    await only.verify(await sign(rsa, claimsFor(idp.issuer), "RS256", { typ: "at+jwt" }));
    expect(
      (await refusal(only.verify(await sign(rsa, claimsFor(idp.issuer), "RS256", { typ: "JWT" })))).code,
    ).toBe("wrong_type");
  });

  test("with authorized parties configured, azp must be one of them; several audiences need an azp", async () => {
    const verifier = await startedVerifier({
      issuers: [{ issuer: idp.issuer, audience: AUDIENCE, authorizedParties: ["portcullis-cli"] }],
    });
    await verifier.verify(await sign(rsa, claimsFor(idp.issuer, { azp: "portcullis-cli" })));
    await verifier.verify(await sign(rsa, claimsFor(idp.issuer)));
    const other = await refusal(
      verifier.verify(await sign(rsa, claimsFor(idp.issuer, { azp: "some-other-app" }))),
    );
    expect(other.code).toBe("wrong_party");
    const several = await refusal(
      verifier.verify(await sign(rsa, claimsFor(idp.issuer, { aud: [AUDIENCE, "some-other-app"] }))),
    );
    expect(several.code).toBe("wrong_party");
    // not configured: azp is not checked
    const open = await startedVerifier();
    await open.verify(await sign(rsa, claimsFor(idp.issuer, { azp: "some-other-app" })));
  });
});

describe("configuration", () => {
  test("refuses disallowed algorithms, insecure issuers and empty audiences at construction", () => {
    const base = { issuer: "https://idp.example.com", audience: "portcullis" };
    expect(() => new TokenVerifier({ issuers: [] })).toThrow(/at least one issuer/);
    for (const alg of ["HS256", "none", "HS512", "RSA-OAEP"]) {
      expect(() => new TokenVerifier({ issuers: [{ ...base, algorithms: [alg] }] })).toThrow(
        new RegExp(`algorithm ${alg} .* is not allowed`),
      );
    }
    expect(() => new TokenVerifier({ issuers: [{ ...base, issuer: "http://idp.example.com" }] })).toThrow(
      /must use https/,
    );
    expect(() => new TokenVerifier({ issuers: [{ ...base, audience: [] }] })).toThrow(/audience/);
    expect(() => new TokenVerifier({ issuers: [base, base] })).toThrow(/configured twice/);
    expect(() => new TokenVerifier({ issuers: [base], clockSkewSeconds: -1 })).toThrow(/clockSkewSeconds/);
  });

  test("start() fails when no issuer can be reached, naming them", async () => {
    const down = await startLocalIssuer([rsa.publicJwk]);
    servers.push(down);
    down.discoveryStatus = 503;
    const verifier = new TokenVerifier({
      issuers: [{ issuer: down.issuer, audience: AUDIENCE }],
      allowInsecureIssuer: true,
    });
    await expect(verifier.start()).rejects.toThrow(`no configured issuer could be reached: ${down.issuer}`);
  });

  test("start() refuses a discovery document that names another issuer", async () => {
    const liar = await startLocalIssuer([rsa.publicJwk]);
    servers.push(liar);
    liar.advertisedIssuer = "https://idp.example.com";
    const verifier = new TokenVerifier({
      issuers: [{ issuer: liar.issuer, audience: AUDIENCE }],
      allowInsecureIssuer: true,
    });
    await expect(verifier.start()).rejects.toThrow(/no configured issuer could be reached/);
  });

  test("an issuer down at start is not fatal when another is up, and is retried lazily", async () => {
    const late = await startLocalIssuer([ec.publicJwk]);
    servers.push(late);
    late.discoveryStatus = 503;
    const verifier = new TokenVerifier({
      issuers: [
        { issuer: idp.issuer, audience: AUDIENCE },
        { issuer: late.issuer, audience: AUDIENCE },
      ],
      allowInsecureIssuer: true,
      jwksRefetchMinIntervalMs: 60_000,
    });
    verifiers.push(verifier);
    await verifier.start();
    expect(verifier.stats().map((s) => [s.issuer, s.ready])).toEqual([
      [idp.issuer, true],
      [late.issuer, false],
    ]);

    const lateToken = await sign(ec, claimsFor(late.issuer), "ES256");
    const hitsAfterStart = late.discoveryHits;
    // Within the retry interval nothing is sent to the failing issuer.
    for (let i = 0; i < 5; i += 1) {
      expect((await refusal(verifier.verify(lateToken))).code).toBe("issuer_unavailable");
    }
    expect(late.discoveryHits).toBe(hitsAfterStart);
    // The other issuer works meanwhile.
    await verifier.verify(await sign(rsa, claimsFor(idp.issuer)));

    late.discoveryStatus = 200;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    const fresh = await sign(ec, claimsFor(late.issuer), "ES256");
    expect((await verifier.verify(fresh)).issuer).toBe(late.issuer);
    expect(late.discoveryHits).toBe(hitsAfterStart + 1);
  });
});

describe("JWKS cache and refetch", () => {
  test("rotation: a token with a new kid verifies after one refetch, without restarting", async () => {
    const verifier = await startedVerifier({ jwksRefetchMinIntervalMs: 0 });
    const before = idp.jwksHits;
    const rotated = await newKey("RS256");
    idp.published = [rotated.publicJwk, rsa.publicJwk];
    const result = await verifier.verify(await sign(rotated, claimsFor(idp.issuer)));
    expect(result.keyId).toBe(rotated.publicJwk.kid);
    expect(idp.jwksHits).toBe(before + 1);
    // Keys now cached: no further fetch.
    await verifier.verify(await sign(rotated, claimsFor(idp.issuer)));
    await verifier.verify(await sign(rsa, claimsFor(idp.issuer)));
    expect(idp.jwksHits).toBe(before + 1);
  });

  test("an unknown-kid flood causes at most one JWKS fetch per interval", async () => {
    const verifier = await startedVerifier({ jwksRefetchMinIntervalMs: 30_000 });
    const stranger = await newKey("RS256");
    const flood = async (n: number) => {
      const tokens = await Promise.all(
        Array.from({ length: n }, () => sign(stranger, claimsFor(idp.issuer))),
      );
      const concurrent = await Promise.all(tokens.map((t) => refusal(verifier.verify(t))));
      for (const t of tokens) concurrent.push(await refusal(verifier.verify(t)));
      for (const error of concurrent) expect(error.code).toBe("unknown_key");
    };
    const afterStart = idp.jwksHits;
    expect(afterStart).toBeGreaterThanOrEqual(1);

    // Right after start the cache is within the interval: no fetch at all.
    await flood(25);
    expect(idp.jwksHits).toBe(afterStart);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 31_000);
    await flood(25);
    expect(idp.jwksHits).toBe(afterStart + 1);

    vi.setSystemTime(Date.now() + 31_000);
    await flood(25);
    expect(idp.jwksHits).toBe(afterStart + 2);
    expect(verifier.stats()[0]?.jwksFetches).toBe(idp.jwksHits - afterStart + 1);
  });

  test("a failing JWKS endpoint is asked at most once per interval; cached keys keep working", async () => {
    const verifier = await startedVerifier({ jwksRefetchMinIntervalMs: 30_000 });
    const stranger = await newKey("RS256");
    idp.jwksStatus = 500;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 31_000);
    const before = idp.jwksHits;
    for (let i = 0; i < 20; i += 1) {
      const error = await refusal(verifier.verify(await sign(stranger, claimsFor(idp.issuer))));
      expect(["issuer_unavailable", "unknown_key"]).toContain(error.code);
    }
    expect(idp.jwksHits).toBe(before + 1);
    expect(verifier.stats()[0]?.jwksFetchFailures).toBe(1);
    // Known keys are still in the cache.
    expect((await verifier.verify(await sign(rsa, claimsFor(idp.issuer)))).claims.sub).toBe("alice");

    // After the interval, one new attempt; the endpoint is back and the new key is found.
    idp.jwksStatus = 200;
    idp.published = [stranger.publicJwk, rsa.publicJwk];
    vi.setSystemTime(Date.now() + 31_000);
    expect((await verifier.verify(await sign(stranger, claimsFor(idp.issuer)))).keyId).toBe(
      stranger.publicJwk.kid,
    );
    expect(idp.jwksHits).toBe(before + 2);
  });

  test("JWKS that is too large or not a key set makes the issuer unavailable", async () => {
    idp.jwksPadding = 1_100_000;
    const big = new TokenVerifier({
      issuers: [{ issuer: idp.issuer, audience: AUDIENCE }],
      allowInsecureIssuer: true,
    });
    await expect(big.start()).rejects.toThrow(/larger than/);
    expect((await refusal(big.verify(await sign(rsa, claimsFor(idp.issuer))))).code).toBe(
      "issuer_unavailable",
    );

    idp.jwksPadding = 0;
    idp.published = "nope" as unknown as JWK[];
    const bad = new TokenVerifier({
      issuers: [{ issuer: idp.issuer, audience: AUDIENCE }],
      allowInsecureIssuer: true,
    });
    await expect(bad.start()).rejects.toThrow(/not a JSON Web Key Set/);
  });
});
