import { describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import type { TokenClaims } from "../../proto/policy.js";
import { type LiveSession, SessionRegistry } from "../session/registry.js";
import { SessionReporter } from "./session-events.js";

function session(registry: SessionRegistry, id: string): LiveSession {
  const keys = registry.issueKeys();
  return {
    id,
    subject: "alice",
    claims: { sub: "alice", iss: "https://idp", exp: 4_000_000_000 } as TokenClaims,
    dbRole: "analyst",
    database: "app",
    clientAddr: "127.0.0.1",
    startedAt: new Date(),
    ...keys,
    cancel: async () => {},
    terminate: () => {},
  };
}

describe("the session reporter's queue", () => {
  it("keeps start and end events while NATS is unreachable, up to its bound, and counts the rest", async () => {
    const registry = new SessionRegistry();
    const dropped: { count: number; reason: string }[] = [];
    const reporter = new SessionReporter({
      id: "dp-1",
      region: "eu",
      registry,
      connection: () => undefined,
      revision: () => "r1",
      heartbeatMs: 60_000,
      maxQueue: 5,
      batchMs: 1,
      onDropped: (count, reason) => dropped.push({ count, reason }),
      logger: silentLogger,
    });
    reporter.start();
    const sessions = ["s1", "s2", "s3"].map((id) => session(registry, id));
    for (const s of sessions) registry.add(s);
    for (const s of sessions) registry.remove(s, "client closed");
    await new Promise((r) => setTimeout(r, 20));
    // 3 starts and 2 ends kept; the third end is over the bound
    expect(reporter.depth).toBe(5);
    expect(reporter.dropped).toBe(1);
    expect(dropped).toEqual([{ count: 1, reason: "queue_full" }]);
    expect(reporter.published).toBe(0);
    await reporter.stop(10);
  });
});
