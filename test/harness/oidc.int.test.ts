import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type OidcHarness, OidcHarnessError, startOidcProvider } from "./oidc.js";

// The harness's own checks: what it serves, that token() yields provider-signed ID tokens with the user's
// claims, that rotation changes the signing key, and that the device flow runs end to end.

let idp: OidcHarness;

beforeAll(async () => {
  idp = await startOidcProvider();
});

afterAll(async () => {
  await idp?.stop();
});

interface Metadata {
  jwks_uri: string;
  scopes_supported: string[];
  grant_types_supported: string[];
}

async function metadata(): Promise<Metadata> {
  const response = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
  expect(response.status).toBe(200);
  return (await response.json()) as Metadata;
}

async function providerJwks(): Promise<{ keys: Record<string, unknown>[] }> {
  return (await (await fetch((await metadata()).jwks_uri)).json()) as { keys: Record<string, unknown>[] };
}

async function verifyWithPublishedKeys(token: string) {
  const jwks = createLocalJWKSet((await providerJwks()) as Parameters<typeof createLocalJWKSet>[0]);
  return jwtVerify(token, jwks, { issuer: idp.issuer });
}

describe("what the provider serves", () => {
  test("discovery names the issuer, the JWKS and the endpoints the login command needs", async () => {
    const served = await metadata();
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(served).toMatchObject({
      issuer: idp.issuer,
      jwks_uri: `${idp.issuer}/jwks`,
      device_authorization_endpoint: expect.stringContaining(idp.issuer),
      code_challenge_methods_supported: ["S256"],
    });
    expect(served.scopes_supported).toEqual(
      expect.arrayContaining(["openid", "offline_access", "groups", "roles"]),
    );
    expect(served.grant_types_supported).toEqual(
      expect.arrayContaining([
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
      ]),
    );
  });

  test("the JWKS publishes one RSA and one EC public key, matching publicJwks(), no private parts", async () => {
    const { keys } = await providerJwks();
    expect(keys.map((k) => k.kty).sort()).toEqual(["EC", "RSA"]);
    for (const key of keys) {
      expect(key.d).toBeUndefined();
      expect(typeof key.kid).toBe("string");
    }
    expect(keys.map((k) => k.kid).sort()).toEqual(
      idp
        .publicJwks()
        .map((k) => k.kid)
        .sort(),
    );
    expect(idp.privateJwks().every((k) => typeof k.d === "string")).toBe(true);
    expect(idp.clientSecret).toBeUndefined();
  });
});

describe("token()", () => {
  test("returns an ID token signed with the published RSA key, carrying the user's claims", async () => {
    const token = await idp.token({
      sub: "alice",
      email: "alice@example.com",
      groups: ["dba"],
      roles: ["reader"],
      tenant: "acme",
      clearance: { level: 3 },
    });
    const { payload, protectedHeader } = await verifyWithPublishedKeys(token);
    expect(protectedHeader).toMatchObject({ alg: "RS256", kid: idp.privateJwks()[0]?.kid });
    expect(payload).toMatchObject({
      iss: idp.issuer,
      aud: "portcullis",
      sub: "alice",
      email: "alice@example.com",
      groups: ["dba"],
      roles: ["reader"],
      tenant: "acme",
      clearance: { level: 3 },
    });
    expect(typeof payload.nonce).toBe("string");
  });

  test("honours lifetimeSeconds, audience and algorithm", async () => {
    const token = await idp.token(
      { sub: "bob" },
      { lifetimeSeconds: 45, audience: "reporting-tool", algorithm: "ES256" },
    );
    const { payload, protectedHeader } = await verifyWithPublishedKeys(token);
    expect(protectedHeader.alg).toBe("ES256");
    expect(protectedHeader.kid).toBe(idp.privateJwks()[1]?.kid);
    expect(payload.aud).toBe("reporting-tool");
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(45);
    // The algorithm applied to that token only.
    expect(decodeProtectedHeader(await idp.token({ sub: "bob" }, { audience: "reporting-tool" })).alg).toBe(
      "RS256",
    );
  });

  test("refuses users it cannot represent, with a clear error", async () => {
    await expect(idp.token({ sub: "" })).rejects.toThrow(OidcHarnessError);
    await expect(idp.token({ sub: "eve", aud: "x" })).rejects.toThrow(/aud is set by the provider/);
    await expect(idp.token({ sub: "eve" }, { lifetimeSeconds: 0 })).rejects.toThrow(/lifetimeSeconds/);
  });
});

describe("rotateSigningKey()", () => {
  test("signs with new keys; the previous ones stay published unless dropped", async () => {
    const before = idp.privateJwks().map((k) => k.kid);
    const oldToken = await idp.token({ sub: "carol" });

    await idp.rotateSigningKey();
    const after = idp.privateJwks().map((k) => k.kid);
    expect(after.some((kid) => before.includes(kid))).toBe(false);
    const newToken = await idp.token({ sub: "carol" });
    expect(decodeProtectedHeader(newToken).kid).toBe(after[0]);
    const published = (await providerJwks()).keys.map((k) => k.kid);
    expect(published).toEqual(expect.arrayContaining([...before, ...after]));
    await verifyWithPublishedKeys(oldToken);
    await verifyWithPublishedKeys(newToken);

    await idp.rotateSigningKey({ retainPrevious: false });
    const latest = idp.privateJwks().map((k) => k.kid);
    expect((await providerJwks()).keys.map((k) => k.kid).sort()).toEqual([...latest].sort());
    await expect(verifyWithPublishedKeys(newToken)).rejects.toThrow(/no applicable key/i);
  });
});

describe("device authorization grant", () => {
  test("a device obtains ID, access and refresh tokens after the user approves, and can refresh", async () => {
    const config = await oidc.discovery(new URL(idp.issuer), idp.clientId, undefined, oidc.None(), {
      execute: [oidc.allowInsecureRequests],
    });
    const device = await oidc.initiateDeviceAuthorization(config, {
      scope: "openid email groups roles offline_access",
    });
    expect(device.verification_uri).toBe(`${idp.issuer}/device`);

    await idp.approveDevice(device.user_code, {
      sub: "dave",
      email: "dave@example.com",
      groups: ["oncall"],
      roles: ["operator"],
    });
    // The provider sends no polling interval (RFC 8628 then says 5 s); the user has already approved,
    // so the first poll succeeds and a short interval only avoids idling.
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, { ...device, interval: 0.05 });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.access_token).toEqual(expect.any(String));
    const idToken = tokens.id_token ?? "";
    const { payload } = await verifyWithPublishedKeys(idToken);
    expect(payload).toMatchObject({
      sub: "dave",
      aud: "portcullis",
      groups: ["oncall"],
      roles: ["operator"],
    });

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token ?? "");
    expect(decodeJwt(refreshed.id_token ?? "").sub).toBe("dave");
  });

  test("approving an unknown user code fails clearly", async () => {
    await expect(idp.approveDevice("BCDF-GHJK", { sub: "dave" })).rejects.toThrow(
      "provider page at /device reports: the code was not found",
    );
  });
});
