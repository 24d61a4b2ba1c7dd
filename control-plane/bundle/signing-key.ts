/**
 * The control plane's Ed25519 signing key: loaded from a file (PKCS#8 PEM or a private JWK),
 * generated on first start when the file does not exist (PKCS#8 PEM, mode 0600, created
 * exclusively so two starting processes cannot both write one), and exportable as the public key
 * (SPKI PEM or JWK) that data planes are configured with.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";
import type { Logger } from "../../common/logger.js";

export class SigningKeyError extends Error {
  override name = "SigningKeyError";
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** RFC 7638 JWK thumbprint of the public key: the `kid` of every signature. */
  kid: string;
  /** Where it came from. */
  path: string;
  /** True when this call generated the key. */
  generated: boolean;
}

function parsePrivateKey(text: string, path: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith("{")) {
      const jwk = JSON.parse(trimmed) as JWK;
      if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.d !== "string") {
        throw new Error("not an Ed25519 private JWK (kty OKP, crv Ed25519, with d)");
      }
      key = createPrivateKey({ key: jwk as JsonWebKey, format: "jwk" });
    } else {
      key = createPrivateKey({ key: trimmed, format: "pem" });
    }
  } catch (err) {
    throw new SigningKeyError(`signing key ${path} is not a readable private key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new SigningKeyError(
      `signing key ${path} is ${key.asymmetricKeyType ?? "not asymmetric"}, not Ed25519`,
    );
  }
  return key;
}

async function describe(privateKey: KeyObject, path: string, generated: boolean): Promise<SigningKey> {
  const publicKey = createPublicKey(privateKey);
  const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
  return { privateKey, publicKey, kid, path, generated };
}

/**
 * Loads the signing key at `path`, or generates one there when the file does not exist.
 * A key file readable by group or others is used but reported through `logger` as a warning.
 */
export async function loadOrCreateSigningKey(path: string, logger?: Logger): Promise<SigningKey> {
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new SigningKeyError(`cannot read signing key ${path}: ${(err as Error).message}`);
    }
  }
  if (text !== undefined) {
    const mode = (await stat(path)).mode & 0o777;
    if (mode & 0o077) {
      logger?.warn({ path, mode: mode.toString(8) }, "signing key file is readable by others: chmod 600 it");
    }
    return describe(parsePrivateKey(text, path), path, false);
  }
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, pem, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return loadOrCreateSigningKey(path, logger);
    throw new SigningKeyError(`cannot write signing key ${path}: ${(err as Error).message}`);
  }
  await chmod(path, 0o600);
  const key = await describe(privateKey, path, true);
  logger?.info({ path, kid: key.kid }, "generated a new bundle signing key");
  return key;
}

/** The public key as SPKI PEM. */
export function publicKeyPem(key: SigningKey): string {
  return key.publicKey.export({ type: "spki", format: "pem" }).toString();
}

/** The public key as a JWK carrying its kid, alg and use. */
export async function publicKeyJwk(key: SigningKey): Promise<JWK> {
  return { ...(await exportJWK(key.publicKey)), kid: key.kid, alg: "EdDSA", use: "sig" };
}

/**
 * Writes the public key for data planes: JWK when `path` ends in .json or .jwk, SPKI PEM otherwise.
 * Mode 0644: it is public.
 */
export async function exportPublicKey(key: SigningKey, path: string): Promise<void> {
  const asJwk = /\.(json|jwk)$/i.test(path);
  const body = asJwk ? `${JSON.stringify(await publicKeyJwk(key), null, 2)}\n` : publicKeyPem(key);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, body, { mode: 0o644 });
}
