import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { LRUCache } from "lru-cache";

/**
 * SCRAM-SHA-256 client (RFC 5802 / 7677) for logging in to the upstream as a mapped role.
 * PBKDF2 is the expensive step (4096 rounds by default): its results are cached per
 * (password, salt, iterations), so repeated logins as the same role cost a few HMACs. The iteration
 * count is the server's to choose, so it is capped (`upstream.max_scram_iterations`): a server asking
 * for 100 million rounds would otherwise hold the proxy's CPU for a minute per login.
 */

/** The default cap on the SCRAM iteration count an upstream may ask for (PostgreSQL's default is 4096). */
export const DEFAULT_MAX_SCRAM_ITERATIONS = 100_000;

interface DerivedKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const derivedKeyCache = new LRUCache<string, DerivedKeys>({ max: 1024 });

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

function deriveKeys(password: string, salt: Buffer, iterations: number): DerivedKeys {
  const cacheKey = createHash("sha256")
    .update(password)
    .update("\0")
    .update(salt)
    .update("\0")
    .update(String(iterations))
    .digest("base64");
  const cached = derivedKeyCache.get(cacheKey);
  if (cached) return cached;
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = hmac(salted, "Client Key");
  const keys = {
    clientKey,
    storedKey: createHash("sha256").update(clientKey).digest(),
    serverKey: hmac(salted, "Server Key"),
  };
  derivedKeyCache.set(cacheKey, keys);
  return keys;
}

function parseAttributes(message: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(",")) {
    const eq = part.indexOf("=");
    if (eq === 1) attrs.set(part[0]!, part.slice(2));
  }
  return attrs;
}

export class ScramError extends Error {}

/** One SCRAM exchange: clientFirst() → serverFirst(msg) returns client-final → serverFinal(msg) verifies. */
export class ScramSession {
  private readonly clientNonce: string;
  private clientFirstBare = "";
  private authMessage = "";
  private keys: DerivedKeys | undefined;

  /** PostgreSQL ignores the SCRAM user name (the start-up packet names the role), so it is empty by default. */
  constructor(
    private readonly password: string,
    options: { nonce?: string; username?: string; maxIterations?: number } = {},
  ) {
    this.clientNonce = options.nonce ?? randomBytes(18).toString("base64");
    this.username = options.username ?? "";
    this.maxIterations = options.maxIterations ?? DEFAULT_MAX_SCRAM_ITERATIONS;
  }

  private readonly username: string;
  private readonly maxIterations: number;

  clientFirst(): string {
    this.clientFirstBare = `n=${this.username},r=${this.clientNonce}`;
    return `n,,${this.clientFirstBare}`;
  }

  serverFirst(serverFirst: string): string {
    const attrs = parseAttributes(serverFirst);
    const nonce = attrs.get("r");
    const salt = attrs.get("s");
    const iterations = Number(attrs.get("i"));
    if (!nonce || !salt || !Number.isInteger(iterations) || iterations < 1) {
      throw new ScramError("malformed SCRAM server-first message");
    }
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) {
      throw new ScramError("SCRAM server nonce does not extend the client nonce");
    }
    if (iterations > this.maxIterations) {
      throw new ScramError(
        `the upstream asks for ${iterations} SCRAM iterations, over the limit of ${this.maxIterations} (upstream.max_scram_iterations): refused`,
      );
    }
    this.keys = deriveKeys(this.password, Buffer.from(salt, "base64"), iterations);
    const clientFinalWithoutProof = `c=biws,r=${nonce}`;
    this.authMessage = `${this.clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
    const signature = hmac(this.keys.storedKey, this.authMessage);
    const proof = Buffer.alloc(signature.length);
    for (let i = 0; i < signature.length; i++) proof[i] = this.keys.clientKey[i]! ^ signature[i]!;
    return `${clientFinalWithoutProof},p=${proof.toString("base64")}`;
  }

  /** Verifies the server's signature: the server must prove it knows the password too. */
  serverFinal(serverFinal: string): void {
    if (!this.keys) throw new ScramError("SCRAM server-final before server-first");
    const attrs = parseAttributes(serverFinal);
    const error = attrs.get("e");
    if (error) throw new ScramError(`SCRAM error from server: ${error}`);
    const verifier = attrs.get("v");
    if (!verifier) throw new ScramError("malformed SCRAM server-final message");
    const expected = hmac(this.keys.serverKey, this.authMessage);
    const got = Buffer.from(verifier, "base64");
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new ScramError("SCRAM server signature does not match: the upstream is not who it claims to be");
    }
  }
}

/** The md5 password response: "md5" + md5(md5(password + user) + salt). */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  const inner = createHash("md5").update(password).update(user).digest("hex");
  return `md5${createHash("md5").update(inner).update(salt).digest("hex")}`;
}
