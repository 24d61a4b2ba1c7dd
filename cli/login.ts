/**
 * Logging in people (and their tools) to Portcullis with their OIDC provider, with openid-client:
 *
 *   portcullis login --issuer URL --client-id ID [--device | --browser] [--scope S] [--port N]
 *   portcullis token [--issuer URL --client-id ID] [--min-valid SECONDS]
 *   portcullis psql [--issuer URL --client-id ID] [psql arguments…]
 *   portcullis logout [--issuer URL] [--client-id ID]
 *
 * `login` runs the device authorization grant (`--device`: prints the verification URL and the user
 * code, then polls) or the authorization code grant with PKCE on a loopback redirect
 * (`--browser`: `http://127.0.0.1:<port>/callback`; the URL is printed, and opened only when a
 * desktop session is there and --no-open is not given). Without either, `--browser` when a desktop
 * session is detected, `--device` otherwise. Tokens go to the token cache (cli/token-cache.ts).
 *
 * `token` prints a fresh ID token: the cached one, or one refreshed with the refresh token when
 * the cached one expires within `--min-valid` seconds (default 60). `psql` runs the real psql with
 * PGPASSWORD=<that token> and PGSSLMODE=require (verify-ca/verify-full when already set are kept),
 * every other argument passed through. `cachedAdminToken()` gives the admin CLI the same token.
 *
 * --issuer and --client-id default to $PORTCULLIS_ISSUER and $PORTCULLIS_CLIENT_ID; `token`, `psql`
 * and `cachedAdminToken` default to the last login. An http:// issuer is accepted on loopback only
 * (local development); anything else must be https.
 */
import { type StdioOptions, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Command } from "commander";
import * as oidc from "openid-client";
import { type CachedLogin, normalizeIssuer, TokenCache, tokenCachePath } from "./token-cache.js";

export const DEFAULT_SCOPE = "openid email offline_access";
/** A cached ID token expiring within this many seconds is refreshed first. */
export const DEFAULT_MIN_VALIDITY_SECONDS = 60;
const CALLBACK_PATH = "/callback";

export interface LoginIo {
  /** Where the token goes (`portcullis token`). */
  out(text: string): void;
  /** Instructions and progress (stderr), so stdout stays clean for scripts. */
  info(text: string): void;
  /** Opens a URL in the person's browser; false when it cannot. Default: the desktop's opener. */
  openBrowser?(url: string): Promise<boolean>;
}

const processIo: LoginIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  info: (text) => process.stderr.write(`${text}\n`),
};

/** A failure the user can act on: the CLI prints the message and exits non-zero. */
export class LoginError extends Error {
  override name = "LoginError";
}

/** No usable login in the cache. */
export class NotLoggedInError extends LoginError {
  override name = "NotLoggedInError";
}

export interface LoginOptions {
  issuer: string;
  clientId: string;
  /** Default: "browser" when a desktop session is detected, "device" otherwise. */
  mode?: "device" | "browser";
  scope?: string;
  /** Loopback port of the redirect URI (0: any free port). */
  port?: number;
  /** Passed to the provider to preselect the account. */
  loginHint?: string;
  /** Try to open the browser (browser mode). Default true. */
  open?: boolean;
  /** How long to wait for the person (default 10 minutes). */
  timeoutMs?: number;
  cache?: TokenCache;
  io?: LoginIo;
  env?: NodeJS.ProcessEnv;
}

function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "[::1]" || host === "::1" || /^127\./.test(host);
}

/** A desktop session where a browser can be opened. */
export function hasDesktop(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform === "darwin" || process.platform === "win32") return !env.SSH_CONNECTION;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

function issuerUrl(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new LoginError(`--issuer ${issuer} is not a URL`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    throw new LoginError(`the issuer must use https (http is accepted on loopback only): ${issuer}`);
  }
  return url;
}

/** The provider's configuration (OIDC discovery) for a public client. */
export async function discover(issuer: string, clientId: string): Promise<oidc.Configuration> {
  const url = issuerUrl(issuer);
  try {
    return await oidc.discovery(
      url,
      clientId,
      undefined,
      oidc.None(),
      url.protocol === "http:" ? { execute: [oidc.allowInsecureRequests] } : undefined,
    );
  } catch (err) {
    throw new LoginError(`OIDC discovery at ${issuer} failed: ${describe(err)}`);
  }
}

function describe(err: unknown): string {
  if (err instanceof oidc.ResponseBodyError) {
    return `${err.error}${err.error_description ? `: ${err.error_description}` : ""}`;
  }
  const e = err as Error & { cause?: unknown };
  const cause = e.cause instanceof Error ? ` (${e.cause.message})` : "";
  return `${e.message ?? String(err)}${cause}`;
}

/** The cache entry for the tokens of a grant. */
function toLogin(
  issuer: string,
  clientId: string,
  scope: string,
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  previous?: CachedLogin,
): CachedLogin {
  if (!tokens.id_token) throw new LoginError(`${issuer} returned no ID token (is "openid" in the scope?)`);
  const claims = tokens.claims();
  if (!claims || typeof claims.exp !== "number")
    throw new LoginError(`the ID token from ${issuer} has no exp`);
  const now = new Date().toISOString();
  return {
    issuer: normalizeIssuer(issuer),
    client_id: clientId,
    id_token: tokens.id_token,
    expires_at: claims.exp,
    scope,
    subject: claims.sub,
    logged_in_at: previous?.logged_in_at ?? now,
    ...(previous ? { refreshed_at: now } : {}),
    ...(tokens.refresh_token
      ? { refresh_token: tokens.refresh_token }
      : previous?.refresh_token
        ? { refresh_token: previous.refresh_token }
        : {}),
  };
}

/** Runs the login and stores the tokens; resolves with what was stored. */
export async function login(options: LoginOptions): Promise<CachedLogin> {
  const io = options.io ?? processIo;
  const env = options.env ?? process.env;
  const scope = options.scope ?? DEFAULT_SCOPE;
  const cache = options.cache ?? new TokenCache(tokenCachePath(env));
  const mode = options.mode ?? (hasDesktop(env) ? "browser" : "device");
  const config = await discover(options.issuer, options.clientId);
  const timeoutMs = options.timeoutMs ?? 10 * 60 * 1000;
  const tokens =
    mode === "device"
      ? await deviceGrant(config, scope, io, timeoutMs)
      : await browserGrant(config, { ...options, scope, timeoutMs, io, env });
  const entry = toLogin(options.issuer, options.clientId, scope, tokens);
  await cache.put(entry);
  io.info(
    `logged in to ${entry.issuer} as ${entry.subject ?? "?"}; tokens saved in ${cache.path}` +
      (entry.refresh_token
        ? ""
        : " (no refresh token: run portcullis login again when the ID token expires)"),
  );
  return entry;
}

async function deviceGrant(
  config: oidc.Configuration,
  scope: string,
  io: LoginIo,
  timeoutMs: number,
): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  if (!config.serverMetadata().device_authorization_endpoint) {
    throw new LoginError(`${config.serverMetadata().issuer} does not offer the device flow: use --browser`);
  }
  let response: Awaited<ReturnType<typeof oidc.initiateDeviceAuthorization>>;
  try {
    response = await oidc.initiateDeviceAuthorization(config, { scope });
  } catch (err) {
    throw new LoginError(`the device authorization request failed: ${describe(err)}`);
  }
  io.info(
    [
      "To log in, open this page on any device with a browser:",
      `  ${response.verification_uri}`,
      `and enter the code: ${response.user_code}`,
      ...(response.verification_uri_complete ? [`(or open ${response.verification_uri_complete})`] : []),
      "Waiting for you to approve…",
    ].join("\n"),
  );
  const signal = AbortSignal.timeout(Math.min(timeoutMs, (response.expires_in ?? 600) * 1000));
  try {
    return await oidc.pollDeviceAuthorizationGrant(config, response, undefined, { signal });
  } catch (err) {
    if (signal.aborted) throw new LoginError("the device code expired before the login was approved");
    throw new LoginError(`the login was not completed: ${describe(err)}`);
  }
}

async function browserGrant(
  config: oidc.Configuration,
  options: LoginOptions & { scope: string; timeoutMs: number; io: LoginIo; env: NodeJS.ProcessEnv },
): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  const { io } = options;
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const callback = await listenForCallback(options.port ?? 0);
  try {
    const redirectUri = `http://127.0.0.1:${callback.port}${CALLBACK_PATH}`;
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: options.scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      nonce,
      // OpenID Connect: a refresh token (offline_access) is granted with explicit consent
      ...(options.scope.split(/\s+/).includes("offline_access") ? { prompt: "consent" } : {}),
      ...(options.loginHint ? { login_hint: options.loginHint } : {}),
    });
    io.info(
      `To log in, open this URL in your browser:\n  ${url.href}\nWaiting for the browser to come back…`,
    );
    if (options.open !== false && hasDesktop(options.env)) {
      const opened = await (io.openBrowser ?? openInBrowser)(url.href).catch(() => false);
      if (opened) io.info("(opened it in your browser)");
    }
    const received = await callback.next(options.timeoutMs);
    const error = received.searchParams.get("error");
    if (error) {
      const description = received.searchParams.get("error_description");
      callback.answer(400, `Login failed: ${error}${description ? `: ${description}` : ""}`);
      throw new LoginError(
        `the provider refused the login: ${error}${description ? `: ${description}` : ""}`,
      );
    }
    try {
      const tokens = await oidc.authorizationCodeGrant(config, received, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
      });
      callback.answer(200, "Logged in to Portcullis. You can close this window.");
      return tokens;
    } catch (err) {
      callback.answer(400, "Login failed: see the terminal.");
      throw new LoginError(`the authorization code could not be exchanged: ${describe(err)}`);
    }
  } finally {
    callback.close();
  }
}

/** A one-shot loopback HTTP listener for the redirect. */
async function listenForCallback(port: number): Promise<{
  port: number;
  next(timeoutMs: number): Promise<URL>;
  answer(status: number, message: string): void;
  close(): void;
}> {
  let deliver: ((url: URL) => void) | undefined;
  let pending: { res: import("node:http").ServerResponse } | undefined;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    if (req.method !== "GET" || url.pathname !== CALLBACK_PATH || !deliver || pending) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    pending = { res };
    deliver(url);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new LoginError(
          `cannot listen on 127.0.0.1:${port} for the login redirect: ${err.code ?? err.message}` +
            (port ? " (choose another --port)" : ""),
        ),
      ),
    );
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    next: (timeoutMs) =>
      new Promise<URL>((resolve, reject) => {
        const timer = setTimeout(() => {
          deliver = undefined;
          reject(
            new LoginError(`no login came back from the browser within ${Math.round(timeoutMs / 1000)} s`),
          );
        }, timeoutMs);
        deliver = (url) => {
          clearTimeout(timer);
          deliver = undefined;
          resolve(url);
        };
      }),
    answer(status, message) {
      const res = pending?.res;
      if (!res || res.headersSent) return;
      const html = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Portcullis</title></head><body><p>${message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)}</p></body></html>`;
      res.writeHead(status, { "content-type": "text/html; charset=utf-8", connection: "close" }).end(html);
    },
    close() {
      pending?.res.headersSent || pending?.res.writeHead(500).end();
      server.close();
      server.closeAllConnections();
    },
  };
}

/** Opens `url` with the desktop's opener; never through a shell. */
async function openInBrowser(url: string): Promise<boolean> {
  const [command, args] =
    process.platform === "darwin"
      ? ["open", [url]]
      : process.platform === "win32"
        ? ["rundll32", ["url.dll,FileProtocolHandler", url]]
        : ["xdg-open", [url]];
  return new Promise((resolve) => {
    const child = spawn(command, args as string[], { stdio: "ignore", detached: true });
    child.once("error", () => resolve(false));
    child.once("spawn", () => {
      child.unref();
      resolve(true);
    });
  });
}

export interface FreshTokenOptions {
  issuer?: string;
  clientId?: string;
  /** Refresh when the cached ID token expires within this many seconds. */
  minValiditySeconds?: number;
  cache?: TokenCache;
  env?: NodeJS.ProcessEnv;
}

/**
 * A fresh ID token from the cache, refreshed with the refresh token when it is near expiry (the
 * new tokens are saved). Throws NotLoggedInError when there is no login or it cannot be renewed.
 */
export async function freshIdToken(options: FreshTokenOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const cache = options.cache ?? new TokenCache(tokenCachePath(env));
  const issuer = options.issuer ?? env.PORTCULLIS_ISSUER;
  const clientId = options.clientId ?? env.PORTCULLIS_CLIENT_ID;
  const minValidity = options.minValiditySeconds ?? DEFAULT_MIN_VALIDITY_SECONDS;
  const entry = await cache.get(issuer, clientId);
  if (!entry) {
    throw new NotLoggedInError(
      issuer || clientId
        ? `not logged in to ${[issuer, clientId].filter(Boolean).join(" as client ")}: run portcullis login --issuer URL --client-id ID`
        : "not logged in: run portcullis login --issuer URL --client-id ID",
    );
  }
  const now = Math.floor(Date.now() / 1000);
  if (entry.expires_at - now > minValidity) return entry.id_token;
  const again = `run portcullis login --issuer ${entry.issuer} --client-id ${entry.client_id}`;
  if (!entry.refresh_token) {
    throw new NotLoggedInError(
      `the ID token from ${entry.issuer} ${entry.expires_at <= now ? "has expired" : "is about to expire"} and there is no refresh token: ${again}`,
    );
  }
  const config = await discover(entry.issuer, entry.client_id);
  let tokens: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
  try {
    tokens = await oidc.refreshTokenGrant(
      config,
      entry.refresh_token,
      entry.scope ? { scope: entry.scope } : {},
    );
  } catch (err) {
    // another process may have refreshed (and rotated the refresh token) at the same moment
    const current = await cache.get(entry.issuer, entry.client_id);
    if (current && current.refresh_token !== entry.refresh_token && current.expires_at - now > minValidity) {
      return current.id_token;
    }
    throw new NotLoggedInError(`refreshing the token at ${entry.issuer} failed (${describe(err)}): ${again}`);
  }
  const refreshed = toLogin(entry.issuer, entry.client_id, entry.scope ?? DEFAULT_SCOPE, tokens, entry);
  await cache.update(refreshed);
  return refreshed.id_token;
}

/**
 * For the admin CLI: a fresh ID token of the cached login ($PORTCULLIS_ISSUER/$PORTCULLIS_CLIENT_ID
 * or the last one), or undefined when nobody is logged in. Throws NotLoggedInError when the login
 * exists but can no longer be renewed.
 */
export async function cachedAdminToken(options: FreshTokenOptions = {}): Promise<string | undefined> {
  try {
    return await freshIdToken(options);
  } catch (err) {
    if (err instanceof NotLoggedInError && /^not logged in/.test(err.message)) return undefined;
    throw err;
  }
}

/** The environment psql runs with: the token as password, TLS required (or stronger, if asked). */
export function psqlEnvironment(token: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const keep = env.PGSSLMODE === "verify-ca" || env.PGSSLMODE === "verify-full";
  return { ...env, PGPASSWORD: token, PGSSLMODE: keep ? env.PGSSLMODE : "require" };
}

/** Runs psql with `args`; resolves with its exit status (and output when piped). */
export function runPsql(
  args: readonly string[],
  options: { token: string; env?: NodeJS.ProcessEnv; stdio?: StdioOptions },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = options.env ?? process.env;
  const psql = env.PORTCULLIS_PSQL || "psql";
  return new Promise((resolve, reject) => {
    const child = spawn(psql, [...args], {
      env: psqlEnvironment(options.token, env),
      stdio: options.stdio ?? "inherit",
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new LoginError(
          err.code === "ENOENT"
            ? `${psql} not found: install the PostgreSQL client (or set PORTCULLIS_PSQL to its path)`
            : `cannot run ${psql}: ${err.message}`,
        ),
      ),
    );
    child.once("close", (code, signal) =>
      resolve({ code: code ?? (signal ? 128 + (signalNumbers[signal] ?? 1) : 1), stdout, stderr }),
    );
  });
}

const signalNumbers: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

interface IdentityOptions {
  issuer?: string;
  clientId?: string;
}

/** Adds `login`, `token`, `psql` and `logout` to `program`. */
export function registerLoginCommands(
  program: Command,
  io: LoginIo = processIo,
  env: NodeJS.ProcessEnv = process.env,
): void {
  // `psql` passes its arguments through untouched, which needs options to be positional
  program.enablePositionalOptions();
  const cache = () => new TokenCache(tokenCachePath(env));

  program
    .command("login")
    .description("log in with your OIDC provider and keep the tokens for portcullis token / psql / admin")
    .option("--issuer <url>", "the OIDC issuer (default $PORTCULLIS_ISSUER)")
    .option("--client-id <id>", "the OIDC client id of Portcullis (default $PORTCULLIS_CLIENT_ID)")
    .option("--device", "device flow: a URL and a code to enter on any device")
    .option("--browser", "authorization code + PKCE with a loopback redirect on this machine")
    .option("--scope <scope>", "scopes to ask for", DEFAULT_SCOPE)
    .option("--port <port>", "loopback port of the redirect (browser flow; default any free port)")
    .option("--login-hint <hint>", "the account to preselect at the provider")
    .option("--no-open", "print the URL but do not open a browser")
    .action(
      async (
        opts: IdentityOptions & {
          device?: boolean;
          browser?: boolean;
          scope: string;
          port?: string;
          loginHint?: string;
          open: boolean;
        },
      ) => {
        const issuer = opts.issuer ?? env.PORTCULLIS_ISSUER;
        const clientId = opts.clientId ?? env.PORTCULLIS_CLIENT_ID;
        if (!issuer || !clientId) {
          throw new LoginError(
            "give --issuer and --client-id (or set PORTCULLIS_ISSUER and PORTCULLIS_CLIENT_ID)",
          );
        }
        if (opts.device && opts.browser) throw new LoginError("give --device or --browser, not both");
        const port = opts.port === undefined ? 0 : Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new LoginError(`--port ${opts.port} is not a port number`);
        }
        await login({
          issuer,
          clientId,
          scope: opts.scope,
          port,
          open: opts.open,
          io,
          env,
          cache: cache(),
          ...(opts.device ? { mode: "device" as const } : opts.browser ? { mode: "browser" as const } : {}),
          ...(opts.loginHint ? { loginHint: opts.loginHint } : {}),
        });
      },
    );

  program
    .command("token")
    .description("print a fresh ID token (refreshed when near expiry), e.g. PGPASSWORD=$(portcullis token)")
    .option("--issuer <url>", "which login (default $PORTCULLIS_ISSUER, else the last one)")
    .option("--client-id <id>", "which login (default $PORTCULLIS_CLIENT_ID, else the last one)")
    .option(
      "--min-valid <seconds>",
      "refresh when the token expires sooner than this",
      String(DEFAULT_MIN_VALIDITY_SECONDS),
    )
    .action(async (opts: IdentityOptions & { minValid: string }) => {
      const minValiditySeconds = Number(opts.minValid);
      if (!Number.isFinite(minValiditySeconds) || minValiditySeconds < 0) {
        throw new LoginError(`--min-valid ${opts.minValid} is not a number of seconds`);
      }
      io.out(
        await freshIdToken({
          ...(opts.issuer ? { issuer: opts.issuer } : {}),
          ...(opts.clientId ? { clientId: opts.clientId } : {}),
          minValiditySeconds,
          cache: cache(),
          env,
        }),
      );
    });

  program
    .command("psql")
    .description("run psql with a fresh token as the password and TLS required; other arguments go to psql")
    .helpOption(false)
    .option("--issuer <url>", "which login (default $PORTCULLIS_ISSUER, else the last one)")
    .option("--client-id <id>", "which login (default $PORTCULLIS_CLIENT_ID, else the last one)")
    .passThroughOptions()
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[psql-args...]")
    .action(async (args: string[], opts: IdentityOptions) => {
      const token = await freshIdToken({
        ...(opts.issuer ? { issuer: opts.issuer } : {}),
        ...(opts.clientId ? { clientId: opts.clientId } : {}),
        cache: cache(),
        env,
      });
      const { code } = await runPsql(args, { token, env });
      process.exitCode = code;
    });

  program
    .command("logout")
    .description("forget cached tokens (every login, or those of --issuer / --client-id)")
    .option("--issuer <url>", "only this issuer's logins")
    .option("--client-id <id>", "only this client's logins")
    .action(async (opts: IdentityOptions) => {
      const removed = await cache().remove(opts.issuer, opts.clientId);
      io.info(removed === 0 ? "no matching login" : `forgot ${removed} login${removed === 1 ? "" : "s"}`);
    });
}
