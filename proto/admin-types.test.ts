/**
 * proto/generated/ (the admin API's TypeScript types) is what scripts/gen-admin-types.sh makes from
 * proto/admin.proto today: a change to the .proto without regenerating fails here.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { projectRoot } from "../common/toolchain.js";

const run = promisify(execFile);
const root = projectRoot();
let out: string | undefined;

async function files(dir: string): Promise<Map<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const found = new Map<string, string>();
  for (const e of entries.filter((x) => x.isFile())) {
    const path = join(e.parentPath, e.name);
    found.set(relative(dir, path), await readFile(path, "utf8"));
  }
  return found;
}

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe("the generated admin API types", () => {
  it("match proto/admin.proto (run scripts/gen-admin-types.sh after changing it)", async () => {
    out = await mkdtemp(join(tmpdir(), "portcullis-admin-types-"));
    await run(join(root, "scripts", "gen-admin-types.sh"), [join(out, "generated")], { cwd: root });
    const fresh = await files(join(out, "generated"));
    const committed = await files(join(root, "proto", "generated"));
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [path, text] of fresh) expect(committed.get(path), path).toBe(text);
  }, 60_000);
});
