/**
 * The activation contract: which bundle the fleet must enforce, signed by the control plane.
 *
 * The KV pointer (proto/bus.ts BundlePointer) says where a bundle is; anyone who can write to NATS
 * can write a pointer. What makes a data plane switch is the pointer's `activation`: a compact JWS
 * (EdDSA, typ `portcullis-activation+jws`, the bundle signing key) over the canonical JSON of the
 * fields below. It binds one bundle (revision and SHA-256 of its bytes) to a monotonic activation
 * `sequence`, so a data plane refuses any activation older than the one it enforces: re-publishing
 * an earlier, validly signed pointer (a rollback by replay) changes nothing. Going back to an older
 * bundle is a new activation with a higher sequence and `rollback: true`, which only the control
 * plane can sign; without that flag a bundle whose manifest sequence is older than the enforced
 * one is refused too.
 */
import { z } from "zod";
import { canonicalJson } from "./revocation.js";

export const ACTIVATION_JWS_TYPE = "portcullis-activation+jws";
/**
 * A shadow activation (BUS.shadowKey): the same payload, another JWS type, so a shadow pointer
 * copied under the active key is refused as unsigned for that purpose, and the reverse.
 */
export const SHADOW_ACTIVATION_JWS_TYPE = "portcullis-shadow-activation+jws";

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "a lower-case hex SHA-256");

export const activationSchema = z.strictObject({
  /** The bundle's revision (its manifest's). */
  revision: z.string().min(1).max(200),
  /** SHA-256 of the bundle's bytes (the single-file form the Object Store holds). */
  bundle_sha256: sha256Hex,
  /** The bundle manifest's `sequence` (0 for a bundle signed before manifests had one). */
  manifest_sequence: z.number().int().min(0),
  /** Monotonic over every activation this control plane signs. */
  sequence: z.number().int().min(1),
  /** When it was activated (RFC 3339). */
  issued_at: z.iso.datetime({ offset: true }),
  /** True when the control plane activated a bundle older than one it had activated before. */
  rollback: z.boolean(),
});
export type Activation = z.infer<typeof activationSchema>;

export function canonicalActivationBytes(activation: Activation): Uint8Array {
  return new TextEncoder().encode(canonicalJson(activationSchema.parse(activation)));
}

export class ActivationFormatError extends Error {
  override name = "ActivationFormatError";
}

/** Parses a signed activation payload; throws ActivationFormatError naming the problem. */
export function parseActivation(bytes: Uint8Array): Activation {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new ActivationFormatError(`the activation is not UTF-8 JSON: ${(err as Error).message}`);
  }
  const parsed = activationSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "activation";
    throw new ActivationFormatError(`the activation is invalid: ${where}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}
