#!/usr/bin/env node
// Prints the functions with the most self time in a V8 .cpuprofile (node --cpu-prof), and the
// time spent in each source file, idle and GC excluded from the shares. Usage:
//   node scripts/cpuprofile-top.mjs <file.cpuprofile> [top=30]
import { readFileSync } from "node:fs";

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node scripts/cpuprofile-top.mjs <file.cpuprofile> [top]\n");
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
}
const fnSelf = new Map();
const fileSelf = new Map();
let total = 0;
let idle = 0;
for (const [id, us] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const url = (cf.url || "").replace(/^file:\/\/.*?\/(dist|node_modules)\//, "$1/");
  const name = cf.functionName || "(anonymous)";
  if (name === "(idle)" || name === "(program)") {
    idle += us;
    if (name === "(idle)") continue;
  }
  total += us;
  const key = `${name} ${url}:${cf.lineNumber + 1}`;
  fnSelf.set(key, (fnSelf.get(key) ?? 0) + us);
  const f = url || `(${name})`;
  fileSelf.set(f, (fileSelf.get(f) ?? 0) + us);
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
process.stdout.write(
  `busy ${(total / 1e6).toFixed(2)} s (idle ${(idle / 1e6).toFixed(2)} s)\n\nself time by function:\n`,
);
for (const [k, us] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, top))
  process.stdout.write(`${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
process.stdout.write("\nself time by file:\n");
for (const [k, us] of [...fileSelf].sort((a, b) => b[1] - a[1]).slice(0, top))
  process.stdout.write(`${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
