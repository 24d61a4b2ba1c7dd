/**
 * The path of a policy change: sources (a git commit's folder, or files sent to PublishBundle) →
 * opa check --strict → opa test → opa build -t wasm (control-plane/compile) → sign
 * (control-plane/bundle) → store (SQLite, with status, stage durations, test output and located
 * errors) → activate → publish (NATS, control-plane/distribute).
 *
 * A change that fails any stage is stored as `failed` with its errors and never reaches NATS; the
 * active bundle stays. Builds run one at a time. Activation (also a rollback to any ready revision)
 * is a store transaction followed by a publish; when NATS is unreachable the publish happens on
 * reconnect, and the outcome says so.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import type { Logger } from "../common/logger.js";
import { sha256 } from "../proto/bundle.js";
import { encodeBundle } from "../proto/bundle-file.js";
import { signBundle } from "./bundle/sign.js";
import type { SigningKey } from "./bundle/signing-key.js";
import {
  type CompileOptions,
  type CompileResult,
  compilePolicies,
  contentRevision,
  formatTestFailure,
  type PolicyError,
  type TestFailure,
} from "./compile/index.js";
import type { PublishResult } from "./distribute/distributor.js";
import type { ControlPlaneMetrics } from "./metrics.js";
import type { ExportedCommit } from "./source/git-source.js";
import {
  type BundleRecord,
  BundleStateError,
  type ControlPlaneStore,
  type NewBuild,
  type StoredPolicyError,
} from "./store/index.js";

export interface Publisher {
  publishActive(): Promise<PublishResult>;
}

export interface PipelineOptions {
  store: ControlPlaneStore;
  signingKey: SigningKey;
  /** Where activations go (NATS); absent = store only. */
  publisher?: Publisher;
  logger: Logger;
  /** opa path, timeouts, entrypoints. */
  compile?: Omit<CompileOptions, "revision">;
  /** Activate the newest good commit of each sync (default true). */
  autoActivate?: boolean;
  metrics?: ControlPlaneMetrics;
}

export interface ActivationOutcome {
  revision: string;
  previousRevision?: string;
  activatedAt: string;
  /** False when the revision was already active. */
  changed: boolean;
  /** Whether NATS now carries it. */
  published: boolean;
  publishError?: string;
  publishMs: number;
}

export interface BuildOutcome {
  bundle: BundleRecord;
  /** True when the revision had been built before and that result was returned. */
  reused: boolean;
}

export interface CommitsOutcome {
  builds: BuildOutcome[];
  /** Set when the sync activated a new bundle. */
  activation?: ActivationOutcome;
}

export interface PublishOutcome extends BuildOutcome {
  activation?: ActivationOutcome;
}

export class PublishSourcesError extends Error {
  override name = "PublishSourcesError";
}

/** Limits on PublishBundle sources. */
export const SOURCE_LIMITS = { files: 2_000, totalBytes: 64 * 1024 * 1024, pathLength: 300 } as const;

const round = (ms: number) => Math.round(ms * 10) / 10;

function roundAll(durations: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(durations)) if (v !== undefined) out[k] = round(v);
  return out;
}

function located(stage: string, e: PolicyError): StoredPolicyError {
  const out: StoredPolicyError = { stage, message: e.message };
  if (e.file !== undefined) out.file = e.file;
  if (e.row !== undefined) out.row = e.row;
  if (e.col !== undefined) out.col = e.col;
  if (e.code !== undefined) out.code = e.code;
  return out;
}

function testFailureError(f: TestFailure): StoredPolicyError {
  const out: StoredPolicyError = {
    stage: "test",
    code: f.error ? (f.error.code ?? "test_error") : "test_failed",
    message: f.error ? `${f.package}.${f.name}: ${f.error.message}` : `${f.package}.${f.name} failed`,
  };
  if (f.file !== undefined) out.file = f.file;
  if (f.row !== undefined) out.row = f.row;
  if (f.col !== undefined) out.col = f.col;
  return out;
}

/** "file:row:col: message" lines of a bundle's errors, for logs and the CLI. */
export function formatStoredErrors(errors: readonly StoredPolicyError[]): string[] {
  return errors.map((e) => {
    const where = e.file ? `${e.file}${e.row ? `:${e.row}${e.col ? `:${e.col}` : ""}` : ""}: ` : "";
    return `${e.stage}: ${where}${e.code ? `${e.code}: ` : ""}${e.message}`;
  });
}

export class Pipeline {
  readonly #options: PipelineOptions;
  readonly #store: ControlPlaneStore;
  readonly #logger: Logger;
  #builds: Promise<unknown> = Promise.resolve();

  constructor(options: PipelineOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#logger = options.logger;
  }

  get autoActivate(): boolean {
    return this.#options.autoActivate ?? true;
  }

  /**
   * Builds the commits of one sync (oldest first) and, unless auto-activation is off, activates the
   * newest one that built. Used as the git source's handler.
   */
  async handleCommits(commits: readonly ExportedCommit[], sourceRef: string): Promise<CommitsOutcome> {
    const builds: BuildOutcome[] = [];
    for (const commit of commits) {
      const build: NewBuild = {
        revision: commit.sha,
        source: "git",
        sourceCommit: commit.sha,
        sourceRef,
        commitMessage: commit.message,
        commitAuthor: commit.author,
        committedAt: commit.committedAt,
        requestedBy: `git ${sourceRef}`,
      };
      if (commit.exportError !== undefined) {
        builds.push(this.#exportFailed(build, commit.exportError, commit.exportMs));
        continue;
      }
      builds.push(await this.#serialBuild(commit.dir, build, { export: commit.exportMs }));
    }
    const newest = [...builds].reverse().find((b) => !b.reused && b.bundle.status === "ready");
    if (!newest || !this.autoActivate) return { builds };
    const activation = await this.activate(newest.bundle.revision, {
      by: `git ${sourceRef}`,
      reason: `commit ${newest.bundle.revision.slice(0, 12)}: ${newest.bundle.commitMessage ?? ""}`.trim(),
    });
    this.#recordPublish(newest.bundle, activation);
    builds[builds.indexOf(newest)] = {
      ...newest,
      bundle: this.#store.bundles.require(newest.bundle.revision),
    };
    return { builds, activation };
  }

  /**
   * Builds a bundle from files sent by a caller (the admin PublishBundle call), through the same
   * gate as a commit. The revision is the content hash of the sources, so publishing the same
   * sources twice reuses the first build.
   */
  async publishFromSources(
    files: Record<string, string | Uint8Array>,
    options: { activate?: boolean; requestedBy: string; note?: string },
  ): Promise<PublishOutcome> {
    const entries = Object.entries(files);
    if (entries.length === 0) throw new PublishSourcesError("no source files were sent");
    if (entries.length > SOURCE_LIMITS.files) {
      throw new PublishSourcesError(
        `${entries.length} files sent, at most ${SOURCE_LIMITS.files} are accepted`,
      );
    }
    const total = entries.reduce(
      (n, [, c]) => n + (typeof c === "string" ? Buffer.byteLength(c) : c.byteLength),
      0,
    );
    if (total > SOURCE_LIMITS.totalBytes) {
      throw new PublishSourcesError(`${total} bytes of sources sent, at most ${SOURCE_LIMITS.totalBytes}`);
    }
    const dir = await mkdtemp(join(tmpdir(), "portcullis-publish-"));
    try {
      for (const [path, content] of entries) {
        const target = safeJoin(dir, path);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, content, { flag: "wx" }).catch((err: NodeJS.ErrnoException) => {
          if (err.code === "EEXIST") throw new PublishSourcesError(`source file ${path} was sent twice`);
          throw err;
        });
      }
      const revision = await contentRevision(dir);
      const existing = this.#store.bundles.get(revision);
      let outcome: BuildOutcome;
      if (existing && !(existing.status === "failed" && existing.failedStage === "internal")) {
        outcome = { bundle: existing, reused: true };
      } else {
        outcome = await this.#serialBuild(dir, {
          revision,
          source: "publish",
          sourceRef: options.note ? `publish: ${options.note}` : "publish",
          requestedBy: options.requestedBy,
        });
      }
      const status = outcome.bundle.status;
      if (!(options.activate ?? true) || (status !== "ready" && status !== "active")) return outcome;
      const activation = await this.activate(revision, {
        by: options.requestedBy,
        reason: options.note ? `publish: ${options.note}` : "publish",
      });
      if (!outcome.reused) this.#recordPublish(outcome.bundle, activation);
      return { bundle: this.#store.bundles.require(revision), reused: outcome.reused, activation };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Makes `revision` (ready or active) the active bundle and publishes it. */
  async activate(
    revision: string,
    options: { by: string; reason?: string; renew?: boolean },
  ): Promise<ActivationOutcome> {
    const { activation, changed } = this.#store.bundles.activate(
      revision,
      options.by,
      options.reason,
      undefined,
      options.renew ? { renew: true } : {},
    );
    if (changed) {
      this.#options.metrics?.activations.inc();
      this.#logger.info(
        { revision, previous: activation.previousRevision, by: options.by, reason: options.reason },
        "bundle activated",
      );
    }
    this.#options.metrics?.setActiveRevision(revision);
    const publish: PublishResult = this.#options.publisher
      ? await this.#options.publisher.publishActive()
      : { published: false, error: "no publisher is configured", durationMs: 0 };
    if (publish.published) {
      this.#options.metrics?.stageSeconds.observe({ stage: "publish" }, publish.durationMs / 1000);
    }
    const outcome: ActivationOutcome = {
      revision,
      activatedAt: activation.activatedAt,
      changed,
      published: publish.published,
      publishMs: round(publish.durationMs),
    };
    if (activation.previousRevision !== undefined) outcome.previousRevision = activation.previousRevision;
    if (publish.error !== undefined) outcome.publishError = publish.error;
    return outcome;
  }

  /**
   * Adds the publish time of a bundle's first activation to its stage durations, so `total` is
   * the whole path from sources to NATS.
   */
  #recordPublish(bundle: BundleRecord, activation: ActivationOutcome): void {
    if (!activation.published || !activation.changed) return;
    const total = (bundle.durations.total ?? 0) + activation.publishMs;
    this.#store.bundles.addDurations(bundle.revision, { publish: activation.publishMs, total: round(total) });
  }

  #exportFailed(build: NewBuild, message: string, exportMs: number): BuildOutcome {
    try {
      this.#store.bundles.startBuild(build);
    } catch (err) {
      if (err instanceof BundleStateError)
        return { bundle: this.#store.bundles.require(build.revision), reused: true };
      throw err;
    }
    this.#logger.warn({ revision: build.revision, err: message }, "policy change rejected");
    return this.#failed(
      build.revision,
      "export",
      [{ stage: "export", message }],
      roundAll({ export: exportMs, total: exportMs }),
    );
  }

  #serialBuild(dir: string, build: NewBuild, extra: Record<string, number> = {}): Promise<BuildOutcome> {
    const run = this.#builds.then(
      () => this.#build(dir, build, extra),
      () => this.#build(dir, build, extra),
    );
    this.#builds = run.catch(() => undefined);
    return run;
  }

  async #build(dir: string, build: NewBuild, extra: Record<string, number>): Promise<BuildOutcome> {
    const bundles = this.#store.bundles;
    const log = this.#logger.child({ revision: build.revision });
    try {
      bundles.startBuild(build);
    } catch (err) {
      if (err instanceof BundleStateError) return { bundle: bundles.require(build.revision), reused: true };
      throw err;
    }
    const started = performance.now();
    const durations: Record<string, number | undefined> = { ...extra };
    const finish = () => roundAll({ ...durations, total: performance.now() - started + (extra.export ?? 0) });

    let result: CompileResult;
    try {
      result = await compilePolicies(dir, { ...this.#options.compile, revision: build.revision });
    } catch (err) {
      // Infrastructure (no opa, a timeout, a vanished folder): recorded, and retried by a later sync.
      log.error({ err: (err as Error).message }, "bundle build could not run");
      return this.#failed(
        build.revision,
        "internal",
        [{ stage: "internal", message: (err as Error).message }],
        finish(),
      );
    }
    durations.check = result.durations.check;
    durations.test = result.durations.test;
    durations.build = result.durations.build;

    if (!result.ok) {
      const errors = [
        ...result.errors.map((e) => located(result.stage, e)),
        ...result.testFailures.map(testFailureError),
      ];
      const testOutput =
        result.testFailures.length > 0 ? result.testFailures.map(formatTestFailure).join("\n") : undefined;
      log.warn({ stage: result.stage, errors: formatStoredErrors(errors) }, "policy change rejected");
      return this.#failed(build.revision, result.stage, errors, finish(), testOutput);
    }

    const compiled = result.compiled;
    const signStarted = performance.now();
    let bytes: Buffer;
    let signature: string;
    let manifestJson: string;
    try {
      const signed = await signBundle(
        {
          policyWasm: compiled.policyWasm,
          dataJson: compiled.dataJson,
          revision: build.revision,
          entrypoints: compiled.entrypoints,
          opaVersion: compiled.opaVersion,
          sequence: this.#store.bundles.nextBundleSequence(),
        },
        this.#options.signingKey,
      );
      bytes = encodeBundle(signed);
      signature = signed.signature;
      manifestJson = Buffer.from(signed.manifestJson).toString("utf8");
    } catch (err) {
      durations.sign = performance.now() - signStarted;
      log.error({ err: (err as Error).message }, "signing the bundle failed");
      return this.#failed(
        build.revision,
        "sign",
        [{ stage: "sign", message: (err as Error).message }],
        finish(),
      );
    }
    durations.sign = performance.now() - signStarted;
    const storeStarted = performance.now();
    const digest = sha256(bytes);
    const testOutput = `${compiled.tests.passed} passed, ${compiled.tests.skipped} skipped`;
    const record = bundles.markReady(build.revision, {
      manifestJson,
      signature,
      sha256: digest,
      bytes,
      opaVersion: compiled.opaVersion,
      entrypoints: compiled.entrypoints,
      durations: {},
      testsPassed: compiled.tests.passed,
      testsSkipped: compiled.tests.skipped,
      testOutput,
    });
    durations.store = performance.now() - storeStarted;
    const final = finish();
    bundles.addDurations(build.revision, final);
    this.#options.metrics?.builds.inc({ result: "ready", stage: "" });
    this.#options.metrics?.observeStages(final);
    log.info(
      { durationsMs: final, sizeBytes: bytes.byteLength, tests: compiled.tests },
      "bundle built and signed",
    );
    return { bundle: { ...record, durations: { ...record.durations, ...final } }, reused: false };
  }

  #failed(
    revision: string,
    stage: string,
    errors: StoredPolicyError[],
    durations: Record<string, number>,
    testOutput?: string,
  ): BuildOutcome {
    const failure: Parameters<ControlPlaneStore["bundles"]["markFailed"]>[1] = { stage, errors, durations };
    if (testOutput !== undefined) failure.testOutput = testOutput;
    const bundle = this.#store.bundles.markFailed(revision, failure);
    this.#options.metrics?.builds.inc({ result: "failed", stage });
    this.#options.metrics?.observeStages(durations);
    return { bundle, reused: false };
  }
}

/** `root/relative`, refusing absolute paths, `..`, empty segments and NUL. */
function safeJoin(root: string, relative: string): string {
  if (
    relative.length === 0 ||
    relative.length > SOURCE_LIMITS.pathLength ||
    relative.includes("\0") ||
    relative.includes("\\") ||
    relative.startsWith("/") ||
    relative.split("/").some((part) => part === "" || part === "." || part === "..")
  ) {
    throw new PublishSourcesError(
      `source path ${JSON.stringify(relative)} is not a relative path inside the folder`,
    );
  }
  const target = resolve(root, relative);
  if (!target.startsWith(root + sep)) {
    throw new PublishSourcesError(`source path ${JSON.stringify(relative)} leaves the folder`);
  }
  return target;
}
