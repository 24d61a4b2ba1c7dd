/**
 * The compile pipeline: opa check --strict → opa test → opa build -t wasm. The stages run side by
 * side, and the first of them in that order that fails is the one whose errors come back (the
 * active bundle is not touched: that is the caller's rule). Each stage's duration is reported.
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { ENTRYPOINTS } from "../../proto/policy.js";
import { type BuildOptions, buildWasm } from "./build.js";
import { checkPolicies } from "./check.js";
import { formatPolicyError, opaVersion, type PolicyError, policyFolder } from "./opa.js";
import { formatTestFailure, type TestFailure, testPolicies } from "./test.js";

export type { BuildResult } from "./build.js";
export { buildWasm, DEFAULT_BUILD_IGNORE } from "./build.js";
export type { CheckResult } from "./check.js";
export { checkPolicies } from "./check.js";
export type { OpaOptions, PolicyError } from "./opa.js";
export {
  formatPolicyError,
  OpaNotFoundError,
  OpaTimeoutError,
  opaVersion,
  PolicyFolderError,
} from "./opa.js";
export type { TestFailure, TestResult } from "./test.js";
export { formatTestFailure, testPolicies } from "./test.js";

export type CompileStage = "check" | "test" | "build";

export interface StageDurations {
  check?: number;
  test?: number;
  build?: number;
  total: number;
}

export interface CompiledPolicy {
  revision: string;
  opaVersion: string;
  entrypoints: string[];
  policyWasm: Uint8Array;
  dataJson: Uint8Array;
  tests: { passed: number; skipped: number };
}

export type CompileResult =
  | { ok: true; compiled: CompiledPolicy; durations: StageDurations }
  | {
      ok: false;
      stage: CompileStage;
      errors: PolicyError[];
      testFailures: TestFailure[];
      durations: StageDurations;
    };

export interface CompileOptions extends BuildOptions {
  /** The git commit of the sources; default: contentRevision(dir). */
  revision?: string;
  /** Default: every entrypoint of proto/policy.ts ENTRYPOINTS. */
  entrypoints?: readonly string[];
}

/** The entrypoints every Portcullis bundle is built with. */
export const DEFAULT_ENTRYPOINTS: readonly string[] = Object.values(ENTRYPOINTS);

/** Entrypoints a policy may leave out (the proxy then never caches, or never caches by shape). */
export const OPTIONAL_ENTRYPOINTS: readonly string[] = [
  ENTRYPOINTS.queryCacheable,
  ENTRYPOINTS.queryCacheableByShape,
];

/** The optional entrypoints opa says the policy does not define. */
function undefinedOptionalEntrypoints(errors: readonly { message: string }[]): string[] {
  return OPTIONAL_ENTRYPOINTS.filter((e) =>
    errors.some((err) => err.message.includes(`entrypoint "${e}" does not refer to a rule`)),
  );
}

const POLICY_FILE = /\.(rego|json|ya?ml)$/;

/**
 * A revision for sources without a commit: "sha256:" + a digest over the relative path and bytes
 * of every file opa would read (.rego, .json, .yaml, .yml), in path order.
 */
export async function contentRevision(dir: string): Promise<string> {
  const folder = policyFolder(dir);
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && POLICY_FILE.test(e.name))
    .map((e) => relative(folder, join(e.parentPath, e.name)).split(sep).join("/"))
    .sort();
  const hash = createHash("sha256");
  for (const file of files) {
    const bytes = await readFile(join(folder, file));
    hash.update(`${file}\0${bytes.length}\0`).update(bytes);
  }
  return `sha256:${hash.digest("hex")}`;
}

/** Runs check, test and build on `dir`. Throws only for infrastructure (no opa, timeout, no folder). */
export async function compilePolicies(dir: string, options: CompileOptions = {}): Promise<CompileResult> {
  const started = performance.now();
  const folder = policyFolder(dir);
  const durations: StageDurations = { total: 0 };
  const done = (): StageDurations => ({ ...durations, total: performance.now() - started });
  const [version, revision] = await Promise.all([
    opaVersion(options),
    options.revision ?? contentRevision(folder),
  ]);

  // The three stages run side by side (separate opa processes; the commit's wait is the slowest of
  // them, not their sum) and are judged in pipeline order: the first failing stage of check → test
  // → build is the one reported, exactly as if they had run one after the other.
  const building = buildWithOptionalEntrypoints(folder, options);
  const testing = testPolicies(folder, options);
  // settled before anything is returned: no opa process outlives the compile that started it
  const [check, test, built] = await Promise.allSettled([checkPolicies(folder, options), testing, building]);
  const value = <T>(r: PromiseSettledResult<T>): T => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  };
  const checked = value(check);
  durations.check = checked.durationMs;
  if (!checked.ok)
    return { ok: false, stage: "check", errors: checked.errors, testFailures: [], durations: done() };

  const tested = value(test);
  durations.test = tested.durationMs;
  if (!tested.ok) {
    return {
      ok: false,
      stage: "test",
      errors: tested.errors,
      testFailures: tested.failures,
      durations: done(),
    };
  }

  const { build, entrypoints } = value(built);
  durations.build = build.durationMs;
  if (!build.ok)
    return { ok: false, stage: "build", errors: build.errors, testFailures: [], durations: done() };

  return {
    ok: true,
    compiled: {
      revision,
      opaVersion: version,
      entrypoints,
      policyWasm: build.policyWasm,
      dataJson: build.dataJson,
      tests: { passed: tested.passed, skipped: tested.skipped },
    },
    durations: done(),
  };
}

/** opa build -t wasm, leaving out the optional entrypoints the policy does not define. */
async function buildWithOptionalEntrypoints(folder: string, options: CompileOptions) {
  let entrypoints = [...(options.entrypoints ?? DEFAULT_ENTRYPOINTS)];
  let build = await buildWasm(folder, entrypoints, options);
  // opa names one undefined entrypoint at a time: drop optional ones until none is left undefined
  for (
    let tries = 0;
    !build.ok && options.entrypoints === undefined && tries < OPTIONAL_ENTRYPOINTS.length;
    tries++
  ) {
    const missing = undefinedOptionalEntrypoints(build.errors);
    if (missing.length === 0) break;
    entrypoints = entrypoints.filter((e) => !missing.includes(e));
    const spent = build.durationMs;
    build = await buildWasm(folder, entrypoints, options);
    build.durationMs += spent;
  }
  return { build, entrypoints };
}

/** A failed compile as readable lines: "stage: file:row:col: message" and failing tests. */
export function describeCompileFailure(result: Extract<CompileResult, { ok: false }>): string {
  const lines = [
    ...result.errors.map((e) => `${result.stage}: ${formatPolicyError(e)}`),
    ...result.testFailures.map((f) => `test: ${formatTestFailure(f)}`),
  ];
  return lines.length > 0 ? lines.join("\n") : `${result.stage} failed`;
}
