/**
 * A commit's whole path with real parts: git repository → git source → opa check/test/build →
 * Ed25519 signature → SQLite → NATS JetStream (KV pointer + Object Store bytes). Failing commits
 * are recorded with file:line and never move the pointer; activation rolls back and forward; the
 * control plane starts and serves while NATS is down and publishes once NATS is up.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBundlePublicKeys, verifyBundle } from "../common/policy/bundle-verify.js";
import { type LocalNats, startNats } from "../devstack/nats.js";
import { freePort } from "../devstack/ports.js";
import { sha256 } from "../proto/bundle.js";
import { decodeBundle } from "../proto/bundle-file.js";
import type { BundlePointer } from "../proto/bus.js";
import { startTestControlPlane, type TestControlPlane } from "../test/harness/control-plane.js";
import { eventually, TempGitRepo } from "../test/harness/git-repo.js";
import { bundleObjectName } from "./distribute/distributor.js";

let nats: LocalNats;
let repo: TempGitRepo;
let cp: TestControlPlane;

beforeAll(async () => {
  nats = await startNats();
  repo = await TempGitRepo.create();
  await repo.copyDefaultPolicies();
  await repo.write({ "README.md": "the security team's policies\n" });
  await repo.commit("default policies");
  cp = await startTestControlPlane({ natsUrl: nats.url, repo: repo.dir });
  await cp.distributor.whenReady(30_000);
});

afterAll(async () => {
  await cp?.destroy();
  await repo?.destroy();
  await nats?.destroy();
});

async function pointer(): Promise<BundlePointer | undefined> {
  return cp.distributor.readPointer();
}

/** The bundle in NATS is the one in SQLite, and it verifies with the exported public key. */
async function expectPublished(revision: string): Promise<BundlePointer> {
  const p = await pointer();
  expect(p?.revision).toBe(revision);
  const stored = cp.store.bundles.bytes(revision)!;
  const object = await cp.distributor.readObject(p!.object);
  expect(object).toBeDefined();
  expect(Buffer.from(object!).equals(Buffer.from(stored))).toBe(true);
  expect(p!.sha256).toBe(sha256(object!));
  expect(p!.object).toBe(bundleObjectName(revision));
  const files = await decodeBundle(object!);
  const verified = await verifyBundle(files, await loadBundlePublicKeys(cp.publicKeyFile));
  expect(verified.revision).toBe(revision);
  expect(p!.signature).toBe(files.signature);
  return p!;
}

function printStages(label: string, durations: Record<string, number>): void {
  const order = ["export", "check", "test", "build", "sign", "store", "publish", "total"];
  console.log(
    `${label}: ${order
      .filter((s) => durations[s] !== undefined)
      .map((s) => `${s} ${durations[s]} ms`)
      .join(", ")}`,
  );
}

describe("commit → bundle → NATS", () => {
  let first: string;
  let second: string;

  it("builds, signs, stores and publishes a new commit", async () => {
    first = await repo.head();
    const result = await cp.sync();
    expect(result.commits.map((c) => c.sha)).toEqual([first]);
    const build = result.result?.builds[0];
    expect(build?.bundle).toMatchObject({
      revision: first,
      status: "active",
      source: "git",
      sourceCommit: first,
    });
    expect(build?.bundle.testsPassed).toBeGreaterThan(0);
    expect(result.result?.activation).toMatchObject({ revision: first, changed: true, published: true });
    const record = cp.store.bundles.require(first);
    expect(record.commitMessage).toBe("default policies");
    for (const stage of ["export", "check", "test", "build", "sign", "store", "publish", "total"]) {
      expect(record.durations[stage], stage).toBeGreaterThanOrEqual(0);
    }
    printStages("commit → published (default policies)", record.durations);
    console.log(`git fetch of the sync: ${Math.round(result.fetchMs)} ms`);
    await expectPublished(first);
    expect(cp.store.bundles.activations({ limit: 1 })[0]?.publishedAt).toBeDefined();
  });

  it("does not build the same commit twice", async () => {
    const again = await cp.sync();
    expect(again.commits).toEqual([]);
    expect(cp.store.bundles.byCommit(first)).toHaveLength(1);
  });

  it("moves the pointer on the next good commit", async () => {
    await repo.write({ "policies/owner.rego": 'package portcullis.owner\n\nteam := "security"\n' });
    second = await repo.commit("record the owning team");
    const before = (await pointer())!;
    const result = await cp.sync();
    expect(result.result?.activation).toMatchObject({
      revision: second,
      previousRevision: first,
      published: true,
    });
    const after = await expectPublished(second);
    expect(after.activated_at >= before.activated_at).toBe(true);
    expect(cp.store.bundles.get(first)?.status).toBe("ready");
    printStages("commit → published (second commit)", cp.store.bundles.require(second).durations);
  });

  it("records a failing opa test with file:line and leaves the pointer alone", async () => {
    const before = await pointer();
    await repo.write({
      "policies/broken_test.rego":
        "package portcullis.broken_test\n\ntest_always_fails if {\n\tcount([1, 2]) == 3\n}\n",
    });
    const bad = await repo.commit("a test that fails");
    const result = await cp.sync();
    const bundle = result.result?.builds[0]?.bundle;
    expect(bundle).toMatchObject({ revision: bad, status: "failed", failedStage: "test" });
    expect(bundle?.errors).toContainEqual(
      expect.objectContaining({ stage: "test", file: "broken_test.rego", row: 3, code: "test_failed" }),
    );
    expect(bundle?.testOutput).toMatch(
      /broken_test\.rego:3: data\.portcullis\.broken_test\.test_always_fails failed/,
    );
    expect(bundle?.sha256).toBeUndefined();
    expect(result.result?.activation).toBeUndefined();
    expect(await pointer()).toEqual(before);
    expect(cp.store.bundles.active()?.revision).toBe(second);
    expect(cp.store.bundles.bytes(bad)).toBeUndefined();
    await repo.remove("policies/broken_test.rego");
  });

  it("records a syntax error with file:line and leaves the pointer alone", async () => {
    const before = await pointer();
    const query = await readFile(join(repo.dir, "policies", "query.rego"), "utf8");
    const lines = query.split("\n").length;
    await repo.write({ "policies/query.rego": `${query}\nbroken if {\n` });
    const bad = await repo.commit("a syntax error");
    const result = await cp.sync();
    const bundle = result.result?.builds.find((b) => b.bundle.revision === bad)?.bundle;
    expect(bundle).toMatchObject({ status: "failed", failedStage: "check" });
    const parseError = bundle?.errors.find((e) => e.code === "rego_parse_error");
    expect(parseError).toMatchObject({ stage: "check", file: "query.rego" });
    expect(parseError?.row).toBeGreaterThanOrEqual(lines);
    expect(await pointer()).toEqual(before);
    await repo.write({ "policies/query.rego": query });
  });

  it("builds the fix and activates it", async () => {
    const fixed = await repo.commit("fix the syntax error");
    const result = await cp.sync();
    expect(result.result?.activation?.revision).toBe(fixed);
    await expectPublished(fixed);
  });

  it("records a commit that deletes the policy folder as failed at export", async () => {
    const before = await pointer();
    await repo.remove("policies");
    const deleted = await repo.commit("delete the policies");
    const result = await cp.sync();
    expect(result.result?.builds[0]?.bundle).toMatchObject({
      revision: deleted,
      status: "failed",
      failedStage: "export",
      errors: [
        { stage: "export", message: `the policy folder policies does not exist at commit ${deleted}` },
      ],
    });
    expect(await pointer()).toEqual(before);
    await repo.git("checkout", "HEAD~1", "--", "policies");
    const restored = await repo.commit("restore the policies");
    expect((await cp.sync()).result?.activation?.revision).toBe(restored);
  });

  it("rolls back to an earlier revision and forward again", async () => {
    const current = cp.store.bundles.active()!.revision;
    const before = (await pointer())!;
    const rollback = await cp.pipeline.activate(first, { by: "test", reason: "rollback" });
    expect(rollback).toMatchObject({
      revision: first,
      previousRevision: current,
      changed: true,
      published: true,
    });
    const p = await expectPublished(first);
    expect(p.activated_at > before.activated_at || p.activated_at === rollback.activatedAt).toBe(true);
    expect(p.activated_at).toBe(rollback.activatedAt);
    const forward = await cp.pipeline.activate(current, { by: "test", reason: "forward" });
    expect(forward.previousRevision).toBe(first);
    await expectPublished(current);
    await expect(cp.pipeline.activate("0".repeat(40), { by: "test" })).rejects.toThrow(
      /no bundle with revision/,
    );
    const failed = cp.store.bundles.list({ statuses: ["failed"] })[0]!.revision;
    await expect(cp.pipeline.activate(failed, { by: "test" })).rejects.toThrow(
      /only a ready bundle can be activated/,
    );
    expect(cp.store.bundles.active()?.revision).toBe(current);
  });

  it("gates published sources the same way", async () => {
    const good = await cp.pipeline.publishFromSources(
      {
        "lib.rego": 'package portcullis.lib\n\nlabel(x) := sprintf("%v", [x])\n\nclaim_set(_, _) := set()\n',
      },
      { requestedBy: "ci", activate: false },
    );
    // The default entrypoints are missing from this folder: opa build refuses it.
    expect(good.bundle.status).toBe("failed");
    expect(good.bundle.failedStage).toBe("build");
    const again = await cp.pipeline.publishFromSources(
      {
        "lib.rego": 'package portcullis.lib\n\nlabel(x) := sprintf("%v", [x])\n\nclaim_set(_, _) := set()\n',
      },
      { requestedBy: "ci" },
    );
    expect(again.reused).toBe(true);
    expect(again.activation).toBeUndefined();
    await expect(
      cp.pipeline.publishFromSources({ "../escape.rego": "package x" }, { requestedBy: "ci" }),
    ).rejects.toThrow(/not a relative path inside the folder/);
    await expect(cp.pipeline.publishFromSources({}, { requestedBy: "ci" })).rejects.toThrow(
      /no source files/,
    );
  });
});

describe("NATS down at start", () => {
  it("serves, records activations, and publishes when NATS comes up", async () => {
    const port = await freePort();
    const down = await startTestControlPlane({ natsUrl: `nats://127.0.0.1:${port}`, repo: repo.dir });
    let late: LocalNats | undefined;
    try {
      expect(down.distributor.connected).toBe(false);
      const result = await down.sync();
      const revision = result.result?.activation?.revision;
      expect(revision).toBe(await repo.head());
      expect(result.result?.activation?.published).toBe(false);
      expect(result.result?.activation?.publishError).toMatch(/NATS is not reachable/);
      expect(down.store.bundles.activations({ limit: 1 })[0]?.publishedAt).toBeUndefined();

      late = await startNats({ port });
      await down.distributor.whenReady(30_000);
      const p = await eventually(() => down.distributor.readPointer(), "the pointer after NATS came up");
      expect(p.revision).toBe(revision);
      expect(down.store.bundles.activations({ limit: 1 })[0]?.publishedAt).toBeDefined();
    } finally {
      await down.destroy();
      await late?.destroy();
    }
  });

  it("republishes the active bundle on start, also to a NATS that lost its data", async () => {
    const port = await freePort();
    let server = await startNats({ port });
    const first = await startTestControlPlane({ natsUrl: server.url, repo: repo.dir });
    let restarted: TestControlPlane | undefined;
    try {
      await first.sync();
      const active = first.store.bundles.active()!.revision;
      await first.stop();
      await server.destroy(); // its JetStream store goes with it
      server = await startNats({ port });
      restarted = await startTestControlPlane({ natsUrl: server.url, dataDir: first.dataDir });
      const p = await eventually(() => restarted!.distributor.readPointer(), "the republished pointer");
      expect(p.revision).toBe(active);
      expect(restarted.store.bundles.active()?.revision).toBe(active);
    } finally {
      if (restarted) await restarted.destroy();
      else await first.destroy();
      await server.destroy();
    }
  });
});
