/**
 * Signing a grant state with the control plane's Ed25519 key (the bundle signing key): a compact
 * JWS over proto/grant.ts `canonicalGrantBytes`, typ `portcullis-grant+jws`.
 */
import { signJws } from "../../common/jws.js";
import { canonicalGrantBytes, GRANT_JWS_TYPE, type Grant, type GrantFields } from "../../proto/grant.js";
import type { SigningKey } from "../bundle/signing-key.js";

export async function signGrant(fields: GrantFields, key: SigningKey): Promise<Grant> {
  const signature = await signJws(canonicalGrantBytes(fields), key, GRANT_JWS_TYPE);
  return { ...fields, signature };
}
