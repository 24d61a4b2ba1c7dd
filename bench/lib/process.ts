/**
 * What the benches that run Portcullis as real processes share: starting `portcullis <command>` with
 * its output in a log file, stopping a child (SIGTERM, then SIGKILL), polling a condition, a
 * readiness probe, and the nearest-rank percentile every bench reports.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, openSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../../common/toolchain.js";

/** One line on stdout (the benches' progress and tables). */
export const say = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};

/** Nearest-rank percentile, p in 0..100, of the values in any order (NaN for none). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Polls `check` every `pollMs` until it holds; throws "timed out waiting for <what>" after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  pollMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** `portcullis <args>` from dist/ as a child process, stdout and stderr appended to `log`. */
export function spawnPortcullis(args: string[], log: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const cli = join(projectRoot(), "dist", "cli", "portcullis.js");
  if (!existsSync(cli)) throw new Error("dist/ is missing: run the bench through make (it builds first)");
  const fd = openSync(log, "a");
  // PORTCULLIS_BENCH_CPU_PROF=<dir>: a V8 CPU profile of every Portcullis process (bench/README.md)
  const profile = process.env.PORTCULLIS_BENCH_CPU_PROF;
  const flags = profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : [];
  return spawn(process.execPath, [...flags, cli, ...args], {
    stdio: ["ignore", fd, fd],
    env: { ...process.env, ...env },
  });
}

/** Stops a child: SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** True when `url` answers 2xx (a readiness probe); false when it does not answer at all. */
export async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

/**
 * Runs a bench's main and exits with its status; an error ends the run with `bench-<name>: message`
 * (the stack too, unless it is an error the bench expects and words for the user).
 */
export function runBench(
  name: string,
  main: () => Promise<number>,
  expected: (err: unknown) => boolean = () => false,
): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      const message = expected(err) ? (err as Error).message : (err as Error).stack || String(err);
      process.stderr.write(`bench-${name}: ${message}\n`);
      process.exit(1);
    },
  );
}

/**
 * What a bench started, stopped in reverse order by `run()` (each step's failure ignored: the rest
 * still stop); `stopOnInterrupt()` runs it on Ctrl-C before the process exits.
 */
export class Cleanups {
  private readonly steps: (() => Promise<unknown>)[] = [];

  push(...steps: (() => Promise<unknown>)[]): void {
    this.steps.push(...steps);
  }

  async run(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) await step().catch(() => undefined);
  }

  stopOnInterrupt(): this {
    process.once("SIGINT", () => {
      say("\ninterrupted: stopping everything the benchmark started…");
      void this.run().finally(() => process.exit(130));
    });
    return this;
  }
}
