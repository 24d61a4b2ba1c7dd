/**
 * Revocation enforcement on a data plane:
 *
 * - `apply()` takes a revocation from the stream (bus/revocations.ts). Its signature must verify
 *   with the control plane's public key (`policy.public_key_file`); one that does not is ignored
 *   and counted (`portcullis_revocations_rejected_total`). A valid one goes into the deny-list
 *   until it expires, and every live session it names is ended: a CancelRequest for a running
 *   query, then `FATAL 57P01 session revoked: <reason>` and both sockets closed.
 * - `checkLogin()` runs for every login after the token is verified: a revoked token (jti) or
 *   subject is refused with 28000 `token revoked` / `subject revoked`, and while the deny-list is
 *   stale every login is refused with 57P03 `revocation list is stale`.
 * - Each session is checked again once registered, which closes the window between a login's
 *   check and the moment the session becomes visible to `apply()`.
 *
 * Bounded staleness: the deny-list is *current* while the revocation feed is connected and caught
 * up. When the feed is lost, the time it was last current is kept; once that is more than
 * `maxStalenessMs` ago the list is *stale*: new connections are refused, and in `strict` mode live
 * sessions are ended too (57P01 `revocation list is stale`). Catching up makes it current again.
 *
 * The deny-list is also kept on disk (`stateFile`, written when it changes, when the feed is lost
 * and on stop, with the time it was last current), so a data plane restarting while NATS is down
 * knows the revocations it knew and how old that knowledge is. Without such a copy a data plane
 * that has never caught up is stale from the start.
 */
import type { KeyObject } from "node:crypto";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import type { Logger } from "../../common/logger.js";
import { type Revocation, revocationSchema } from "../../proto/bus.js";
import type { TokenClaims } from "../../proto/policy.js";
import { LoginRefused } from "../client/login.js";
import { SQLSTATE } from "../protocol/errors.js";
import { endSession } from "../session/end-session.js";
import type { LiveSession, SessionRegistry } from "../session/registry.js";
import { DenyList, type Revocable } from "./deny-list.js";
import type { RevocationMetrics } from "./metrics.js";
import { RevocationSignatureError, verifyRevocation } from "./verify.js";

export type RevocationMode = "refuse_new" | "strict";

export interface RevocationEnforcerOptions {
  registry: SessionRegistry;
  /** The control plane's public key(s): the bundle key. */
  publicKeys: readonly KeyObject[];
  maxStalenessMs: number;
  mode: RevocationMode;
  /** Where the deny-list is kept between runs; not kept when absent. */
  stateFile?: string;
  logger: Logger;
  metrics?: RevocationMetrics;
  /** portcullis_revocation_lag_seconds: 0 while current, else seconds since it last was. */
  lagGauge?: { set(value: number): void };
  now?: () => number;
}

export interface ApplyResult {
  /** False when the signature did not verify (the revocation was ignored). */
  accepted: boolean;
  /** True when the revocation was not in the deny-list before. */
  isNew: boolean;
  sessionsCut: number;
}

const snapshotSchema = z.object({
  version: z.literal(1),
  current_at: z.string().nullable(),
  revocations: z.array(revocationSchema),
});

const STALE_MESSAGE = "revocation list is stale";

function revocable(session: LiveSession): Revocable {
  const jti = session.claims.jti;
  return { sessionId: session.id, subject: session.subject, ...(typeof jti === "string" ? { jti } : {}) };
}

export class RevocationEnforcer {
  readonly denyList = new DenyList();
  readonly #options: RevocationEnforcerOptions;
  readonly #now: () => number;
  readonly #logger: Logger;
  #current = false;
  /** When the deny-list was last known current; undefined when never. */
  #lastCurrentMs: number | undefined;
  /** Whether "stale" was logged (a list that was never current is reported only after max_staleness). */
  #reportedStale = false;
  #startedMs: number | undefined;
  #tick: NodeJS.Timeout | undefined;
  #staleTimer: NodeJS.Timeout | undefined;
  #persistTimer: NodeJS.Timeout | undefined;
  #persisting: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | undefined;

  constructor(options: RevocationEnforcerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
  }

  /** Starts watching new sessions and the clock. */
  start(): void {
    this.#unsubscribe = this.#options.registry.subscribe((event) => {
      if (event.type !== "added") return;
      // after the current turn: the session's close handler is in place by then
      const session = event.session;
      setImmediate(() => this.#recheck(session));
    });
    this.#startedMs = this.#now();
    this.#tick = setInterval(() => this.#onTick(), 1_000);
    this.#tick.unref();
    this.#onTick();
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    clearInterval(this.#tick);
    clearTimeout(this.#staleTimer);
    clearTimeout(this.#persistTimer);
    await this.#persisting;
    await this.persist();
  }

  /** True while the feed is connected and caught up. */
  get current(): boolean {
    return this.#current;
  }

  /** How old the deny-list may be, in ms: 0 while current, Infinity when it never was. */
  staleness(): number {
    if (this.#current) return 0;
    if (this.#lastCurrentMs === undefined) return Number.POSITIVE_INFINITY;
    return Math.max(0, this.#now() - this.#lastCurrentMs);
  }

  get stale(): boolean {
    return this.staleness() > this.#options.maxStalenessMs;
  }

  /** The feed is connected and caught up with the stream. */
  markCurrent(): void {
    const wasReported = this.#reportedStale;
    this.#current = true;
    this.#lastCurrentMs = this.#now();
    clearTimeout(this.#staleTimer);
    if (wasReported) this.#logger.info("revocation list caught up: accepting connections again");
    this.#onTick();
  }

  /** The feed is lost (disconnected, or catching up after a reconnection). */
  markLost(): void {
    if (!this.#current) return;
    this.#current = false;
    this.#lastCurrentMs = this.#now();
    this.#logger.warn(
      { maxStalenessMs: this.#options.maxStalenessMs, mode: this.#options.mode },
      "lost the revocation stream: new connections are refused if it is not back within max_staleness",
    );
    clearTimeout(this.#staleTimer);
    this.#staleTimer = setTimeout(() => this.#onTick(), this.#options.maxStalenessMs + 1);
    this.#staleTimer.unref();
    this.#schedulePersist(0);
  }

  /**
   * Verifies and applies one revocation; ends the live sessions it names. Never throws for a bad
   * revocation: `accepted: false` says it was ignored.
   */
  async apply(revocation: Revocation, context: { live?: boolean } = {}): Promise<ApplyResult> {
    const { metrics } = this.#options;
    try {
      // the same message again (live copy, then the stream's): it was verified when it first came
      if (!this.denyList.holdsSame(revocation)) await verifyRevocation(revocation, this.#options.publicKeys);
    } catch (err) {
      const code = err instanceof RevocationSignatureError ? err.code : "error";
      metrics?.rejected.inc({ reason: code });
      this.#logger.warn(
        { id: revocation.id, kind: revocation.kind, err: (err as Error).message },
        "ignored a revocation that is not signed by the control plane",
      );
      return { accepted: false, isNew: false, sessionsCut: 0 };
    }
    const now = this.#now();
    const isNew = this.denyList.add(revocation, now);
    if (isNew) {
      metrics?.applied.inc({ kind: revocation.kind });
      metrics?.active.set(this.denyList.size);
      this.#schedulePersist();
    }
    let sessionsCut = 0;
    if (Date.parse(revocation.expires_at) > now) {
      const message = `session revoked: ${revocation.reason || "revoked by an administrator"}`;
      for (const session of this.#options.registry.all()) {
        if (session.endReason !== undefined || !DenyList.applies(revocation, revocable(session))) continue;
        endSession(session, "revoked", message, this.#logger);
        sessionsCut += 1;
      }
    }
    if (sessionsCut > 0) {
      metrics?.sessionsEnded.inc({ reason: "revoked" }, sessionsCut);
      this.#logger.info(
        { id: revocation.id, kind: revocation.kind, value: revocation.value, sessionsCut },
        "revocation applied: sessions ended",
      );
    } else if (isNew) {
      this.#logger.info(
        { id: revocation.id, kind: revocation.kind, value: revocation.value },
        "revocation applied",
      );
    }
    if (context.live && isNew) {
      metrics?.propagationSeconds.observe(Math.max(0, now - Date.parse(revocation.created_at)) / 1000);
    }
    return { accepted: true, isNew, sessionsCut };
  }

  /** Throws LoginRefused when the deny-list is stale or revokes this token or subject. */
  checkLogin(claims: TokenClaims): void {
    const { metrics } = this.#options;
    if (this.stale) {
      metrics?.loginsRefused.inc({ reason: "stale" });
      const age = this.staleness();
      throw new LoginRefused(
        `${STALE_MESSAGE}: this proxy has ${Number.isFinite(age) ? `not been in touch with the revocation stream for ${Math.round(age / 1000)} s` : "not received the revocation list yet"}; try again later`,
        SQLSTATE.cannotConnectNow,
        "revocation: stale",
      );
    }
    const jti = typeof claims.jti === "string" ? claims.jti : undefined;
    const match = this.denyList.match({ subject: claims.sub, ...(jti ? { jti } : {}) }, this.#now());
    if (!match) return;
    metrics?.loginsRefused.inc({ reason: match.kind });
    throw new LoginRefused(
      match.kind === "token" ? "token revoked" : "subject revoked",
      SQLSTATE.invalidAuthorization,
      `revocation: ${match.kind} revoked by ${match.entry.id}`,
    );
  }

  /** Loads the copy kept on disk (before the feed starts). Returns how many revocations it held. */
  async loadSnapshot(): Promise<number> {
    const file = this.#options.stateFile;
    if (!file) return 0;
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        this.#logger.warn({ file, err: (err as Error).message }, "the deny-list kept on disk is unreadable");
      }
      return 0;
    }
    let snapshot: z.infer<typeof snapshotSchema>;
    try {
      snapshot = snapshotSchema.parse(JSON.parse(text));
    } catch (err) {
      this.#logger.warn(
        { file, err: (err as Error).message },
        "the deny-list kept on disk is not valid: ignored",
      );
      return 0;
    }
    let loaded = 0;
    for (const revocation of snapshot.revocations) {
      const result = await this.apply(revocation);
      if (result.accepted && result.isNew) loaded += 1;
    }
    const currentAt = snapshot.current_at ? Date.parse(snapshot.current_at) : Number.NaN;
    if (!this.#current && Number.isFinite(currentAt) && currentAt <= this.#now()) {
      this.#lastCurrentMs = Math.max(this.#lastCurrentMs ?? 0, currentAt);
    }
    this.#logger.info(
      { file, revocations: loaded, currentAt: snapshot.current_at },
      "loaded the deny-list kept on disk",
    );
    this.#onTick();
    return loaded;
  }

  /** Writes the copy on disk now. */
  async persist(): Promise<void> {
    const file = this.#options.stateFile;
    if (!file) return;
    const currentAt = this.#current ? this.#now() : this.#lastCurrentMs;
    const body = JSON.stringify({
      version: 1,
      current_at: currentAt === undefined ? null : new Date(currentAt).toISOString(),
      revocations: this.denyList.revocations(),
    });
    const run = this.#persisting.then(async () => {
      const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
      try {
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeFile(tmp, body, { mode: 0o600, flag: "wx" });
        await rename(tmp, file);
      } catch (err) {
        await rm(tmp, { force: true });
        this.#logger.warn({ file, err: (err as Error).message }, "cannot keep the deny-list on disk");
      }
    });
    this.#persisting = run;
    await run;
  }

  #schedulePersist(delayMs = 200): void {
    if (!this.#options.stateFile) return;
    clearTimeout(this.#persistTimer);
    this.#persistTimer = setTimeout(() => void this.persist(), delayMs);
    this.#persistTimer.unref();
  }

  #recheck(session: LiveSession): void {
    if (this.#options.registry.get(session.id) !== session || session.endReason !== undefined) return;
    if (this.#options.mode === "strict" && this.stale) {
      endSession(session, "stale", STALE_MESSAGE, this.#logger);
      this.#options.metrics?.sessionsEnded.inc({ reason: "stale" });
      return;
    }
    const match = this.denyList.match(revocable(session), this.#now());
    if (!match) return;
    endSession(
      session,
      "revoked",
      `session revoked: ${match.entry.reason || "revoked by an administrator"}`,
      this.#logger,
    );
    this.#options.metrics?.sessionsEnded.inc({ reason: "revoked" });
  }

  #onTick(): void {
    const { metrics, lagGauge } = this.#options;
    const dropped = this.denyList.prune(this.#now());
    if (dropped > 0) this.#schedulePersist();
    metrics?.active.set(this.denyList.size);
    const staleness = this.staleness();
    lagGauge?.set(Number.isFinite(staleness) ? staleness / 1000 : Number.POSITIVE_INFINITY);
    const stale = this.stale;
    metrics?.stale.set(stale ? 1 : 0);
    // A list that was never current (the first replay is still running) is refused logins but is not
    // reported until it has had max_staleness to catch up: every start would log an error otherwise.
    const reportable =
      stale &&
      (this.#lastCurrentMs !== undefined ||
        this.#now() - (this.#startedMs ?? this.#now()) >= this.#options.maxStalenessMs);
    if (reportable && !this.#reportedStale) {
      this.#logger.error(
        { maxStalenessMs: this.#options.maxStalenessMs, mode: this.#options.mode },
        "the revocation list is stale: new connections are refused until the revocation stream is back",
      );
    }
    this.#reportedStale = reportable;
    if (stale && this.#options.mode === "strict") {
      let ended = 0;
      for (const session of this.#options.registry.all()) {
        if (session.endReason !== undefined) continue;
        endSession(session, "stale", STALE_MESSAGE, this.#logger);
        ended += 1;
      }
      if (ended > 0) {
        metrics?.sessionsEnded.inc({ reason: "stale" }, ended);
        this.#logger.warn(
          { sessions: ended },
          "strict mode: live sessions ended because the revocation list is stale",
        );
      }
    }
  }
}
