/**
 * Ed25519 compact JWS, the one way both planes sign and check what travels over NATS: bundle
 * manifests, bundle activations and revocations. Each kind has its own `typ`, so a signature made
 * for one can never pass as another.
 *
 * Checks, in order: three segments, each canonical base64url, and a readable protected header; `alg` is EdDSA (any other alg
 * is refused before a key is tried); `typ` is the expected one; the signature verifies with one of
 * the given public keys. Every failure is a JwsError with a `code`.
 *
 * Signing and verifying use node:crypto's one-shot Ed25519 directly (synchronous, tens of
 * microseconds): a WebCrypto call goes through the libuv thread pool, whose queue (TLS, SCRAM,
 * file reads) made a single grant's signature and check take milliseconds under load. The output is
 * the standard compact JWS (Ed25519 signatures are deterministic: the same bytes as any library's).
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { decodeProtectedHeader } from "jose";

export const JWS_ALG = "EdDSA";

export type JwsErrorCode =
  | "malformed_signature"
  | "wrong_algorithm"
  | "wrong_type"
  | "bad_signature"
  | "payload_mismatch";

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
  const header = Buffer.from(JSON.stringify({ alg: JWS_ALG, typ, kid: key.kid })).toString("base64url");
  const input = `${header}.${Buffer.from(payload).toString("base64url")}`;
  const signature = cryptoSign(null, Buffer.from(input), key.privateKey);
  return `${input}.${signature.toString("base64url")}`;
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
  // Extensions this verifier does not implement are refused, never ignored.
  if (header.crit !== undefined || header.b64 !== undefined) {
    throw new JwsError(
      "malformed_signature",
      "the signature's header has crit or b64, which are not accepted",
    );
  }
  const [encodedHeader, encodedPayload, encodedSignature] = compact.split(".") as [string, string, string];
  const input = Buffer.from(`${encodedHeader}.${encodedPayload}`);
  const signature = Buffer.from(encodedSignature, "base64url");
  for (const key of keys) {
    if (key.asymmetricKeyType !== "ed25519" && key.asymmetricKeyType !== "ed448") {
      throw new JwsError(
        "malformed_signature",
        `the signature cannot be checked with a ${key.asymmetricKeyType} key`,
      );
    }
    let valid: boolean;
    try {
      valid = cryptoVerify(null, input, key, signature);
    } catch (err) {
      throw new JwsError("malformed_signature", `the signature cannot be checked: ${(err as Error).message}`);
    }
    if (valid)
      return {
        payload: new Uint8Array(Buffer.from(encodedPayload, "base64url")),
        kid: typeof header.kid === "string" ? header.kid : undefined,
      };
  }
  throw new JwsError(
    "bad_signature",
    `the signature does not verify with the configured public key${keys.length > 1 ? "s" : ""}` +
      (typeof header.kid === "string" ? ` (signed by key ${header.kid})` : ""),
  );
}

/**
 * Checks a message that carries its own signature (revocations, grants): its compact JWS of type `typ`
 * verifies with one of `keys` (verifyJws), and what was signed is byte for byte `fields`, the
 * canonical form of the message's other fields. Throws JwsError (`payload_mismatch` for the latter).
 */
export async function verifySignedFields(
  jws: string,
  keys: readonly KeyObject[],
  typ: string,
  fields: Uint8Array,
): Promise<void> {
  const { payload } = await verifyJws(jws, keys, typ);
  if (!sameBytes(payload, fields)) {
    throw new JwsError("payload_mismatch", "the message's fields differ from what was signed");
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
