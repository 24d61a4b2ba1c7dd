/**
 * Signing an activation (proto/activation.ts) with the bundle signing key: what tells every data
 * plane to enforce a bundle, with the sequence that lets it refuse a replayed older one.
 */
import { signJws } from "../../common/jws.js";
import {
  ACTIVATION_JWS_TYPE,
  type Activation,
  canonicalActivationBytes,
  SHADOW_ACTIVATION_JWS_TYPE,
} from "../../proto/activation.js";
import type { SigningKey } from "./signing-key.js";

export async function signActivation(activation: Activation, key: SigningKey): Promise<string> {
  return signJws(canonicalActivationBytes(activation), key, ACTIVATION_JWS_TYPE);
}

/** Signs a shadow activation: a revision evaluated beside the active one, never enforced. */
export async function signShadowActivation(activation: Activation, key: SigningKey): Promise<string> {
  return signJws(canonicalActivationBytes(activation), key, SHADOW_ACTIVATION_JWS_TYPE);
}
