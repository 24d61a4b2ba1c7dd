/**
 * Ed25519 compact JWS, the one way both planes sign and check what travels over NATS: bundle
 * manifests, bundle activations and revocations. Each kind has its own `typ`, so a signature made
 * for one can never pass as another.
 *
 * Checks, in order: three segments, each canonical base64url, and a readable protected header; `alg` is EdDSA (any other alg
 * is refused before a key is tried); `typ` is the expected one; the signature verifies with one of
 * the given public keys. Every failure is a JwsError with a `code`.
 */
import type { KeyObject } from "node:crypto";
import { CompactSign, compactVerify, decodeProtectedHeader, errors as joseErrors } from "jose";

export const JWS_ALG = "EdDSA";

export type JwsErrorCode = "malformed_signature" | "wrong_algorithm" | "wrong_type" | "bad_signature";

export class JwsError extends Error {
  override name = "JwsError";
  constructor(
    readonly code: JwsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifiedJws {
  payload: Uint8Array;
  /** The `kid` the header names, when present. */
  kid: string | undefined;
}

/** Signs `payload` as a compact JWS with alg EdDSA, the given `typ` and `kid`. */
export async function signJws(
  payload: Uint8Array,
  key: { privateKey: KeyObject; kid: string },
  typ: string,
): Promise<string> {
  return new CompactSign(payload)
    .setProtectedHeader({ alg: JWS_ALG, typ, kid: key.kid })
    .sign(key.privateKey);
}

/** Verifies a compact JWS of type `typ` against `keys`; returns its payload or throws JwsError. */
export async function verifyJws(jws: string, keys: readonly KeyObject[], typ: string): Promise<VerifiedJws> {
  const compact = jws.trim();
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    const segments = compact.split(".");
    if (segments.length !== 3) throw new Error("not three segments");
    // Only the canonical base64url of each segment: a decoder skips whitespace and other characters
    // and ignores the unused bits of the last one, so without this one signature has many spellings.
    for (const segment of segments) {
      if (Buffer.from(segment, "base64url").toString("base64url") !== segment)
        throw new Error("a segment is not canonical base64url");
    }
    header = decodeProtectedHeader(compact);
  } catch (err) {
    throw new JwsError(
      "malformed_signature",
      `the signature is not a compact JWS (${(err as Error).message})`,
    );
  }
  if (header.alg !== JWS_ALG) {
    throw new JwsError(
      "wrong_algorithm",
      `signature algorithm ${JSON.stringify(header.alg)} is not accepted (only ${JWS_ALG})`,
    );
  }
  if (header.typ !== typ) {
    throw new JwsError("wrong_type", `signature typ ${JSON.stringify(header.typ)} is not ${typ}`);
  }
  for (const key of keys) {
    try {
      const { payload } = await compactVerify(compact, key, { algorithms: [JWS_ALG] });
      return { payload, kid: typeof header.kid === "string" ? header.kid : undefined };
    } catch (err) {
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) continue;
      throw new JwsError("malformed_signature", `the signature cannot be checked: ${(err as Error).message}`);
    }
  }
  throw new JwsError(
    "bad_signature",
    `the signature does not verify with the configured public key${keys.length > 1 ? "s" : ""}` +
      (typeof header.kid === "string" ? ` (signed by key ${header.kid})` : ""),
  );
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
