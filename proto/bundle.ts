/**
 * The policy bundle contract: what the control plane signs and every data plane verifies.
 *
 * A bundle is four files:
 *   policy.wasm    the policy compiled by `opa build -t wasm`
 *   data.json      the data document the policy reads (opa build's merged data.json)
 *   manifest.json  the manifest below, in its canonical form (see canonicalManifest)
 *   manifest.jws   a compact JWS (EdDSA over Ed25519) whose payload is exactly manifest.json's bytes
 *
 * The signature covers the manifest, and the manifest covers the two other files by SHA-256, so
 * one signature check plus two digests prove the whole bundle. DESIGN.md "Bundles" is the prose.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

export const BUNDLE_FILES = {
  policyWasm: "policy.wasm",
  dataJson: "data.json",
  manifestJson: "manifest.json",
  signature: "manifest.jws",
} as const;

/** The JWS `typ` header a bundle signature carries; anything else is not a bundle signature. */
export const BUNDLE_JWS_TYPE = "portcullis-bundle+jws";
/** The only accepted signing algorithm (Ed25519 as JWS "EdDSA"). */
export const BUNDLE_JWS_ALG = "EdDSA";

/** Upper bounds checked before any bundle file is buffered or parsed. */
export const BUNDLE_LIMITS = {
  policyWasm: 64 * 1024 * 1024,
  dataJson: 64 * 1024 * 1024,
  manifestJson: 64 * 1024,
  signature: 128 * 1024,
} as const;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "a lower-case hex SHA-256");

export const bundleManifestSchema = z
  .object({
    /** Git commit of the policy source, or a content hash when there is none. */
    revision: z.string().min(1).max(200),
    /** RFC 3339 UTC timestamp of the build: the manifest's issue time. */
    created_at: z.iso.datetime(),
    /**
     * Monotonic over the bundles a control plane builds (proto/activation.ts says how data planes
     * use it to refuse older bundles). Absent only in bundles built before it existed.
     */
    sequence: z.number().int().min(1).optional(),
    /** The entrypoints compiled into policy.wasm, e.g. "portcullis/query/decision". */
    entrypoints: z.array(z.string().min(1)).min(1),
    /** `opa version` of the compiler. */
    opa_version: z.string().min(1),
    sha256: z.strictObject({ policy_wasm: sha256Hex, data_json: sha256Hex }),
  })
  .strict();

export type BundleManifest = z.infer<typeof bundleManifestSchema>;

/** The four files as they travel (NATS object store, local disk): nothing in them is trusted yet. */
export interface BundleFiles {
  policyWasm: Uint8Array;
  dataJson: Uint8Array;
  manifestJson: Uint8Array;
  /** The compact JWS (ASCII). */
  signature: string;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function canonicalValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalValue);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = canonicalValue((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

/**
 * The canonical serialization of a manifest: object keys sorted at every level, no whitespace,
 * UTF-8. It is what manifest.json holds and what the signature's payload is, so the same manifest
 * always signs to the same payload.
 */
export function canonicalManifest(manifest: BundleManifest): string {
  return JSON.stringify(canonicalValue(bundleManifestSchema.parse(manifest)));
}

export function canonicalManifestBytes(manifest: BundleManifest): Uint8Array {
  return new TextEncoder().encode(canonicalManifest(manifest));
}

export class BundleFormatError extends Error {
  override name = "BundleFormatError";
}

/** Parses manifest bytes (UTF-8 JSON) against the schema; throws BundleFormatError naming the problem. */
export function parseManifest(bytes: Uint8Array): BundleManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new BundleFormatError(`bundle manifest is not UTF-8 JSON: ${(err as Error).message}`);
  }
  const parsed = bundleManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "manifest";
    throw new BundleFormatError(`bundle manifest is invalid: ${where}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}
