/**
 * Grant signatures on the data plane: a grant state is applied only when its compact JWS (EdDSA,
 * typ `portcullis-grant+jws`) verifies with one of the control plane's public keys and its payload
 * is byte for byte the canonical form of the message's other fields (proto/grant.ts).
 */
import type { KeyObject } from "node:crypto";
import { JwsError, verifySignedFields } from "../../common/jws.js";
import { canonicalGrantBytes, GRANT_JWS_TYPE, type Grant } from "../../proto/grant.js";

export class GrantRejected extends Error {
  override name = "GrantRejected";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`grant rejected: ${message}`);
  }
}

/** Resolves when `grant` is signed by one of `keys`; throws GrantRejected otherwise. */
export async function verifyGrant(grant: Grant, keys: readonly KeyObject[]): Promise<void> {
  try {
    await verifySignedFields(grant.signature, keys, GRANT_JWS_TYPE, canonicalGrantBytes(grant));
  } catch (err) {
    if (err instanceof JwsError) throw new GrantRejected(err.code, err.message);
    throw err;
  }
}
