/**
 * Revocation signatures on the data plane: a revocation is applied only when its compact JWS
 * (EdDSA, typ `portcullis-revocation+jws`) verifies with one of the configured control plane
 * public keys (`policy.public_key_file`, the key bundles are checked with) and its payload is
 * byte for byte the canonical form of the message's other fields (proto/revocation.ts).
 */
import type { KeyObject } from "node:crypto";
import { JwsError, sameBytes, verifyJws } from "../../common/jws.js";
import type { Revocation } from "../../proto/bus.js";
import { canonicalRevocationBytes, REVOCATION_JWS_TYPE } from "../../proto/revocation.js";

export type RevocationRejection =
  | "malformed_signature"
  | "wrong_algorithm"
  | "wrong_type"
  | "bad_signature"
  | "payload_mismatch";

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
  let payload: Uint8Array;
  try {
    ({ payload } = await verifyJws(revocation.signature, keys, REVOCATION_JWS_TYPE));
  } catch (err) {
    if (err instanceof JwsError) throw new RevocationSignatureError(err.code, err.message);
    throw err;
  }
  const { signature: _signature, ...fields } = revocation;
  if (!sameBytes(payload, canonicalRevocationBytes(fields))) {
    throw new RevocationSignatureError(
      "payload_mismatch",
      "the message's fields differ from what was signed",
    );
  }
}
