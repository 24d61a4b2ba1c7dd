/**
 * Signing a compiled policy into a bundle (proto/bundle.ts): the manifest records the revision,
 * the entrypoints, the compiler version and the SHA-256 of policy.wasm and data.json; the
 * signature is a compact JWS (EdDSA, Ed25519) whose payload is the canonical manifest.
 */
import { signJws } from "../../common/jws.js";
import {
  BUNDLE_JWS_TYPE,
  type BundleFiles,
  type BundleManifest,
  canonicalManifestBytes,
  sha256,
} from "../../proto/bundle.js";
import type { SigningKey } from "./signing-key.js";

export interface BundleContents {
  policyWasm: Uint8Array;
  dataJson: Uint8Array;
  revision: string;
  entrypoints: readonly string[];
  opaVersion: string;
  /** Defaults to now. */
  createdAt?: Date;
  /** Monotonic build sequence (the store's `nextBundleSequence`); defaults to the time in ms. */
  sequence?: number;
}

export interface SignedBundle extends BundleFiles {
  manifest: BundleManifest;
}

export async function signBundle(contents: BundleContents, key: SigningKey): Promise<SignedBundle> {
  const manifest: BundleManifest = {
    revision: contents.revision,
    created_at: (contents.createdAt ?? new Date()).toISOString(),
    sequence: contents.sequence ?? Date.now(),
    entrypoints: [...contents.entrypoints],
    opa_version: contents.opaVersion,
    sha256: { policy_wasm: sha256(contents.policyWasm), data_json: sha256(contents.dataJson) },
  };
  const manifestJson = canonicalManifestBytes(manifest);
  const signature = await signJws(manifestJson, key, BUNDLE_JWS_TYPE);
  return { manifest, manifestJson, signature, policyWasm: contents.policyWasm, dataJson: contents.dataJson };
}
