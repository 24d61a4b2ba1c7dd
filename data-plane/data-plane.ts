import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { Logger } from "../common/logger.js";
import type { ConnectionDecision, ConnectionInput, TokenClaims } from "../proto/policy.js";
import {
  type LoginAuthority,
  type LoginContext,
  LoginRefused,
  type LoginResult,
  login,
  SessionRefused,
} from "./client/login.js";
import { SocketReader } from "./client/socket-reader.js";
import { negotiateStartup } from "./client/startup.js";
import type { StartupSearchPath } from "./client/startup-search-path.js";
import { type DataPlaneConfig, readRolePassword } from "./config.js";
import {
  greeting,
  readStartupSettings,
  refuseUnsafeClientEncoding,
  refuseUnsupportedConnection,
  unsafeUpstreamSettings,
  upstreamParameters,
} from "./connection.js";
import type { DataPlaneMetrics } from "./metrics.js";
import {
  errorResponse,
  negotiateProtocolVersion,
  type TransactionStatus,
} from "./protocol/backend-messages.js";
import { FrontendCode } from "./protocol/codes.js";
import { ProtocolError, QuietClose, SQLSTATE } from "./protocol/errors.js";
import { type LiveSession, SessionRegistry } from "./session/registry.js";
import { closeDeferredUpstreamsNow, type Parking, Relay, type RelayStages } from "./session/relay.js";
import {
  cancelUpstream,
  connectUpstream,
  type UpstreamError,
  type UpstreamLogin,
  type UpstreamSession,
  type UpstreamTarget,
} from "./upstream/upstream-connection.js";
import { UpstreamPool } from "./upstream/upstream-pool.js";

/**
 * One data-plane proxy: accepts PostgreSQL clients, runs each connection through the stages
 * startup → login (token + connection policy) → upstream login → relay, and keeps the live sessions.
 */

/** Tries of an upstream login that fails for a passing reason: 100, 200 … 1,600 ms apart (3.1 s in all). */
const UPSTREAM_LOGIN_ATTEMPTS = 6;

export interface DataPlaneDependencies {
  config: DataPlaneConfig;
  logger: Logger;
  tls: SecureContext | undefined;
  verifyToken(token: string): Promise<{ claims: TokenClaims }>;
  /** `context.sessionId` is the id the session gets if the connection goes through (for the decision log). */
  decideConnection(input: ConnectionInput, context?: { sessionId: string }): ConnectionDecision;
  checkNotRevoked?(claims: TokenClaims): void;
  /** Builds the relay stages of a session (statement decisions come in here), before the client is told it is in. */
  sessionStages?(session: SessionContext, upstream: UpstreamSession): Promise<RelayStages>;
  metrics?: DataPlaneMetrics;
  /** Upstream credentials; defaults to the config's role password sources. */
  rolePassword?(role: string): string;
}

export interface SessionContext {
  id: string;
  region: string;
  claims: TokenClaims;
  dbRole: string;
  database: string;
  /** A search_path given at start-up, forwarded upstream: checked and decided at session set-up. */
  startupSearchPath?: StartupSearchPath;
  /** The transaction status of the last ReadyForQuery. */
  status(): TransactionStatus;
}

/** Passes every message through unchanged: a relay with no statement policy. */
export const passThroughStages: RelayStages = {
  onFrontend(message, toUpstream) {
    if (message.type === FrontendCode.Terminate) return false; // the relay ends the upstream session (or pools it)
    toUpstream.push(message.raw);
    return true;
  },
};

export class DataPlane {
  readonly registry = new SessionRegistry();
  private server: Server | undefined;
  private readonly pending = new Set<Socket>();
  private readonly relays = new Set<Relay>();
  /** Client connections open now, from accept to close (logins in progress included). */
  private clients = 0;
  /** Sessions and logins past token verification, per token subject. */
  private readonly subjects = new Map<string, number>();
  private idleSweep: NodeJS.Timeout | undefined;
  private stopping = false;
  readonly upstreamTarget: UpstreamTarget;
  /** Upstream sessions kept for reuse (session pooling), when enabled. */
  readonly pool: UpstreamPool | undefined;

  constructor(private readonly deps: DataPlaneDependencies) {
    const up = deps.config.upstream;
    this.pool = up.pool.enabled
      ? new UpstreamPool({
          maxIdlePerKey: up.pool.max_idle_per_key,
          idleTimeoutMs: up.pool.idle_timeout_ms,
          maxLifetimeMs: up.pool.max_lifetime_ms,
          logger: deps.logger,
        })
      : undefined;
    this.upstreamTarget = {
      host: up.host,
      port: up.port,
      tls: up.tls,
      ca: up.ca_file ? readFileSync(up.ca_file, "utf8") : undefined,
      connectTimeoutMs: up.connect_timeout_ms,
      maxScramIterations: up.max_scram_iterations,
      maxMessageBytes: up.max_message_bytes,
    };
  }

  /** Per live session, the bytes waiting to be taken by its client (backpressure keeps these bounded). */
  clientBacklogs(): number[] {
    return [...this.relays].map((r) => r.clientBacklog);
  }

  get logger(): Logger {
    return this.deps.logger;
  }

  async listen(): Promise<{ host: string; port: number }> {
    const { host, port } = this.deps.config.listen;
    this.server = createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.accept(socket));
    // Clients beyond session.max_client_connections are told 53300 once they have sent their start-up
    // packet (as the server tells them); beyond twice that many the listener drops them unanswered, so
    // a flood of connections that never send anything stays bounded too.
    this.server.maxConnections = 2 * this.deps.config.session.max_client_connections;
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.startIdleSweep();
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("listener has no address");
    this.deps.logger.info({ host, port: address.port }, "data plane listening");
    return { host, port: address.port };
  }

  /**
   * session.idle_in_transaction_timeout_ms, enforced by the proxy (a client's own
   * `SET idle_in_transaction_session_timeout` cannot lift it): one timer for every session, no work per
   * message. A session counts as idle in a transaction from the first round that finds it inside a
   * transaction block (its last ReadyForQuery said T or E), with nothing in flight and nothing read from
   * the client since the round before; past the limit it gets the server's FATAL 25P03 and its upstream
   * is closed at once, which rolls the transaction back.
   */
  private startIdleSweep(): void {
    const limit = this.deps.config.session.idle_in_transaction_timeout_ms;
    if (limit <= 0) return;
    const seen = new WeakMap<Relay, { reads: number; since: number }>();
    this.idleSweep = setInterval(
      () => {
        const now = Date.now();
        for (const relay of this.relays) {
          if (relay.status === "I" || relay.busy || relay.isEnded) {
            seen.delete(relay);
            continue;
          }
          const entry = seen.get(relay);
          if (!entry || entry.reads !== relay.clientReads) {
            seen.set(relay, { reads: relay.clientReads, since: now });
          } else if (now - entry.since >= limit) {
            seen.delete(relay);
            this.deps.logger.info({ limitMs: limit }, "session ended: idle in transaction");
            relay.terminate(
              SQLSTATE.idleInTransactionTimeout,
              "terminating connection due to idle-in-transaction timeout",
            );
          }
        }
      },
      Math.max(50, Math.min(1_000, Math.floor(limit / 4))),
    );
    this.idleSweep.unref();
  }

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    this.pending.add(socket);
    this.clients++;
    socket.once("close", () => this.clients--);
    socket.on("error", () => {}); // errors are handled by whichever stage owns the socket
    this.handle(socket)
      .catch((err) => this.deps.logger.error({ err }, "unexpected error handling a connection"))
      .finally(() => this.pending.delete(socket));
  }

  private async handle(raw: Socket): Promise<void> {
    const config = this.deps.config;
    const clientAddr = raw.remoteAddress ?? "";
    const clientPort = raw.remotePort ?? 0;
    const reader = new SocketReader(raw);
    let client: Socket = raw;
    const log = this.deps.logger.child({ client: `${clientAddr}:${clientPort}` });
    let timedOut = false;
    // Every stage of the login is bounded by one timer (a client that sends nothing, or stops in the
    // middle of a packet, of the TLS handshake or of the password): FATAL where the client can read
    // one (not in the middle of a TLS handshake), then the connection is closed.
    const timer = setTimeout(() => {
      timedOut = true;
      log.info("login timed out");
      const socket = reader.current;
      if (reader.handshaking) socket.destroy();
      else
        this.refuse(
          socket,
          SQLSTATE.protocolViolation,
          "canceling authentication due to timeout (session.login_timeout_ms)",
        );
    }, config.session.login_timeout_ms);
    let subject: string | undefined;
    let handedOver = false;
    const releaseSubject = () => {
      if (subject === undefined) return;
      const left = (this.subjects.get(subject) ?? 1) - 1;
      if (left <= 0) this.subjects.delete(subject);
      else this.subjects.set(subject, left);
      subject = undefined;
    };
    try {
      const startup = await negotiateStartup(raw, reader, {
        secureContext: this.deps.tls,
        handshakeTimeoutMs: config.tls.handshake_timeout_ms,
      });
      if (startup.kind === "cancel") {
        clearTimeout(timer);
        await this.cancel(startup.processId, startup.secretKey);
        raw.end();
        return;
      }
      client = startup.socket;
      refuseUnsupportedConnection(startup.parameters, this.clients, config);
      const settings = readStartupSettings(startup.parameters);
      if (startup.negotiate) client.write(negotiateProtocolVersion(0, startup.negotiate.unsupported));
      refuseUnsafeClientEncoding(settings.optionSettings, startup.parameters);

      const id = randomUUID();
      const result = await this.login(id, client, reader, startup, clientAddr, clientPort);
      subject = this.holdSubject(result.claims.sub);
      const dbRole = result.decision.db_role;
      const database = result.input.startup.database;
      const { forwarded, ignored } = upstreamParameters(startup.parameters, settings);
      const password = this.upstreamPassword(dbRole, log);
      const poolKey = UpstreamPool.key(dbRole, database, forwarded);
      const { startupSearchPath } = settings;
      const context: SessionContext = {
        id,
        region: config.proxy.region,
        claims: result.claims,
        dbRole,
        database,
        ...(startupSearchPath ? { startupSearchPath } : {}),
        status: () => relay?.status ?? "I",
      };
      let relay: Relay | undefined;
      const upstreamLogin: UpstreamLogin = { user: dbRole, password, database, parameters: forwarded };
      const { upstream: first, stages } = await this.openUpstream(upstreamLogin, poolKey, context, log);
      const upstream = first;
      // the upstream session serving this client now: another one after the session was parked
      const current = { session: first };
      clearTimeout(timer);
      if (this.stopping || client.destroyed) {
        upstream.socket.destroy();
        client.destroy();
        return;
      }

      const keys = this.registry.issueKeys();
      client.write(greeting(upstream, keys, ignored));
      relay = this.relay(client, current, stages, poolKey, upstreamLogin, log);
      handedOver = true;
      this.register(relay, current, keys, {
        id,
        result,
        clientAddr,
        applicationName: startup.parameters.application_name ?? "",
        onEnd: releaseSubject,
        log,
      });
      log
        .child({ session: id, sub: result.claims.sub, role: dbRole })
        .info({ database, tls: startup.tls?.version ?? "none" }, "session started");
      relay.start(reader.release(), upstream.leftover);
    } catch (err) {
      clearTimeout(timer);
      this.deps.metrics?.connections.inc({ result: timedOut ? "timeout" : refusalKind(err) });
      if (timedOut) {
        client.destroy();
      } else if (err instanceof QuietClose) {
        log.info({ reason: err.message }, "connection closed before login");
        client.end();
        setTimeout(() => client.destroy(), 1_000).unref();
      } else if (err instanceof LoginRefused) {
        log.info({ sqlstate: err.sqlstate, reason: err.message, detail: err.detail }, "login refused");
        this.refuse(client, err.sqlstate, err.message);
      } else if (err instanceof ProtocolError) {
        log.info({ reason: err.message }, "protocol error during login");
        this.refuse(client, err.sqlstate, err.message);
      } else {
        log.error({ err }, "login failed");
        this.refuse(client, SQLSTATE.internalError, "internal error during login");
      }
    } finally {
      if (!handedOver) releaseSubject();
    }
  }

  /** The token login and the connection policy (see `client/login.ts`). */
  private login(
    id: string,
    client: Socket,
    reader: SocketReader,
    startup: { tls: LoginContext["tls"]; parameters: Record<string, string> },
    clientAddr: string,
    clientPort: number,
  ): Promise<LoginResult> {
    const config = this.deps.config;
    const authority: LoginAuthority = {
      verifyToken: this.deps.verifyToken,
      decideConnection: (input) => this.deps.decideConnection(input, { sessionId: id }),
      checkNotRevoked: this.deps.checkNotRevoked,
    };
    return login(
      {
        socket: client,
        reader,
        tls: startup.tls,
        allowPlaintextLoopback: config.tls.allow_plaintext_loopback,
        startup: startup.parameters,
        client: { addr: clientAddr, port: clientPort },
        proxy: { id: config.proxy.id, region: config.proxy.region, labels: config.proxy.labels },
      },
      authority,
    );
  }

  /** Counts one more connection of `subject` (session.max_connections_per_subject); returns it. */
  private holdSubject(subject: string): string {
    const perSubject = this.deps.config.session.max_connections_per_subject;
    const held = this.subjects.get(subject) ?? 0;
    if (perSubject > 0 && held >= perSubject) {
      throw new LoginRefused(
        `too many connections for subject "${subject}" on this proxy (session.max_connections_per_subject ${perSubject})`,
        SQLSTATE.tooManyConnections,
      );
    }
    this.subjects.set(subject, held + 1);
    return subject;
  }

  /** The upstream password of the role the connection policy mapped the client to. */
  private upstreamPassword(dbRole: string, log: Logger): string {
    try {
      return this.deps.rolePassword
        ? this.deps.rolePassword(dbRole)
        : readRolePassword(this.deps.config, dbRole);
    } catch (err) {
      log.error({ role: dbRole, err: (err as Error).message }, "no upstream credentials for mapped role");
      throw new LoginRefused(
        `connection denied: database role "${dbRole}" is not configured on this proxy`,
        SQLSTATE.invalidAuthorization,
      );
    }
  }

  /**
   * The relay of a session whose client was greeted; its upstream (`current.session`, another one
   * after a park) goes back to the pool when it ends, if pooling.
   */
  private relay(
    client: Socket,
    current: { session: UpstreamSession },
    stages: RelayStages,
    poolKey: string,
    login: UpstreamLogin,
    log: Logger,
  ): Relay {
    const config = this.deps.config;
    const pool = this.pool;
    return new Relay(
      client,
      current.session.socket,
      stages,
      pool ? () => void pool.give(poolKey, current.session) : undefined,
      {
        clientMessageBytes: config.session.max_message_bytes,
        upstreamMessageBytes: config.upstream.max_message_bytes,
      },
      this.parking(poolKey, login, log, current),
    );
  }

  /** Registers a started session (cancel keys, the admin API's view, metrics) until its relay closes. */
  private register(
    relay: Relay,
    current: { session: UpstreamSession },
    keys: { processId: number; secretKey: number },
    s: {
      id: string;
      result: LoginResult;
      clientAddr: string;
      applicationName: string;
      onEnd: () => void;
      log: Logger;
    },
  ): void {
    const { id, result } = s;
    const target = this.upstreamTarget;
    const session: LiveSession = {
      id,
      subject: result.claims.sub,
      claims: result.claims,
      dbRole: result.decision.db_role,
      database: result.input.startup.database,
      clientAddr: s.clientAddr,
      startedAt: new Date(),
      processId: keys.processId,
      secretKey: keys.secretKey,
      // a parked session runs nothing, and its last backend may serve another client by now
      cancel: async () => {
        if (!relay.parked) await cancelUpstream(target, current.session.processId, current.session.secretKey);
      },
      terminate: (sqlstate, message) => relay.terminate(sqlstate, message),
      region: this.deps.config.proxy.region,
      applicationName: s.applicationName,
      ...(result.decision.max_session_seconds !== undefined
        ? { maxSessionSeconds: result.decision.max_session_seconds }
        : {}),
      busy: () => relay.busy,
      connectionInput: result.input,
    };
    this.registry.add(session);
    this.relays.add(relay);
    const slog = s.log.child({ session: id, sub: result.claims.sub, role: result.decision.db_role });
    this.deps.metrics?.connections.inc({ result: "accepted" });
    this.deps.metrics?.activeSessions.inc();
    relay.onClose((reason) => {
      s.onEnd();
      this.deps.metrics?.activeSessions.dec();
      this.registry.remove(session, reason);
      this.relays.delete(relay);
      slog.info({ reason }, "session ended");
    });
  }

  /**
   * How an idle session gives its upstream back and takes one again (session.park_idle_after_ms; off
   * at 0): back to the pool under the session's own pool key, and at the next message a session of
   * that key from the pool, or a fresh login with the session's login, checked as every upstream is.
   */
  private parking(
    poolKey: string,
    login: UpstreamLogin,
    log: Logger,
    current: { session: UpstreamSession },
  ): Parking | undefined {
    const afterMs = this.deps.config.session.park_idle_after_ms;
    const pool = this.pool;
    if (afterMs <= 0 || !pool) return undefined;
    const metrics = this.deps.metrics;
    return {
      afterMs,
      park: () => void pool.give(poolKey, current.session),
      unpark: async () => {
        const next = pool.take(poolKey) ?? (await this.freshUpstream(login, log));
        const unsafe = unsafeUpstreamSettings(next.parameters);
        if (unsafe) {
          next.socket.destroy();
          log.error({ reason: unsafe }, "upstream session refused on resume");
          throw new Error(unsafe);
        }
        current.session = next;
        return { socket: next.socket, leftover: next.leftover };
      },
      onChange: (parked) => (parked ? metrics?.parkedSessions.inc() : metrics?.parkedSessions.dec()),
    };
  }

  /**
   * The upstream session of a new client, set up for it: a pooled one when there is one, else a fresh
   * login. A pooled session that fails its checks or its set-up (its backend went away meanwhile) is
   * dropped for a fresh one; a fresh login that fails for a passing reason (the server is out of
   * connection slots, or refused or reset the connection in a burst) is tried again a few times,
   * shortly after, before the client is refused. Every session, fresh or pooled, must report the
   * settings the proxy's reading of SQL depends on.
   */
  private async openUpstream(
    login: UpstreamLogin,
    poolKey: string,
    context: SessionContext,
    log: Logger,
  ): Promise<{ upstream: UpstreamSession; stages: RelayStages }> {
    const pooled = this.pool?.take(poolKey);
    if (pooled) {
      try {
        return await this.setUp(pooled, context, log);
      } catch (err) {
        if (err instanceof SessionRefused) throw err;
        log.warn({ err: (err as Error).message }, "pooled upstream session unusable: logging in afresh");
      }
    }
    const upstream = await this.freshUpstream(login, log);
    return this.setUp(upstream, context, log);
  }

  private async freshUpstream(login: UpstreamLogin, log: Logger): Promise<UpstreamSession> {
    const { user: role, database } = login;
    for (let attempt = 1; ; attempt++) {
      try {
        const fresh = await connectUpstream(this.upstreamTarget, login);
        return this.pool?.adopt(fresh) ?? fresh;
      } catch (err) {
        const e = err as UpstreamError;
        this.deps.metrics?.upstreamErrors.inc({ kind: e.kind ?? "unknown" });
        if (e.kind === "server" && e.sqlstate === SQLSTATE.invalidCatalogName) {
          throw new LoginRefused(`database "${database}" does not exist`, SQLSTATE.invalidCatalogName);
        }
        if (!e.transient || attempt >= UPSTREAM_LOGIN_ATTEMPTS || this.stopping) {
          log.warn({ role, database, kind: e.kind, err: e.message, attempt }, "upstream login failed");
          throw new LoginRefused("cannot connect to the database right now", SQLSTATE.cannotConnectNow);
        }
        log.info(
          { role, database, kind: e.kind, err: e.message, attempt },
          "upstream login failed: retrying",
        );
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
  }

  private async setUp(
    upstream: UpstreamSession,
    context: SessionContext,
    log: Logger,
  ): Promise<{ upstream: UpstreamSession; stages: RelayStages }> {
    const unsafe = unsafeUpstreamSettings(upstream.parameters);
    if (unsafe) {
      upstream.socket.destroy();
      log.error(
        { database: context.database, role: context.dbRole, reason: unsafe },
        "upstream session refused",
      );
      throw new LoginRefused(unsafe, SQLSTATE.featureNotSupported);
    }
    try {
      const stages = this.deps.sessionStages
        ? await this.deps.sessionStages(context, upstream)
        : passThroughStages;
      return { upstream, stages };
    } catch (err) {
      upstream.socket.destroy();
      // the session itself is refused (a start-up search_path the policy denies or the server does
      // not search as given): the client gets that refusal, not a passing failure
      if (err instanceof SessionRefused) throw err;
      log.error({ err: (err as Error).message }, "session set-up failed");
      throw new LoginRefused("cannot set up the session right now", SQLSTATE.cannotConnectNow);
    }
  }

  private refuse(socket: Socket, sqlstate: string, message: string): void {
    if (socket.destroyed) return;
    socket.end(errorResponse({ severity: "FATAL", code: sqlstate, message }));
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  private async cancel(processId: number, secretKey: number): Promise<void> {
    const session = this.registry.findForCancel(processId, secretKey);
    if (!session) {
      this.deps.logger.info({ processId }, "cancel request for no matching session ignored");
      return;
    }
    await session
      .cancel()
      .catch((err) => this.deps.logger.warn({ err: (err as Error).message }, "cancel failed"));
  }

  /** Stops accepting, ends every session with 57P01 and closes the upstreams. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.idleSweep);
    this.pool?.close();
    const closed = new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
    for (const relay of this.relays) {
      relay.terminate(SQLSTATE.adminShutdown, "terminating connection due to administrator command");
    }
    closeDeferredUpstreamsNow();
    for (const socket of this.pending)
      this.refuse(socket, SQLSTATE.adminShutdown, "the proxy is shutting down");
    await closed;
  }
}

function refusalKind(err: unknown): string {
  if (!(err instanceof LoginRefused)) return "error";
  if (err.sqlstate === SQLSTATE.invalidPassword) return "refused_token";
  if (err.detail?.startsWith("revocation:")) return "refused_revoked";
  if (err.sqlstate === SQLSTATE.invalidAuthorization) return "refused_policy";
  if (err.sqlstate === SQLSTATE.cannotConnectNow) return "upstream_error";
  return "refused_other";
}
