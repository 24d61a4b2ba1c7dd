import type { Logger } from "../../common/logger.js";
import { queryFirstValue, type UpstreamSession } from "./upstream-connection.js";

/**
 * Upstream sessions kept for the next client mapped to the same role and database, as a session-mode
 * pooler does: logging in (TCP, TLS, SCRAM, a new backend) is most of a connection's cost. A session
 * comes back only when its client left cleanly with nothing in flight and no transaction open; it is
 * reset with DISCARD ALL (settings, prepared statements, cursors, temporary tables, LISTEN, advisory
 * locks, role) before anyone else gets it. Revoked or failed sessions are never pooled.
 */

export interface UpstreamPoolOptions {
  maxIdlePerKey: number;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  logger: Logger;
}

interface Idle {
  session: UpstreamSession;
  since: number;
  born: number;
  timer: NodeJS.Timeout;
}

export class UpstreamPool {
  private readonly idle = new Map<string, Idle[]>();
  private readonly born = new WeakMap<UpstreamSession, number>();
  private closed = false;
  reused = 0;
  returned = 0;

  constructor(private readonly options: UpstreamPoolOptions) {}

  static key(role: string, database: string, parameters: Record<string, string>): string {
    const params = Object.entries(parameters)
      .map(([k, v]) => `${k.toLowerCase()}=${v}`)
      .sort()
      .join("\u0001");
    return `${role}\u0000${database}\u0000${params}`;
  }

  /** Remembers when a freshly logged-in session was made (for max lifetime). */
  adopt(session: UpstreamSession): UpstreamSession {
    this.born.set(session, Date.now());
    return session;
  }

  /** An idle session for `key`, or undefined. */
  take(key: string): UpstreamSession | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const entry = list.pop()!;
      clearTimeout(entry.timer);
      if (list.length === 0) this.idle.delete(key);
      const socket = entry.session.socket;
      if (socket.destroyed || !socket.writable) continue;
      socket.removeAllListeners("close");
      socket.removeAllListeners("error");
      socket.on("error", () => {});
      this.reused++;
      return entry.session;
    }
    return undefined;
  }

  /** Resets a session its client left cleanly and keeps it; closes it when that is not possible. */
  async give(key: string, session: UpstreamSession): Promise<void> {
    const socket = session.socket;
    const born = this.born.get(session) ?? 0;
    const list = this.idle.get(key) ?? [];
    if (
      this.closed ||
      Date.now() - born > this.options.maxLifetimeMs ||
      list.length >= this.options.maxIdlePerKey
    ) {
      socket.destroy();
      return;
    }
    // the settings the reset reports replace those of the login: the next client is greeted with, and
    // the data plane checks, what the session now has
    const parameters = new Map(session.parameters);
    // the relay has let go of the socket: an error during the reset must not go unheard (it would throw)
    socket.on("error", () => {});
    try {
      await queryFirstValue(socket, "DISCARD ALL", 5_000, (name, value) => parameters.set(name, value));
    } catch (err) {
      this.options.logger.debug({ err: (err as Error).message }, "upstream session not reusable");
      socket.destroy();
      return;
    }
    // sessions given back at the same time all pass the first check: the limit holds after the reset
    if (this.closed || socket.destroyed || (this.idle.get(key)?.length ?? 0) >= this.options.maxIdlePerKey) {
      socket.destroy();
      return;
    }
    const entry: Idle = {
      session: { ...session, parameters: [...parameters], leftover: Buffer.alloc(0), status: "I" },
      since: Date.now(),
      born,
      timer: setTimeout(() => this.evict(key, entry), this.options.idleTimeoutMs),
    };
    entry.timer.unref();
    this.born.set(entry.session, born);
    socket.removeAllListeners("data");
    socket.on("error", () => this.evict(key, entry));
    socket.on("close", () => this.evict(key, entry));
    const idle = this.idle.get(key) ?? [];
    idle.push(entry);
    this.idle.set(key, idle);
    this.returned++;
  }

  private evict(key: string, entry: Idle): void {
    clearTimeout(entry.timer);
    const list = this.idle.get(key);
    const at = list?.indexOf(entry) ?? -1;
    if (list && at >= 0) {
      list.splice(at, 1);
      if (list.length === 0) this.idle.delete(key);
    }
    entry.session.socket.destroy();
  }

  get size(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  close(): void {
    this.closed = true;
    for (const [key, list] of this.idle) for (const entry of [...list]) this.evict(key, entry);
  }
}
