import { randomInt, timingSafeEqual } from "node:crypto";
import type { ConnectionInput, TokenClaims } from "../../proto/policy.js";

/**
 * The live sessions of this data plane and the cancel keys the proxy issued for them. A client sees
 * only proxy-generated keys; the upstream's keys never leave this process, so a client can cancel
 * only the query of a session whose secret it was given.
 */

export interface LiveSession {
  id: string;
  subject: string;
  claims: TokenClaims;
  dbRole: string;
  database: string;
  clientAddr: string;
  startedAt: Date;
  processId: number;
  secretKey: number;
  /** Forwards a cancel to the upstream backend of this session. */
  cancel(): Promise<void>;
  /** Ends the session with a FATAL error to the client (revocation, shutdown, expiry). */
  terminate(sqlstate: string, message: string): void;
  region?: string;
  applicationName?: string;
  /** The connection policy's cap on the session length. */
  maxSessionSeconds?: number;
  /** What the connection policy decided the session on: it is decided again when a grant ends. */
  connectionInput?: ConnectionInput;
  /** True while a query is in flight upstream (sent, no ReadyForQuery yet): a cut cancels it first. */
  busy?(): boolean;
  /** Why the proxy ended the session ("revoked", "expired", "max_duration", "stale"), set before terminate. */
  endReason?: string;
  /**
   * The session declared a cursor (allowed by the policy): its query was decided then, and FETCH or
   * MOVE reads it later without a decision, so when a grant of the subject ends the session ends too.
   */
  cursorDeclared?: boolean;
  /** Statements decided in this session, and how many were denied. */
  statements?: number;
  denied?: number;
}

export type RegistryEvent =
  | { type: "added"; session: LiveSession }
  | { type: "removed"; session: LiveSession; reason: string };

export class SessionRegistry {
  private readonly byId = new Map<string, LiveSession>();
  private readonly byProcessId = new Map<number, LiveSession>();
  private readonly listeners = new Set<(event: RegistryEvent) => void>();

  /** Called after every add and remove; returns the function that stops listening. */
  subscribe(listener: (event: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: RegistryEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // listeners are told, they do not get a say
      }
    }
  }

  /** A fresh (processId, secretKey) pair no live session uses. */
  issueKeys(): { processId: number; secretKey: number } {
    for (;;) {
      const processId = randomInt(1, 0x7fff_ffff);
      if (!this.byProcessId.has(processId)) {
        return { processId, secretKey: randomInt(-0x8000_0000, 0x7fff_ffff) };
      }
    }
  }

  add(session: LiveSession): void {
    this.byId.set(session.id, session);
    this.byProcessId.set(session.processId, session);
    this.emit({ type: "added", session });
  }

  /** `reason`: why the relay ended (e.g. "client closed"). */
  remove(session: LiveSession, reason = "ended"): void {
    const present = this.byId.get(session.id) === session;
    if (present) this.byId.delete(session.id);
    if (this.byProcessId.get(session.processId) === session) this.byProcessId.delete(session.processId);
    if (present) this.emit({ type: "removed", session, reason });
  }

  /** The session a cancel request names, if its secret matches (compared in constant time). */
  findForCancel(processId: number, secretKey: number): LiveSession | undefined {
    const session = this.byProcessId.get(processId);
    if (!session) return undefined;
    const a = Buffer.alloc(4);
    const b = Buffer.alloc(4);
    a.writeInt32BE(session.secretKey);
    b.writeInt32BE(secretKey);
    return timingSafeEqual(a, b) ? session : undefined;
  }

  get(id: string): LiveSession | undefined {
    return this.byId.get(id);
  }

  all(): LiveSession[] {
    return [...this.byId.values()];
  }

  get size(): number {
    return this.byId.size;
  }
}
