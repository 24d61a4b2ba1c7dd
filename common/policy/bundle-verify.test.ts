import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { CompactSign, calculateJwkThumbprint, exportJWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { signBundle } from "../../control-plane/bundle/sign.js";
import type { SigningKey } from "../../control-plane/bundle/signing-key.js";
import { type BundleFiles, canonicalManifestBytes, sha256 } from "../../proto/bundle.js";
import {
  BundleVerificationError,
  isVerifiedBundle,
  parseBundlePublicKeys,
  verifyBundle,
} from "./bundle-verify.js";

async function key(): Promise<SigningKey> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKey,
    publicKey,
    kid: await calculateJwkThumbprint(await exportJWK(publicKey)),
    path: "-",
    generated: true,
  };
}

const policyWasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 2, 3, 4]);
const dataJson = new TextEncoder().encode('{"portcullis":{"allowed_databases":["app"]}}');

let signer: SigningKey;
let other: SigningKey;
let good: BundleFiles;

beforeAll(async () => {
  signer = await key();
  other = await key();
  good = await signBundle(
    {
      policyWasm,
      dataJson,
      revision: "r1",
      entrypoints: ["portcullis/query/decision"],
      opaVersion: "1.22.3",
    },
    signer,
  );
});

async function rejection(files: BundleFiles, keys: KeyObject | KeyObject[] = signer.publicKey) {
  try {
    await verifyBundle(files, keys);
  } catch (err) {
    expect(err).toBeInstanceOf(BundleVerificationError);
    return err as BundleVerificationError;
  }
  throw new Error("the bundle was accepted");
}

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
}

describe("verifyBundle", () => {
  it("accepts a bundle signed by the configured key", async () => {
    const verified = await verifyBundle(good, signer.publicKey);
    expect(isVerifiedBundle(verified)).toBe(true);
    expect(verified.revision).toBe("r1");
    expect(verified.keyId).toBe(signer.kid);
    expect(sha256(verified.policyWasm)).toBe(sha256(policyWasm));
  });

  it("keeps its own copy of the verified bytes", async () => {
    const files = { ...good, policyWasm: new Uint8Array(good.policyWasm) };
    const verified = await verifyBundle(files, signer.publicKey);
    files.policyWasm[0] = 0xff;
    expect(verified.policyWasm[0]).toBe(0);
  });

  it("accepts any of several configured keys (rotation)", async () => {
    expect((await verifyBundle(good, [other.publicKey, signer.publicKey])).revision).toBe("r1");
  });

  it("rejects a flipped byte in policy.wasm", async () => {
    const err = await rejection({ ...good, policyWasm: flip(good.policyWasm, 9) });
    expect(err.code).toBe("digest_mismatch");
    expect(err.message).toMatch(/^bundle rejected: policy.wasm has SHA-256 [0-9a-f]{64}, the manifest says/);
  });

  it("rejects a flipped byte in data.json", async () => {
    const err = await rejection({ ...good, dataJson: flip(good.dataJson, 5) });
    expect(err.code).toBe("digest_mismatch");
    expect(err.message).toMatch(/data.json has SHA-256/);
  });

  it("rejects a flipped byte in the signature", async () => {
    const parts = good.signature.split(".");
    const sig = Buffer.from(parts[2]!, "base64url");
    sig[10] = (sig[10] ?? 0) ^ 0x01;
    const err = await rejection({
      ...good,
      signature: `${parts[0]}.${parts[1]}.${sig.toString("base64url")}`,
    });
    expect(err.code).toBe("bad_signature");
    expect(err.message).toMatch(/does not verify with the configured public key/);
  });

  it("rejects a bundle signed with another key", async () => {
    const forged = await signBundle(
      {
        policyWasm,
        dataJson,
        revision: "evil",
        entrypoints: ["portcullis/query/decision"],
        opaVersion: "1.22.3",
      },
      other,
    );
    const err = await rejection(forged);
    expect(err.code).toBe("bad_signature");
    expect(err.message).toContain(`signed by key ${other.kid}`);
  });

  it("rejects an edited manifest.json even when the signature is intact", async () => {
    const edited = new TextEncoder().encode(
      new TextDecoder().decode(good.manifestJson).replace('"revision":"r1"', '"revision":"r2"'),
    );
    expect((await rejection({ ...good, manifestJson: edited })).code).toBe("manifest_mismatch");
  });

  it("rejects a swapped manifest payload with the old signature", async () => {
    const [h, , s] = good.signature.split(".");
    const manifestJson = canonicalManifestBytes({
      revision: "r1",
      created_at: new Date().toISOString(),
      entrypoints: ["portcullis/query/decision"],
      opa_version: "1.22.3",
      sha256: { policy_wasm: sha256(new Uint8Array([1])), data_json: sha256(dataJson) },
    });
    const err = await rejection({
      ...good,
      manifestJson,
      signature: `${h}.${Buffer.from(manifestJson).toString("base64url")}.${s}`,
    });
    expect(err.code).toBe("bad_signature");
  });

  it("rejects an unsigned bundle", async () => {
    expect((await rejection({ ...good, signature: "" })).code).toBe("unsigned");
    expect((await rejection({ ...good, signature: "  \n" })).code).toBe("unsigned");
  });

  it("rejects garbage and a JWS without the bundle typ", async () => {
    expect((await rejection({ ...good, signature: "not a jws" })).code).toBe("malformed_signature");
    const plain = await new CompactSign(good.manifestJson)
      .setProtectedHeader({ alg: "EdDSA" })
      .sign(signer.privateKey);
    const err = await rejection({ ...good, signature: plain });
    expect(err.code).toBe("malformed_signature");
    expect(err.message).toMatch(/typ undefined is not portcullis-bundle\+jws/);
  });

  it("refuses every algorithm but EdDSA before trying a key", async () => {
    const hs = await new CompactSign(good.manifestJson)
      .setProtectedHeader({ alg: "HS256", typ: "portcullis-bundle+jws" })
      .sign(new TextEncoder().encode("a shared secret that anyone could know"));
    const err = await rejection({ ...good, signature: hs });
    expect(err.code).toBe("wrong_algorithm");
    expect(err.message).toMatch(/"HS256" is not accepted \(only EdDSA\)/);
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "portcullis-bundle+jws" })).toString(
      "base64url",
    );
    const none = `${header}.${Buffer.from(good.manifestJson).toString("base64url")}.`;
    expect((await rejection({ ...good, signature: none })).code).toBe("wrong_algorithm");
    const ed = await new CompactSign(good.manifestJson)
      .setProtectedHeader({ alg: "Ed25519", typ: "portcullis-bundle+jws" })
      .sign(signer.privateKey);
    expect((await rejection({ ...good, signature: ed })).code).toBe("wrong_algorithm");
  });

  it("rejects a validly signed manifest that breaks the schema", async () => {
    const bad = new TextEncoder().encode('{"revision":"r1"}');
    const signature = await new CompactSign(bad)
      .setProtectedHeader({ alg: "EdDSA", typ: "portcullis-bundle+jws" })
      .sign(signer.privateKey);
    const err = await rejection({ ...good, manifestJson: bad, signature });
    expect(err.code).toBe("bad_manifest");
  });

  it("refuses keys that are not Ed25519", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    const err = await rejection(good, rsa);
    expect(err.code).toBe("bad_key");
    expect((await rejection(good, [])).code).toBe("bad_key");
  });
});

describe("parseBundlePublicKeys", () => {
  it("reads SPKI PEM, a JWK and a JWK set", async () => {
    const pem = signer.publicKey.export({ type: "spki", format: "pem" }).toString();
    expect(parseBundlePublicKeys(pem)).toHaveLength(1);
    const jwk = await exportJWK(signer.publicKey);
    const [fromJwk] = parseBundlePublicKeys(JSON.stringify(jwk));
    expect((await verifyBundle(good, fromJwk!)).revision).toBe("r1");
    const set = parseBundlePublicKeys(JSON.stringify({ keys: [await exportJWK(other.publicKey), jwk] }));
    expect((await verifyBundle(good, set)).revision).toBe("r1");
  });

  it("keeps only the public half of a private JWK", async () => {
    const [k] = parseBundlePublicKeys(JSON.stringify(await exportJWK(signer.privateKey)));
    expect(k!.type).toBe("public");
  });

  it("says what is wrong with a bad key file", () => {
    expect(() => parseBundlePublicKeys("nope", "key.pem")).toThrow(/key.pem is not a readable public key/);
    expect(() => parseBundlePublicKeys('{"keys": []}')).toThrow(/empty/);
  });
});
