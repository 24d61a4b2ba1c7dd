/**
 * `make bench-idle`: what an idle client costs a data plane. 10,000 TLS client sessions (token login,
 * the default policies) are opened against one data plane, its own process as deployed, and left idle;
 * the data plane parks them (session.park_idle_after_ms): each gives its upstream session back to the
 * pool, which keeps at most upstream.pool.max_idle_per_key of them, so PostgreSQL holds a few dozen
 * backends for ten thousand clients. The figure is the data plane's resident memory (VmRSS) once every
 * session is parked, less its resident memory before the first login, per connection.
 *
 * Setup, all on loopback: a throwaway PostgreSQL, a real OIDC provider, a bundle of the default
 * policies built by the real opa and signed (read from a file: no NATS is needed to hold sessions),
 * and the clients (bench/lib/pg-session.ts over TLS) held by worker threads of this process.
 *
 * Output: a table, and bench/results/idle.json with connections, kib_per_connection, rss_mib (once
 * parked), the RSS before, the backends PostgreSQL held, and the login rate. Target: ≤ 64 KiB per
 * connection (PASS/MISS, never fails the run); the run fails only when something could not be
 * measured (a login refused, a session that did not park or did not stay open).
 *
 * Options: --connections=N (10000) --client-threads=N (2) --park-after-ms=N (1000) --keep
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { stringify as toYaml } from "yaml";
import { projectRoot } from "../common/toolchain.js";
import { freePort } from "../devstack/ports.js";
import { startPostgres } from "../devstack/postgres.js";
import { startOidcProvider } from "../test/harness/oidc.js";
import { buildBundle } from "../test/harness/proxy-stack.js";
import { benchMachine } from "./lib/machine.js";
import { Cleanups, httpOk, runBench, say, spawnPortcullis, stopChild, until } from "./lib/process.js";
import type { OpenRequest, WorkerMessage } from "./lib/session-clients.js";
import { askReport } from "./lib/session-workers.js";

const TARGET_KIB = 64;
const MAX_IDLE_UPSTREAMS = 20;

function options() {
  const { values } = parseArgs({
    options: {
      connections: { type: "string", default: "10000" },
      "client-threads": { type: "string", default: "2" },
      "park-after-ms": { type: "string", default: "1000" },
      keep: { type: "boolean", default: false },
    },
  });
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    return n;
  };
  return {
    connections: int("connections", values.connections, 1),
    clientThreads: int("client-threads", values["client-threads"], 1),
    parkAfterMs: int("park-after-ms", values["park-after-ms"], 1),
    keep: values.keep ?? false,
  };
}

/** Resident memory of a process, in KiB (VmRSS). */
function rssKib(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  if (!line) throw new Error(`no VmRSS for process ${pid}`);
  return Number(line.replace(/\D+/g, ""));
}

/** One gauge's value from a Prometheus text page. */
async function gauge(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : Number.NaN;
}

async function main(): Promise<number> {
  const opts = options();
  const started = Date.now();
  const work = await mkdtemp(join(tmpdir(), "portcullis-bench-idle-"));
  await chmod(work, 0o755); // PostgreSQL runs as its own user when this runs as root
  const cleanups = new Cleanups().stopOnInterrupt();
  let failed = false;
  try {
    say(`bench-idle: ${opts.connections} idle TLS sessions on one data plane`);
    const [pg, oidc] = await Promise.all([
      // logins in flight each hold a backend until their session parks; the pool keeps a few
      startPostgres({ maxConnections: 400, baseDir: work }),
      startOidcProvider({ defaultLifetimeSeconds: 3600 }),
    ]);
    cleanups.push(
      () => pg.stop(),
      () => oidc.stop(),
    );
    say("  building the default policies' bundle…");
    const bundle = await buildBundle(join(projectRoot(), "policies"), work);
    const roles: Record<string, { password_file: string }> = {};
    for (const role of ["analyst", "app_rw", "admin"] as const) {
      const file = join(work, `${role}.password`);
      await writeFile(file, pg.passwords[role], { mode: 0o600 });
      roles[role] = { password_file: file };
    }
    const port = await freePort();
    const metricsPort = await freePort();
    const config = join(work, "data-plane.yaml");
    await writeFile(
      config,
      toYaml({
        proxy: { id: "bench-idle", region: "eu" },
        listen: { host: "127.0.0.1", port },
        oidc: { issuers: [{ issuer: oidc.issuer, audience: oidc.clientId }], allow_insecure_issuer: true },
        policy: { bundle: bundle.path, public_key_file: bundle.publicKeyFile },
        upstream: {
          host: pg.host,
          port: pg.port,
          tls: "require",
          roles,
          pool: { max_idle_per_key: MAX_IDLE_UPSTREAMS },
        },
        session: {
          max_client_connections: opts.connections + 100,
          max_connections_per_subject: 0,
          park_idle_after_ms: opts.parkAfterMs,
        },
        metrics: { host: "127.0.0.1", port: metricsPort },
      }),
    );
    const log = join(work, "data-plane.log");
    const dp = spawnPortcullis(["data-plane", "--config", config], log);
    cleanups.push(() => stopChild(dp));
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    await until("the data plane to be ready", () => httpOk(`http://127.0.0.1:${metricsPort}/readyz`), 90_000);
    if (dp.pid === undefined) throw new Error("the data plane has no process id");
    // settled before the first login: what the data plane holds with no session
    await new Promise((r) => setTimeout(r, 2_000));
    const before = rssKib(dp.pid);

    const token = await oidc.token({ sub: "bench-idle", groups: ["analysts"] }, { lifetimeSeconds: 3600 });
    const workers = Array.from(
      { length: opts.clientThreads },
      () => new Worker(new URL("./lib/session-clients.js", import.meta.url)),
    );
    cleanups.push(async () => {
      for (const w of workers) await w.terminate();
    });
    const next = (w: Worker) =>
      new Promise<WorkerMessage>((resolve) => w.once("message", (m: WorkerMessage) => resolve(m)));
    say(`  opening ${opts.connections} sessions (${opts.clientThreads} client threads)…`);
    const loginStart = Date.now();
    const progress = setInterval(async () => {
      const open = await gauge(metricsUrl, "portcullis_sessions_active").catch(() => Number.NaN);
      say(`    ${open} sessions open, ${Math.round((Date.now() - loginStart) / 1000)} s`);
    }, 10_000);
    try {
      const opened = workers.map(next);
      workers.forEach((w, i) => {
        const count =
          Math.floor(opts.connections / opts.clientThreads) +
          (i < opts.connections % opts.clientThreads ? 1 : 0);
        w.postMessage({
          type: "open",
          targets: [{ port, count }],
          token,
          user: "bench-idle",
          tls: true,
          parallel: 16,
        } satisfies OpenRequest);
      });
      for (const m of await Promise.all(opened)) {
        if (m.type === "error") throw new Error(`a login failed: ${m.message}`);
      }
    } finally {
      clearInterval(progress);
    }
    const loginSeconds = (Date.now() - loginStart) / 1000;
    say(
      `  ${opts.connections} sessions open in ${loginSeconds.toFixed(1)} s; waiting for every one to park…`,
    );
    await until(
      "every session parked",
      async () => (await gauge(metricsUrl, "portcullis_sessions_parked")) >= opts.connections,
      120_000,
      200,
    );
    // the pool's reset of the last upstreams and the heap after the logins settle
    await new Promise((r) => setTimeout(r, 5_000));
    const after = rssKib(dp.pid);
    const backends = Number(
      await pg.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = 'analyst'",
      ),
    );
    const reports = await Promise.all(workers.map(askReport));
    const stillOpen = reports.reduce((n, r) => n + r.open, 0);
    if (stillOpen !== opts.connections) {
      throw new Error(`${opts.connections - stillOpen} sessions closed while idle`);
    }

    const kibPerConnection = (after - before) / opts.connections;
    const pass = kibPerConnection <= TARGET_KIB;
    say();
    say("  connections  RSS before  RSS parked  KiB/connection  PostgreSQL backends  logins/s");
    say(
      `  ${String(opts.connections).padStart(11)}  ${(before / 1024).toFixed(1).padStart(7)} MiB  ${(after / 1024).toFixed(1).padStart(7)} MiB  ${kibPerConnection.toFixed(1).padStart(14)}  ${String(backends).padStart(19)}  ${(opts.connections / loginSeconds).toFixed(0).padStart(8)}`,
    );
    say(
      `  ${pass ? "PASS" : "MISS"}  ${kibPerConnection.toFixed(1)} KiB per idle connection (target ≤ ${TARGET_KIB} KiB)`,
    );
    const out = {
      benchmark: "idle",
      date: new Date().toISOString(),
      machine: benchMachine("one machine runs PostgreSQL, the data plane and the clients"),
      what: "idle TLS client sessions (token login, default policies) on one data plane, parked: resident memory once every session is parked, less before the first login, per connection",
      connections: opts.connections,
      kib_per_connection: Math.round(kibPerConnection * 10) / 10,
      rss_mib: Math.round((after / 1024) * 10) / 10,
      rss_before_mib: Math.round((before / 1024) * 10) / 10,
      postgres_backends: backends,
      upstream_pool_max_idle_per_key: MAX_IDLE_UPSTREAMS,
      park_idle_after_ms: opts.parkAfterMs,
      logins_per_s: Math.round(opts.connections / loginSeconds),
      target: { kib_per_connection_at_most: TARGET_KIB, pass },
    };
    const file = join(projectRoot(), "bench", "results", "idle.json");
    writeFileSync(`${file}.tmp`, `${JSON.stringify(out, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    say(`  wrote bench/results/idle.json in ${Math.round((Date.now() - started) / 1000)} s`);
    return 0;
  } catch (err) {
    failed = true;
    say(`bench-idle failed: ${(err as Error).message}`);
    say(`  logs kept in ${work}`);
    return 1;
  } finally {
    await cleanups.run();
    if (!failed && !opts.keep) await rm(work, { recursive: true, force: true });
  }
}

runBench("idle", main);
