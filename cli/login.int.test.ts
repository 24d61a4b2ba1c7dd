/**
 * `portcullis login`, `token` and `psql` against a real OIDC provider (devstack/oidc.ts, oidc-provider):
 * the device flow with the harness approving the code as the user, the authorization code flow with
 * PKCE on a loopback redirect with the harness playing the browser, the token cache (0600), refresh
 * near expiry, tokens that verify with the provider's JWKS, and real psql through a data plane.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OidcHarness, type OidcUser, startOidcProvider } from "../devstack/oidc.js";
import { startProxyStack, USERS } from "../test/harness/proxy-stack.js";
import {
  cachedAdminToken,
  freshIdToken,
  LoginError,
  type LoginIo,
  login,
  NotLoggedInError,
  registerLoginCommands,
  runPsql,
} from "./login.js";
import { TokenCache } from "./token-cache.js";

let oidc: OidcHarness;
let shortLived: OidcHarness;
let scratch: string;

beforeAll(async () => {
  [oidc, shortLived] = await Promise.all([
    startOidcProvider(),
    // ID tokens that are always "near expiry" (under the 60 s margin): every use refreshes
    startOidcProvider({ defaultLifetimeSeconds: 20 }),
  ]);
  scratch = await mkdtemp(join(tmpdir(), "portcullis-login-"));
});

afterAll(async () => {
  await oidc?.stop();
  await shortLived?.stop();
  await rm(scratch, { recursive: true, force: true });
});

let cacheCount = 0;
function newEnv(): NodeJS.ProcessEnv {
  cacheCount += 1;
  return {
    HOME: scratch,
    PATH: process.env.PATH,
    PORTCULLIS_TOKEN_CACHE: join(scratch, `c${cacheCount}`, "tokens.json"),
  };
}

/** Captures what a command prints, and resolves `matched` with the first match of `pattern` in the instructions. */
function capture(pattern: RegExp): { io: LoginIo; out: string[]; info: string[]; matched: Promise<string> } {
  const out: string[] = [];
  const info: string[] = [];
  let resolve!: (value: string) => void;
  const matched = new Promise<string>((r) => {
    resolve = r;
  });
  return {
    out,
    info,
    matched,
    io: {
      out: (text) => void out.push(text),
      info: (text) => {
        info.push(text);
        const m = pattern.exec(text);
        if (m?.[1]) resolve(m[1]);
      },
      openBrowser: async () => {
        throw new Error("the test never opens a browser");
      },
    },
  };
}

async function deviceLogin(provider: OidcHarness, user: OidcUser, env: NodeJS.ProcessEnv, scope?: string) {
  const { io, info, matched } = capture(/enter the code: (\S+)/);
  const pending = login({
    issuer: provider.issuer,
    clientId: provider.clientId,
    mode: "device",
    io,
    env,
    ...(scope ? { scope } : {}),
  });
  const failed = pending.then(
    () => undefined,
    (err: Error) => err,
  );
  const code = await Promise.race([
    matched,
    failed.then((err) => Promise.reject(err ?? new Error("login ended"))),
  ]);
  await provider.approveDevice(code, user);
  const entry = await pending;
  return { entry, info };
}

async function cli(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string[]> {
  const { io, out } = capture(/$^/);
  const program = new Command().exitOverride();
  registerLoginCommands(program, io, env);
  await program.parseAsync(args, { from: "user" });
  return out;
}

async function verify(provider: OidcHarness, token: string) {
  const jwks = createRemoteJWKSet(new URL(`${provider.issuer}/jwks`));
  const { payload } = await jwtVerify(token, jwks, { issuer: provider.issuer, audience: provider.clientId });
  return payload;
}

describe("portcullis login", () => {
  it("device flow: prints the URL and code, polls until approved, caches the tokens 0600, and `token` prints a valid ID token", async () => {
    const env = newEnv();
    const { entry, info } = await deviceLogin(oidc, USERS.alice, env);
    const instructions = info.join("\n");
    expect(instructions).toContain(`${oidc.issuer}/device`);
    expect(instructions).toMatch(/enter the code: \S+/);
    expect(entry).toMatchObject({ issuer: oidc.issuer, client_id: oidc.clientId, subject: "alice" });
    expect(entry.refresh_token).toBeTruthy();

    const cache = new TokenCache(env.PORTCULLIS_TOKEN_CACHE);
    expect(await cache.mode()).toBe(0o600);
    const saved = JSON.parse(await readFile(cache.path, "utf8")) as {
      logins: Record<string, { id_token: string }>;
    };
    expect(Object.values(saved.logins).map((l) => l.id_token)).toEqual([entry.id_token]);

    const [printed] = await cli(env, "token");
    // far from expiry: the cached token as it is
    expect(printed).toBe(entry.id_token);
    const claims = await verify(oidc, printed!);
    expect(claims.sub).toBe("alice");
    expect(claims.email).toBe("alice@example.com");
    expect(await cachedAdminToken({ env })).toBe(entry.id_token);
  });

  it("refreshes with the refresh token when the ID token is near expiry, and saves what it got", async () => {
    const env = newEnv();
    const { entry } = await deviceLogin(shortLived, USERS.bob, env);
    expect(entry.expires_at - Date.now() / 1000).toBeLessThan(60);

    const [printed] = await cli(env, "token");
    const after = await new TokenCache(env.PORTCULLIS_TOKEN_CACHE).get();
    expect(after?.refreshed_at).toBeTruthy();
    expect(after?.id_token).toBe(printed);
    expect(after?.logged_in_at).toBe(entry.logged_in_at);
    const claims = await verify(shortLived, printed!);
    expect(claims.sub).toBe("bob");
    expect(claims.exp).toBeGreaterThanOrEqual(decodeJwt(entry.id_token).exp!);

    // a refresh token the provider no longer knows: a clear error that says what to do
    await new TokenCache(env.PORTCULLIS_TOKEN_CACHE).update({
      ...after!,
      refresh_token: "not-a-refresh-token",
    });
    const failure = await cli(env, "token").catch((err: Error) => err);
    expect(failure).toBeInstanceOf(NotLoggedInError);
    expect((failure as Error).message).toMatch(
      new RegExp(
        `refreshing the token at ${shortLived.issuer} failed \\(.+\\): run portcullis login --issuer`,
      ),
    );
  });

  it("says so clearly when nobody is logged in", async () => {
    const env = newEnv();
    const failure = await cli(env, "token").catch((err: Error) => err);
    expect(failure).toBeInstanceOf(NotLoggedInError);
    expect((failure as Error).message).toBe(
      "not logged in: run portcullis login --issuer URL --client-id ID",
    );
    expect(await cachedAdminToken({ env })).toBeUndefined();
  });

  it("authorization code + PKCE: a loopback redirect the provider sends the browser back to", async () => {
    const env = newEnv();
    const { io, info, matched } = capture(/open this URL in your browser:\n\s+(\S+)/);
    const pending = login({
      issuer: oidc.issuer,
      clientId: oidc.clientId,
      mode: "browser",
      open: false,
      io,
      env,
    });
    const url = new URL(await matched);
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("redirect_uri")).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    // the provider's own interaction, as a browser would go through it
    const redirect = await oidc.authorize(url, USERS.carol);
    expect(redirect.origin + redirect.pathname).toBe(url.searchParams.get("redirect_uri"));
    const page = await fetch(redirect);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Logged in to Portcullis");
    const entry = await pending;
    expect(entry.subject).toBe("carol");
    expect(entry.refresh_token).toBeTruthy();
    expect(info.join("\n")).toContain("logged in to");
    const claims = await verify(oidc, await freshIdToken({ env }));
    expect(claims.sub).toBe("carol");
  });

  it("refuses a redirect that does not carry the state it sent", async () => {
    const env = newEnv();
    const { io, matched } = capture(/open this URL in your browser:\n\s+(\S+)/);
    const pending = login({
      issuer: oidc.issuer,
      clientId: oidc.clientId,
      mode: "browser",
      open: false,
      io,
      env,
    });
    const failed = pending.then(
      () => undefined,
      (err: Error) => err,
    );
    const url = new URL(await matched);
    const forged = new URL(url.searchParams.get("redirect_uri")!);
    forged.searchParams.set("code", "stolen-code");
    forged.searchParams.set("state", "not-the-state");
    const page = await fetch(forged);
    expect(page.status).toBe(400);
    const err = await failed;
    expect(err).toBeInstanceOf(LoginError);
    expect(err?.message).toMatch(/could not be exchanged/);
    expect(await new TokenCache(env.PORTCULLIS_TOKEN_CACHE).get()).toBeUndefined();
  });

  it("refuses an http issuer that is not on loopback", async () => {
    await expect(
      login({ issuer: "http://login.example.com", clientId: "x", mode: "device", env: newEnv() }),
    ).rejects.toThrow(/the issuer must use https/);
  });
});

describe("portcullis psql", () => {
  it("runs the real psql through a data plane with the cached token as the password", async () => {
    const stack = await startProxyStack({ oidc });
    try {
      const env = newEnv();
      await deviceLogin(oidc, USERS.alice, env, "openid email groups offline_access");
      const token = await freshIdToken({ env });
      const result = await runPsql(
        [
          "-X",
          "-A",
          "-t",
          "-h",
          "127.0.0.1",
          "-p",
          String(stack.port),
          "-d",
          "app",
          "-U",
          "alice",
          "-c",
          "SELECT current_user",
        ],
        { token, env: { ...env, PGCONNECT_TIMEOUT: "10" }, stdio: ["ignore", "pipe", "pipe"] },
      );
      expect(result.stderr).toBe("");
      expect(result.stdout.trim()).toBe("analyst");
      expect(result.code).toBe(0);

      // no psql: a clear error
      const missing = await runPsql(
        ["-X", "-A", "-t", "-h", "127.0.0.1", "-p", String(stack.port), "-d", "app", "-c", "SELECT 1"],
        { token, env: { ...env, PORTCULLIS_PSQL: "/nonexistent/psql" }, stdio: ["ignore", "pipe", "pipe"] },
      ).catch((err: Error) => err);
      expect(missing).toBeInstanceOf(LoginError);
      expect((missing as Error).message).toMatch(/not found: install the PostgreSQL client/);
    } finally {
      await stack.stop();
    }
  });
});
