import type { Socket } from "node:net";
import type { ConnectionDecision, ConnectionInput, TokenClaims } from "../../proto/policy.js";
import { authenticationCleartextPassword } from "../protocol/backend-messages.js";
import { FrontendCode } from "../protocol/codes.js";
import { ProtocolError, QuietClose, SQLSTATE, type SqlState } from "../protocol/errors.js";
import { decodePassword, MAX_AUTH_MESSAGE } from "../protocol/frontend-messages.js";
import type { SocketReader } from "./socket-reader.js";

/**
 * The second stage: the client's password is an OIDC token. Ask for it in cleartext (only over TLS
 * unless loopback plaintext is explicitly allowed), verify it, check the deny-list, then ask the
 * connection policy which database role this identity gets.
 */

export interface LoginAuthority {
  verifyToken(token: string): Promise<{ claims: TokenClaims }>;
  /** Throws a LoginRefused when the token, subject or session is revoked. */
  checkNotRevoked?(claims: TokenClaims): void;
  decideConnection(input: ConnectionInput): ConnectionDecision;
}

export class LoginRefused extends Error {
  constructor(
    message: string,
    readonly sqlstate: SqlState,
    /** Logged server-side only. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

/**
 * The session itself is refused at its set-up, after the upstream login (a start-up search_path the
 * policy denies, or that the server does not search as given): another upstream session would be
 * refused the same way, so it is not tried.
 */
export class SessionRefused extends LoginRefused {}

export interface LoginContext {
  socket: Socket;
  reader: SocketReader;
  tls: { version: string; cipher: string } | null;
  allowPlaintextLoopback: boolean;
  startup: Record<string, string>;
  client: { addr: string; port: number };
  proxy: ConnectionInput["proxy"];
}

export interface LoginResult {
  claims: TokenClaims;
  decision: ConnectionDecision & { db_role: string };
  input: ConnectionInput;
}

function isLoopback(addr: string): boolean {
  return addr === "::1" || addr.startsWith("127.") || addr.startsWith("::ffff:127.");
}

export async function login(ctx: LoginContext, authority: LoginAuthority): Promise<LoginResult> {
  if (!ctx.tls && !(ctx.allowPlaintextLoopback && isLoopback(ctx.client.addr))) {
    throw new LoginRefused(
      "Portcullis requires TLS for token login: connect with sslmode=require",
      SQLSTATE.invalidAuthorization,
    );
  }
  const database = ctx.startup.database || ctx.startup.user || "";
  ctx.socket.write(authenticationCleartextPassword());
  let message: Awaited<ReturnType<SocketReader["readMessage"]>>;
  try {
    message = await ctx.reader.readMessage(MAX_AUTH_MESSAGE + 5);
  } catch (err) {
    if (err instanceof ProtocolError && /too large/.test(err.message)) {
      throw new LoginRefused("token rejected: token too large", SQLSTATE.invalidPassword);
    }
    throw err;
  }
  // a client that gives up instead of answering (Terminate) is let go quietly, as the server does
  if (message.type === FrontendCode.Terminate)
    throw new QuietClose("client terminated during authentication");
  if (message.type !== FrontendCode.Password)
    throw new ProtocolError(`expected password message, got message type "${message.type}"`);
  let token: string;
  try {
    token = decodePassword(message.body);
  } catch {
    // a NUL inside the password: no JWT contains one
    throw new LoginRefused("token rejected: token malformed", SQLSTATE.invalidPassword);
  }
  if (token.length === 0)
    throw new LoginRefused(
      "token rejected: no token given (the password must be an OIDC token)",
      SQLSTATE.invalidPassword,
    );

  let claims: TokenClaims;
  try {
    ({ claims } = await authority.verifyToken(token));
  } catch (err) {
    const e = err as Error & { publicMessage?: string; code?: string };
    throw new LoginRefused(
      `token rejected: ${e.publicMessage ?? "token not valid"}`,
      SQLSTATE.invalidPassword,
      `${e.code ?? "error"}: ${e.message}`,
    );
  }
  authority.checkNotRevoked?.(claims);

  const input: ConnectionInput = {
    token: claims,
    startup: {
      user: ctx.startup.user ?? "",
      database,
      application_name: ctx.startup.application_name ?? "",
      options: ctx.startup.options ?? "",
    },
    client: { addr: ctx.client.addr, port: ctx.client.port, tls: ctx.tls },
    proxy: ctx.proxy,
    now_ns: Date.now() * 1_000_000,
  };
  const decision = authority.decideConnection(input);
  if (!decision.allow) {
    const reasons = decision.reasons.length > 0 ? decision.reasons.join("; ") : "denied by policy";
    throw new LoginRefused(`connection denied: ${reasons}`, SQLSTATE.invalidAuthorization);
  }
  if (!decision.db_role) {
    throw new LoginRefused(
      "connection denied: policy allowed the connection but chose no database role",
      SQLSTATE.invalidAuthorization,
    );
  }
  return { claims, decision: { ...decision, db_role: decision.db_role }, input };
}
