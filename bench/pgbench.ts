/**
 * `make bench-pgbench`: PostgreSQL throughput through Portcullis against the baselines, measured in one
 * run against one throwaway PostgreSQL, every client connection over TLS (sslmode=require):
 *
 *   direct              pgbench → PostgreSQL (SCRAM as app_rw)
 *   pgbouncer           pgbench → PgBouncer, session mode, client TLS + SCRAM → PostgreSQL (server TLS)
 *   portcullis          pgbench → Portcullis, token as password, no statement policy → PostgreSQL (TLS)
 *   portcullis+policy   the same with the default policy: every statement analysed and decided
 *
 * Each target runs `pgbench -n -S -c 8 -j 2 -T 15` in the simple, extended and prepared query modes,
 * plus a connection-rate run (`-C`, a new connection per transaction). Modes run one after the other
 * across targets (simple on every target, then extended…), so the targets compared in a ratio ran
 * close together in time. The table and bench/results/pgbench.json hold the raw numbers and the
 * ratios; the targets below are reported as PASS/MISS and never fail the run. See bench/README.md.
 *
 * Options: --duration=S (15), --connect-duration=S (10), --warmup=S (3),
 *          --targets=direct,pgbouncer,portcullis,portcullis+policy  --modes=simple,extended,prepared,connect
 */
import { spawn } from "node:child_process";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { projectRoot, ToolchainError, toolchain } from "../common/toolchain.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { type OidcHarness, startOidcProvider } from "../test/harness/oidc.js";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";
import { benchMachine } from "./lib/machine.js";
import { parsePgbenchOutput } from "./lib/pgbench-output.js";
import { BenchError, ensurePgbouncer, type RunningPgbouncer, startPgbouncer } from "./lib/pgbouncer.js";
import { Cleanups, runBench, say } from "./lib/process.js";

const SCALE = 10;
const CLIENTS = 8;
const THREADS = 2;
const CONNECT_CLIENTS = 4;
const ROLE = "app_rw";

const ALL_TARGETS = ["direct", "pgbouncer", "portcullis", "portcullis+policy"] as const;
type Target = (typeof ALL_TARGETS)[number];
const ALL_MODES = ["simple", "extended", "prepared", "connect"] as const;
type Mode = (typeof ALL_MODES)[number];
const QUERY_MODES = ["simple", "extended", "prepared"] as const;

interface Endpoint {
  port: number;
  user: string;
  password: string;
  /** CPU used so far by what sits between pgbench and PostgreSQL, in microseconds. */
  cpuMicros?: () => number | null;
}

/** Portcullis runs in this process: its CPU is this process's (the benchmark itself only waits). */
const ownCpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/**
 * The data planes' warnings (and worse), kept in memory: a failed run reports the proxy's own reason
 * beside pgbench's (a refused login says which upstream error caused it).
 */
const proxyWarnings = {
  lines: [] as string[],
  clear() {
    this.lines.length = 0;
  },
  logger(target: string) {
    return pino(
      { level: "warn", base: { target } },
      {
        write: (line: string) => {
          const { msg, err, kind, sqlstate } = JSON.parse(line) as Record<string, unknown>;
          if (this.lines.length < 100)
            this.lines.push([msg, kind, sqlstate, err].filter((x) => x !== undefined).join(" "));
        },
      },
    );
  },
};

interface RunOk {
  tps: number;
  latency_ms: number;
  transactions: number;
  failed_transactions: number | null;
  connection_ms?: number;
  /** Clients pgbench reported aborted (a run with any is a failed run). */
  aborted_clients: number;
  /** CPU the proxy in the middle (Portcullis or PgBouncer) used per transaction, in microseconds. */
  proxy_cpu_us_per_txn?: number;
}
type RunResult = RunOk | { error: string };

interface Targets {
  name: string;
  metric: string;
  value: number | null;
  threshold: number;
  /** "min": the value must reach the threshold; "max": it must stay at or under it. */
  bound: "min" | "max";
  pass: boolean;
}

function list<T extends string>(value: string | undefined, all: readonly T[], what: string): T[] {
  if (!value) return [...all];
  const items = value.split(",").map((s) => s.trim());
  for (const item of items) {
    if (!all.includes(item as T))
      throw new BenchError(`unknown ${what} "${item}" (one of ${all.join(", ")})`);
  }
  return items as T[];
}

function seconds(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 600) throw new BenchError(`--${what} must be 0..600 seconds`);
  return n;
}

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: "string" },
      "connect-duration": { type: "string" },
      warmup: { type: "string" },
      targets: { type: "string" },
      modes: { type: "string" },
      profile: { type: "string" },
    },
  });
  return {
    duration: seconds(values.duration, 15, "duration"),
    connectDuration: seconds(values["connect-duration"], 10, "connect-duration"),
    warmup: seconds(values.warmup, 3, "warmup"),
    targets: list(values.targets, ALL_TARGETS, "target"),
    modes: list(values.modes, ALL_MODES, "mode"),
    /** A folder: each Portcullis run writes `<target>-<mode>.cpuprofile` there (V8's sampling profiler). */
    profile: values.profile,
  };
}

/** V8's CPU profiler on this thread (the data planes run here), one profile per run. */
class Profiler {
  readonly #session = new Session();
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.#session.connect();
  }
  #post(method: string, params?: object): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.#session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  }
  async start(): Promise<void> {
    await this.#post("Profiler.enable");
    await this.#post("Profiler.setSamplingInterval", { interval: 100 });
    await this.#post("Profiler.start");
  }
  async stop(name: string): Promise<string> {
    const { profile } = (await this.#post("Profiler.stop")) as { profile: unknown };
    const file = join(this.dir, `${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return file;
  }
}

/** Runs pgbench against one endpoint, relaying its progress lines; never throws. */
function pgbench(endpoint: Endpoint, args: string[], durationS: number, quiet = false): Promise<RunResult> {
  const cpuBefore = endpoint.cpuMicros?.() ?? null;
  return new Promise((resolve) => {
    const child = spawn(toolchain().pgbench, [...args, "-P", "5"], {
      env: {
        ...process.env,
        PGHOST: "127.0.0.1",
        PGPORT: String(endpoint.port),
        PGUSER: endpoint.user,
        PGPASSWORD: endpoint.password,
        PGDATABASE: "app",
        PGSSLMODE: "require",
        PGCONNECT_TIMEOUT: "10",
        PGOPTIONS: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const progress = /^progress: ([\d.]+) s, ([\d.]+) tps, lat ([\d.]+) ms/.exec(line);
        if (progress) {
          if (!quiet)
            say(`      ${progress[1]!.padStart(5)} s  ${progress[2]!.padStart(9)} tps  ${progress[3]} ms`);
        } else stderr += `${line}\n`;
      }
    });
    // bounded: pgbench stops itself after -T; anything far past that is stuck
    const timer = setTimeout(() => child.kill("SIGKILL"), (durationS + 60) * 1000);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ error: `cannot run pgbench: ${err.message}` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      stderr += partial;
      const lastError = stderr
        .split("\n")
        .filter((l) => l.trim())
        .slice(-6)
        .join(" | ");
      if (code !== 0) {
        resolve({ error: `pgbench exited with ${signal ?? code}: ${lastError || "no message"}` });
        return;
      }
      try {
        const s = parsePgbenchOutput(stdout);
        if (s.transactions === 0) return resolve({ error: "pgbench processed no transaction" });
        if (s.failed !== null && s.failed > 0)
          return resolve({ error: `${s.failed} failed transactions: ${lastError}` });
        const aborted = stderr.split("\n").filter((l) => /^client \d+ aborted/.test(l)).length;
        if (aborted > 0) return resolve({ error: `${aborted} clients aborted: ${lastError}` });
        const cpuAfter = endpoint.cpuMicros?.() ?? null;
        const cpu = cpuBefore !== null && cpuAfter !== null ? (cpuAfter - cpuBefore) / s.transactions : null;
        resolve({
          tps: s.tps,
          latency_ms: s.latencyMs,
          transactions: s.transactions,
          failed_transactions: s.failed,
          aborted_clients: aborted,
          ...(s.connectionMs !== null ? { connection_ms: s.connectionMs } : {}),
          ...(cpu !== null ? { proxy_cpu_us_per_txn: Math.round(cpu * 10) / 10 } : {}),
        });
      } catch (err) {
        resolve({ error: `${(err as Error).message}: ${lastError}` });
      }
    });
  });
}

function runArgs(mode: Mode, durationS: number): string[] {
  if (mode === "connect")
    return ["-n", "-S", "-c", String(CONNECT_CLIENTS), "-j", String(THREADS), "-T", String(durationS), "-C"];
  return ["-n", "-S", "-c", String(CLIENTS), "-j", String(THREADS), "-T", String(durationS), "-M", mode];
}

/** Proxy CPU per transaction of `a` ÷ that of `b` (null when either was not measured). */
function cpuRatio(a: RunResult | undefined, b: RunResult | undefined): number | null {
  if (!ok(a) || !ok(b) || a.proxy_cpu_us_per_txn === undefined || !b.proxy_cpu_us_per_txn) return null;
  return Math.round((a.proxy_cpu_us_per_txn / b.proxy_cpu_us_per_txn) * 1000) / 1000;
}

function ok(r: RunResult | undefined): r is RunOk {
  return r !== undefined && !("error" in r);
}

function ratio(a: RunResult | undefined, b: RunResult | undefined): number | null {
  return ok(a) && ok(b) && b.tps > 0 ? Math.round((a.tps / b.tps) * 1000) / 1000 : null;
}

async function prepareDatabase(pg: LocalPostgres): Promise<void> {
  // pgbench's tables go into schema sales, where the default policy lets app_rw read and write
  const init = spawn(toolchain().pgbench, ["-i", "-s", String(SCALE), "-q"], {
    env: {
      ...process.env,
      PGHOST: pg.host,
      PGPORT: String(pg.port),
      PGUSER: "postgres",
      PGPASSWORD: pg.passwords.postgres,
      PGDATABASE: pg.database,
      PGSSLMODE: "require",
      PGOPTIONS: "-c search_path=sales",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  init.stdout.on("data", (c: Buffer) => {
    output += c.toString();
  });
  init.stderr.on("data", (c: Buffer) => {
    output += c.toString();
  });
  const timer = setTimeout(() => init.kill("SIGKILL"), 600_000);
  const code = await new Promise<number | null>((resolve) => init.on("close", resolve));
  clearTimeout(timer);
  if (code !== 0)
    throw new BenchError(`pgbench -i failed: ${output.trim().split("\n").slice(-2).join(" | ")}`);
  await pg.psql(
    [
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sales TO ${ROLE}`,
      `ALTER ROLE ${ROLE} IN DATABASE ${pg.database} SET search_path = sales, public`,
    ].join("; "),
  );
}

/** Disables the OIDC provider's AsyncLocalStorage (see the call). */
async function quietProviderContext(): Promise<void> {
  const specifier: string = "oidc-provider/lib/helpers/als.js";
  const mod = (await import(specifier).catch(() => undefined)) as
    | { default?: { disable?(): void } }
    | undefined;
  mod?.default?.disable?.();
}

function fmt(n: number | null | undefined, digits: number): string {
  return n === null || n === undefined ? "—" : n.toFixed(digits);
}

async function main(): Promise<number> {
  const opts = options();
  const started = Date.now();
  const cleanups = new Cleanups().stopOnInterrupt();
  try {
    say("bench-pgbench: Portcullis vs direct PostgreSQL vs PgBouncer (client TLS everywhere)");
    const bouncer = opts.targets.includes("pgbouncer") ? await ensurePgbouncer(say) : undefined;
    const pgbenchVersion = (
      await new Promise<string>((resolve) => {
        const c = spawn(toolchain().pgbench, ["--version"]);
        let out = "";
        c.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        c.on("close", () => resolve(out.trim()));
      })
    ).replace(/^pgbench \(PostgreSQL\) /, "");

    say("  starting PostgreSQL…");
    const pg = await startPostgres({ maxConnections: 200, settings: { shared_buffers: "256MB" } });
    cleanups.push(() => pg.stop());
    const serverVersion = await pg.psql("SHOW server_version");
    say(`  PostgreSQL ${serverVersion} on port ${pg.port}; pgbench ${pgbenchVersion}`);
    say(`  pgbench -i -s ${SCALE} into schema sales…`);
    await prepareDatabase(pg);

    const endpoints = new Map<Target, Endpoint>();
    const describe = new Map<Target, string>();
    endpoints.set("direct", { port: pg.port, user: ROLE, password: pg.passwords[ROLE] });
    describe.set("direct", "PostgreSQL itself; TLS (RSA 2048 certificate); SCRAM-SHA-256 as app_rw");

    let pgbouncer: RunningPgbouncer | undefined;
    if (bouncer) {
      say(`  starting PgBouncer ${bouncer.version}…`);
      pgbouncer = await startPgbouncer(bouncer.path, pg, ROLE);
      cleanups.push(() => pgbouncer!.stop());
      endpoints.set("pgbouncer", {
        port: pgbouncer.port,
        user: ROLE,
        password: pg.passwords[ROLE],
        cpuMicros: () => pgbouncer!.cpuMicros(),
      });
      describe.set("pgbouncer", pgbouncer.description);
    }

    let oidc: OidcHarness | undefined;
    for (const target of ["portcullis", "portcullis+policy"] as const) {
      if (!opts.targets.includes(target)) continue;
      if (!oidc) {
        say("  starting the OIDC provider…");
        const started = await startOidcProvider({ defaultLifetimeSeconds: 3600 });
        oidc = started;
        cleanups.push(() => started.stop());
      }
      const withPolicy = target === "portcullis+policy";
      say(`  starting Portcullis ${withPolicy ? "with the default policy" : "without statement policy"}…`);
      const stack: ProxyStack = await startProxyStack({
        pg,
        oidc,
        start: { withoutStatementPolicy: !withPolicy, logger: proxyWarnings.logger(target) },
      });
      cleanups.push(() => stack.stop());
      // a real token from the provider (bob: engineers → app_rw), valid for longer than the whole run
      const token = await stack.token(USERS.bob, { lifetimeSeconds: 3600 });
      endpoints.set(target, {
        port: stack.port,
        user: "bob@example.com",
        password: token,
        cpuMicros: ownCpuMicros,
      });
      describe.set(
        target,
        `Portcullis data plane in this process; client TLS (ECDSA P-256), OIDC token as password; upstream TLS require, SCRAM as app_rw; ${withPolicy ? "default policy decides every statement" : "statements relayed without decisions"}`,
      );
    }

    // The OIDC provider runs in this process only to issue the tokens (done now; the data planes hold
    // its keys). Its request handling uses AsyncLocalStorage, which turns on async hooks for the whole
    // process: every socket write of the data planes would then pay an init hook that a deployed data
    // plane, with no provider beside it, does not. Turned off again here (a later provider request,
    // such as a key refetch, turns it back on).
    if (oidc) await quietProviderContext();

    const targets = opts.targets.filter((t) => endpoints.has(t));
    const plan: { target: Target; mode: Mode }[] = [];
    for (const mode of opts.modes) {
      for (const target of targets) {
        if (mode === "connect" || QUERY_MODES.includes(mode)) plan.push({ target, mode });
      }
    }
    const total = plan.reduce((s, p) => s + (p.mode === "connect" ? opts.connectDuration : opts.duration), 0);
    say();
    say(
      `running ${plan.length} pgbench runs (~${Math.round((total + opts.warmup * targets.length) / 60)} min), ${CLIENTS} clients / ${THREADS} threads, ${opts.duration} s each; -C runs ${CONNECT_CLIENTS} clients, ${opts.connectDuration} s`,
    );

    if (opts.warmup > 0) {
      for (const target of targets) {
        process.stdout.write(`  warm-up ${target} (${opts.warmup} s, extended)…`);
        const r = await pgbench(endpoints.get(target)!, runArgs("extended", opts.warmup), opts.warmup, true);
        say(ok(r) ? ` ${r.tps.toFixed(0)} tps` : ` FAILED: ${r.error}`);
      }
    }

    const profiler = opts.profile ? new Profiler(opts.profile) : undefined;
    const results: Record<string, Partial<Record<Mode, RunResult>>> = {};
    for (const [i, { target, mode }] of plan.entries()) {
      const duration = mode === "connect" ? opts.connectDuration : opts.duration;
      say(
        `  [${i + 1}/${plan.length}] ${target} ${mode === "connect" ? "connect (-C)" : mode} — ${duration} s`,
      );
      const profiling = profiler !== undefined && target.startsWith("portcullis");
      if (profiling) await profiler.start();
      proxyWarnings.clear();
      let r = await pgbench(endpoints.get(target)!, runArgs(mode, duration), duration);
      // a failed run through Portcullis carries what the proxy logged as a warning during it
      if (!ok(r) && proxyWarnings.lines.length > 0)
        r = { error: `${r.error} | the proxy warned: ${proxyWarnings.lines.slice(-3).join(" | ")}` };
      if (profiling) say(`      profile: ${await profiler.stop(`${target}-${mode}`)}`);
      results[target] ??= {};
      results[target][mode] = r;
      say(
        ok(r)
          ? `      → ${r.tps.toFixed(1)} tps, ${r.latency_ms.toFixed(3)} ms${r.connection_ms !== undefined ? `, connection ${r.connection_ms.toFixed(3)} ms` : ""}${r.proxy_cpu_us_per_txn !== undefined ? `, proxy CPU ${r.proxy_cpu_us_per_txn} µs/txn` : ""}`
          : `      → FAILED: ${r.error}`,
      );
    }

    // --- report -------------------------------------------------------------------------------
    const get = (t: Target, m: Mode) => results[t]?.[m];
    const ratios = (num: Target, den: Target, modes: readonly Mode[]) =>
      Object.fromEntries(modes.map((m) => [m, ratio(get(num, m), get(den, m))]));
    const cpuRatios = (num: Target) =>
      Object.fromEntries(QUERY_MODES.map((m) => [m, cpuRatio(get(num, m), get("pgbouncer", m))]));
    const report = {
      ratio_to_pgbouncer: ratios("portcullis", "pgbouncer", QUERY_MODES),
      ratio_to_direct: ratios("portcullis", "direct", ALL_MODES),
      with_policy_ratio_to_pgbouncer: ratios("portcullis+policy", "pgbouncer", QUERY_MODES),
      with_policy_ratio_to_direct: ratios("portcullis+policy", "direct", ALL_MODES),
      pgbouncer_ratio_to_direct: ratios("pgbouncer", "direct", ALL_MODES),
      // proxy CPU per transaction ÷ PgBouncer's: the steadiest comparison on a busy machine
      proxy_cpu_ratio_to_pgbouncer: cpuRatios("portcullis"),
      with_policy_proxy_cpu_ratio_to_pgbouncer: cpuRatios("portcullis+policy"),
    };
    const p = report.with_policy_ratio_to_pgbouncer;
    const cpu = report.with_policy_proxy_cpu_ratio_to_pgbouncer;
    const checks: Targets[] = (
      [
        ["portcullis simple", "ratio_to_pgbouncer.simple", report.ratio_to_pgbouncer.simple, 0.8],
        ["portcullis prepared", "ratio_to_pgbouncer.prepared", report.ratio_to_pgbouncer.prepared, 0.65],
        ["portcullis connect", "ratio_to_direct.connect", report.ratio_to_direct.connect, 1.0],
        ["portcullis+policy simple", "with_policy_ratio_to_pgbouncer.simple", p.simple, 0.9],
        ["portcullis+policy prepared", "with_policy_ratio_to_pgbouncer.prepared", p.prepared, 0.9],
        [
          "portcullis+policy CPU simple",
          "with_policy_proxy_cpu_ratio_to_pgbouncer.simple",
          cpu.simple,
          1.25,
          "max",
        ],
        [
          "portcullis+policy CPU extended",
          "with_policy_proxy_cpu_ratio_to_pgbouncer.extended",
          cpu.extended,
          1.25,
          "max",
        ],
        [
          "portcullis+policy CPU prepared",
          "with_policy_proxy_cpu_ratio_to_pgbouncer.prepared",
          cpu.prepared,
          1.25,
          "max",
        ],
      ] as [string, string, number | null | undefined, number, ("min" | "max")?][]
    ).map(([name, metric, value, threshold, bound = "min"]) => ({
      name,
      metric,
      value: value ?? null,
      threshold,
      bound,
      pass: typeof value === "number" && (bound === "min" ? value >= threshold : value <= threshold),
    }));

    say();
    say(
      `${"target".padEnd(19)} ${"mode".padEnd(9)} ${"TPS".padStart(10)} ${"latency ms".padStart(11)} ${"÷ direct".padStart(9)} ${"÷ pgbouncer".padStart(12)} ${"proxy CPU µs/txn".padStart(17)}`,
    );
    for (const mode of ALL_MODES) {
      for (const target of targets) {
        const r = get(target, mode);
        if (!r) continue;
        const label = mode === "connect" ? "connect" : mode;
        if (!ok(r)) {
          say(`${target.padEnd(19)} ${label.padEnd(9)} ${"FAILED".padStart(10)}  ${r.error}`);
          continue;
        }
        const vsBouncer = target === "pgbouncer" ? null : ratio(r, get("pgbouncer", mode));
        say(
          `${target.padEnd(19)} ${label.padEnd(9)} ${r.tps.toFixed(1).padStart(10)} ${r.latency_ms.toFixed(3).padStart(11)} ${fmt(ratio(r, get("direct", mode)), 2).padStart(9)} ${fmt(vsBouncer, 2).padStart(12)} ${fmt(r.proxy_cpu_us_per_txn, 1).padStart(17)}`,
        );
      }
    }
    say();
    say("targets (reported, never enforced):");
    for (const c of checks) {
      say(
        `  ${c.value === null ? "n/a " : c.pass ? "PASS" : "MISS"}  ${c.name.padEnd(31)} ${c.metric.padEnd(50)} ${fmt(c.value, 2)} (target ${c.bound === "min" ? "≥" : "≤"} ${c.threshold})`,
      );
    }

    const out = {
      benchmark: "pgbench",
      date: new Date().toISOString(),
      machine: benchMachine(
        "shared machine: other work may have run at the same time; compare ratios, not absolute numbers",
      ),
      versions: { postgres: serverVersion, pgbench: pgbenchVersion, pgbouncer: bouncer?.version ?? null },
      setup: {
        scale: SCALE,
        workload: "pgbench -n -S (select only)",
        clients: CLIENTS,
        threads: THREADS,
        duration_s: opts.duration,
        connect: {
          clients: CONNECT_CLIENTS,
          threads: THREADS,
          duration_s: opts.connectDuration,
          mode: "simple",
        },
        warmup_s: opts.warmup,
        client_tls: "sslmode=require on every target",
        role: ROLE,
        targets: Object.fromEntries(targets.map((t) => [t, describe.get(t)])),
      },
      ...report,
      targets: checks,
      results,
    };
    const file = join(projectRoot(), "bench", "results", "pgbench.json");
    mkdirSync(join(projectRoot(), "bench", "results"), { recursive: true });
    writeFileSync(`${file}.tmp`, `${JSON.stringify(out, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    say();
    say(`wrote bench/results/pgbench.json in ${Math.round((Date.now() - started) / 1000)} s`);
    const failures = Object.values(results).flatMap((byMode) => Object.values(byMode).filter((r) => !ok(r)));
    if (failures.length > 0) {
      say(`bench-pgbench: ${failures.length} run(s) failed (see the table)`);
      return 1;
    }
    return 0;
  } finally {
    await cleanups.run();
  }
}

runBench("pgbench", main, (err) => err instanceof BenchError || err instanceof ToolchainError);
