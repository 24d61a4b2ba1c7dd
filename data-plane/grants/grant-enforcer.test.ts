import { generateKeyPairSync } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import { PolicyHolder } from "../../common/policy/runtime.js";
import type { SigningKey } from "../../control-plane/bundle/signing-key.js";
import { signGrant } from "../../control-plane/grants/sign.js";
import type { GrantFields } from "../../proto/grant.js";
import type { TokenClaims } from "../../proto/policy.js";
import { type LiveSession, SessionRegistry } from "../session/registry.js";
import { GrantEnforcer } from "./grant-enforcer.js";

function key(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey, kid, path: "", generated: true };
}

const controlPlane = key("control-plane");
const stranger = key("stranger");
const T0 = Date.parse("2030-01-01T00:00:00Z");

function fields(overrides: Partial<GrantFields> = {}): GrantFields {
  return {
    id: "g1",
    sequence: 1,
    issued_at: new Date(T0).toISOString(),
    subject: "mallory",
    kind: "role",
    value: "app_rw",
    starts_at: new Date(T0).toISOString(),
    expires_at: new Date(T0 + 60_000).toISOString(),
    reason: "incident",
    created_by: "carol",
    status: "active",
    ...overrides,
  };
}

function session(registry: SessionRegistry, id: string, subject: string) {
  const ended: { sqlstate: string; message: string }[] = [];
  const live: LiveSession = {
    id,
    subject,
    claims: { iss: "https://idp", aud: "portcullis", exp: 2_000_000_000, sub: subject } as TokenClaims,
    dbRole: "app_rw",
    database: "app",
    clientAddr: "127.0.0.1",
    startedAt: new Date(),
    ...registry.issueKeys(),
    cancel: async () => {},
    terminate: (sqlstate, message) => ended.push({ sqlstate, message }),
  };
  registry.add(live);
  return ended;
}

const enforcers: GrantEnforcer[] = [];
afterEach(() => {
  for (const e of enforcers.splice(0)) e.stop();
});

function setup() {
  let now = T0 + 1;
  let changes = 0;
  const rejected: string[] = [];
  const registry = new SessionRegistry();
  const enforcer = new GrantEnforcer({
    registry,
    policy: new PolicyHolder(),
    publicKeys: [controlPlane.publicKey],
    logger: silentLogger,
    onChange: () => changes++,
    onRejected: (reason) => rejected.push(reason),
    now: () => now,
  });
  enforcers.push(enforcer);
  return {
    enforcer,
    registry,
    rejected,
    changes: () => changes,
    at: (ms: number) => {
      now = ms;
    },
  };
}

describe("the grant enforcer", () => {
  it("applies a signed grant once and ignores the fast path's duplicate", async () => {
    const t = setup();
    const signed = await signGrant(fields(), controlPlane);
    expect(await t.enforcer.apply(signed)).toMatchObject({ accepted: true });
    expect(t.enforcer.size).toBe(1);
    expect(t.changes()).toBe(1);
    expect(await t.enforcer.apply(signed)).toEqual({ accepted: false, sessionsEnded: 0 });
    expect(t.rejected).toEqual([]);
  });

  it("refuses a grant signed by another key, unsigned or altered", async () => {
    const t = setup();
    const forged = await signGrant(fields(), stranger);
    expect((await t.enforcer.apply(forged)).rejected).toMatch(/does not verify/);
    expect((await t.enforcer.apply({ ...forged, signature: "x.y.z" })).rejected).toMatch(/not a compact JWS/);
    const signed = await signGrant(fields(), controlPlane);
    expect((await t.enforcer.apply({ ...signed, value: "admin" })).rejected).toMatch(
      /differ from what was signed/,
    );
    expect(t.rejected).toEqual(["bad_signature", "malformed_signature", "payload_mismatch"]);
    expect(t.enforcer.size).toBe(0);
    expect(t.changes()).toBe(0);
  });

  it("refuses an older state of a grant it holds: a revocation is never undone by a replay", async () => {
    const t = setup();
    const active = await signGrant(fields({ sequence: 5 }), controlPlane);
    const revoked = await signGrant(
      fields({ sequence: 6, status: "revoked", revoked_by: "carol" }),
      controlPlane,
    );
    await t.enforcer.apply(active);
    await t.enforcer.apply(revoked);
    expect(t.enforcer.size).toBe(0);
    expect((await t.enforcer.apply(active)).rejected).toMatch(/sequence 5 is not above 6/);
    expect(t.enforcer.size).toBe(0);
    const retargeted = await signGrant(fields({ sequence: 7, value: "admin" }), controlPlane);
    expect((await t.enforcer.apply(retargeted)).rejected).toMatch(/subject or target changed/);
    expect(t.rejected).toEqual(["older_sequence", "changed_target"]);
  });

  it("ends the grant at its end time and the subject's sessions it can no longer decide (fail closed)", async () => {
    const t = setup();
    const mallory = session(t.registry, "s1", "mallory");
    const alice = session(t.registry, "s2", "alice");
    await t.enforcer.apply(await signGrant(fields(), controlPlane));
    expect(t.enforcer.refresh()).toBe(0);
    t.at(T0 + 60_000);
    expect(t.enforcer.refresh()).toBe(1);
    expect(t.enforcer.size).toBe(0);
    expect(mallory).toEqual([
      {
        sqlstate: "57P01",
        message:
          "session ended: the access grant that allowed it ended: role app_rw (grant g1, expired); no policy is loaded on this proxy",
      },
    ]);
    expect(alice).toEqual([]);
    expect(t.changes()).toBe(2);
  });

  it("takes a grant that has not started yet only from its start", async () => {
    const t = setup();
    await t.enforcer.apply(
      await signGrant(fields({ starts_at: new Date(T0 + 10_000).toISOString() }), controlPlane),
    );
    expect(t.enforcer.size).toBe(0);
    t.at(T0 + 10_000);
    t.enforcer.refresh();
    expect(t.enforcer.size).toBe(1);
  });
});
