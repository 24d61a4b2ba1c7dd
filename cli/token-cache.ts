/**
 * The token cache of `portcullis login`: one JSON file, readable by its owner only (mode 0600, in a
 * 0700 folder), holding the tokens of each issuer + client id a person logged in to, and which one
 * was logged in to last (the default for `portcullis token`, `psql` and the admin CLI).
 *
 * Where: $PORTCULLIS_TOKEN_CACHE, else $XDG_CONFIG_HOME/portcullis/tokens.json, else
 * ~/.config/portcullis/tokens.json. Writes go to a temp file renamed over the old one, so a reader
 * never sees half a file.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** What is kept per issuer + client id. Times are seconds since the epoch, as in JWTs. */
export interface CachedLogin {
  issuer: string;
  client_id: string;
  id_token: string;
  /** The ID token's `exp`. */
  expires_at: number;
  refresh_token?: string;
  /** The scope asked for at login (asked again on refresh). */
  scope?: string;
  /** The token's `sub`, for display. */
  subject?: string;
  /** When the person logged in, and when the tokens were last refreshed (RFC 3339). */
  logged_in_at: string;
  refreshed_at?: string;
}

interface CacheFile {
  version: 1;
  /** The key of the login used when none is named. */
  default?: string;
  logins: Record<string, CachedLogin>;
}

export class TokenCacheError extends Error {
  override name = "TokenCacheError";
}

/** The cache file's path for this environment. */
export function tokenCachePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PORTCULLIS_TOKEN_CACHE) return env.PORTCULLIS_TOKEN_CACHE;
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(config, "portcullis", "tokens.json");
}

/** Issuers compare without a trailing slash. */
export function normalizeIssuer(issuer: string): string {
  return issuer.replace(/\/+$/, "");
}

export function loginKey(issuer: string, clientId: string): string {
  return `${normalizeIssuer(issuer)} ${clientId}`;
}

export class TokenCache {
  constructor(readonly path: string = tokenCachePath()) {}

  async #read(): Promise<CacheFile> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, logins: {} };
      throw new TokenCacheError(
        `cannot read the token cache ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    try {
      const parsed = JSON.parse(text) as Partial<CacheFile>;
      if (parsed.version !== 1 || typeof parsed.logins !== "object" || parsed.logins === null) {
        throw new Error("not a Portcullis token cache (version 1)");
      }
      return { version: 1, logins: parsed.logins, ...(parsed.default ? { default: parsed.default } : {}) };
    } catch (err) {
      throw new TokenCacheError(
        `the token cache ${this.path} is damaged (${(err as Error).message}): delete it and run portcullis login again`,
      );
    }
  }

  async #write(cache: CacheFile): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify(cache, null, 2)}\n`, { mode: 0o600, flag: "wx" });
      // the new file (mode 0600 from its creation) replaces the old one, whatever mode that had
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new TokenCacheError(
        `cannot write the token cache ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }

  /** The login for `issuer` + `clientId`; with neither, the default (the last one logged in to). */
  async get(issuer?: string, clientId?: string): Promise<CachedLogin | undefined> {
    const cache = await this.#read();
    if (issuer && clientId) return cache.logins[loginKey(issuer, clientId)];
    if (issuer || clientId) {
      const matches = Object.values(cache.logins).filter(
        (l) =>
          (!issuer || normalizeIssuer(l.issuer) === normalizeIssuer(issuer)) &&
          (!clientId || l.client_id === clientId),
      );
      if (matches.length > 1) {
        throw new TokenCacheError(
          `several logins match (${matches.map((l) => `${l.issuer} ${l.client_id}`).join(", ")}): give both --issuer and --client-id`,
        );
      }
      return matches[0];
    }
    return cache.default ? cache.logins[cache.default] : undefined;
  }

  /** Stores a login and makes it the default. */
  async put(login: CachedLogin): Promise<void> {
    const cache = await this.#read();
    const key = loginKey(login.issuer, login.client_id);
    cache.logins[key] = { ...login, issuer: normalizeIssuer(login.issuer) };
    cache.default = key;
    await this.#write(cache);
  }

  /** Replaces a login's tokens (after a refresh) without changing the default. */
  async update(login: CachedLogin): Promise<void> {
    const cache = await this.#read();
    cache.logins[loginKey(login.issuer, login.client_id)] = login;
    await this.#write(cache);
  }

  /** Forgets one login, or every login; returns how many were forgotten. */
  async remove(issuer?: string, clientId?: string): Promise<number> {
    const cache = await this.#read();
    const keys =
      issuer && clientId
        ? [loginKey(issuer, clientId)].filter((k) => k in cache.logins)
        : Object.keys(cache.logins).filter(
            (k) =>
              (!issuer || normalizeIssuer(cache.logins[k]!.issuer) === normalizeIssuer(issuer)) &&
              (!clientId || cache.logins[k]!.client_id === clientId),
          );
    for (const key of keys) delete cache.logins[key];
    if (cache.default && !(cache.default in cache.logins)) delete cache.default;
    if (keys.length > 0) await this.#write(cache);
    return keys.length;
  }

  /** The file's permission bits, or undefined when it does not exist. */
  async mode(): Promise<number | undefined> {
    try {
      return (await stat(this.path)).mode & 0o777;
    } catch {
      return undefined;
    }
  }
}
