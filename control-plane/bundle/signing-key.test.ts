import { generateKeyPairSync } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compactVerify, decodeProtectedHeader, importJWK } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseManifest, sha256 } from "../../proto/bundle.js";
import { signBundle } from "./sign.js";
import {
  exportPublicKey,
  loadOrCreateSigningKey,
  publicKeyJwk,
  publicKeyPem,
  SigningKeyError,
} from "./signing-key.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-key-test-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("loadOrCreateSigningKey", () => {
  it("generates a key with mode 0600 on first start and loads the same one afterwards", async () => {
    const path = join(dir, "keys", "bundle-signing.pem");
    const first = await loadOrCreateSigningKey(path);
    expect(first.generated).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const again = await loadOrCreateSigningKey(path);
    expect(again.generated).toBe(false);
    expect(again.kid).toBe(first.kid);
    expect(again.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("loads a private JWK", async () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const path = join(dir, "key.jwk");
    await writeFile(path, JSON.stringify(privateKey.export({ format: "jwk" })), { mode: 0o600 });
    const key = await loadOrCreateSigningKey(path);
    expect(key.generated).toBe(false);
    expect(key.publicKey.asymmetricKeyType).toBe("ed25519");
  });

  it("refuses keys that are not Ed25519 or not keys", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const rsaPath = join(dir, "rsa.pem");
    await writeFile(rsaPath, rsa.export({ type: "pkcs8", format: "pem" }));
    await expect(loadOrCreateSigningKey(rsaPath)).rejects.toThrow(/is rsa, not Ed25519/);
    const junk = join(dir, "junk.pem");
    await writeFile(junk, "hello");
    await expect(loadOrCreateSigningKey(junk)).rejects.toThrow(SigningKeyError);
    const publicJwk = join(dir, "public.jwk");
    await writeFile(
      publicJwk,
      JSON.stringify(generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" })),
    );
    await expect(loadOrCreateSigningKey(publicJwk)).rejects.toThrow(/not an Ed25519 private JWK/);
  });

  it("warns about a key file others can read", async () => {
    const path = join(dir, "k.pem");
    await loadOrCreateSigningKey(path);
    await chmod(path, 0o644);
    const warnings: unknown[] = [];
    const logger = { warn: (o: unknown) => warnings.push(o), info: () => {} };
    await loadOrCreateSigningKey(path, logger as never);
    expect(warnings).toEqual([{ path, mode: "644" }]);
  });

  it("exports the public key as PEM or JWK", async () => {
    const key = await loadOrCreateSigningKey(join(dir, "k.pem"));
    await exportPublicKey(key, join(dir, "pub.pem"));
    await exportPublicKey(key, join(dir, "pub.jwk"));
    expect(await readFile(join(dir, "pub.pem"), "utf8")).toBe(publicKeyPem(key));
    expect(publicKeyPem(key)).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const jwk = JSON.parse(await readFile(join(dir, "pub.jwk"), "utf8"));
    expect(jwk).toEqual(await publicKeyJwk(key));
    expect(jwk).toMatchObject({ kty: "OKP", crv: "Ed25519", kid: key.kid, alg: "EdDSA" });
    expect(jwk.d).toBeUndefined();
  });
});

describe("signBundle", () => {
  it("signs the canonical manifest with EdDSA and the key's kid", async () => {
    const key = await loadOrCreateSigningKey(join(dir, "k.pem"));
    const policyWasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    const dataJson = new TextEncoder().encode("{}");
    const signed = await signBundle(
      {
        policyWasm,
        dataJson,
        revision: "abc123",
        entrypoints: ["portcullis/query/decision"],
        opaVersion: "1.22.3",
        createdAt: new Date("2025-05-06T07:08:09Z"),
        sequence: 42,
      },
      key,
    );
    expect(decodeProtectedHeader(signed.signature)).toEqual({
      alg: "EdDSA",
      typ: "portcullis-bundle+jws",
      kid: key.kid,
    });
    const { payload } = await compactVerify(
      signed.signature,
      await importJWK(await publicKeyJwk(key), "EdDSA"),
    );
    expect(Buffer.from(payload).equals(Buffer.from(signed.manifestJson))).toBe(true);
    expect(parseManifest(payload)).toEqual({
      revision: "abc123",
      created_at: "2025-05-06T07:08:09.000Z",
      sequence: 42,
      entrypoints: ["portcullis/query/decision"],
      opa_version: "1.22.3",
      sha256: { policy_wasm: sha256(policyWasm), data_json: sha256(dataJson) },
    });
  });
});
