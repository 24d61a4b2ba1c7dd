/**
 * A throwaway git repository for tests of the policy source: real `git`, a fixed identity (no
 * dependence on the user's git config), files written and committed from the test.
 */
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { projectRoot } from "../../common/toolchain.js";

const run = promisify(execFile);

const GIT_ENV = {
  GIT_AUTHOR_NAME: "Security Team",
  GIT_AUTHOR_EMAIL: "security@example.com",
  GIT_COMMITTER_NAME: "Security Team",
  GIT_COMMITTER_EMAIL: "security@example.com",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_TERMINAL_PROMPT: "0",
};

export class TempGitRepo {
  private constructor(
    readonly dir: string,
    readonly branch: string,
  ) {}

  static async create(branch = "main"): Promise<TempGitRepo> {
    const dir = await mkdtemp(join(tmpdir(), "portcullis-policy-repo-"));
    const repo = new TempGitRepo(dir, branch);
    await repo.git("init", "--quiet", "-b", branch);
    await repo.git("config", "commit.gpgsign", "false");
    return repo;
  }

  /** A repository whose first commit ("default policies") holds the project's policies/. */
  static async withDefaultPolicies(branch = "main"): Promise<TempGitRepo> {
    const repo = await TempGitRepo.create(branch);
    await repo.copyDefaultPolicies();
    await repo.commit("default policies");
    return repo;
  }

  async git(...args: string[]): Promise<string> {
    const { stdout } = await run("git", args, { cwd: this.dir, env: { ...process.env, ...GIT_ENV } });
    return stdout;
  }

  /** Writes files (path relative to the repository → content). */
  async write(files: Record<string, string>): Promise<void> {
    for (const [path, content] of Object.entries(files)) {
      const target = join(this.dir, path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
    }
  }

  /** Copies the project's default policies/ into `folder`. */
  async copyDefaultPolicies(folder = "policies"): Promise<void> {
    await cp(join(projectRoot(), "policies"), join(this.dir, folder), { recursive: true });
  }

  async remove(...paths: string[]): Promise<void> {
    for (const path of paths) await rm(join(this.dir, path), { recursive: true, force: true });
  }

  /** Stages everything and commits; returns the full sha. */
  async commit(message: string): Promise<string> {
    await this.git("add", "--all");
    await this.git("commit", "--quiet", "--allow-empty", "-m", message);
    return this.head();
  }

  async head(): Promise<string> {
    return (await this.git("rev-parse", "HEAD")).trim();
  }

  async destroy(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`,
  );
}
