/**
 * Signing a revocation with the control plane's Ed25519 key (the bundle signing key): a compact
 * JWS over proto/revocation.ts `canonicalRevocation`, typ `portcullis-revocation+jws`.
 */
import { signJws } from "../../common/jws.js";
import type { Revocation } from "../../proto/bus.js";
import {
  canonicalRevocationBytes,
  REVOCATION_JWS_TYPE,
  type RevocationFields,
} from "../../proto/revocation.js";
import type { SigningKey } from "../bundle/signing-key.js";

export async function signRevocation(fields: RevocationFields, key: SigningKey): Promise<Revocation> {
  const signature = await signJws(canonicalRevocationBytes(fields), key, REVOCATION_JWS_TYPE);
  return { ...fields, signature };
}
