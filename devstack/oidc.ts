/**
 * A real OpenID Connect provider for tests: `oidc-provider` 9 on 127.0.0.1, a free port, with discovery,
 * a JWKS (one RSA and one EC P-256 signing key), the authorization code flow with PKCE, the device
 * authorization grant and refresh tokens (`offline_access`).
 *
 * Tokens come from real grants, never from signing claims directly: `token()` runs the authorization code
 * flow over HTTP with openid-client, and the harness itself plays the user at the provider's interaction
 * step (login as the hinted account, consent to what was asked). `approveDevice()` does the same for a
 * device code a test obtained with openid-client.
 *
 * Clients are public (`token_endpoint_auth_method: none`, PKCE S256), `application_type: native`, with the
 * loopback redirect URI `<issuer>/cb` that this server answers, and `http://127.0.0.1/callback` (any port, as
 * RFC 8252 allows native apps) for login commands that run their own loopback listener (`authorize()`). `portcullis` and `other-app` exist from the
 * start; `token(user, { audience })` registers any other client id on demand.
 *
 * oidc-provider reads its keys, clients and claim names when it is constructed, so a change to any of them
 * (key rotation, a new client, a user with a claim name not seen before) builds a new Provider behind the
 * same HTTP server and port. Stateful artifacts (interactions, sessions, grants, device codes, refresh
 * tokens) live in one in-memory store shared by every Provider instance, so a rebuild loses nothing.
 * Calls that may rebuild are serialized.
 *
 * Importing oidc-provider on Node 20 prints "oidc-provider WARNING: Unsupported runtime. Use Node.js
 * v22.x LTS": the library works here (see DESIGN.md, dependency notes).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import Provider, { type KoaContextish } from "oidc-provider";
import * as oidc from "openid-client";

export interface OidcUser {
  sub: string;
  email?: string;
  groups?: string[];
  roles?: string[];
  [claim: string]: unknown;
}

/** ID token signing algorithms the harness can produce: RSA key for RS256/PS256, EC P-256 key for ES256. */
export type HarnessAlgorithm = "RS256" | "PS256" | "ES256";

export interface TokenOptions {
  /** ID token lifetime (exp - iat), whole seconds > 0. Default: the harness's `defaultLifetimeSeconds`. */
  lifetimeSeconds?: number;
  /** The client the token is issued to, hence its `aud`. Default: the harness's `clientId`. */
  audience?: string;
  /** ID token signature algorithm. Default RS256. */
  algorithm?: HarnessAlgorithm;
}

export interface OidcHarnessOptions {
  /** Default `portcullis`. */
  clientId?: string;
  /** Clients registered up front besides `clientId`. Default `["other-app"]`. */
  extraClients?: string[];
  /** ID token lifetime when `token()` is not told one. Default 600. */
  defaultLifetimeSeconds?: number;
}

export interface RotateOptions {
  /**
   * Keep publishing the previous keys in the JWKS (they no longer sign anything), so tokens issued before
   * the rotation still verify — what real providers do. Default true. With false, the JWKS holds only the
   * new keys.
   */
  retainPrevious?: boolean;
}

export interface OidcHarness {
  /** `http://127.0.0.1:<port>` */
  issuer: string;
  clientId: string;
  /** Always undefined: the registered clients are public clients using PKCE. */
  clientSecret?: string;
  /** The loopback redirect URI every registered client has (`<issuer>/cb`). */
  redirectUri: string;
  /** A real ID token for `user`, obtained through the authorization code + PKCE grant. */
  token(user: OidcUser, opts?: TokenOptions): Promise<string>;
  /**
   * Plays the user for a device authorization request: opens the verification page with `userCode`,
   * confirms, logs in as `user` and consents. The device's poll then gets its tokens.
   */
  approveDevice(userCode: string, user: OidcUser): Promise<void>;
  /**
   * Plays the user for an authorization request another client built (a login command under test): opens
   * `authorizationUrl`, logs in as `user`, consents, and returns the redirect the provider sends the browser
   * to (the client's redirect URI with `code` and `state`), without following it.
   */
  authorize(authorizationUrl: string | URL, user: OidcUser): Promise<URL>;
  /**
   * Registers a browser app (the console): a public `web` client using the authorization code with PKCE,
   * these redirect URIs only, and CORS for their origins at the token endpoint.
   */
  registerWebClient(clientId: string, redirectUris: string[]): void;
  /** Makes users known up front, so a browser can log in as one (`login_hint`) before any token() call. */
  addUsers(users: OidcUser[]): void;
  /** New RSA and EC signing keys with new `kid`s; tokens from now on are signed with them. */
  rotateSigningKey(opts?: RotateOptions): Promise<void>;
  /** The current private signing keys (RSA first, then EC). */
  privateJwks(): JWK[];
  /** Every key the JWKS endpoint publishes (current first, then retained previous keys), public parts only. */
  publicJwks(): JWK[];
  /** How many requests the JWKS endpoint has answered since start. */
  jwksRequestCount(): number;
  stop(): Promise<void>;
}

const CALLBACK_PATH = "/cb";
/** Registered for every client besides `<issuer>/cb`; native clients may use it on any port. */
const LOOPBACK_CALLBACK = "http://127.0.0.1/callback";
const JWKS_PATH = "/jwks";
const INTERACTION_PATH = "/interaction/";
const DEVICE_SUCCESS_MARKER = 'id="portcullis-device-success"';
/** Scopes `token()` asks for. Claims outside email/groups/roles are released under `openid`. */
const TOKEN_SCOPE = "openid email groups roles";
const SCOPED_CLAIMS = new Set(["sub", "email", "email_verified", "groups", "roles"]);
/** Claims the provider sets itself; a test user cannot carry them. */
const RESERVED_CLAIMS = new Set([
  "iss",
  "aud",
  "exp",
  "iat",
  "nbf",
  "jti",
  "nonce",
  "azp",
  "auth_time",
  "acr",
  "amr",
  "at_hash",
  "c_hash",
  "s_hash",
  "sid",
]);
const ALGORITHMS: readonly HarnessAlgorithm[] = ["RS256", "PS256", "ES256"];
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth"];

export class OidcHarnessError extends Error {}

export async function startOidcProvider(options: OidcHarnessOptions = {}): Promise<OidcHarness> {
  const harness = new ProviderHarness(options);
  await harness.start();
  return harness;
}

interface SigningKeys {
  rsa: JWK;
  ec: JWK;
}

class ProviderHarness implements OidcHarness {
  issuer = "";
  readonly clientId: string;
  readonly clientSecret: string | undefined = undefined;
  redirectUri = "";

  readonly #defaultLifetime: number;
  readonly #server: Server;
  readonly #store = new ArtifactStore();
  readonly #cookieKeys = [randomBytes(32).toString("base64url")];
  /** client id → ID token signing algorithm */
  readonly #clients = new Map<string, HarnessAlgorithm>();
  /** browser client id → redirect URIs */
  readonly #webClients = new Map<string, string[]>();
  readonly #users = new Map<string, OidcUser>();
  readonly #extraClaimNames = new Set<string>();
  /** interaction uid → the account the driving "browser" logs in as */
  readonly #interactionAccounts = new Map<string, string>();
  readonly #discovered = new Map<string, oidc.Configuration>();
  #keys: SigningKeys | undefined;
  #retainedKeys: JWK[] = [];
  #provider: Provider | undefined;
  #handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  #idTokenLifetime: number | undefined;
  #jwksRequests = 0;
  #serverErrors: string[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: OidcHarnessOptions) {
    this.clientId = options.clientId ?? "portcullis";
    this.#defaultLifetime = positiveInteger(options.defaultLifetimeSeconds ?? 600, "defaultLifetimeSeconds");
    for (const id of [this.clientId, ...(options.extraClients ?? ["other-app"])])
      this.#clients.set(id, "RS256");
    this.#server = createServer((req, res) => this.#route(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(0, "127.0.0.1", () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    const { port } = this.#server.address() as AddressInfo;
    this.issuer = `http://127.0.0.1:${port}`;
    this.redirectUri = `${this.issuer}${CALLBACK_PATH}`;
    this.#keys = await newSigningKeys();
    this.#build();
  }

  registerWebClient(clientId: string, redirectUris: string[]): void {
    if (this.#clients.has(clientId)) throw new OidcHarnessError(`${clientId} is already a native client`);
    for (const uri of redirectUris) new URL(uri);
    this.#webClients.set(clientId, [...redirectUris]);
    this.#build();
  }

  addUsers(users: OidcUser[]): void {
    for (const user of users) checkUser(user);
    let rebuild = false;
    for (const user of users) rebuild = this.#registerUser(user) || rebuild;
    if (rebuild) this.#build();
  }

  async token(user: OidcUser, opts: TokenOptions = {}): Promise<string> {
    checkUser(user);
    const audience = opts.audience ?? this.clientId;
    if (typeof audience !== "string" || audience.length === 0) {
      throw new OidcHarnessError("token(): audience must be a non-empty client id");
    }
    const algorithm = opts.algorithm ?? "RS256";
    if (!ALGORITHMS.includes(algorithm)) {
      throw new OidcHarnessError(
        `token(): algorithm ${String(algorithm)} is not one of ${ALGORITHMS.join(", ")}`,
      );
    }
    const lifetime = positiveInteger(opts.lifetimeSeconds ?? this.#defaultLifetime, "lifetimeSeconds");

    return this.#serial(async () => {
      let rebuild = this.#registerUser(user);
      if (this.#clients.get(audience) !== algorithm) {
        this.#clients.set(audience, algorithm);
        rebuild = true;
      }
      if (rebuild) this.#build();

      const config = await this.#clientConfig(audience, algorithm);
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const authorizationUrl = oidc.buildAuthorizationUrl(config, {
        redirect_uri: this.redirectUri,
        scope: TOKEN_SCOPE,
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: "S256",
        state,
        nonce,
        login_hint: user.sub,
      });

      const end = await this.#browse(authorizationUrl, user.sub);
      if (!end.redirect) {
        throw new OidcHarnessError(
          `authorization flow ended on a page instead of the redirect: ${snippet(end.page)}`,
        );
      }
      const error = end.redirect.searchParams.get("error");
      if (error) {
        const description = end.redirect.searchParams.get("error_description") ?? "";
        throw new OidcHarnessError(`authorization failed: ${error} ${description}${this.#errorsSuffix()}`);
      }

      this.#idTokenLifetime = lifetime;
      try {
        const tokens = await oidc.authorizationCodeGrant(config, end.redirect, {
          pkceCodeVerifier: codeVerifier,
          expectedState: state,
          expectedNonce: nonce,
          idTokenExpected: true,
        });
        if (!tokens.id_token) throw new OidcHarnessError("token endpoint returned no id_token");
        return tokens.id_token;
      } finally {
        this.#idTokenLifetime = undefined;
        // The algorithm is per token: flows not driven by token() (device flow, a login command under
        // test) find every client back on RS256.
        if (algorithm !== "RS256") {
          this.#clients.set(audience, "RS256");
          this.#build();
        }
      }
    });
  }

  async approveDevice(userCode: string, user: OidcUser): Promise<void> {
    checkUser(user);
    if (typeof userCode !== "string" || userCode.length === 0) {
      throw new OidcHarnessError("approveDevice(): userCode must be the user_code of a device request");
    }
    return this.#serial(async () => {
      if (this.#registerUser(user)) this.#build();
      const start = new URL("/device", this.issuer);
      start.searchParams.set("user_code", userCode);
      const end = await this.#browse(start, user.sub);
      if (end.redirect || !end.page.includes(DEVICE_SUCCESS_MARKER)) {
        const where = end.redirect ? `a redirect to ${end.redirect.href}` : snippet(end.page);
        throw new OidcHarnessError(`device approval did not succeed: ${where}${this.#errorsSuffix()}`);
      }
    });
  }

  async authorize(authorizationUrl: string | URL, user: OidcUser): Promise<URL> {
    checkUser(user);
    const start = new URL(authorizationUrl);
    if (start.origin !== this.issuer) {
      throw new OidcHarnessError(`authorize(): ${start.origin} is not this provider (${this.issuer})`);
    }
    return this.#serial(async () => {
      if (this.#registerUser(user)) this.#build();
      const end = await this.#browse(
        start,
        user.sub,
        (next) => next.origin !== this.issuer || next.href.startsWith(this.redirectUri),
      );
      if (!end.redirect) {
        throw new OidcHarnessError(
          `authorization flow ended on a page instead of a redirect: ${snippet(end.page)}${this.#errorsSuffix()}`,
        );
      }
      return end.redirect;
    });
  }

  rotateSigningKey(opts: RotateOptions = {}): Promise<void> {
    return this.#serial(async () => {
      const previous = this.#keys;
      this.#keys = await newSigningKeys();
      const retain = opts.retainPrevious ?? true;
      this.#retainedKeys = retain && previous ? [previous.rsa, previous.ec, ...this.#retainedKeys] : [];
      this.#build();
    });
  }

  privateJwks(): JWK[] {
    const keys = this.#currentKeys();
    return [structuredClone(keys.rsa), structuredClone(keys.ec)];
  }

  publicJwks(): JWK[] {
    return this.#publishedPrivateKeys().map(publicPart);
  }

  jwksRequestCount(): number {
    return this.#jwksRequests;
  }

  async stop(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve, reject) =>
      this.#server.close((err) => (err ? reject(err) : resolve())),
    );
    this.#server.closeAllConnections();
    await closed;
  }

  // --- internals ---------------------------------------------------------------------------------------

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #currentKeys(): SigningKeys {
    if (!this.#keys) throw new OidcHarnessError("the OIDC harness is not started");
    return this.#keys;
  }

  #publishedPrivateKeys(): JWK[] {
    const keys = this.#currentKeys();
    return [keys.rsa, keys.ec, ...this.#retainedKeys];
  }

  /** Records the user; true when it brings a claim name the provider does not release yet. */
  #registerUser(user: OidcUser): boolean {
    this.#users.set(user.sub, structuredClone(user));
    let changed = false;
    for (const name of Object.keys(user)) {
      if (!SCOPED_CLAIMS.has(name) && !this.#extraClaimNames.has(name)) {
        this.#extraClaimNames.add(name);
        changed = true;
      }
    }
    return changed;
  }

  async #clientConfig(clientId: string, algorithm: HarnessAlgorithm): Promise<oidc.Configuration> {
    const cacheKey = `${clientId} ${algorithm}`;
    let config = this.#discovered.get(cacheKey);
    if (!config) {
      config = await oidc.discovery(
        new URL(this.issuer),
        clientId,
        { id_token_signed_response_alg: algorithm, redirect_uris: [this.redirectUri] },
        oidc.None(),
        { execute: [oidc.allowInsecureRequests] },
      );
      this.#discovered.set(cacheKey, config);
    }
    return config;
  }

  #build(): void {
    const provider = new Provider(this.issuer, this.#configuration());
    provider.on("server_error", (_ctx: unknown, err: unknown) => {
      this.#serverErrors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
    });
    this.#provider = provider;
    this.#handler = provider.callback();
  }

  #errorsSuffix(): string {
    if (this.#serverErrors.length === 0) return "";
    const errors = this.#serverErrors.splice(0);
    return ` (provider server errors: ${errors.join(" | ")})`;
  }

  #configuration(): Record<string, unknown> {
    const clients = [...this.#clients].map(([clientId, algorithm]) => ({
      client_id: clientId,
      application_type: "native",
      token_endpoint_auth_method: "none",
      redirect_uris: [this.redirectUri, LOOPBACK_CALLBACK],
      response_types: ["code"],
      grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
      id_token_signed_response_alg: algorithm,
    }));
    for (const [clientId, redirectUris] of this.#webClients) {
      clients.push({
        client_id: clientId,
        application_type: "web",
        token_endpoint_auth_method: "none",
        redirect_uris: redirectUris,
        response_types: ["code"],
        grant_types: ["authorization_code", "refresh_token"],
        id_token_signed_response_alg: "RS256",
      });
    }
    const webOrigins = new Map(
      [...this.#webClients].map(([id, uris]) => [id, new Set(uris.map((u) => new URL(u).origin))]),
    );
    return {
      adapter: this.#store.adapterClass(),
      clients,
      jwks: { keys: this.#publishedPrivateKeys().map((key) => structuredClone(key)) },
      cookies: { keys: this.#cookieKeys },
      claims: {
        openid: ["sub", "jti", ...this.#extraClaimNames],
        email: ["email", "email_verified"],
        groups: ["groups"],
        roles: ["roles"],
      },
      scopes: ["openid", "offline_access", "email", "groups", "roles"],
      // Release every granted claim in the ID token itself (not only from userinfo): the gateway verifies
      // ID tokens and passes their claims to the policy.
      conformIdTokenClaims: false,
      findAccount: async (_ctx: unknown, id: string) => {
        const user = this.#users.get(id);
        if (!user) return undefined;
        // Every ID token gets its own `jti`, as real providers' do (revocation by token needs it).
        return { accountId: id, claims: async () => ({ ...structuredClone(user), jti: randomUUID() }) };
      },
      interactions: {
        url: async (_ctx: unknown, interaction: { uid: string }) => `${INTERACTION_PATH}${interaction.uid}`,
      },
      routes: { jwks: JWKS_PATH },
      features: {
        devInteractions: { enabled: false },
        deviceFlow: {
          enabled: true,
          userCodeInputSource: async (ctx: KoaContextish, form: string, out?: Record<string, string>) => {
            const message = out ? `<p id="error">${escapeHtml(Object.values(out).join(": "))}</p>` : "";
            ctx.type = "html";
            ctx.body = `<!DOCTYPE html><html><body>${message}${form}</body></html>`;
          },
          userCodeConfirmSource: async (ctx: KoaContextish, form: string) => {
            ctx.type = "html";
            ctx.body = `<!DOCTYPE html><html><body>${form}</body></html>`;
          },
          successSource: async (ctx: KoaContextish) => {
            ctx.type = "html";
            ctx.body = `<!DOCTYPE html><html><body><p ${DEVICE_SUCCESS_MARKER}>signed in</p></body></html>`;
          },
        },
        revocation: { enabled: true },
      },
      ttl: {
        IdToken: () => this.#idTokenLifetime ?? this.#defaultLifetime,
        AccessToken: 600,
        AuthorizationCode: 60,
        DeviceCode: 600,
        RefreshToken: 24 * 3600,
        Interaction: 600,
        Session: 3600,
        Grant: 24 * 3600,
      },
      // Only browser clients, from their own redirect URIs' origins.
      clientBasedCORS: (_ctx: unknown, origin: string, client: { clientId: string }) =>
        webOrigins.get(client.clientId)?.has(origin) ?? false,
      renderError: async (ctx: KoaContextish, out: Record<string, string>) => {
        ctx.type = "json";
        ctx.body = out;
      },
    };
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path === JWKS_PATH) this.#jwksRequests += 1;
    if (path === CALLBACK_PATH) {
      res
        .writeHead(200, { "content-type": "text/plain" })
        .end("portcullis test harness: authorization response received\n");
      return;
    }
    if (path.startsWith(INTERACTION_PATH) && req.method === "GET") {
      this.#interaction(req, res).catch((err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`interaction failed: ${message}\n`);
      });
      return;
    }
    const handler = this.#handler;
    if (!handler) {
      res.writeHead(503, { "content-type": "text/plain" }).end("provider not ready\n");
      return;
    }
    handler(req, res);
  }

  /** The provider's interaction step: log in the account the browser stands for, consent to what is asked. */
  async #interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const provider = this.#provider;
    if (!provider) throw new OidcHarnessError("provider not ready");
    const details = await provider.interactionDetails(req, res);
    const hint = details.params.login_hint;
    const accountId =
      this.#interactionAccounts.get(details.uid) ?? (typeof hint === "string" ? hint : undefined);
    if (!accountId || !this.#users.has(accountId)) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`no known account for this interaction (login_hint ${JSON.stringify(hint)})\n`);
      return;
    }

    if (details.prompt.name === "login") {
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    if (details.prompt.name === "consent") {
      const clientId = String(details.params.client_id);
      const grant =
        (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ??
        new provider.Grant({ accountId, clientId });
      const missing = details.prompt.details;
      if (Array.isArray(missing.missingOIDCScope)) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
      if (Array.isArray(missing.missingOIDCClaims)) grant.addOIDCClaims(missing.missingOIDCClaims);
      const resources = missing.missingResourceScopes;
      if (resources && typeof resources === "object") {
        for (const [indicator, scopes] of Object.entries(resources)) {
          if (Array.isArray(scopes)) grant.addResourceScope(indicator, scopes.join(" "));
        }
      }
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { consent: { grantId } },
        { mergeWithLastSubmission: true },
      );
      return;
    }
    res.writeHead(400, { "content-type": "text/plain" });
    res.end(`unsupported interaction prompt ${details.prompt.name}\n`);
  }

  /**
   * A minimal browser: follows redirects, keeps cookies, submits the provider's auto-posting and
   * confirmation forms. Stops at a redirect to the client's redirect URI or at a page without a form.
   */
  async #browse(
    start: URL,
    accountId: string,
    isClientRedirect: (next: URL) => boolean = (next) => next.href.startsWith(this.redirectUri),
  ): Promise<{ redirect?: URL; page: string }> {
    const jar = new CookieJar();
    const uids: string[] = [];
    let url = start;
    let form: URLSearchParams | undefined;
    try {
      for (let hop = 0; hop < 30; hop += 1) {
        const response = await fetch(url, {
          method: form ? "POST" : "GET",
          redirect: "manual",
          headers: {
            ...(jar.header() ? { cookie: jar.header() } : {}),
            ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
          },
          body: form?.toString(),
        });
        jar.store(response.headers.getSetCookie());
        const location = response.headers.get("location");
        if (response.status >= 300 && response.status < 400 && location) {
          await response.body?.cancel();
          const next = new URL(location, url);
          if (isClientRedirect(next)) return { redirect: next, page: "" };
          if (next.origin === this.issuer && next.pathname.startsWith(INTERACTION_PATH)) {
            const uid = next.pathname.slice(INTERACTION_PATH.length);
            this.#interactionAccounts.set(uid, accountId);
            uids.push(uid);
          }
          url = next;
          form = undefined;
          continue;
        }
        const body = await response.text();
        if (response.status !== 200) {
          throw new OidcHarnessError(
            `${form ? "POST" : "GET"} ${url.pathname} answered ${response.status}: ${snippet(body)}${this.#errorsSuffix()}`,
          );
        }
        const pageError = /<p id="error">([\s\S]*?)<\/p>/.exec(body);
        if (pageError) {
          const message = decodeHtml(pageError[1] ?? "");
          throw new OidcHarnessError(
            `provider page at ${url.pathname} reports: ${message}${this.#errorsSuffix()}`,
          );
        }
        const next = parseForm(body, url);
        if (!next) return { page: body };
        url = next.action;
        form = next.fields;
      }
      throw new OidcHarnessError(`gave up after 30 hops, last at ${url.href}`);
    } finally {
      for (const uid of uids) this.#interactionAccounts.delete(uid);
    }
  }
}

function checkUser(user: OidcUser): void {
  if (!user || typeof user.sub !== "string" || user.sub.length === 0) {
    throw new OidcHarnessError("user.sub must be a non-empty string");
  }
  for (const name of Object.keys(user)) {
    if (RESERVED_CLAIMS.has(name)) {
      throw new OidcHarnessError(`user claim ${name} is set by the provider itself and cannot be given`);
    }
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new OidcHarnessError(`${name} must be a whole number of seconds > 0, got ${String(value)}`);
  }
  return value;
}

async function newSigningKeys(): Promise<SigningKeys> {
  const make = async (alg: "RS256" | "ES256"): Promise<JWK> => {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = await exportJWK(privateKey);
    jwk.kid = await calculateJwkThumbprint(jwk);
    jwk.use = "sig";
    return jwk;
  };
  return { rsa: await make("RS256"), ec: await make("ES256") };
}

function publicPart(jwk: JWK): JWK {
  const copy: Record<string, unknown> = { ...jwk };
  for (const member of PRIVATE_MEMBERS) delete copy[member];
  return copy as JWK;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 400 ? `${flat.slice(0, 400)}…` : flat;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function decodeHtml(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number.parseInt(dec, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

function attributes(tag: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*"([^"]*)"/g)) {
    found.set((match[1] ?? "").toLowerCase(), decodeHtml(match[2] ?? ""));
  }
  return found;
}

/** The first POST form of a page with its named inputs that carry a value (hidden ones, prefilled codes). */
function parseForm(html: string, base: URL): { action: URL; fields: URLSearchParams } | undefined {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!match) return undefined;
  const formAttributes = attributes(match[1] ?? "");
  if ((formAttributes.get("method") ?? "get").toLowerCase() !== "post") return undefined;
  const fields = new URLSearchParams();
  for (const input of (match[2] ?? "").matchAll(/<input\b([^>]*)>/gi)) {
    const attrs = attributes(input[1] ?? "");
    const name = attrs.get("name");
    const value = attrs.get("value");
    if (name && value !== undefined) fields.append(name, value);
  }
  return { action: new URL(formAttributes.get("action") ?? base.href, base), fields };
}

/** Name → value; paths and expiry attributes other than deletion are ignored (one host, short flows). */
class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = "", ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((attr) => {
        const [key = "", val = ""] = attr.split("=").map((part) => part.trim());
        if (key.toLowerCase() === "max-age") return Number(val) <= 0;
        if (key.toLowerCase() === "expires") return Date.parse(val) <= Date.now();
        return false;
      });
      if (expired || value === "") this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

interface StoredArtifact {
  payload: Record<string, unknown>;
  expiresAt: number | undefined;
}

/**
 * The provider's storage for interactions, sessions, grants, codes and tokens, in memory. One instance per
 * harness, shared by every Provider instance the harness builds, so rebuilding keeps in-flight flows.
 */
class ArtifactStore {
  readonly #items = new Map<string, StoredArtifact>();
  readonly #index = new Map<string, string>();

  #get(key: string): Record<string, unknown> | undefined {
    const item = this.#items.get(key);
    if (!item) return undefined;
    if (item.expiresAt !== undefined && item.expiresAt <= Date.now()) {
      this.#items.delete(key);
      return undefined;
    }
    return item.payload;
  }

  adapterClass(): new (model: string) => unknown {
    const store = this;
    return class HarnessAdapter {
      readonly #model: string;
      constructor(model: string) {
        this.#model = model;
      }
      #key(id: string): string {
        return `${this.#model}:${id}`;
      }
      async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
        const expiresAt = typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : undefined;
        store.#items.set(this.#key(id), { payload: structuredClone(payload), expiresAt });
        if (typeof payload.uid === "string") store.#index.set(`uid:${this.#model}:${payload.uid}`, id);
        if (typeof payload.userCode === "string") {
          store.#index.set(`userCode:${this.#model}:${payload.userCode}`, id);
        }
        if (typeof payload.grantId === "string") {
          store.#index.set(`grant:${payload.grantId}:${this.#key(id)}`, this.#key(id));
        }
      }
      async find(id: string): Promise<Record<string, unknown> | undefined> {
        const found = store.#get(this.#key(id));
        return found ? structuredClone(found) : undefined;
      }
      async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
        const id = store.#index.get(`uid:${this.#model}:${uid}`);
        return id === undefined ? undefined : this.find(id);
      }
      async findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
        const id = store.#index.get(`userCode:${this.#model}:${userCode}`);
        return id === undefined ? undefined : this.find(id);
      }
      async consume(id: string): Promise<void> {
        const found = store.#items.get(this.#key(id));
        if (found) found.payload.consumed = Math.floor(Date.now() / 1000);
      }
      async destroy(id: string): Promise<void> {
        store.#items.delete(this.#key(id));
      }
      async revokeByGrantId(grantId: string): Promise<void> {
        const prefix = `grant:${grantId}:`;
        for (const [indexKey, itemKey] of store.#index) {
          if (indexKey.startsWith(prefix)) {
            store.#items.delete(itemKey);
            store.#index.delete(indexKey);
          }
        }
      }
    };
  }
}
