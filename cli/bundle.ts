import { resolve } from "node:path";
import type { Command } from "commander";
import { signBundle } from "../control-plane/bundle/sign.js";
import { exportPublicKey, loadOrCreateSigningKey } from "../control-plane/bundle/signing-key.js";
import { compilePolicies, describeCompileFailure } from "../control-plane/compile/index.js";
import { writeBundle } from "../proto/bundle-file.js";

/**
 * `portcullis bundle build DIR`: check, test, compile and sign a policy folder into a bundle file a
 * data plane can load with `--bundle` (the same gate the control plane runs on every commit).
 */
export function registerBundleCommands(program: Command): void {
  const bundle = program.command("bundle").description("build signed policy bundles locally");
  bundle
    .command("build <dir>")
    .description("opa check --strict, opa test, opa build -t wasm, then sign")
    .requiredOption("-k, --key <file>", "Ed25519 signing key (created if missing)")
    .requiredOption("-o, --out <file>", "bundle file to write")
    .option("--public-key <file>", "also write the public key data planes need")
    .option("--revision <rev>", "revision to record (default: a hash of the sources)")
    .action(
      async (dir: string, opts: { key: string; out: string; publicKey?: string; revision?: string }) => {
        const result = await compilePolicies(resolve(dir), opts.revision ? { revision: opts.revision } : {});
        if (!result.ok) {
          console.error(`policy rejected at ${result.stage}:\n${describeCompileFailure(result)}`);
          process.exit(1);
        }
        const key = await loadOrCreateSigningKey(resolve(opts.key));
        const signed = await signBundle(result.compiled, key);
        await writeBundle(resolve(opts.out), signed);
        if (opts.publicKey) await exportPublicKey(key, resolve(opts.publicKey));
        const ms = (v: number | undefined) => `${Math.round(v ?? 0)} ms`;
        const d = result.durations;
        console.log(
          `bundle ${result.compiled.revision} written to ${opts.out} (${result.compiled.tests.passed} tests passed; check ${ms(d.check)}, test ${ms(d.test)}, build ${ms(d.build)})`,
        );
      },
    );
}
