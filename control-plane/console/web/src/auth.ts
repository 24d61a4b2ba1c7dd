/**
 * Login with the OIDC provider: authorization code + PKCE (S256) from the browser, as a public
 * client. The console keeps the ID token in this tab's sessionStorage and sends it as the bearer
 * of every admin call; it holds no secret.
 */
export interface ConsoleConfig {
  issuer: string;
  client_id: string;
  scope: string;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
}

const TOKEN_KEY = "portcullis.console.token";
const FLOW_KEY = "portcullis.console.flow";

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function discover(issuer: string): Promise<Discovery> {
  const res = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`the OIDC provider's discovery answered ${res.status}`);
  return (await res.json()) as Discovery;
}

export function redirectUri(): string {
  return `${location.origin}/callback`;
}

/** Sends the browser to the provider's login page. */
export async function login(config: ConsoleConfig, loginHint?: string): Promise<void> {
  const discovery = await discover(config.issuer);
  const verifier = randomString();
  const state = randomString();
  const nonce = randomString();
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
  );
  sessionStorage.setItem(FLOW_KEY, JSON.stringify({ verifier, state, nonce, back: location.hash }));
  const url = new URL(discovery.authorization_endpoint);
  const params: Record<string, string> = {
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: config.scope,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  };
  if (loginHint) params.login_hint = loginHint;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  location.assign(url.href);
}

export function claimsOf(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<
    string,
    unknown
  >;
}

/** On /callback: trades the code for tokens; returns where the user was. */
export async function completeLogin(config: ConsoleConfig): Promise<string> {
  const params = new URLSearchParams(location.search);
  const flow = JSON.parse(sessionStorage.getItem(FLOW_KEY) ?? "null") as {
    verifier: string;
    state: string;
    nonce: string;
    back: string;
  } | null;
  sessionStorage.removeItem(FLOW_KEY);
  const error = params.get("error");
  if (error)
    throw new Error(`the OIDC provider refused the login: ${error} ${params.get("error_description") ?? ""}`);
  if (!flow || params.get("state") !== flow.state)
    throw new Error("this login answer does not match a login started here");
  const code = params.get("code");
  if (!code) throw new Error("the OIDC provider sent no code");
  const discovery = await discover(config.issuer);
  const res = await fetch(discovery.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri(),
      client_id: config.client_id,
      code_verifier: flow.verifier,
    }),
  });
  const body = (await res.json()) as { id_token?: string; error?: string; error_description?: string };
  if (!res.ok || !body.id_token) {
    throw new Error(
      `the token endpoint refused the code: ${body.error ?? res.status} ${body.error_description ?? ""}`,
    );
  }
  if (claimsOf(body.id_token).nonce !== flow.nonce)
    throw new Error("the ID token's nonce does not match this login");
  sessionStorage.setItem(TOKEN_KEY, body.id_token);
  return flow.back || "#/sessions";
}

export function currentToken(): string | undefined {
  const token = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  if (!token) return undefined;
  const exp = Number(claimsOf(token).exp ?? 0);
  if (exp && exp * 1000 < Date.now()) {
    sessionStorage.removeItem(TOKEN_KEY);
    return undefined;
  }
  return token;
}

export function logout(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}
