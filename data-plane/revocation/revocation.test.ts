import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../common/logger.js";
import type { SigningKey } from "../../control-plane/bundle/signing-key.js";
import { signRevocation } from "../../control-plane/revocation/sign.js";
import type { Revocation } from "../../proto/bus.js";
import type { TokenClaims } from "../../proto/policy.js";
import { canonicalRevocation, claimsDigest, type RevocationFields } from "../../proto/revocation.js";
import { LoginRefused } from "../client/login.js";
import { type LiveSession, SessionRegistry } from "../session/registry.js";
import { DenyList } from "./deny-list.js";
import { RevocationEnforcer } from "./enforcer.js";
import { RevocationSignatureError, verifyRevocation } from "./verify.js";

function key(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey, kid, path: "", generated: true };
}

const controlPlane = key("control-plane");
const stranger = key("stranger");
const HOUR = 3600_000;

function fields(overrides: Partial<RevocationFields> = {}): RevocationFields {
  const now = Date.now();
  return {
    id: `r-${Math.random().toString(36).slice(2)}`,
    kind: "subject",
    value: "alice",
    reason: "test",
    created_at: new Date(now).toISOString(),
    expires_at: new Date(now + HOUR).toISOString(),
    ...overrides,
  };
}

/** A registered session whose terminate() records what the client would get. */
function session(registry: SessionRegistry, id: string, claims: Partial<TokenClaims>, busy = false) {
  const ended: { sqlstate: string; message: string }[] = [];
  let cancels = 0;
  const keys = registry.issueKeys();
  const live: LiveSession = {
    id,
    subject: claims.sub ?? "nobody",
    claims: {
      iss: "https://idp",
      aud: "portcullis",
      exp: Math.floor(Date.now() / 1000) + 600,
      sub: "nobody",
      ...claims,
    } as TokenClaims,
    dbRole: "analyst",
    database: "app",
    clientAddr: "127.0.0.1",
    startedAt: new Date(),
    ...keys,
    cancel: async () => {
      cancels += 1;
    },
    terminate: (sqlstate, message) => {
      ended.push({ sqlstate, message });
      registry.remove(live, message);
    },
    busy: () => busy,
  };
  registry.add(live);
  return { live, ended, cancels: () => cancels };
}

describe("revocation signatures", () => {
  it("cover the canonical form of every field but the signature", async () => {
    const f = fields({ created_by: "carol" });
    expect(canonicalRevocation(f)).toBe(
      JSON.stringify({
        created_at: f.created_at,
        created_by: "carol",
        expires_at: f.expires_at,
        id: f.id,
        kind: "subject",
        reason: "test",
        value: "alice",
      }),
    );
    const signed = await signRevocation(f, controlPlane);
    await expect(verifyRevocation(signed, [controlPlane.publicKey])).resolves.toBeUndefined();
    // with a second (rotated) key configured too
    await expect(
      verifyRevocation(signed, [stranger.publicKey, controlPlane.publicKey]),
    ).resolves.toBeUndefined();
  });

  it("refuse other keys, altered fields, other algorithms and garbage", async () => {
    const signed = await signRevocation(fields(), controlPlane);
    const code = async (r: Revocation) =>
      verifyRevocation(r, [controlPlane.publicKey]).then(
        () => "accepted",
        (e: unknown) => (e instanceof RevocationSignatureError ? e.code : String(e)),
      );
    expect(await code(await signRevocation(fields(), stranger))).toBe("bad_signature");
    expect(await code({ ...signed, value: "bob" })).toBe("payload_mismatch");
    expect(await code({ ...signed, expires_at: new Date(Date.now() + 1000 * HOUR).toISOString() })).toBe(
      "payload_mismatch",
    );
    expect(await code({ ...signed, created_by: "mallory" })).toBe("payload_mismatch");
    const [, payload, sig] = signed.signature.split(".");
    const hs256 = Buffer.from(JSON.stringify({ alg: "HS256", typ: "portcullis-revocation+jws" })).toString(
      "base64url",
    );
    expect(await code({ ...signed, signature: `${hs256}.${payload}.${sig}` })).toBe("wrong_algorithm");
    const bundleTyp = Buffer.from(JSON.stringify({ alg: "EdDSA", typ: "portcullis-bundle+jws" })).toString(
      "base64url",
    );
    expect(await code({ ...signed, signature: `${bundleTyp}.${payload}.${sig}` })).toBe("wrong_type");
    expect(await code({ ...signed, signature: "not a jws" })).toBe("malformed_signature");
  });

  it("claims digests do not depend on key order", () => {
    expect(claimsDigest({ sub: "a", groups: ["x", "y"], iss: "i" })).toBe(
      claimsDigest({ iss: "i", groups: ["x", "y"], sub: "a" }),
    );
    expect(claimsDigest({ sub: "a" })).not.toBe(claimsDigest({ sub: "b" }));
  });
});

describe("the deny-list", () => {
  it("matches tokens, subjects and sessions until the revocation expires", () => {
    const list = new DenyList();
    const now = Date.now();
    const r = (kind: Revocation["kind"], value: string, expiresIn = HOUR): Revocation => ({
      ...fields({ kind, value, expires_at: new Date(now + expiresIn).toISOString() }),
      signature: "x",
    });
    expect(list.add(r("subject", "alice"), now)).toBe(true);
    expect(list.add(r("token", "jti-1", 1000), now)).toBe(true);
    const expired = r("session", "s-1", -1);
    expect(list.add(expired, now)).toBe(false);
    expect(list.match({ subject: "alice" }, now)?.kind).toBe("subject");
    expect(list.match({ subject: "bob", jti: "jti-1" }, now)?.kind).toBe("token");
    expect(list.match({ subject: "bob", jti: "jti-1" }, now + 2000)).toBeUndefined();
    expect(list.match({ sessionId: "s-1" }, now)).toBeUndefined();
    // the latest expiry of the same value wins
    const longer = r("token", "jti-1", 10 * HOUR);
    list.add(longer, now);
    expect(list.match({ jti: "jti-1" }, now + 2 * HOUR)?.entry.id).toBe(longer.id);
    expect(list.prune(now + 5 * HOUR)).toBe(2);
    expect(list.size).toBe(1);
  });
});

describe("the enforcer", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "portcullis-enforcer-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("ends matching sessions (cancelling a running query first), refuses logins, ignores forgeries", async () => {
    const registry = new SessionRegistry();
    const enforcer = new RevocationEnforcer({
      registry,
      publicKeys: [controlPlane.publicKey],
      maxStalenessMs: 30_000,
      mode: "refuse_new",
      logger: silentLogger,
    });
    enforcer.markCurrent();
    const alice1 = session(registry, "s1", { sub: "alice", jti: "t1" }, true);
    const alice2 = session(registry, "s2", { sub: "alice", jti: "t2" });
    const bob = session(registry, "s3", { sub: "bob", jti: "t3" });

    const forged = await signRevocation(fields({ value: "bob" }), stranger);
    expect(await enforcer.apply(forged)).toEqual({ accepted: false, isNew: false, sessionsCut: 0 });
    expect(bob.ended).toEqual([]);

    const token = await signRevocation(
      fields({ kind: "token", value: "t2", reason: "leaked" }),
      controlPlane,
    );
    expect(await enforcer.apply(token)).toEqual({ accepted: true, isNew: true, sessionsCut: 1 });
    expect(alice2.ended).toEqual([{ sqlstate: "57P01", message: "session revoked: leaked" }]);
    expect(alice1.ended).toEqual([]);
    expect(await enforcer.apply(token)).toEqual({ accepted: true, isNew: false, sessionsCut: 0 });
    expect(enforcer.denyList.holdsSame(token)).toBe(true);
    // the same id with another field (its old signature, or a stranger's) is no repeat: verified, refused
    const altered = { ...token, value: "t3" };
    expect(enforcer.denyList.holdsSame(altered)).toBe(false);
    expect(await enforcer.apply(altered)).toEqual({ accepted: false, isNew: false, sessionsCut: 0 });
    const resigned = await signRevocation(fields({ id: token.id, kind: "token", value: "t3" }), stranger);
    expect(await enforcer.apply(resigned)).toEqual({ accepted: false, isNew: false, sessionsCut: 0 });
    expect(bob.ended).toEqual([]);

    const subject = await signRevocation(fields({ value: "alice", reason: "" }), controlPlane);
    expect((await enforcer.apply(subject)).sessionsCut).toBe(1);
    expect(alice1.cancels()).toBe(1);
    expect(alice1.ended).toEqual([
      { sqlstate: "57P01", message: "session revoked: revoked by an administrator" },
    ]);
    expect(bob.ended).toEqual([]);

    const refusal = (claims: Partial<TokenClaims>) => {
      try {
        enforcer.checkLogin(claims as TokenClaims);
        return "ok";
      } catch (err) {
        return err instanceof LoginRefused ? `${err.sqlstate} ${err.message}` : String(err);
      }
    };
    expect(refusal({ sub: "alice", jti: "t9" })).toBe("28000 subject revoked");
    expect(refusal({ sub: "carol", jti: "t2" })).toBe("28000 token revoked");
    expect(refusal({ sub: "bob", jti: "t3" })).toBe("ok");
    await enforcer.stop();
  });

  it("does not report a list that was never current as stale before its first replay had max_staleness to run", async () => {
    vi.useFakeTimers();
    try {
      let now = Date.now();
      const errors: string[] = [];
      const logger = pino(
        { level: "info" },
        {
          write: (line: string) => {
            const record = JSON.parse(line) as { level: number; msg: string };
            if (record.level >= 50) errors.push(record.msg);
          },
        },
      );
      const make = () =>
        new RevocationEnforcer({
          registry: new SessionRegistry(),
          publicKeys: [controlPlane.publicKey],
          maxStalenessMs: 30_000,
          mode: "refuse_new",
          logger,
          now: () => now,
        });
      const starting = make();
      starting.start();
      vi.advanceTimersByTime(1_000);
      expect(starting.stale).toBe(true); // logins are refused until the first replay…
      expect(errors).toEqual([]); // …but a start is no error
      starting.markCurrent();
      starting.markLost();
      now += 31_000;
      vi.advanceTimersByTime(1_000);
      expect(errors).toEqual([expect.stringMatching(/revocation list is stale/)]); // lost after being current
      await starting.stop();

      errors.length = 0;
      const neverCaughtUp = make();
      neverCaughtUp.start();
      now += 30_000;
      vi.advanceTimersByTime(1_000);
      expect(errors).toEqual([expect.stringMatching(/revocation list is stale/)]); // no replay within max_staleness
      await neverCaughtUp.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it("is stale after max_staleness without the feed, ends sessions in strict mode, and keeps its list on disk", async () => {
    let now = Date.now();
    const registry = new SessionRegistry();
    const stateFile = join(dir, "revocations.json");
    const options = {
      registry,
      publicKeys: [controlPlane.publicKey],
      maxStalenessMs: 30_000,
      mode: "strict" as const,
      stateFile,
      logger: silentLogger,
      now: () => now,
    };
    const enforcer = new RevocationEnforcer(options);
    expect(enforcer.stale).toBe(true); // never caught up, nothing on disk
    enforcer.markCurrent();
    expect(enforcer.stale).toBe(false);
    await enforcer.apply(await signRevocation(fields({ value: "mallory" }), controlPlane));
    const live = session(registry, "s1", { sub: "bob" });
    enforcer.markLost();
    now += 29_000;
    expect(enforcer.stale).toBe(false);
    now += 2_000;
    expect(enforcer.stale).toBe(true);
    expect(() => enforcer.checkLogin({ sub: "bob" } as TokenClaims)).toThrow(/revocation list is stale/);
    enforcer.start(); // the clock tick ends live sessions in strict mode
    expect(live.ended).toEqual([{ sqlstate: "57P01", message: "revocation list is stale" }]);
    await enforcer.stop();

    const saved = JSON.parse(await readFile(stateFile, "utf8")) as {
      current_at: string;
      revocations: unknown[];
    };
    expect(saved.revocations).toHaveLength(1);
    // a restart with the copy on disk: knows mallory, and how old that knowledge is
    const restarted = new RevocationEnforcer({ ...options, registry: new SessionRegistry() });
    expect(await restarted.loadSnapshot()).toBe(1);
    expect(restarted.stale).toBe(true);
    now = Date.parse(saved.current_at) + 10_000;
    expect(restarted.stale).toBe(false);
    expect(() => restarted.checkLogin({ sub: "mallory" } as TokenClaims)).toThrow(/subject revoked/);
    // a tampered copy is not trusted
    await writeFile(
      stateFile,
      JSON.stringify({ ...saved, revocations: [{ ...(saved.revocations[0] as object), value: "carol" }] }),
    );
    const tampered = new RevocationEnforcer({ ...options, registry: new SessionRegistry() });
    expect(await tampered.loadSnapshot()).toBe(0);
  });
});
