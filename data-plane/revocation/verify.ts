/**
 * Revocation signatures on the data plane: a revocation is applied only when its compact JWS
 * (EdDSA, typ `portcullis-revocation+jws`) verifies with one of the configured control plane
 * public keys (`policy.public_key_file`, the key bundles are checked with) and its payload is
 * byte for byte the canonical form of the message's other fields (proto/revocation.ts).
 */
import type { KeyObject } from "node:crypto";
import { compactVerify, decodeProtectedHeader, errors as joseErrors } from "jose";
import type { Revocation } from "../../proto/bus.js";
import { canonicalRevocationBytes, REVOCATION_JWS_ALG, REVOCATION_JWS_TYPE } from "../../proto/revocation.js";

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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** Resolves when `revocation` is signed by one of `keys`; throws RevocationSignatureError otherwise. */
export async function verifyRevocation(revocation: Revocation, keys: readonly KeyObject[]): Promise<void> {
  const jws = revocation.signature.trim();
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    if (jws.split(".").length !== 3) throw new Error("not three segments");
    header = decodeProtectedHeader(jws);
  } catch (err) {
    throw new RevocationSignatureError(
      "malformed_signature",
      `the signature is not a compact JWS (${(err as Error).message})`,
    );
  }
  if (header.alg !== REVOCATION_JWS_ALG) {
    throw new RevocationSignatureError(
      "wrong_algorithm",
      `signature algorithm ${JSON.stringify(header.alg)} is not accepted (only ${REVOCATION_JWS_ALG})`,
    );
  }
  if (header.typ !== REVOCATION_JWS_TYPE) {
    throw new RevocationSignatureError(
      "wrong_type",
      `signature typ ${JSON.stringify(header.typ)} is not ${REVOCATION_JWS_TYPE}`,
    );
  }
  let payload: Uint8Array | undefined;
  for (const key of keys) {
    try {
      payload = (await compactVerify(jws, key, { algorithms: [REVOCATION_JWS_ALG] })).payload;
      break;
    } catch (err) {
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) continue;
      throw new RevocationSignatureError(
        "malformed_signature",
        `the signature cannot be checked: ${(err as Error).message}`,
      );
    }
  }
  if (!payload) {
    throw new RevocationSignatureError(
      "bad_signature",
      `the signature does not verify with the control plane's public key${keys.length > 1 ? "s" : ""}`,
    );
  }
  const { signature: _signature, ...fields } = revocation;
  if (!sameBytes(payload, canonicalRevocationBytes(fields))) {
    throw new RevocationSignatureError(
      "payload_mismatch",
      "the message's fields differ from what was signed",
    );
  }
}
