/**
 * Revocation signatures on the data plane: a revocation is applied only when its compact JWS
 * (EdDSA, typ `portcullis-revocation+jws`) verifies with one of the configured control plane
 * public keys (`policy.public_key_file`, the key bundles are checked with) and its payload is
 * byte for byte the canonical form of the message's other fields (proto/revocation.ts).
 */
import type { KeyObject } from "node:crypto";
import { JwsError, type JwsErrorCode, verifySignedFields } from "../../common/jws.js";
import type { Revocation } from "../../proto/bus.js";
import { canonicalRevocationBytes, REVOCATION_JWS_TYPE } from "../../proto/revocation.js";

export type RevocationRejection = JwsErrorCode;

export class RevocationSignatureError extends Error {
  override name = "RevocationSignatureError";
  constructor(
    readonly code: RevocationRejection,
    message: string,
  ) {
    super(`revocation rejected: ${message}`);
  }
}

/** Resolves when `revocation` is signed by one of `keys`; throws RevocationSignatureError otherwise. */
export async function verifyRevocation(revocation: Revocation, keys: readonly KeyObject[]): Promise<void> {
  const { signature, ...fields } = revocation;
  try {
    await verifySignedFields(signature, keys, REVOCATION_JWS_TYPE, canonicalRevocationBytes(fields));
  } catch (err) {
    if (err instanceof JwsError) throw new RevocationSignatureError(err.code, err.message);
    throw err;
  }
}
