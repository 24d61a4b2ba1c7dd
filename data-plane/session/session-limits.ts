/**
 * Time limits on live sessions:
 *
 * - the token's `exp`: with `session.on_token_expiry: terminate` (the default) a session ends with
 *   `FATAL 57P01 token expired` when its token expires; with `continue` it may outlive it;
 * - the connection policy's `max_session_seconds`: the session ends with
 *   `FATAL 57P01 session time limit reached` that long after it started.
 *
 * One timer per session, for the earlier of the two; timers beyond setTimeout's range are
 * re-armed. A session whose deadline has already passed when it starts (a token accepted within
 * the clock skew) is ended right after it is registered.
 */
import type { Logger } from "../../common/logger.js";
import { endSession } from "./end-session.js";
import type { LiveSession, SessionRegistry } from "./registry.js";

export type TokenExpiryPolicy = "terminate" | "continue";

export interface SessionLimitsOptions {
  registry: SessionRegistry;
  onTokenExpiry: TokenExpiryPolicy;
  logger?: Logger;
  /** Told about each session ended here. */
  onEnded?: (session: LiveSession, reason: "expired" | "max_duration") => void;
  now?: () => number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

interface Deadline {
  atMs: number;
  reason: "expired" | "max_duration";
  message: string;
}

export class SessionLimits {
  readonly #options: SessionLimitsOptions;
  readonly #now: () => number;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #unsubscribe: (() => void) | undefined;

  constructor(options: SessionLimitsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    this.#unsubscribe = this.#options.registry.subscribe((event) => {
      if (event.type === "added") this.#arm(event.session);
      else this.#clear(event.session.id);
    });
  }

  stop(): void {
    this.#unsubscribe?.();
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  /** The deadline that ends `session` first, if any. */
  deadline(session: LiveSession): Deadline | undefined {
    const deadlines: Deadline[] = [];
    const exp = session.claims.exp;
    if (this.#options.onTokenExpiry === "terminate" && typeof exp === "number" && Number.isFinite(exp)) {
      deadlines.push({ atMs: exp * 1000, reason: "expired", message: "token expired" });
    }
    const max = session.maxSessionSeconds;
    if (typeof max === "number" && max > 0 && Number.isFinite(max)) {
      deadlines.push({
        atMs: session.startedAt.getTime() + max * 1000,
        reason: "max_duration",
        message: `session time limit reached (max_session_seconds ${max})`,
      });
    }
    return deadlines.sort((a, b) => a.atMs - b.atMs)[0];
  }

  get armed(): number {
    return this.#timers.size;
  }

  #arm(session: LiveSession): void {
    const deadline = this.deadline(session);
    if (!deadline) return;
    this.#schedule(session, deadline);
  }

  #schedule(session: LiveSession, deadline: Deadline): void {
    const wait = Math.max(0, deadline.atMs - this.#now());
    const timer = setTimeout(
      () => {
        this.#timers.delete(session.id);
        if (this.#options.registry.get(session.id) !== session) return;
        if (deadline.atMs > this.#now()) {
          this.#schedule(session, deadline);
          return;
        }
        this.#options.logger?.info(
          { session: session.id, sub: session.subject, reason: deadline.reason },
          "session ended: time limit",
        );
        endSession(session, deadline.reason, deadline.message, this.#options.logger);
        this.#options.onEnded?.(session, deadline.reason);
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    timer.unref();
    this.#timers.set(session.id, timer);
  }

  #clear(id: string): void {
    const timer = this.#timers.get(id);
    if (timer) clearTimeout(timer);
    this.#timers.delete(id);
  }
}
