import { randomInt, timingSafeEqual } from "node:crypto";
import type { TokenClaims } from "../../proto/policy.js";

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
}

export class SessionRegistry {
  private readonly byId = new Map<string, LiveSession>();
  private readonly byProcessId = new Map<number, LiveSession>();

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
  }

  remove(session: LiveSession): void {
    if (this.byId.get(session.id) === session) this.byId.delete(session.id);
    if (this.byProcessId.get(session.processId) === session) this.byProcessId.delete(session.processId);
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
