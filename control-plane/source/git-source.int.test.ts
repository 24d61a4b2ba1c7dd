/**
 * The git policy source against a real repository made with the real git CLI: what a sync hands
 * to the pipeline, in which order, and what it never hands twice.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import { TempGitRepo } from "../../test/harness/git-repo.js";
import {
  type ExportedCommit,
  GitSource,
  GitSourceError,
  normalizeFolder,
  type SourceCursor,
} from "./git-source.js";

interface Seen {
  sha: string;
  message: string;
  files: Record<string, string>;
  exportError?: string;
}

class MemoryCursor implements SourceCursor {
  last: string | undefined;
  head: string | undefined;
  processed = new Set<string>();
  error: string | null = null;
  lastCommit() {
    return this.last;
  }
  advance(commit: string | undefined, head: string) {
    if (commit) this.last = commit;
    this.head = head;
  }
  isProcessed(commit: string) {
    return this.processed.has(commit);
  }
  recordError(message: string | null) {
    this.error = message;
  }
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[path.slice(dir.length + 1)] = await readFile(path, "utf8");
  }
  return files;
}

let repo: TempGitRepo;
let work: string;
let cursor: MemoryCursor;
let batches: Seen[][];
let source: GitSource<number>;

function makeSource(overrides: Partial<ConstructorParameters<typeof GitSource<number>>[0]> = {}) {
  return new GitSource<number>({
    url: repo.dir,
    branch: "main",
    folder: "policies",
    workDir: work,
    cursor,
    logger: silentLogger,
    onCommits: async (commits: ExportedCommit[]) => {
      const batch: Seen[] = [];
      for (const c of commits) {
        const seen: Seen = { sha: c.sha, message: c.message, files: await snapshot(c.dir) };
        if (c.exportError) seen.exportError = c.exportError;
        batch.push(seen);
        cursor.processed.add(c.sha);
      }
      batches.push(batch);
      return commits.length;
    },
    ...overrides,
  });
}

beforeAll(async () => {
  repo = await TempGitRepo.create();
});
afterAll(async () => {
  await repo.destroy();
});
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), "portcullis-git-work-"));
  cursor = new MemoryCursor();
  batches = [];
  source = makeSource();
});
afterEach(async () => {
  await source.stop();
  await rm(work, { recursive: true, force: true });
});

describe("git policy source", () => {
  it("hands over new commits touching the folder, oldest first, once each", async () => {
    await repo.write({ "README.md": "policies live in policies/\n", "policies/a.rego": "package a\n" });
    const first = await repo.commit("first policy");
    await repo.write({ "policies/a.rego": "package a\n\nx := 1\n" });
    const second = await repo.commit("second policy");

    // First sync: only the newest commit touching the folder, its folder content at the root.
    const r1 = await source.sync();
    expect(r1.head).toBe(second);
    expect(r1.result).toBe(1);
    expect(batches).toEqual([
      [{ sha: second, message: "second policy", files: { "a.rego": "package a\n\nx := 1\n" } }],
    ]);
    expect(cursor.last).toBe(second);
    expect(first).not.toBe(second);

    // Nothing new.
    const r2 = await source.sync();
    expect(r2.commits).toEqual([]);
    expect(batches).toHaveLength(1);

    // A commit outside the folder is not a policy change.
    await repo.write({ "README.md": "docs only\n" });
    const docs = await repo.commit("docs");
    const r3 = await source.sync();
    expect(r3.head).toBe(docs);
    expect(r3.commits).toEqual([]);
    expect(cursor.head).toBe(docs);

    // Three commits at once, one of them outside the folder: two handed over in order.
    await repo.write({ "policies/b.rego": "package b\n" });
    const c1 = await repo.commit("add b");
    await repo.write({ "other.txt": "x" });
    await repo.commit("unrelated");
    await repo.write({ "policies/sub/c.json": '{"c": true}\n' });
    const c3 = await repo.commit("add data");
    const r4 = await source.sync();
    expect(r4.commits.map((c) => c.sha)).toEqual([c1, c3]);
    expect(r4.commits[0]).toMatchObject({ author: "Security Team <security@example.com>", message: "add b" });
    expect(Date.parse(r4.commits[0]!.committedAt)).not.toBeNaN();
    expect(batches[1]?.map((b) => Object.keys(b.files).sort())).toEqual([
      ["a.rego", "b.rego"],
      ["a.rego", "b.rego", "sub/c.json"],
    ]);
  });

  it("never hands over a commit the store already processed, even when the cursor is lost", async () => {
    await repo.write({ "policies/p.rego": "package p\n\ny := 2\n" });
    const head = await repo.commit("p");
    cursor.processed.add(head);
    const result = await source.sync();
    expect(result.commits).toEqual([]);
    expect(batches).toEqual([]);
    expect(cursor.last).toBe(head);
  });

  it("takes only the newest commit after the branch history was rewritten", async () => {
    await repo.write({ "policies/r.rego": "package r\n\nz := 1\n" });
    await repo.commit("before rewrite");
    await source.sync();
    await repo.git("reset", "--hard", "--quiet", "HEAD~1");
    await repo.write({ "policies/r.rego": "package r\n\nz := 2\n" });
    const rewritten = await repo.commit("rewritten");
    await repo.write({ "policies/r.rego": "package r\n\nz := 3\n" });
    const newest = await repo.commit("after rewrite");
    const result = await source.sync();
    expect(result.commits.map((c) => c.sha)).toEqual([newest]);
    expect(rewritten).not.toBe(newest);
  });

  it("hands over a commit that deletes the folder with an export error, not a stuck sync", async () => {
    await repo.write({ "policies/del.rego": "package del\n" });
    await repo.commit("before delete");
    await source.sync();
    await repo.remove("policies");
    const deleted = await repo.commit("delete the policies");
    const result = await source.sync();
    expect(result.commits.map((c) => c.sha)).toEqual([deleted]);
    expect(batches[1]).toEqual([
      {
        sha: deleted,
        message: "delete the policies",
        files: {},
        exportError: `the policy folder policies does not exist at commit ${deleted}`,
      },
    ]);
    expect((await source.sync()).commits).toEqual([]);
  });

  it("runs one sync at a time; requests made meanwhile share one more run", async () => {
    await repo.write({ "policies/q.rego": "package q\n\nw := 1\n" });
    await repo.commit("q1");
    const results = await Promise.all([source.sync(), source.sync(), source.sync()]);
    expect(results[1]).toBe(results[2]);
    expect(batches).toHaveLength(1);
  });

  it("polls at an interval", async () => {
    source = makeSource({ pollIntervalMs: 100 });
    source.start();
    await repo.write({ "policies/poll.rego": `package poll\n\nv := ${Date.now()}\n` });
    const sha = await repo.commit("polled");
    const deadline = Date.now() + 30_000;
    while (!batches.flat().some((b) => b.sha === sha) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(batches.flat().map((b) => b.sha)).toContain(sha);
  });

  it("reports fetch errors clearly and records them", async () => {
    source = makeSource({ branch: "no-such-branch" });
    await expect(source.sync()).rejects.toThrow(GitSourceError);
    await expect(source.sync()).rejects.toThrow(/cannot fetch .*#no-such-branch:policies: .*no-such-branch/);
    expect(cursor.error).toMatch(/no-such-branch/);
    const missing = makeSource({ url: join(work, "does-not-exist") });
    await expect(missing.sync()).rejects.toThrow(/cannot fetch/);
  });

  it("validates its settings", () => {
    expect(() => makeSource({ branch: "--upload-pack=evil" })).toThrow(/not a valid branch name/);
    expect(() => makeSource({ url: "--upload-pack=evil" })).toThrow(/not a path or URL/);
    expect(() => makeSource({ folder: "../outside" })).toThrow(/relative path inside the repository/);
    expect(normalizeFolder("./policies/")).toBe("policies");
    expect(normalizeFolder(".")).toBe("");
  });
});
