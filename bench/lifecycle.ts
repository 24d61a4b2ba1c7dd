/**
 * `make bench-lifecycle`: the safe-policy-change and just-in-time-access features (issue #14), each
 * measured against real components by its own part, one after another:
 *
 *   bench/lifecycle/impact.ts   impact (replay speed and the flips of a scripted change with a known
 *                               answer) and shadow (a shadow revision never changes what is enforced)
 *   bench/lifecycle/canary.ts   canary (a bad revision on one region → rolled back by itself)
 *   bench/lifecycle/grants.ts   jit_grant (Grant call → the subject's next statement allowed) and
 *                               jit_expiry (a grant's end → statement denied / session ended)
 *
 * Prints each part's figures against its target and writes bench/results/lifecycle.json. A missed
 * target is reported (MISS), never fails the run; a part that cannot measure fails it.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../common/toolchain.js";
import { benchMachine } from "./lib/machine.js";
import { runBench, say } from "./lib/process.js";
import { measureCanary } from "./lifecycle/canary.js";
import { measureGrants } from "./lifecycle/grants.js";
import { measureImpact } from "./lifecycle/impact.js";

type Section = Record<string, unknown>;
const num = (section: unknown, key: string): number => {
  const value = (section as Record<string, unknown> | undefined)?.[key];
  return typeof value === "number" ? value : Number.NaN;
};

async function main(): Promise<number> {
  const started = Date.now();
  const parts: Array<[string, () => Promise<Section>]> = [
    ["impact", measureImpact],
    ["canary", measureCanary],
    ["grants", measureGrants],
  ];
  const results: Section = {};
  for (const [name, measure] of parts) {
    const t0 = Date.now();
    say(`bench-lifecycle: ${name}…`);
    Object.assign(results, await measure());
    say(`  ${name} measured in ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  const targets = [
    {
      key: "impact.decisions_per_s",
      value: num(results.impact, "decisions_per_s"),
      pass: (v: number) => v >= 10_000,
      want: "≥ 10,000",
    },
    {
      key: "impact.flips_found",
      value: num(results.impact, "flips_found"),
      pass: (v: number) => v === num(results.impact, "flips_expected"),
      want: `= flips_expected (${num(results.impact, "flips_expected")})`,
    },
    {
      key: "canary.rollback_s",
      value: num(results.canary, "rollback_s"),
      pass: (v: number) => v <= 10,
      want: "≤ 10 s",
    },
    {
      key: "jit_grant.p99_ms",
      value: num(results.jit_grant, "p99_ms"),
      pass: (v: number) => v <= 50,
      want: "≤ 50 ms",
    },
    {
      key: "jit_expiry.p99_ms",
      value: num(results.jit_expiry, "p99_ms"),
      pass: (v: number) => v <= 1000,
      want: "≤ 1000 ms",
    },
    {
      key: "shadow.enforced_changes",
      value: num(results.shadow, "enforced_changes"),
      pass: (v: number) => v === 0,
      want: "= 0",
    },
  ].map((t) => ({ ...t, met: Number.isFinite(t.value) && t.pass(t.value) }));
  say("");
  say("  figure                      value        target");
  for (const t of targets) {
    say(`  ${t.met ? "PASS" : "MISS"}  ${t.key.padEnd(24)} ${String(t.value).padEnd(12)} ${t.want}`);
  }
  const out = {
    benchmark: "lifecycle",
    date: new Date().toISOString(),
    machine: benchMachine(
      "one machine runs PostgreSQL, NATS, the control plane, every data plane and the clients",
    ),
    ...results,
    targets: Object.fromEntries(targets.map((t) => [t.key, { target: t.want, value: t.value, pass: t.met }])),
  };
  const dir = join(projectRoot(), "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "lifecycle.json");
  writeFileSync(`${file}.tmp`, `${JSON.stringify(out, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  say(`  wrote bench/results/lifecycle.json in ${Math.round((Date.now() - started) / 1000)} s`);
  return 0;
}

runBench("lifecycle", main);
