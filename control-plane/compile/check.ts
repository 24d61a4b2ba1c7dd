/** Stage 1: `opa check --strict --format json` over the policy folder. */
import { errorsOfRun, type OpaOptions, type PolicyError, policyFolder, runOpa } from "./opa.js";

export interface CheckResult {
  ok: boolean;
  /** Empty when ok. Parse, type and strict-mode errors, located by file:row:col. */
  errors: PolicyError[];
  durationMs: number;
}

export const CHECK_TIMEOUT_MS = 30_000;

/**
 * Parses and compiles every .rego file under `dir` in strict mode (unused variables and imports,
 * shadowing, deprecated built-ins are errors). Data files are not read by `opa check`: the test
 * stage loads them.
 */
export async function checkPolicies(dir: string, options: OpaOptions = {}): Promise<CheckResult> {
  const folder = policyFolder(dir);
  const run = await runOpa(["check", "--strict", "--format", "json", "."], folder, {
    ...options,
    stage: "check",
    defaultTimeoutMs: CHECK_TIMEOUT_MS,
  });
  if (run.code === 0) return { ok: true, errors: [], durationMs: run.durationMs };
  return { ok: false, errors: errorsOfRun(run, folder, "check"), durationMs: run.durationMs };
}
