import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { Logger } from "../common/logger.js";
import type { ConnectionDecision, ConnectionInput, TokenClaims } from "../proto/policy.js";
import { type LoginAuthority, LoginRefused, login, SessionRefused } from "./client/login.js";
import { SocketReader } from "./client/socket-reader.js";
import { negotiateStartup } from "./client/startup.js";
import { FORWARDED_SETTINGS, parseStartupOptions, StartupOptionRefused } from "./client/startup-options.js";
import {
  parseStartupSearchPath,
  type StartupSearchPath,
  StartupSearchPathRefused,
} from "./client/startup-search-path.js";
import { type DataPlaneConfig, readRolePassword } from "./config.js";
import type { DataPlaneMetrics } from "./metrics.js";
import {
  authenticationOk,
  backendKeyData,
  errorResponse,
  negotiateProtocolVersion,
  parameterStatus,
  readyForQuery,
  type TransactionStatus,
} from "./protocol/backend-messages.js";
import { ProtocolError, QuietClose, SQLSTATE } from "./protocol/errors.js";
import { type LiveSession, SessionRegistry } from "./session/registry.js";
import { closeDeferredUpstreamsNow, type Parking, Relay, type RelayStages } from "./session/relay.js";
import { unsafeClientEncoding, unsafeReportedSetting } from "./statements/invariants.js";
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
    if (message.type === "X") return false; // the relay ends the upstream session (or pools it)
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
            relay.terminate("25P03", "terminating connection due to idle-in-transaction timeout");
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
      if (this.clients > config.session.max_client_connections) {
        throw new LoginRefused(
          `sorry, too many clients already (session.max_client_connections ${config.session.max_client_connections})`,
          SQLSTATE.tooManyConnections,
        );
      }
      if (startup.parameters.replication && startup.parameters.replication !== "false") {
        throw new LoginRefused(
          "replication connections are not supported through Portcullis",
          SQLSTATE.featureNotSupported,
        );
      }
      // `options` (-c name=value …) is read as the server reads it: settings the proxy forwards anyway
      // become start-up parameters (those given as parameters win, as on the server), anything else is
      // refused by name, never dropped
      let optionSettings: Record<string, string> = {};
      if (startup.parameters.options !== undefined) {
        try {
          optionSettings = parseStartupOptions(startup.parameters.options);
        } catch (err) {
          if (!(err instanceof StartupOptionRefused)) throw err;
          throw new LoginRefused(err.message, SQLSTATE.featureNotSupported);
        }
      }
      // a start-up search_path (a parameter of that name wins over `options`, as on the server) is read
      // as the server reads it before the password is asked for; the policy decides it after login
      let searchPathValue = optionSettings.search_path;
      for (const [key, value] of Object.entries(startup.parameters)) {
        if (key.toLowerCase() === "search_path") searchPathValue = value;
      }
      let startupSearchPath: StartupSearchPath | undefined;
      if (searchPathValue !== undefined) {
        try {
          startupSearchPath = parseStartupSearchPath(searchPathValue);
        } catch (err) {
          if (!(err instanceof StartupSearchPathRefused)) throw err;
          throw new LoginRefused(err.message, err.sqlstate);
        }
      }
      if (startup.negotiate) client.write(negotiateProtocolVersion(0, startup.negotiate.unsupported));
      // the server takes setting names in any case (CLIENT_ENCODING=SJIS): so does this check
      for (const [key, encoding] of [
        ...Object.entries(optionSettings),
        ...Object.entries(startup.parameters),
      ]) {
        if (key.toLowerCase() === "client_encoding" && unsafeClientEncoding(encoding)) {
          throw new LoginRefused(
            `client_encoding ${encoding} is not supported through Portcullis`,
            SQLSTATE.featureNotSupported,
          );
        }
      }

      const id = randomUUID();
      const authority: LoginAuthority = {
        verifyToken: this.deps.verifyToken,
        decideConnection: (input) => this.deps.decideConnection(input, { sessionId: id }),
        checkNotRevoked: this.deps.checkNotRevoked,
      };
      const result = await login(
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
      const perSubject = config.session.max_connections_per_subject;
      const held = this.subjects.get(result.claims.sub) ?? 0;
      if (perSubject > 0 && held >= perSubject) {
        throw new LoginRefused(
          `too many connections for subject "${result.claims.sub}" on this proxy (session.max_connections_per_subject ${perSubject})`,
          SQLSTATE.tooManyConnections,
        );
      }
      subject = result.claims.sub;
      this.subjects.set(subject, held + 1);
      const dbRole = result.decision.db_role;
      const database = result.input.startup.database;
      const forwarded: Record<string, string> = { ...optionSettings };
      const ignored: string[] = [];
      for (const [key, value] of Object.entries(startup.parameters)) {
        if (key === "user" || key === "database" || key === "options") continue;
        if (key.toLowerCase() === "search_path") continue;
        if (FORWARDED_SETTINGS.has(key.toLowerCase())) forwarded[key.toLowerCase()] = value;
        else if (value !== "") ignored.push(key);
      }
      // What the proxy's reading of SQL depends on is set explicitly, so that no database or role
      // default (ALTER DATABASE … SET client_encoding) applies; the values reported are checked too.
      delete forwarded.search_path;
      if (startupSearchPath) forwarded.search_path = startupSearchPath.value;
      forwarded.client_encoding ??= "UTF8";
      forwarded.standard_conforming_strings = "on";
      let password: string;
      try {
        password = this.deps.rolePassword ? this.deps.rolePassword(dbRole) : readRolePassword(config, dbRole);
      } catch (err) {
        log.error({ role: dbRole, err: (err as Error).message }, "no upstream credentials for mapped role");
        throw new LoginRefused(
          `connection denied: database role "${dbRole}" is not configured on this proxy`,
          SQLSTATE.invalidAuthorization,
        );
      }
      const poolKey = UpstreamPool.key(dbRole, database, forwarded);
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
      // the upstream session serving this client now: another one after the session was parked
      let upstream = first;
      clearTimeout(timer);
      if (this.stopping || client.destroyed) {
        upstream.socket.destroy();
        client.destroy();
        return;
      }

      const keys = this.registry.issueKeys();
      const greeting: Buffer[] = [authenticationOk()];
      for (const [name, value] of upstream.parameters) greeting.push(parameterStatus(name, value));
      greeting.push(backendKeyData(keys.processId, keys.secretKey));
      for (const key of ignored) {
        greeting.push(
          errorResponse(
            {
              severity: "NOTICE",
              code: "01000",
              message: `startup parameter "${key}" ignored by Portcullis`,
            },
            "N",
          ),
        );
      }
      greeting.push(readyForQuery(upstream.status as TransactionStatus));
      client.write(Buffer.concat(greeting));

      const pool = this.pool;
      relay = new Relay(
        client,
        upstream.socket,
        stages,
        pool ? () => void pool.give(poolKey, upstream) : undefined,
        {
          clientMessageBytes: config.session.max_message_bytes,
          upstreamMessageBytes: config.upstream.max_message_bytes,
        },
        this.parking(poolKey, upstreamLogin, log, {
          current: () => upstream,
          replace: (next) => {
            upstream = next;
          },
        }),
      );
      handedOver = true;
      const target = this.upstreamTarget;
      const session: LiveSession = {
        id,
        subject: result.claims.sub,
        claims: result.claims,
        dbRole,
        database,
        clientAddr,
        startedAt: new Date(),
        processId: keys.processId,
        secretKey: keys.secretKey,
        // a parked session runs nothing, and its last backend may serve another client by now
        cancel: async () => {
          if (!relay!.parked) await cancelUpstream(target, upstream.processId, upstream.secretKey);
        },
        terminate: (sqlstate, message) => relay!.terminate(sqlstate, message),
        region: config.proxy.region,
        applicationName: startup.parameters.application_name ?? "",
        ...(result.decision.max_session_seconds !== undefined
          ? { maxSessionSeconds: result.decision.max_session_seconds }
          : {}),
        busy: () => relay!.busy,
      };
      this.registry.add(session);
      this.relays.add(relay);
      const slog = log.child({ session: id, sub: result.claims.sub, role: dbRole });
      this.deps.metrics?.connections.inc({ result: "accepted" });
      this.deps.metrics?.activeSessions.inc();
      relay.onClose((reason) => {
        releaseSubject();
        this.deps.metrics?.activeSessions.dec();
        this.registry.remove(session, reason);
        this.relays.delete(relay!);
        slog.info({ reason }, "session ended");
      });
      slog.info({ database, tls: startup.tls?.version ?? "none" }, "session started");
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

  /**
   * How an idle session gives its upstream back and takes one again (session.park_idle_after_ms; off
   * at 0): back to the pool under the session's own pool key, and at the next message a session of
   * that key from the pool, or a fresh login with the session's login, checked as every upstream is.
   */
  private parking(
    poolKey: string,
    login: UpstreamLogin,
    log: Logger,
    holder: { current(): UpstreamSession; replace(next: UpstreamSession): void },
  ): Parking | undefined {
    const afterMs = this.deps.config.session.park_idle_after_ms;
    const pool = this.pool;
    if (afterMs <= 0 || !pool) return undefined;
    const metrics = this.deps.metrics;
    return {
      afterMs,
      park: () => void pool.give(poolKey, holder.current()),
      unpark: async () => {
        const next = pool.take(poolKey) ?? (await this.freshUpstream(login, log));
        const unsafe = unsafeUpstream(next);
        if (unsafe) {
          next.socket.destroy();
          log.error({ reason: unsafe }, "upstream session refused on resume");
          throw new Error(unsafe);
        }
        holder.replace(next);
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
        if (e.kind === "server" && e.sqlstate === "3D000") {
          throw new LoginRefused(`database "${database}" does not exist`, "3D000" as never);
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
    const unsafe = unsafeUpstream(upstream);
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

/** Why an upstream session's reported settings make SQL read differently than the proxy reads it, if they do. */
function unsafeUpstream(upstream: UpstreamSession): string | undefined {
  const reported = new Map(upstream.parameters.map(([name, value]) => [name.toLowerCase(), value]));
  return (
    (reported.get("standard_conforming_strings") === undefined
      ? "the database session did not report standard_conforming_strings"
      : undefined) ?? [...reported].map(([name, value]) => unsafeReportedSetting(name, value)).find((r) => r)
  );
}

function refusalKind(err: unknown): string {
  if (!(err instanceof LoginRefused)) return "error";
  if (err.sqlstate === SQLSTATE.invalidPassword) return "refused_token";
  if (err.detail?.startsWith("revocation:")) return "refused_revoked";
  if (err.sqlstate === SQLSTATE.invalidAuthorization) return "refused_policy";
  if (err.sqlstate === SQLSTATE.cannotConnectNow) return "upstream_error";
  return "refused_other";
}
