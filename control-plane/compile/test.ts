/** Stage 2: `opa test --format json` over the policy folder (Rego, data files, testdata/). */
import {
  errorsOfRun,
  fromOpaJsonError,
  type OpaOptions,
  type PolicyError,
  policyFolder,
  relativeToFolder,
  runOpa,
} from "./opa.js";

export interface TestFailure {
  /** "data.portcullis.query_test" */
  package: string;
  /** "test_analyst_reads_sales" */
  name: string;
  file?: string;
  row?: number;
  col?: number;
  /** Set when the test raised an error rather than evaluating to false. */
  error?: PolicyError;
  /** What the test printed (print()), decoded. */
  output?: string;
}

export interface TestResult {
  ok: boolean;
  passed: number;
  skipped: number;
  /** Tests that evaluated to false or raised an error. */
  failures: TestFailure[];
  /** Problems that kept the tests from running at all (a file that does not load). */
  errors: PolicyError[];
  durationMs: number;
}

export const TEST_TIMEOUT_MS = 120_000;

interface OpaTestResult {
  location?: { file?: unknown; row?: unknown; col?: unknown };
  package?: unknown;
  name?: unknown;
  fail?: unknown;
  skip?: unknown;
  error?: unknown;
  output?: unknown;
}

function failureOf(r: OpaTestResult, folder: string): TestFailure {
  const failure: TestFailure = {
    package: typeof r.package === "string" ? r.package : "",
    name: typeof r.name === "string" ? r.name : "",
  };
  const loc = r.location;
  if (loc && typeof loc.file === "string") failure.file = relativeToFolder(loc.file, folder);
  if (loc && typeof loc.row === "number") failure.row = loc.row;
  if (loc && typeof loc.col === "number") failure.col = loc.col;
  if (r.error && typeof r.error === "object") failure.error = fromOpaJsonError(r.error, folder);
  if (typeof r.output === "string" && r.output)
    failure.output = Buffer.from(r.output, "base64").toString("utf8");
  return failure;
}

/** Runs every test in `dir`. A failing or erroring test makes the result not ok. */
export async function testPolicies(dir: string, options: OpaOptions = {}): Promise<TestResult> {
  const folder = policyFolder(dir);
  const run = await runOpa(["test", "--format", "json", "."], folder, {
    ...options,
    stage: "test",
    defaultTimeoutMs: TEST_TIMEOUT_MS,
  });
  let results: OpaTestResult[] | undefined;
  try {
    const parsed: unknown = JSON.parse(run.stdout);
    if (Array.isArray(parsed)) results = parsed as OpaTestResult[];
  } catch {
    results = undefined;
  }
  if (!results) {
    // Nothing ran: loading or compiling failed, and opa said why on stderr.
    return {
      ok: false,
      passed: 0,
      skipped: 0,
      failures: [],
      errors: errorsOfRun(run, folder, "test"),
      durationMs: run.durationMs,
    };
  }
  const failures = results
    .filter((r) => r.fail === true || r.error !== undefined)
    .map((r) => failureOf(r, folder));
  const skipped = results.filter((r) => r.skip === true).length;
  const passed = results.length - failures.length - skipped;
  const errors = run.code !== 0 && failures.length === 0 ? errorsOfRun(run, folder, "test") : [];
  return {
    ok: run.code === 0 && failures.length === 0,
    passed,
    skipped,
    failures,
    errors,
    durationMs: run.durationMs,
  };
}

export function formatTestFailure(f: TestFailure): string {
  const where = f.file ? `${f.file}${f.row ? `:${f.row}` : ""}: ` : "";
  const what = f.error ? `error: ${f.error.message}` : "failed";
  return `${where}${f.package}.${f.name} ${what}${f.output ? `\n${f.output.trimEnd()}` : ""}`;
}
