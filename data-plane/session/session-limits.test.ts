import { describe, expect, it } from "vitest";
import type { TokenClaims } from "../../proto/policy.js";
import { type LiveSession, SessionRegistry } from "./registry.js";
import { SessionLimits } from "./session-limits.js";

function live(registry: SessionRegistry, exp: number, maxSessionSeconds?: number) {
  const ended: string[] = [];
  const session: LiveSession = {
    id: `s-${Math.random()}`,
    subject: "alice",
    claims: { iss: "i", sub: "alice", aud: "a", exp } as TokenClaims,
    dbRole: "analyst",
    database: "app",
    clientAddr: "127.0.0.1",
    startedAt: new Date(),
    ...registry.issueKeys(),
    cancel: async () => {},
    terminate: (sqlstate, message) => {
      ended.push(`${sqlstate} ${message}`);
      registry.remove(session);
    },
    ...(maxSessionSeconds !== undefined ? { maxSessionSeconds } : {}),
  };
  return { session, ended };
}

describe("session time limits", () => {
  it("take the earlier of the token's exp and the policy's max_session_seconds", () => {
    const registry = new SessionRegistry();
    const now = Date.now();
    const limits = new SessionLimits({ registry, onTokenExpiry: "terminate" });
    const soonExpiring = live(registry, Math.floor(now / 1000) + 60, 3600).session;
    expect(limits.deadline(soonExpiring)).toMatchObject({ reason: "expired", message: "token expired" });
    const capped = live(registry, Math.floor(now / 1000) + 7200, 600).session;
    expect(limits.deadline(capped)).toMatchObject({
      reason: "max_duration",
      message: "session time limit reached (max_session_seconds 600)",
    });
    const continuing = new SessionLimits({ registry, onTokenExpiry: "continue" });
    expect(continuing.deadline(soonExpiring)?.reason).toBe("max_duration");
    expect(continuing.deadline(live(registry, Math.floor(now / 1000) + 60).session)).toBeUndefined();
  });

  it("end a session whose deadline has passed, and forget sessions that end first", async () => {
    const registry = new SessionRegistry();
    const limits = new SessionLimits({ registry, onTokenExpiry: "terminate" });
    limits.start();
    const expired = live(registry, Math.floor(Date.now() / 1000) - 1);
    registry.add(expired.session);
    const later = live(registry, Math.floor(Date.now() / 1000) + 3600);
    registry.add(later.session);
    expect(limits.armed).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(expired.ended).toEqual(["57P01 token expired"]);
    registry.remove(later.session);
    expect(limits.armed).toBe(0);
    expect(later.ended).toEqual([]);
    limits.stop();
  });
});
