/**
 * Bundle verification on the data plane: nothing reaches the policy runtime unless the control
 * plane's Ed25519 key signed its manifest and the files match the manifest's digests.
 *
 * Order of checks: a signature is present and is a compact JWS with alg EdDSA and the bundle typ
 * (any other alg is refused before any key is tried); the signature verifies with one of the
 * configured public keys; manifest.json is byte-for-byte the signed payload; the manifest parses;
 * the SHA-256 of policy.wasm and data.json equal the manifest's. Every failure is a
 * BundleVerificationError with a `code` and a message saying which check failed.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  BUNDLE_JWS_TYPE,
  type BundleFiles,
  BundleFormatError,
  type BundleManifest,
  parseManifest,
  sha256,
} from "../../proto/bundle.js";
import { JwsError, sameBytes, verifyJws } from "../jws.js";

export type BundleVerificationCode =
  | "unsigned"
  | "malformed_signature"
  | "wrong_algorithm"
  | "bad_signature"
  | "manifest_mismatch"
  | "bad_manifest"
  | "digest_mismatch"
  | "bad_key";

export class BundleVerificationError extends Error {
  override name = "BundleVerificationError";
  constructor(
    readonly code: BundleVerificationCode,
    message: string,
  ) {
    super(`bundle rejected: ${message}`);
  }
}

const verified: unique symbol = Symbol("portcullis.verifiedBundle");

/** A bundle whose signature and digests were checked. Only verifyBundle makes these. */
export interface VerifiedBundle {
  readonly manifest: BundleManifest;
  readonly revision: string;
  readonly policyWasm: Uint8Array;
  readonly dataJson: Uint8Array;
  /** The `kid` the signature names (the signing key's JWK thumbprint), when present. */
  readonly keyId: string | undefined;
  readonly [verified]: true;
}

export function isVerifiedBundle(value: unknown): value is VerifiedBundle {
  return typeof value === "object" && value !== null && (value as Partial<VerifiedBundle>)[verified] === true;
}

function ed25519(key: KeyObject, where: string): KeyObject {
  if (key.type !== "public" && key.type !== "private") {
    throw new BundleVerificationError("bad_key", `${where} is not an asymmetric key`);
  }
  const pub = key.type === "private" ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== "ed25519") {
    throw new BundleVerificationError("bad_key", `${where} is ${pub.asymmetricKeyType}, not Ed25519`);
  }
  return pub;
}

/**
 * Parses a bundle public key: SPKI PEM, a public JWK, or a JWK set ({"keys": [...]}, for rotation).
 * Private material in a JWK is ignored: only the public part is kept.
 */
export function parseBundlePublicKeys(text: string, where = "bundle public key"): KeyObject[] {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith("{")) {
      const json = JSON.parse(trimmed) as { keys?: JsonWebKey[] } & JsonWebKey;
      const jwks = Array.isArray(json.keys) ? json.keys : [json];
      if (jwks.length === 0) throw new Error("the key set is empty");
      return jwks.map((jwk, i) => {
        const { d: _private, ...pub } = jwk;
        return ed25519(createPublicKey({ key: pub, format: "jwk" }), `${where} key ${i}`);
      });
    }
    return [ed25519(createPublicKey({ key: trimmed, format: "pem" }), where)];
  } catch (err) {
    if (err instanceof BundleVerificationError) throw err;
    throw new BundleVerificationError(
      "bad_key",
      `${where} is not a readable public key: ${(err as Error).message}`,
    );
  }
}

/** Reads the bundle public key file (PEM or JWK, see parseBundlePublicKeys). */
export async function loadBundlePublicKeys(path: string): Promise<KeyObject[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new BundleVerificationError(
      "bad_key",
      `cannot read bundle public key ${path}: ${(err as Error).message}`,
    );
  }
  return parseBundlePublicKeys(text, `bundle public key ${path}`);
}

/** Checks a bundle against the control plane's public key(s); returns it verified or throws. */
export async function verifyBundle(
  files: BundleFiles,
  publicKeys: KeyObject | readonly KeyObject[],
): Promise<VerifiedBundle> {
  const keys = (Array.isArray(publicKeys) ? publicKeys : [publicKeys]).map((k, i) =>
    ed25519(k, `configured public key ${i}`),
  );
  if (keys.length === 0) throw new BundleVerificationError("bad_key", "no public key is configured");
  const jws = typeof files.signature === "string" ? files.signature.trim() : "";
  if (jws === "") throw new BundleVerificationError("unsigned", "the bundle has no signature (manifest.jws)");

  let payload: Uint8Array;
  let kid: string | undefined;
  try {
    ({ payload, kid } = await verifyJws(jws, keys, BUNDLE_JWS_TYPE));
  } catch (err) {
    if (!(err instanceof JwsError)) throw err;
    // A signature of another kind (a revocation's, an activation's) is not a bundle signature.
    const code =
      err.code === "wrong_type"
        ? "malformed_signature"
        : err.code === "payload_mismatch"
          ? "manifest_mismatch"
          : err.code;
    throw new BundleVerificationError(code, err.message);
  }
  if (!sameBytes(payload, files.manifestJson)) {
    throw new BundleVerificationError("manifest_mismatch", "manifest.json differs from the signed manifest");
  }
  let manifest: BundleManifest;
  try {
    manifest = parseManifest(payload);
  } catch (err) {
    if (err instanceof BundleFormatError) throw new BundleVerificationError("bad_manifest", err.message);
    throw err;
  }
  // Digest private copies, so a caller that still holds the input buffers cannot change what was checked.
  const policyWasm = new Uint8Array(files.policyWasm);
  const dataJson = new Uint8Array(files.dataJson);
  const wasmDigest = sha256(policyWasm);
  if (wasmDigest !== manifest.sha256.policy_wasm) {
    throw new BundleVerificationError(
      "digest_mismatch",
      `policy.wasm has SHA-256 ${wasmDigest}, the manifest says ${manifest.sha256.policy_wasm}`,
    );
  }
  const dataDigest = sha256(dataJson);
  if (dataDigest !== manifest.sha256.data_json) {
    throw new BundleVerificationError(
      "digest_mismatch",
      `data.json has SHA-256 ${dataDigest}, the manifest says ${manifest.sha256.data_json}`,
    );
  }
  return {
    manifest,
    revision: manifest.revision,
    policyWasm,
    dataJson,
    keyId: kid,
    [verified]: true,
  };
}
