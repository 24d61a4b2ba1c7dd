/**
 * The policy source: a folder of a branch of a git repository (a local path or any URL git can
 * fetch), read with the real `git` CLI (execFile, never a shell).
 *
 * The branch is fetched into a bare repository under the control plane's data dir. Each sync lists
 * the commits since the last one handled that touch the folder (first-parent history, oldest
 * first), drops those the store already processed, exports each one's folder into a temp dir
 * (`git archive <commit>:<folder>`) and hands the batch to the pipeline; the temp dirs are removed
 * afterwards. On the first sync, or when the branch was rewritten so the last commit is no longer
 * in its history, only the newest commit touching the folder is taken.
 *
 * Syncs run one at a time: a sync asked for while one runs waits for it and then runs once more
 * (several such requests share that run). Polling runs a sync every `pollIntervalMs`.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, normalize } from "node:path";
import { x as untar } from "tar";
import type { Logger } from "../../common/logger.js";

export class GitSourceError extends Error {
  override name = "GitSourceError";
}

export interface PolicyCommit {
  sha: string;
  /** "Name <email>" */
  author: string;
  /** RFC 3339 */
  committedAt: string;
  /** The subject line. */
  message: string;
}

export interface ExportedCommit extends PolicyCommit {
  /** The folder's content at this commit; removed after the handler returns. */
  dir: string;
  exportMs: number;
  /**
   * Set when the folder cannot be exported at this commit (it was deleted or is not a folder):
   * `dir` is then empty, and the pipeline records the commit as failed at the export stage.
   */
  exportError?: string;
}

/** What the store knows about this source. */
export interface SourceCursor {
  /** The newest commit handed to the pipeline, if any. */
  lastCommit(): string | undefined;
  /** Called after a batch was handled: `commit` (the newest of it, or unchanged) and the branch head. */
  advance(commit: string | undefined, head: string): void;
  /** True when the pipeline has handled this commit already. */
  isProcessed(commit: string): boolean;
  /** The last fetch error, or null once a fetch works again. */
  recordError(message: string | null): void;
}

export interface GitSourceOptions<R> {
  /** A local path or a URL (https, ssh, file). */
  url: string;
  branch: string;
  /** Folder inside the repository holding the policies ("" or "." for the root). */
  folder: string;
  /** Where the bare repository is kept (created if missing). */
  workDir: string;
  cursor: SourceCursor;
  /** The pipeline: receives every new commit of a sync, oldest first. */
  onCommits: (commits: ExportedCommit[]) => Promise<R>;
  /** 0 disables polling (sync on demand only). */
  pollIntervalMs?: number;
  /** At most this many new commits per sync (the newest ones). */
  maxCommitsPerSync?: number;
  /** Per git command. */
  timeoutMs?: number;
  /** The git binary; default `git` from PATH. */
  git?: string;
  logger: Logger;
}

export interface SourceSyncResult<R> {
  /** The branch head after the fetch. */
  head: string;
  /** The commits handed to the pipeline (empty when nothing was new). */
  commits: PolicyCommit[];
  fetchMs: number;
  /** What the pipeline returned (undefined when there was nothing new). */
  result: R | undefined;
}

const BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._\-/]+(?<![./])$/;
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const SOURCE_REF = "refs/portcullis/source";

/** A stable id for a source (the store's key and the work dir's name). */
export function sourceId(url: string, branch: string, folder: string): string {
  return createHash("sha256").update(`${url}\0${branch}\0${folder}`).digest("hex").slice(0, 16);
}

/** Validates and normalizes a folder: relative, inside the repository, "/"-separated; "" for the root. */
export function normalizeFolder(folder: string): string {
  const trimmed = folder.trim().replace(/\\/g, "/");
  if (trimmed === "" || trimmed === "." || trimmed === "./") return "";
  const norm = normalize(trimmed).replace(/\\/g, "/").replace(/\/+$/, "");
  if (isAbsolute(norm) || norm === ".." || norm.startsWith("../") || norm.startsWith("-")) {
    throw new GitSourceError(`policy folder "${folder}" must be a relative path inside the repository`);
  }
  return norm === "." ? "" : norm;
}

export class GitSource<R> {
  readonly url: string;
  readonly branch: string;
  readonly folder: string;
  readonly repoDir: string;
  readonly #options: GitSourceOptions<R>;
  readonly #logger: Logger;
  readonly #git: string;
  #current: Promise<SourceSyncResult<R>> | undefined;
  #next: Promise<SourceSyncResult<R>> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #warnedEmpty = false;

  constructor(options: GitSourceOptions<R>) {
    if (!options.url || options.url.startsWith("-")) {
      throw new GitSourceError(`policy repository "${options.url}" is not a path or URL`);
    }
    if (!BRANCH.test(options.branch)) {
      throw new GitSourceError(`"${options.branch}" is not a valid branch name`);
    }
    this.url = options.url;
    this.branch = options.branch;
    this.folder = normalizeFolder(options.folder);
    this.repoDir = join(options.workDir, "repo.git");
    this.#options = options;
    this.#logger = options.logger.child({ source: this.describe() });
    this.#git = options.git ?? "git";
  }

  describe(): string {
    return `${this.url}#${this.branch}:${this.folder || "."}`;
  }

  /** Starts polling (a first sync right away) when an interval is configured. */
  start(): void {
    const interval = this.#options.pollIntervalMs ?? 0;
    if (interval <= 0 || this.#stopped) return;
    const tick = async () => {
      this.#timer = undefined;
      await this.sync().catch((err: Error) => this.#logger.warn({ err: err.message }, "policy sync failed"));
      if (!this.#stopped) this.#timer = setTimeout(tick, interval);
    };
    this.#timer = setTimeout(tick, 0);
  }

  /** Stops polling and waits for a running sync. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.allSettled([this.#current, this.#next]);
  }

  /** Fetches and hands new commits to the pipeline (see the file comment for the rules). */
  sync(): Promise<SourceSyncResult<R>> {
    if (!this.#current) return this.#launch();
    this.#next ??= this.#current
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.#next = undefined;
        return this.#launch();
      });
    return this.#next;
  }

  #launch(): Promise<SourceSyncResult<R>> {
    const run = this.#sync().finally(() => {
      if (this.#current === run) this.#current = undefined;
    });
    this.#current = run;
    return run;
  }

  async #sync(): Promise<SourceSyncResult<R>> {
    const { cursor } = this.#options;
    const fetchStarted = performance.now();
    let head: string;
    try {
      await this.#ensureRepo();
      await this.#run([
        "fetch",
        "--quiet",
        "--no-tags",
        "--force",
        "--",
        this.url,
        `+refs/heads/${this.branch}:${SOURCE_REF}`,
      ]);
      head = (await this.#run(["rev-parse", "--verify", `${SOURCE_REF}^{commit}`])).trim();
    } catch (err) {
      const message = (err as Error).message;
      cursor.recordError(message);
      throw new GitSourceError(`cannot fetch ${this.describe()}: ${message}`);
    }
    cursor.recordError(null);
    const fetchMs = performance.now() - fetchStarted;

    const candidates = await this.#newCommits(cursor.lastCommit(), head);
    const pending = candidates.filter((sha) => !cursor.isProcessed(sha));
    const limit = this.#options.maxCommitsPerSync ?? 10;
    if (pending.length > limit) {
      this.#logger.warn(
        { skipped: pending.length - limit },
        `more than ${limit} new commits: only the newest ${limit} are built`,
      );
    }
    const selected = pending.slice(-limit);
    if (selected.length === 0) {
      const newest = candidates[candidates.length - 1];
      cursor.advance(newest, head);
      return { head, commits: [], fetchMs, result: undefined };
    }

    const exported: ExportedCommit[] = [];
    try {
      for (const sha of selected) exported.push(await this.#export(sha));
      const result = await this.#options.onCommits(exported);
      cursor.advance(candidates[candidates.length - 1], head);
      return {
        head,
        commits: exported.map(({ dir: _dir, exportMs: _ms, exportError: _e, ...commit }) => commit),
        fetchMs,
        result,
      };
    } finally {
      await Promise.all(exported.map((c) => rm(c.dir, { recursive: true, force: true })));
    }
  }

  /** Commits touching the folder after `last` up to `head`, oldest first. */
  async #newCommits(last: string | undefined, head: string): Promise<string[]> {
    const pathspec = this.folder ? ["--", this.folder] : [];
    const lines = (out: string) => out.split("\n").filter((l) => SHA.test(l));
    if (last && SHA.test(last) && (await this.#isAncestor(last, head))) {
      return lines(
        await this.#run(["rev-list", "--reverse", "--first-parent", `${last}..${head}`, ...pathspec]),
      );
    }
    if (last) {
      this.#logger.warn(
        { last, head },
        "the last built commit is not in the branch any more (history rewritten)",
      );
    }
    const newest = lines(await this.#run(["rev-list", "-1", "--first-parent", head, ...pathspec]));
    if (newest.length === 0 && !this.#warnedEmpty) {
      this.#warnedEmpty = true;
      this.#logger.warn({ head }, "no commit of the branch touches the policy folder");
    }
    return newest;
  }

  async #isAncestor(commit: string, head: string): Promise<boolean> {
    try {
      await this.#run(["merge-base", "--is-ancestor", commit, head]);
      return true;
    } catch {
      return false;
    }
  }

  async #export(sha: string): Promise<ExportedCommit> {
    const started = performance.now();
    const info = await this.#run(["show", "-s", "--format=%H%x00%an <%ae>%x00%cI%x00%s", sha]);
    const [full, author, committedAt, message] = info.replace(/\n$/, "").split("\0");
    const dir = await mkdtemp(join(tmpdir(), "portcullis-policy-src-"));
    const commit: ExportedCommit = {
      sha: full ?? sha,
      author: author ?? "",
      committedAt: committedAt ?? "",
      message: message ?? "",
      dir,
      exportMs: 0,
    };
    try {
      const tree = this.folder ? `${sha}:${this.folder}` : sha;
      const type = this.folder
        ? (await this.#run(["cat-file", "-t", tree]).catch(() => "missing\n")).trim()
        : "tree";
      if (type !== "tree") {
        commit.exportError =
          type === "missing"
            ? `the policy folder ${this.folder} does not exist at commit ${sha}`
            : `${this.folder} is a ${type}, not a folder, at commit ${sha}`;
      } else {
        const archive = await this.#runBuffer(["archive", "--format=tar", tree]);
        await extractTar(archive, dir);
      }
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw new GitSourceError(`cannot export ${this.folder || "."} at ${sha}: ${(err as Error).message}`);
    }
    commit.exportMs = performance.now() - started;
    return commit;
  }

  /** The files of the policy folder at `sha` (a commit this source fetched), sorted by path. */
  async files(sha: string, maxBytes = 8 * 1024 * 1024): Promise<{ path: string; content: Buffer }[]> {
    if (!/^[0-9a-f]{7,64}$/i.test(sha)) throw new GitSourceError(`${JSON.stringify(sha)} is not a commit id`);
    const tree = this.folder ? `${sha}:${this.folder}` : `${sha}:`;
    const listing = await this.#run(["ls-tree", "-r", "-z", "--name-only", tree]).catch((err: Error) => {
      throw new GitSourceError(`cannot read ${this.folder || "."} at ${sha}: ${err.message}`);
    });
    const paths = listing.split("\0").filter(Boolean).sort();
    const files: { path: string; content: Buffer }[] = [];
    let total = 0;
    for (const path of paths) {
      const content = await this.#runBuffer([
        "cat-file",
        "blob",
        `${tree.endsWith(":") ? tree : `${tree}/`}${path}`,
      ]);
      total += content.length;
      if (total > maxBytes)
        throw new GitSourceError(`the policy folder at ${sha} is larger than ${maxBytes} bytes`);
      files.push({ path, content });
    }
    return files;
  }

  async #ensureRepo(): Promise<void> {
    if (existsSync(join(this.repoDir, "HEAD"))) return;
    await mkdir(this.#options.workDir, { recursive: true, mode: 0o700 });
    await this.#runIn(this.#options.workDir, ["init", "--quiet", "--bare", this.repoDir]);
  }

  #run(args: string[]): Promise<string> {
    return this.#runIn(undefined, ["--git-dir", this.repoDir, ...args]);
  }

  #runIn(cwd: string | undefined, args: string[]): Promise<string> {
    return runGit(this.#git, args, { cwd, timeoutMs: this.#options.timeoutMs }).then((b) =>
      b.toString("utf8"),
    );
  }

  #runBuffer(args: string[]): Promise<Buffer> {
    return runGit(this.#git, ["--git-dir", this.repoDir, ...args], { timeoutMs: this.#options.timeoutMs });
  }
}

const MAX_GIT_OUTPUT = 256 * 1024 * 1024;

/** Runs git without a shell and without prompting; rejects with git's own message. */
export function runGit(
  git: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(
      git,
      args,
      {
        cwd: options.cwd,
        encoding: "buffer",
        maxBuffer: MAX_GIT_OUTPUT,
        timeout: options.timeoutMs ?? 120_000,
        killSignal: "SIGKILL",
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C", GIT_OPTIONAL_LOCKS: "0" },
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const text = Buffer.from(stderr).toString("utf8").trim();
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        if (e.code === "ENOENT") return reject(new GitSourceError(`git not found (${git}): install git`));
        if (e.killed) return reject(new GitSourceError(`git ${args[2] ?? args[0]} timed out`));
        reject(new GitSourceError(text.split("\n").slice(-3).join(" ") || e.message));
      },
    );
  });
}

/** Extracts regular files and folders of a tar into `dir` (links and devices are skipped). */
async function extractTar(archive: Buffer, dir: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const stream = untar({
      cwd: dir,
      strict: true,
      noChmod: true,
      filter: (_path, entry) => {
        const type = (entry as { type?: string }).type;
        return type === "File" || type === "OldFile" || type === "Directory";
      },
    });
    stream.on("error", reject);
    stream.on("close", () => resolve());
    stream.end(archive);
  });
}
