/**
 * Just-in-time grants on a data plane (proto/grant.ts):
 *
 * - `apply()` takes a grant state from the feed (grant-feed.ts). Its signature must verify with the
 *   control plane's public key and its sequence must be above the one held for that grant (no
 *   rollback by replay: an old "active" copy never undoes a revocation); its subject and target
 *   never change. Anything else is refused and counted.
 * - The grants in force are patched into the live policy data (`data.portcullis.grants`,
 *   PolicyHolder.setLiveData) without a new bundle, the decision cache is emptied (`onChange`), so
 *   the subject's next connection and next statement are decided with them.
 * - A timer fires at the next end (or start) of a grant: the grant leaves the data at its end time
 *   on every data plane, whatever the control plane does. When a grant leaves (expired or revoked)
 *   every live session of its subject is decided again by the connection policy on the input it
 *   logged in with: a session the policy no longer allows, or would now give another role, is
 *   ended with `FATAL 57P01`. Statements are decided with the new data from then on (prepared
 *   statements too: their next Bind decides them again).
 */
import type { KeyObject } from "node:crypto";
import type { Logger } from "../../common/logger.js";
import type { LiveData, PolicyHolder } from "../../common/policy/runtime.js";
import { type Grant, grantInForce, policyGrants } from "../../proto/grant.js";
import { endSession } from "../session/end-session.js";
import type { LiveSession, SessionRegistry } from "../session/registry.js";
import { GrantRejected, verifyGrant } from "./verify.js";

export interface GrantEnforcerOptions {
  registry: SessionRegistry;
  policy: PolicyHolder;
  publicKeys: readonly KeyObject[];
  logger: Logger;
  /** After every change of the grants in force, with the new live data (empty the decision cache). */
  onChange?: (live: LiveData) => void;
  /** Counts refused grant messages by reason. */
  onRejected?: (reason: string) => void;
  /** Counts sessions ended because a grant ended. */
  onSessionEnded?: () => void;
  now?: () => number;
}

export interface GrantApplyResult {
  accepted: boolean;
  /** Why it was refused (not for a duplicate). */
  rejected?: string;
  /** Sessions ended because of it (a revocation). */
  sessionsEnded: number;
}

/** Longest a timer is set for (setTimeout's limit is ~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class GrantEnforcer {
  readonly #options: GrantEnforcerOptions;
  readonly #now: () => number;
  /** The latest state of each grant, by id. */
  readonly #grants = new Map<string, Grant>();
  /** The ids in force at the last refresh. */
  #inForce = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: GrantEnforcerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Grants in force now. */
  get size(): number {
    return this.#inForce.size;
  }

  /** The latest state held of each grant. */
  held(): Grant[] {
    return [...this.#grants.values()];
  }

  async apply(grant: Grant): Promise<GrantApplyResult> {
    try {
      await verifyGrant(grant, this.#options.publicKeys);
    } catch (err) {
      if (!(err instanceof GrantRejected)) throw err;
      return this.#reject(grant, err.code, err.message);
    }
    const held = this.#grants.get(grant.id);
    if (held) {
      if (held.sequence === grant.sequence && held.signature === grant.signature)
        return { accepted: false, sessionsEnded: 0 }; // the fast path's copy, then the stream's
      if (grant.sequence <= held.sequence)
        return this.#reject(
          grant,
          "older_sequence",
          `grant ${grant.id}: sequence ${grant.sequence} is not above ${held.sequence}, which this data plane holds`,
        );
      if (held.subject !== grant.subject || held.kind !== grant.kind || held.value !== grant.value)
        return this.#reject(grant, "changed_target", `grant ${grant.id}: its subject or target changed`);
    }
    this.#grants.set(grant.id, grant);
    this.#options.logger.info(
      {
        id: grant.id,
        sequence: grant.sequence,
        subject: grant.subject,
        [grant.kind]: grant.value,
        status: grant.status,
        expires_at: grant.expires_at,
      },
      grant.status === "revoked" ? "grant revoked" : "grant received",
    );
    return { accepted: true, sessionsEnded: this.refresh() };
  }

  /**
   * Recomputes the grants in force, patches the policy data when they changed, ends the sessions a
   * grant that left allowed, and sets the timer for the next change. Returns the sessions ended.
   */
  refresh(): number {
    if (this.#stopped) return 0;
    const now = this.#now();
    const inForce = new Set<string>();
    for (const g of this.#grants.values()) if (grantInForce(g, now)) inForce.add(g.id);
    const left = [...this.#inForce].filter((id) => !inForce.has(id));
    const changed = left.length > 0 || [...inForce].some((id) => !this.#inForce.has(id));
    let ended = 0;
    if (changed) {
      const live: LiveData = { grants: policyGrants(this.#grants.values(), now) };
      try {
        this.#options.policy.setLiveData(live);
        this.#inForce = inForce;
      } catch (err) {
        this.#options.logger.error({ err }, "the grants could not be set in the policy data");
      }
      this.#options.onChange?.(live);
      if (left.length > 0) ended = this.#redecide(left.map((id) => this.#grants.get(id)!));
    }
    this.#forgetEnded(now);
    this.#schedule(now);
    return ended;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #reject(grant: Grant, code: string, message: string): GrantApplyResult {
    this.#options.logger.warn({ id: grant.id, sequence: grant.sequence, code }, message);
    this.#options.onRejected?.(code);
    return { accepted: false, rejected: message, sessionsEnded: 0 };
  }

  /** Decides again every live session of the subjects of grants that left the data. */
  #redecide(left: Grant[]): number {
    const bySubject = new Map<string, Grant[]>();
    for (const g of left) bySubject.set(g.subject, [...(bySubject.get(g.subject) ?? []), g]);
    const runtime = this.#options.policy.current();
    let ended = 0;
    for (const session of this.#options.registry.all()) {
      const gone = bySubject.get(session.subject);
      if (!gone || session.endReason !== undefined) continue;
      const verdict = this.#stillAllowed(session, runtime);
      if (verdict === true) continue;
      const what = gone
        .map((g) => `${g.kind} ${g.value} (grant ${g.id}, ${g.status === "revoked" ? "revoked" : "expired"})`)
        .join(", ");
      endSession(
        session,
        "grant_ended",
        `session ended: the access grant that allowed it ended: ${what}; ${verdict}`,
        this.#options.logger,
      );
      this.#options.onSessionEnded?.();
      ended += 1;
    }
    if (ended > 0) this.#options.logger.info({ sessions: ended }, "sessions ended with their grant");
    return ended;
  }

  /** true, or why the session may not go on. Fails closed: no policy or no input ends it. */
  #stillAllowed(session: LiveSession, runtime: ReturnType<PolicyHolder["current"]>): true | string {
    if (!runtime) return "no policy is loaded on this proxy";
    if (!session.connectionInput) return "the session's login cannot be decided again";
    const decision = runtime.evaluateConnection({
      ...session.connectionInput,
      now_ns: this.#now() * 1_000_000,
    });
    if (!decision.allow) return `connection denied: ${decision.reasons.join("; ") || "denied by policy"}`;
    if (decision.db_role !== session.dbRole)
      return `the policy now maps it to ${decision.db_role ?? "no role"}, not ${session.dbRole}`;
    // A cursor's rows are read by FETCH and MOVE, which no decision covers: one declared while the
    // grant held (a WITH HOLD cursor lasts the session) would go on reading what it allowed.
    if (session.cursorDeclared === true)
      return "it declared a cursor, which could still read what the grant allowed";
    return true;
  }

  /** Drops states of grants ended more than a day ago (their sequence no longer matters). */
  #forgetEnded(now: number): void {
    for (const [id, g] of this.#grants) {
      if (Date.parse(g.expires_at) < now - 24 * 3600 * 1000) this.#grants.delete(id);
    }
  }

  #schedule(now: number): void {
    clearTimeout(this.#timer);
    let next = Number.POSITIVE_INFINITY;
    for (const g of this.#grants.values()) {
      if (g.status !== "active") continue;
      for (const at of [Date.parse(g.starts_at), Date.parse(g.expires_at)])
        if (at > now && at < next) next = at;
    }
    if (!Number.isFinite(next)) return;
    this.#timer = setTimeout(() => this.refresh(), Math.min(next - now, MAX_TIMER_MS));
    this.#timer.unref();
  }
}
