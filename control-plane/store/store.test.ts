import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BundleNotFoundError,
  BundleStateError,
  ControlPlaneStore,
  MIGRATIONS,
  migrate,
  openDatabase,
  type ReadyBuild,
  StoreError,
} from "./index.js";

let dir: string;
let store: ControlPlaneStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-store-test-"));
  store = ControlPlaneStore.open(join(dir, "sub", "control-plane.db"));
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const ready = (n: number): ReadyBuild => ({
  manifestJson: `{"revision":"r${n}"}`,
  signature: `jws-${n}`,
  sha256: String(n).repeat(64).slice(0, 64),
  bytes: new Uint8Array([n, n + 1, n + 2]),
  opaVersion: "1.22.3",
  entrypoints: ["portcullis/query/decision"],
  durations: { check: 10, test: 20, build: 30 },
  testsPassed: 7,
  testsSkipped: 1,
  testOutput: "7 passed",
});

function built(revision: string, n: number, commit?: string) {
  store.bundles.startBuild({ revision, source: commit ? "git" : "publish", sourceCommit: commit });
  return store.bundles.markReady(revision, ready(n));
}

describe("schema", () => {
  it("opens in WAL mode with every migration applied once", () => {
    expect(store.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(store.db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(store.schemaVersion).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    const tables = (
      store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[]
    ).map((t) => t.name);
    for (const table of [
      "schema_migrations",
      "bundles",
      "activations",
      "policy_sources",
      "data_planes",
      "sessions",
      "revocations",
      "revocation_acks",
      "decisions",
    ]) {
      expect(tables).toContain(table);
    }
    expect(migrate(store.db)).toEqual([]);
  });

  it("keeps data across a reopen", () => {
    built("r1", 1);
    const path = store.db.name;
    store.close();
    store = ControlPlaneStore.open(path);
    expect(store.bundles.get("r1")?.status).toBe("ready");
  });

  it("refuses a database from a newer version", () => {
    const path = store.db.name;
    store.db.prepare("INSERT INTO schema_migrations VALUES (999, 'future', '2030-01-01T00:00:00Z')").run();
    store.close();
    expect(() => openDatabase(path)).toThrow(/schema is at version 999, newer than this control plane knows/);
    store = ControlPlaneStore.open(join(dir, "other.db"));
  });

  it("applies migrations in version order, each in a transaction", () => {
    const db = new Database(":memory:");
    const applied = migrate(db, [
      { version: 2, name: "b", sql: "CREATE TABLE b (x)" },
      { version: 1, name: "a", sql: "CREATE TABLE a (x)" },
    ]);
    expect(applied).toEqual([1, 2]);
    expect(() => migrate(db, [{ version: 3, name: "broken", sql: "CREATE TABLE c (x); NOT SQL" }])).toThrow();
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'c'").get()).toEqual({ n: 0 });
    db.close();
  });
});

describe("bundles", () => {
  it("records a build from building to ready with its bytes and durations", () => {
    const started = store.bundles.startBuild({
      revision: "abc",
      source: "git",
      sourceCommit: "abc",
      commitMessage: "tighten analysts",
      commitAuthor: "sec <sec@example.com>",
    });
    expect(started).toMatchObject({ revision: "abc", status: "building", source: "git", errors: [] });
    expect(store.bundles.isCommitProcessed("abc")).toBe(true);
    const done = store.bundles.markReady("abc", ready(1));
    expect(done).toMatchObject({
      status: "ready",
      signature: "jws-1",
      sizeBytes: 3,
      testsPassed: 7,
      entrypoints: ["portcullis/query/decision"],
      durations: { check: 10, test: 20, build: 30 },
    });
    expect(store.bundles.bytes("abc")).toEqual(new Uint8Array([1, 2, 3]));
    store.bundles.addDurations("abc", { publish: 5 });
    expect(store.bundles.get("abc")?.durations).toEqual({ check: 10, test: 20, build: 30, publish: 5 });
  });

  it("records a failure with its located errors and never builds the same revision twice", () => {
    store.bundles.startBuild({ revision: "bad", source: "git", sourceCommit: "bad" });
    const failed = store.bundles.markFailed("bad", {
      stage: "check",
      errors: [
        { stage: "check", file: "query.rego", row: 12, col: 3, code: "rego_parse_error", message: "x" },
      ],
      durations: { check: 4 },
    });
    expect(failed).toMatchObject({ status: "failed", failedStage: "check" });
    expect(failed.errors[0]).toMatchObject({ file: "query.rego", row: 12 });
    expect(() => store.bundles.startBuild({ revision: "bad", source: "git" })).toThrow(BundleStateError);
    expect(() => store.bundles.markReady("bad", ready(2))).toThrow(/is failed, not building/);
    expect(() => store.bundles.activate("bad", "tester")).toThrow(/only a ready bundle can be activated/);
    expect(store.bundles.isCommitProcessed("bad")).toBe(true);
  });

  it("lets an internal failure (or an interrupted build) be built again", () => {
    store.bundles.startBuild({ revision: "c1", source: "git", sourceCommit: "c1" });
    expect(store.bundles.failInterrupted()).toEqual(["c1"]);
    expect(store.bundles.get("c1")).toMatchObject({ status: "failed", failedStage: "internal" });
    expect(store.bundles.isCommitProcessed("c1")).toBe(false);
    expect(store.bundles.startBuild({ revision: "c1", source: "git", sourceCommit: "c1" }).status).toBe(
      "building",
    );
  });

  it("refuses ready rows without bytes (schema check)", () => {
    store.bundles.startBuild({ revision: "x", source: "publish" });
    expect(() => store.db.prepare("UPDATE bundles SET status = 'ready' WHERE revision = 'x'").run()).toThrow(
      /CHECK constraint failed/,
    );
  });

  it("activates one bundle at a time and keeps the history for rollbacks", () => {
    built("r1", 1, "c1");
    built("r2", 2, "c2");
    const first = store.bundles.activate("r1", "git", "new commit", "2025-01-01T00:00:00.000Z");
    expect(first).toMatchObject({ changed: true, activation: { revision: "r1", activatedBy: "git" } });
    expect(first.activation.previousRevision).toBeUndefined();
    store.bundles.activate("r2", "git", undefined, "2025-01-01T00:01:00.000Z");
    expect(store.bundles.active()?.revision).toBe("r2");
    expect(store.bundles.get("r1")?.status).toBe("ready");

    const rollback = store.bundles.activate("r1", "alice", "bad deploy", "2025-01-01T00:02:00.000Z");
    expect(rollback.activation).toMatchObject({
      revision: "r1",
      previousRevision: "r2",
      reason: "bad deploy",
    });
    expect(store.bundles.list({ statuses: ["active"] }).map((b) => b.revision)).toEqual(["r1"]);
    expect(store.bundles.get("r1")?.activatedAt).toBe("2025-01-01T00:02:00.000Z");
    expect(store.bundles.activations().map((a) => `${a.previousRevision ?? "-"}→${a.revision}`)).toEqual([
      "r2→r1",
      "r1→r2",
      "-→r1",
    ]);

    const again = store.bundles.activate("r1", "bob");
    expect(again.changed).toBe(false);
    expect(store.bundles.activations()).toHaveLength(3);

    const active = store.bundles.activeBundle();
    expect(active).toMatchObject({ revision: "r1", activatedAt: "2025-01-01T00:02:00.000Z", sizeBytes: 3 });
    store.bundles.markPublished(active!.activationId, "2025-01-01T00:02:01.000Z");
    expect(store.bundles.activations({ limit: 1 })[0]?.publishedAt).toBe("2025-01-01T00:02:01.000Z");

    // the unique partial index is the last line of defence
    expect(() =>
      store.db.prepare("UPDATE bundles SET status = 'active' WHERE revision = 'r2'").run(),
    ).toThrow(/UNIQUE constraint failed/);
  });

  it("gives manifests and activations monotonic sequences and flags a rollback", () => {
    const sequenced = (revision: string, sequence: number) => {
      store.bundles.startBuild({ revision, source: "publish" });
      return store.bundles.markReady(revision, {
        ...ready(sequence % 200),
        manifestJson: JSON.stringify({ revision, sequence }),
      });
    };
    const s1 = store.bundles.nextBundleSequence(1000);
    expect(s1).toBe(1000);
    sequenced("r1", s1);
    // a clock that went back still gives a higher sequence
    const s2 = store.bundles.nextBundleSequence(10);
    expect(s2).toBe(1001);
    sequenced("r2", s2);

    store.bundles.activate("r1", "git");
    const a1 = store.bundles.activeBundle()!;
    expect(a1).toMatchObject({ revision: "r1", manifestSequence: 1000, rollback: false });
    store.bundles.activate("r2", "git");
    const a2 = store.bundles.activeBundle()!;
    expect(a2).toMatchObject({ revision: "r2", manifestSequence: 1001, rollback: false });
    expect(a2.activationSequence).toBeGreaterThan(a1.activationSequence);
    // back to r1: a newer activation, signed as a rollback
    store.bundles.activate("r1", "alice", "bad deploy");
    const a3 = store.bundles.activeBundle()!;
    expect(a3).toMatchObject({ revision: "r1", manifestSequence: 1000, rollback: true });
    expect(a3.activationSequence).toBeGreaterThan(a2.activationSequence);
    // and forward to r2 again: r2 is the newest bundle ever activated, so no rollback
    store.bundles.activate("r2", "alice");
    expect(store.bundles.activeBundle()).toMatchObject({ revision: "r2", rollback: false });
  });

  it("lists newest first, filtered by status, and names what is missing", () => {
    store.bundles.startBuild({ revision: "a", source: "publish", createdAt: "2025-01-01T00:00:00.000Z" });
    store.bundles.startBuild({ revision: "b", source: "publish", createdAt: "2025-01-02T00:00:00.000Z" });
    store.bundles.markFailed("b", { stage: "test", errors: [], durations: {} });
    expect(store.bundles.list().map((b) => b.revision)).toEqual(["b", "a"]);
    expect(store.bundles.list({ statuses: ["failed"] }).map((b) => b.revision)).toEqual(["b"]);
    expect(store.bundles.list({ limit: 1 })).toHaveLength(1);
    expect(() => store.bundles.activate("nope", "x")).toThrow(BundleNotFoundError);
    expect(() => store.bundles.activate("nope", "x")).toThrow(StoreError);
    expect(store.bundles.activeBundle()).toBeUndefined();
  });
});

describe("fleet and sources", () => {
  it("keeps the latest report of each data plane", () => {
    const report = {
      id: "dp-1",
      region: "eu",
      version: "0.1.0",
      revision: "r1",
      sessions: 3,
      at: "2025-01-01T00:00:00.000Z",
      labels: { zone: "a" },
    };
    store.fleet.upsert(report, "2025-01-01T00:00:01.000Z");
    const second = store.fleet.upsert(
      { ...report, revision: "r2", load_error: "bad signature", sessions: 1 },
      "2025-01-01T00:00:11.000Z",
    );
    expect(second).toMatchObject({
      id: "dp-1",
      revision: "r2",
      loadError: "bad signature",
      sessions: 1,
      labels: { zone: "a" },
      firstSeenAt: "2025-01-01T00:00:01.000Z",
      lastSeenAt: "2025-01-01T00:00:11.000Z",
    });
    store.fleet.upsert({ ...report, id: "dp-2" }, "2025-01-01T00:00:05.000Z");
    expect(store.fleet.list().map((d) => d.id)).toEqual(["dp-1", "dp-2"]);
    expect(store.fleet.forgetBefore("2025-01-01T00:00:06.000Z")).toBe(1);
    expect(store.fleet.list().map((d) => d.id)).toEqual(["dp-1"]);
  });

  it("moves a source cursor and keeps fields not given", () => {
    const base = { url: "/repo", branch: "main", folder: "policies" };
    expect(store.sources.get("s")).toBeUndefined();
    store.sources.update("s", { ...base, lastCommit: "c1", lastHead: "c1", lastFetchedAt: "t1" });
    store.sources.update("s", { ...base, lastError: "fetch failed" });
    expect(store.sources.get("s")).toMatchObject({
      lastCommit: "c1",
      lastHead: "c1",
      lastError: "fetch failed",
    });
    store.sources.update("s", { ...base, lastHead: "c2", lastError: null });
    const s = store.sources.get("s");
    expect(s).toMatchObject({ lastCommit: "c1", lastHead: "c2" });
    expect(s?.lastError).toBeUndefined();
  });
});
