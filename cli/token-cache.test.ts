import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { psqlEnvironment } from "./login.js";
import { type CachedLogin, TokenCache, TokenCacheError, tokenCachePath } from "./token-cache.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-cache-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const entry = (issuer: string, clientId: string, token = "t"): CachedLogin => ({
  issuer,
  client_id: clientId,
  id_token: token,
  expires_at: 2_000_000_000,
  logged_in_at: "2026-01-01T00:00:00.000Z",
});

describe("token cache", () => {
  it("lives in ~/.config/portcullis/tokens.json unless told otherwise", () => {
    expect(tokenCachePath({ HOME: "/home/ann" })).toBe("/home/ann/.config/portcullis/tokens.json");
    expect(tokenCachePath({ HOME: "/home/ann", XDG_CONFIG_HOME: "/cfg" })).toBe(
      "/cfg/portcullis/tokens.json",
    );
    expect(tokenCachePath({ PORTCULLIS_TOKEN_CACHE: "/x/t.json" })).toBe("/x/t.json");
  });

  it("is written 0600 in a 0700 folder, replacing a file that was readable by others", async () => {
    const cache = new TokenCache(join(dir, "sub", "tokens.json"));
    await cache.put(entry("https://a.example/", "app"));
    expect(await cache.mode()).toBe(0o600);
    expect((await stat(join(dir, "sub"))).mode & 0o777).toBe(0o700);
    await chmod(cache.path, 0o644);
    await cache.put(entry("https://b.example", "app"));
    expect(await cache.mode()).toBe(0o600);
  });

  it("keeps a login per issuer and client, the last one as the default", async () => {
    const cache = new TokenCache(join(dir, "tokens.json"));
    expect(await cache.get()).toBeUndefined();
    await cache.put(entry("https://a.example/", "app", "ta"));
    await cache.put(entry("https://b.example", "app", "tb"));
    await cache.put(entry("https://b.example", "other", "tc"));
    expect((await cache.get())?.id_token).toBe("tc");
    expect((await cache.get("https://a.example", "app"))?.id_token).toBe("ta");
    expect((await cache.get("https://a.example"))?.id_token).toBe("ta");
    await expect(cache.get("https://b.example")).rejects.toThrow(/several logins match/);
    // a refresh does not change the default
    await cache.update({ ...entry("https://a.example", "app", "ta2") });
    expect((await cache.get())?.id_token).toBe("tc");
    expect(await cache.remove("https://b.example")).toBe(2);
    expect(await cache.get()).toBeUndefined();
    expect((await cache.get("https://a.example", "app"))?.id_token).toBe("ta2");
  });

  it("says what to do with a damaged file", async () => {
    const cache = new TokenCache(join(dir, "tokens.json"));
    await writeFile(cache.path, "{not json");
    await expect(cache.get()).rejects.toThrow(TokenCacheError);
    await expect(cache.get()).rejects.toThrow(/is damaged .*delete it and run portcullis login again/);
  });
});

describe("psql environment", () => {
  it("passes the token as the password and requires TLS, keeping a stricter mode", () => {
    expect(psqlEnvironment("tok", { PGSSLMODE: "disable", PGHOST: "h" })).toMatchObject({
      PGPASSWORD: "tok",
      PGSSLMODE: "require",
      PGHOST: "h",
    });
    expect(psqlEnvironment("tok", { PGSSLMODE: "verify-full" }).PGSSLMODE).toBe("verify-full");
    expect(psqlEnvironment("tok", {}).PGSSLMODE).toBe("require");
  });
});
