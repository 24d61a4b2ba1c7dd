/** Stage 3: `opa build -t wasm`, then policy.wasm and data.json out of the bundle tarball. */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNDLE_LIMITS } from "../../proto/bundle.js";
import { readTarFiles } from "../../proto/bundle-file.js";
import { errorsOfRun, type OpaOptions, type PolicyError, policyFolder, runOpa } from "./opa.js";

export interface BuildOptions extends OpaOptions {
  /**
   * Names (files or folders, opa --ignore patterns) left out of the bundle. Default: test files
   * (`*_test.rego`) and `testdata` folders, which only `opa test` needs.
   */
  ignore?: readonly string[];
}

export type BuildResult =
  | { ok: true; policyWasm: Uint8Array; dataJson: Uint8Array; durationMs: number }
  | { ok: false; errors: PolicyError[]; durationMs: number };

export const BUILD_TIMEOUT_MS = 120_000;
export const DEFAULT_BUILD_IGNORE: readonly string[] = ["*_test.rego", "testdata"];

/** Compiles `entrypoints` ("portcullis/query/decision", …) of the policy in `dir` to WebAssembly. */
export async function buildWasm(
  dir: string,
  entrypoints: readonly string[],
  options: BuildOptions = {},
): Promise<BuildResult> {
  const folder = policyFolder(dir);
  if (entrypoints.length === 0) throw new Error("buildWasm needs at least one entrypoint");
  const out = await mkdtemp(join(tmpdir(), "portcullis-opa-build-"));
  try {
    const output = join(out, "bundle.tar.gz");
    const args = ["build", "-t", "wasm", "-o", output];
    for (const e of entrypoints) args.push("-e", e);
    for (const pattern of options.ignore ?? DEFAULT_BUILD_IGNORE) args.push("--ignore", pattern);
    args.push(".");
    const run = await runOpa(args, folder, {
      ...options,
      stage: "build",
      defaultTimeoutMs: BUILD_TIMEOUT_MS,
    });
    if (run.code !== 0)
      return { ok: false, errors: errorsOfRun(run, folder, "build"), durationMs: run.durationMs };
    const files = await readTarFiles(await readFile(output), {
      limits: { "policy.wasm": BUNDLE_LIMITS.policyWasm, "data.json": BUNDLE_LIMITS.dataJson },
      unexpected: "ignore",
      what: "opa build output",
    });
    const policyWasm = files.get("policy.wasm");
    const dataJson = files.get("data.json");
    if (!policyWasm || !dataJson) {
      return {
        ok: false,
        errors: [{ message: `opa build output lacks ${policyWasm ? "data.json" : "policy.wasm"}` }],
        durationMs: run.durationMs,
      };
    }
    return { ok: true, policyWasm, dataJson, durationMs: run.durationMs };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
