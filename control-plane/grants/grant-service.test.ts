import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import { verifyGrant } from "../../data-plane/grants/verify.js";
import type { Grant } from "../../proto/grant.js";
import type { SigningKey } from "../bundle/signing-key.js";
import { ControlPlaneStore } from "../store/index.js";
import { GrantRequestError, GrantService } from "./grant-service.js";

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const key: SigningKey = { privateKey, publicKey, kid: "cp", path: "", generated: true };

let dir: string;
let store: ControlPlaneStore;
let sent: { path: "fast" | "stream"; grant: Grant }[];
let service: GrantService;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-grants-"));
  store = ControlPlaneStore.open(join(dir, "cp.db"));
  sent = [];
  service = new GrantService({
    repository: store.grants,
    signingKey: key,
    // the two ways out, in the order the service uses them (NATS itself: test/grants.int.test.ts)
    bus: {
      publishFast: (grant) => {
        sent.push({ path: "fast", grant });
        return true;
      },
      publish: async (grant) => {
        sent.push({ path: "stream", grant });
        return { published: true };
      },
    },
    maxSeconds: 3600,
    logger: silentLogger,
  });
});

afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const code = async (p: Promise<unknown> | (() => unknown)) => {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    if (err instanceof GrantRequestError) return [err.code, err.message];
    throw err;
  }
  return undefined;
};

describe("the grant service", () => {
  it("signs each state with a higher sequence, sends it on the fast path first, and stores it", async () => {
    const { grant } = await service.grant({
      subject: "mallory",
      target: { kind: "role", value: "app_rw" },
      seconds: 1800,
      reason: "incident",
      by: "carol",
    });
    expect(sent.map((s) => s.path)).toEqual(["fast", "stream"]);
    await verifyGrant(sent[0]!.grant, [publicKey]);
    expect(grant.grant).toEqual(sent[0]!.grant);
    expect(Date.parse(grant.grant.expires_at) - Date.parse(grant.grant.starts_at)).toBe(1800_000);

    const revoked = await service.revoke({ id: grant.grant.id, by: "dan" });
    expect(revoked.grant.grant).toMatchObject({ status: "revoked", revoked_by: "dan" });
    expect(revoked.grant.grant.sequence).toBeGreaterThan(grant.grant.sequence);
    await verifyGrant(revoked.grant.grant, [publicKey]);
    expect(service.list()).toEqual([]);
    expect(service.list({ includeEnded: true })).toHaveLength(1);
    expect(service.unended().map((g) => g.status)).toEqual(["revoked"]);
    expect(await code(service.revoke({ id: grant.grant.id, by: "dan" }))).toEqual([
      "failed_precondition",
      `grant ${grant.grant.id} is already revoked`,
    ]);
    expect(store.grants.auditTrail({ grantId: grant.grant.id }).map((e) => [e.action, e.by])).toEqual([
      ["granted", "carol"],
      ["revoked", "dan"],
    ]);
  });

  it("refuses a duration over grants.max_seconds, no reason, and a bad target", async () => {
    const grant = (target: { kind?: string; value?: string }, seconds: number, reason = "x") =>
      code(service.grant({ subject: "s", target, seconds, reason, by: "carol" }));
    expect((await grant({ kind: "role", value: "app_rw" }, 3601))?.[1]).toMatch(/longer than the 3600 s/);
    expect((await grant({ kind: "role", value: "app_rw" }, 0))?.[0]).toBe("invalid_argument");
    expect((await grant({ kind: "role", value: "app_rw" }, 60, " "))?.[1]).toMatch(/give a reason/);
    expect((await grant({ kind: "schema", value: "hr; drop" }, 60))?.[1]).toMatch(/not a schema name/);
    expect((await grant({}, 60))?.[1]).toMatch(/give a role or a schema/);
    expect(sent).toEqual([]);
  });

  it("never lets the requester decide their own request, and issues the grant on approval", async () => {
    const request = service.request({
      subject: "carol",
      target: { kind: "schema", value: "hr" },
      seconds: 600,
      reason: "audit",
    });
    expect(await code(service.approve({ id: request.id, by: "carol" }))).toEqual([
      "permission_denied",
      `carol may not approve their own access request ${request.id}: another person must decide it`,
    ]);
    expect((await code(() => service.deny({ id: request.id, by: "carol" })))?.[0]).toBe("permission_denied");
    const { request: decided, outcome } = await service.approve({ id: request.id, by: "dan", note: "ok" });
    expect(decided).toMatchObject({ status: "approved", decidedBy: "dan", grantId: outcome.grant.grant.id });
    expect(outcome.grant.grant).toMatchObject({
      subject: "carol",
      kind: "schema",
      value: "hr",
      request_id: request.id,
    });
    expect((await code(() => service.deny({ id: request.id, by: "erin" })))?.[0]).toBe("failed_precondition");
    expect((await code(() => service.deny({ id: "nope", by: "erin" })))?.[0]).toBe("not_found");
    expect(store.grants.auditTrail({ requestId: request.id }).map((e) => e.action)).toEqual([
      "requested",
      "approved",
      "granted",
    ]);
  });

  it("hands out sequences that only grow, across restarts of the store", async () => {
    const { grant } = await service.grant({
      subject: "s",
      target: { kind: "role", value: "app_rw" },
      seconds: 60,
      reason: "x",
      by: "carol",
    });
    store.close();
    store = ControlPlaneStore.open(join(dir, "cp.db"));
    expect(store.grants.nextSequence()).toBe(grant.grant.sequence + 1);
  });
});

describe("access request subjects", () => {
  it("refuses a subject a grant would name differently (leading or trailing whitespace), so none lands on a look-alike", async () => {
    for (const subject of ["mallory ", " mallory", "mallory\n", ""]) {
      const outcome = await code(() =>
        service.request({ subject, target: { kind: "role", value: "app_rw" }, seconds: 60, reason: "x" }),
      );
      expect(outcome?.[0]).toBe("invalid_argument");
    }
    expect(service.listRequests()).toEqual([]);
    expect(service.list()).toEqual([]);
  });
});
