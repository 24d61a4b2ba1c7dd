/**
 * `make bench-revocation`: how long a RevokeSubject takes to cut a subject's sessions across a fleet,
 * in two measures:
 *
 * - `targeted`, the realistic case (a leaked credential): one subject with one session on each data
 *   plane while 1,000 other sessions stay live, half of them running `SELECT 1` every 200 ms. From
 *   the RevokeSubject call to the last of that subject's sockets closed. Every other session must
 *   stay open and error-free (`others_disturbed` counts those that did not).
 * - `mass`: 1,000 sessions of one subject (described below), against the floor of bare servers.
 *
 * Setup, all on loopback: a throwaway PostgreSQL (max_connections sized for every session plus
 * headroom), nats-server with JetStream, a real OIDC provider, a git repository with the default
 * policies, the control plane and 10 data planes each as its own process (`portcullis
 * control-plane` / `portcullis data-plane`, as deployed; logs in the work dir). The clients are
 * minimal PostgreSQL sessions (bench/lib/pg-session.ts) over TLS, token as password, held by
 * worker threads of this process (bench/lib/session-clients.ts), each a share of every data plane.
 *
 * Each run: a fresh subject (group analysts) opens 100 sessions on each data plane (1000 sessions,
 * each with its own upstream PostgreSQL session), then RevokeSubject is called through the admin
 * API (TLS, the demo admin's OIDC token). The run's time is from just before the call to the moment
 * the last of the 1000 client sockets closed, measured at the clients; every session must have
 * received FATAL 57P01. PostgreSQL settles (the 1000 backends gone) before the next run.
 *
 * The floor, measured after the runs on the same machine with the same clients: one bare server
 * process per data plane (bench/lib/floor-server.ts) holds the same number of sessions and, on one
 * core NATS message, sends each FATAL 57P01 and closes it, which is all a proxy must do to cut a
 * client. On a small shared machine, where closing a thousand TLS sockets is itself slow, the
 * ratio to the floor says how much of the time is Portcullis's.
 *
 * Output: a table, and bench/results/revocation.json with p50_ms and p99_ms over the runs (the
 * all-sessions-closed time), sessions, data_planes, per-socket percentiles, each data plane's
 * first FATAL (the revocation reached it and it began cutting), the RPC's own time, the floor and
 * p99_vs_floor_p99.
 * Target: p99 ≤ 50 ms (PASS/MISS, never fails the run); the run fails (exit 1) only when something
 * could not be measured (a session not cut, a login refused).
 *
 * Options: --runs=N mass runs (5) --warmup=N (1) --targeted-runs=N (40) --bystanders=N per data
 *          plane for the targeted measure (100) --query-every-ms=N (200)
 *          --data-planes=N (10) --sessions=N per data plane (100)
 *          --plaintext-clients (client ↔ proxy without TLS: tls.allow_plaintext_loopback)
 *          --client-threads=N (2) --floor-runs=N (5; 0 skips the floor)
 *          --keep (keep the work dir with every process's log)
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { Worker } from "node:worker_threads";
import * as grpc from "@grpc/grpc-js";
import { connect } from "@nats-io/transport-node";
import { stringify as toYaml } from "yaml";
import { withoutIpServerName } from "../common/grpc-tls.js";
import { projectRoot } from "../common/toolchain.js";
import { type LocalNats, startNats } from "../devstack/nats.js";
import { freePort, portOpen } from "../devstack/ports.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { type AdminClient, createAdminClient } from "../proto/load.js";
import { type OidcHarness, startOidcProvider } from "../test/harness/oidc.js";
import { USERS } from "../test/harness/proxy-stack.js";
import { benchMachine } from "./lib/machine.js";
import { type BenchSessionEnd, nowMs } from "./lib/pg-session.js";
import {
  Cleanups,
  httpOk,
  percentile,
  until as pollUntil,
  runBench,
  say,
  spawnPortcullis,
  stopChild,
} from "./lib/process.js";
import type { OpenRequest, WorkerMessage } from "./lib/session-clients.js";
import { askReport } from "./lib/session-workers.js";

const run = promisify(execFile);
const TARGET_P99_MS = 50;
/** The targeted measure's target: one subject's sessions cut within this. */
const TARGETED_TARGET_P99_MS = 10;
/** The mass measure's target, as a ratio to the floor's p99. */
const MASS_TARGET_VS_FLOOR = 1.5;

interface Options {
  runs: number;
  warmup: number;
  dataPlanes: number;
  sessions: number;
  plaintextClients: boolean;
  /** Keep the work dir (logs) after the run. */
  keep: boolean;
  clientThreads: number;
  floorRuns: number;
  targetedRuns: number;
  bystanders: number;
  queryEveryMs: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      "targeted-runs": { type: "string", default: "40" },
      bystanders: { type: "string", default: "100" },
      "query-every-ms": { type: "string", default: "200" },
      "data-planes": { type: "string", default: "10" },
      sessions: { type: "string", default: "100" },
      "plaintext-clients": { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      "client-threads": { type: "string", default: "2" },
      "floor-runs": { type: "string", default: "5" },
    },
  });
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    return n;
  };
  return {
    runs: int("runs", values.runs, 1),
    warmup: int("warmup", values.warmup, 0),
    dataPlanes: int("data-planes", values["data-planes"], 1),
    sessions: int("sessions", values.sessions, 1),
    plaintextClients: values["plaintext-clients"] ?? false,
    keep: values.keep ?? false,
    clientThreads: int("client-threads", values["client-threads"], 1),
    floorRuns: int("floor-runs", values["floor-runs"], 0),
    targetedRuns: int("targeted-runs", values["targeted-runs"], 0),
    bystanders: int("bystanders", values.bystanders, 0),
    queryEveryMs: int("query-every-ms", values["query-every-ms"], 1),
  };
}

const round = (v: number) => Math.round(v * 100) / 100;
/** Polled every 100 ms: the waits here are start-ups and settling, and the bench's CPU is the fleet's. */
const until = (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) =>
  pollUntil(what, check, timeoutMs, 100);

interface Child {
  name: string;
  process: ChildProcess;
  log: string;
}

async function main(): Promise<number> {
  const opts = options();
  const started = Date.now();
  const totalSessions = opts.dataPlanes * opts.sessions;
  const work = await mkdtemp(join(tmpdir(), "portcullis-bench-revocation-"));
  const cleanups = new Cleanups();
  const children: Child[] = [];
  let failed = false;
  // PostgreSQL runs as the postgres user when this runs as root: it needs to reach its folder
  await chmod(work, 0o755);
  try {
    say(
      `bench-revocation: ${opts.dataPlanes} data planes × ${opts.sessions} sessions, ${opts.runs} runs (+${opts.warmup} warm-up)`,
    );
    say(`  work dir ${work}`);
    say("  starting PostgreSQL, NATS and the OIDC provider…");
    const [pg, nats, oidc]: [LocalPostgres, LocalNats, OidcHarness] = await Promise.all([
      // every session (the targeted measure's bystanders too) has its own upstream backend; headroom
      // for catalogs, pools and the superuser
      startPostgres({
        maxConnections:
          totalSessions + (opts.targetedRuns > 0 ? (opts.bystanders + 1) * opts.dataPlanes : 0) + 200,
        baseDir: work,
      }),
      startNats({ baseDir: work }),
      startOidcProvider({ defaultLifetimeSeconds: 3600 }),
    ]);
    cleanups.push(
      () => pg.stop(),
      () => nats.destroy(),
      () => oidc.stop(),
    );

    // The policy repository.
    const repo = join(work, "policy-repo");
    mkdirSync(repo, { recursive: true });
    const git = (...args: string[]) =>
      run("git", args, {
        cwd: repo,
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: "bench",
          GIT_AUTHOR_EMAIL: "bench@example.com",
          GIT_COMMITTER_NAME: "bench",
          GIT_COMMITTER_EMAIL: "bench@example.com",
        },
      });
    await git("init", "-q", "-b", "main");
    await run("cp", ["-r", join(projectRoot(), "policies"), join(repo, "policies")]);
    await git("add", "-A");
    await git("commit", "-q", "-m", "default policies");

    // The control plane, as its own process.
    say("  starting the control plane…");
    const cpDir = join(work, "control-plane");
    const publicKey = join(work, "bundle-signing.pub");
    const adminPort = await freePort();
    const cpConfig = join(work, "control-plane.yaml");
    await writeFile(
      cpConfig,
      toYaml({
        data_dir: cpDir,
        signing: { public_key_out: publicKey },
        source: { git: { url: repo, branch: "main", folder: "policies", poll_interval_ms: 0 } },
        nats: { servers: [nats.url] },
        admin: {
          host: "127.0.0.1",
          port: adminPort,
          auth: "oidc",
          oidc: { issuers: [{ issuer: oidc.issuer, audience: oidc.clientId }], allow_insecure_issuer: true },
          bootstrap: { groups: ["admins"] },
        },
        revocation: { ack_timeout: "10s" },
      }),
    );
    const cp: Child = {
      name: "control-plane",
      log: join(work, "control-plane.log"),
      process: spawnPortcullis(["control-plane", "--config", cpConfig], join(work, "control-plane.log")),
    };
    children.push(cp);
    await until("the admin API", () => portOpen(adminPort), 60_000);
    const certFile = join(cpDir, "admin-tls", "cert.pem");
    await until("the admin certificate", () => existsSync(certFile), 10_000);
    const carol = await oidc.token(USERS.carol, { lifetimeSeconds: 3600 });
    const admin: AdminClient = createAdminClient(`127.0.0.1:${adminPort}`, {
      credentials: withoutIpServerName(grpc.credentials.createSsl(readFileSync(certFile))),
      bearerToken: carol,
      deadlineMs: 60_000,
    });
    cleanups.push(async () => admin.close());
    const sync = await admin.SyncPolicies({});
    if (!sync.active_revision) throw new Error("the control plane built no active bundle");
    await until("the public key", () => existsSync(publicKey), 10_000);

    // The data planes, each its own process.
    say(`  starting ${opts.dataPlanes} data planes…`);
    const secrets = join(work, "secrets");
    mkdirSync(secrets, { recursive: true, mode: 0o700 });
    const roles: Record<string, { password_file: string }> = {};
    for (const role of ["analyst", "app_rw", "admin"] as const) {
      const file = join(secrets, `${role}.password`);
      await writeFile(file, pg.passwords[role], { mode: 0o600 });
      roles[role] = { password_file: file };
    }
    const dataPlanes: { id: string; port: number; metricsPort: number }[] = [];
    for (let i = 0; i < opts.dataPlanes; i++) {
      const id = `bench-dp-${i + 1}`;
      const port = await freePort();
      const metricsPort = await freePort();
      const file = join(work, `${id}.yaml`);
      await writeFile(
        file,
        toYaml({
          proxy: { id, region: ["eu", "us", "ap"][i % 3] },
          listen: { host: "127.0.0.1", port },
          tls: { allow_plaintext_loopback: opts.plaintextClients },
          oidc: { issuers: [{ issuer: oidc.issuer, audience: oidc.clientId }], allow_insecure_issuer: true },
          policy: { public_key_file: publicKey },
          bus: { servers: [nats.url], state_dir: join(work, id), status_interval_ms: 2_000 },
          upstream: { host: pg.host, port: pg.port, tls: "require", roles },
          metrics: { host: "127.0.0.1", port: metricsPort },
        }),
      );
      const log = join(work, `${id}.log`);
      children.push({ name: id, log, process: spawnPortcullis(["data-plane", "--config", file], log) });
      dataPlanes.push({ id, port, metricsPort });
    }
    for (const dp of dataPlanes) {
      await until(`${dp.id} to be ready`, () => httpOk(`http://127.0.0.1:${dp.metricsPort}/readyz`), 90_000);
    }
    await until(
      "every data plane in the fleet view",
      async () => (await admin.GetFleetStatus({})).live >= opts.dataPlanes,
      60_000,
    );

    const allClosed: number[] = [];
    const perSocket: number[] = [];
    const fatalAt: number[] = [];
    const rpcMs: number[] = [];
    const firstFatalAt: number[] = [];
    const loginSeconds: number[] = [];
    // While a thousand backends exit the server may be too busy to take the question: ask again.
    const analystBackends = async () =>
      Number(
        (
          await pg
            .psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'analyst'")
            .catch(() => String(Number.POSITIVE_INFINITY))
        ).trim(),
      );
    const baseline = await analystBackends();
    // The clients, in worker threads: each holds a share of every data plane's sessions.
    const workers = Array.from(
      { length: opts.clientThreads },
      () => new Worker(new URL("./lib/session-clients.js", import.meta.url)),
    );
    cleanups.push(async () => {
      for (const w of workers) await w.terminate();
    });
    const share = (ports: number[], i: number) =>
      ports.map((port) => ({
        port,
        count:
          Math.floor(opts.sessions / opts.clientThreads) + (i < opts.sessions % opts.clientThreads ? 1 : 0),
      }));
    const next = (w: Worker) =>
      new Promise<WorkerMessage>((resolve) => w.once("message", (m: WorkerMessage) => resolve(m)));
    /**
     * Opens sessions as `subject` on each port from the given client threads (default: every one,
     * `opts.sessions` per port shared between them; `targets` overrides the share).
     */
    const openSessions = async (
      ports: number[],
      subject: string,
      token: string,
      using: Worker[] = workers,
      targets?: (i: number) => { port: number; count: number }[],
      queryEveryMs?: number,
    ) => {
      const opened = using.map(next);
      using.forEach((w, i) => {
        const request: OpenRequest = {
          type: "open",
          targets: targets ? targets(i) : share(ports, i),
          token,
          user: subject,
          tls: !opts.plaintextClients,
          parallel: Math.max(1, Math.floor(64 / using.length)),
          ...(queryEveryMs !== undefined ? { queryEveryMs } : {}),
        };
        w.postMessage(request);
      });
      for (const m of await Promise.all(opened)) {
        if (m.type === "error") throw new Error(`a login failed: ${m.message}`);
      }
    };
    /** Calls `cut` and waits until every session has ended; times are ms from just before the call. */
    const measureCut = async <T>(
      label: string,
      cut: () => Promise<T>,
      using: Worker[] = workers,
      expected = totalSessions,
    ) => {
      const closed = using.map(next);
      const t0 = nowMs();
      const call = cut().then((result) => ({ result, at: nowMs() }));
      const messages = await Promise.race([
        Promise.all(closed),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`${label}: not every session was cut within 30 s`)), 30_000),
        ),
      ]);
      const ends: BenchSessionEnd[] = messages.flatMap((m) => (m.type === "ended" ? m.ends : []));
      const { result, at } = await call;
      if (ends.length !== expected) throw new Error(`${label}: ${ends.length} sessions reported`);
      const notRevoked = ends.filter((e) => e.sqlstate !== "57P01");
      if (notRevoked.length > 0) {
        throw new Error(
          `${label}: ${notRevoked.length} sessions closed without FATAL 57P01 (e.g. ${notRevoked[0]?.sqlstate ?? "no error"})`,
        );
      }
      const closes = ends.map((e) => e.at - t0).sort((a, b) => a - b);
      const fatals = ends.map((e) => (e.errorAt ?? e.at) - t0).sort((a, b) => a - b);
      // per server (data plane): when its first client got the FATAL, i.e. it had the news and cut
      const firstFatal = new Map<number, number>();
      for (const e of ends) {
        const t = (e.errorAt ?? e.at) - t0;
        firstFatal.set(e.port, Math.min(firstFatal.get(e.port) ?? t, t));
      }
      return {
        result,
        rpcMs: at - t0,
        closes,
        fatals,
        firstFatals: [...firstFatal.values()],
        last: closes[closes.length - 1]!,
      };
    };

    const dataPlanePorts = dataPlanes.map((dp) => dp.port);

    // Targeted: one subject's session on each data plane among the bystanders' sessions.
    const targeted: number[] = [];
    const targetedRpc: number[] = [];
    let othersDisturbed = 0;
    let bystanderQueries = 0;
    let bystanderCount = 0;
    if (opts.targetedRuns > 0) {
      const idle = new Worker(new URL("./lib/session-clients.js", import.meta.url));
      const busy = new Worker(new URL("./lib/session-clients.js", import.meta.url));
      const report = askReport;
      const half = Math.floor(opts.bystanders / 2);
      bystanderCount = opts.bystanders * opts.dataPlanes;
      say();
      say(
        `  targeted: ${bystanderCount} bystander sessions (${(opts.bystanders - half) * opts.dataPlanes} idle, ${half * opts.dataPlanes} running SELECT 1 every ${opts.queryEveryMs} ms), then one subject × ${opts.dataPlanes} data planes, ${opts.targetedRuns} runs`,
      );
      const bystanderToken = await oidc.token(
        { sub: "bench-bystander", groups: ["analysts"] },
        { lifetimeSeconds: 3600 },
      );
      if (opts.bystanders - half > 0) {
        await openSessions(dataPlanePorts, "bench-bystander", bystanderToken, [idle], () =>
          dataPlanePorts.map((port) => ({ port, count: opts.bystanders - half })),
        );
      }
      if (half > 0) {
        await openSessions(
          dataPlanePorts,
          "bench-bystander",
          bystanderToken,
          [busy],
          () => dataPlanePorts.map((port) => ({ port, count: half })),
          opts.queryEveryMs,
        );
      }
      const before = await Promise.all([report(idle), report(busy)]);
      say(`  ${"run".padEnd(8)} ${"all closed ms".padStart(14)} ${"rpc ms".padStart(8)}`);
      for (let r = 0; r < opts.warmup + opts.targetedRuns; r++) {
        const warm = r < opts.warmup;
        const subject = `bench-leaked-${r}`;
        const token = await oidc.token({ sub: subject, groups: ["analysts"] }, { lifetimeSeconds: 3600 });
        await openSessions(dataPlanePorts, subject, token, [workers[0]!], () =>
          dataPlanePorts.map((port) => ({ port, count: 1 })),
        );
        await until(
          "the control plane to list the subject's sessions",
          async () =>
            (await admin.ListSessions({ subject, limit: opts.dataPlanes + 1 })).sessions.length ===
            opts.dataPlanes,
          60_000,
        );
        await new Promise((resolve) => setTimeout(resolve, 300));
        const m = await measureCut(
          `targeted run ${r}`,
          () => admin.RevokeSubject({ subject, reason: "leaked" }),
          [workers[0]!],
          opts.dataPlanes,
        );
        if (!warm) {
          targeted.push(m.last);
          targetedRpc.push(m.rpcMs);
        }
        say(
          `  ${(warm ? `warm-${r + 1}` : String(r - opts.warmup + 1)).padEnd(8)} ${m.last.toFixed(2).padStart(14)} ${m.rpcMs.toFixed(1).padStart(8)}`,
        );
      }
      const after = await Promise.all([report(idle), report(busy)]);
      othersDisturbed =
        after[0].ended +
        after[1].ended +
        (after[0].errors - before[0].errors) +
        (after[1].errors - before[1].errors);
      bystanderQueries = after[1].queries - before[1].queries;
      say(
        `  bystanders: ${after[0].open + after[1].open} still open, ${othersDisturbed} disturbed, ${bystanderQueries} queries answered meanwhile`,
      );
      await idle.terminate();
      await busy.terminate();
      await until(
        "PostgreSQL to release the bystanders' sessions",
        async () => (await analystBackends()) <= baseline,
        120_000,
      );
    }

    say();
    say("  mass: one subject's sessions on every data plane");
    say(
      `  ${"run".padEnd(8)} ${"all closed ms".padStart(14)} ${"socket p50".padStart(11)} ${"FATAL p50".padStart(10)} ${"rpc ms".padStart(8)} ${"cut".padStart(6)}`,
    );
    for (let r = 0; r < opts.warmup + opts.runs; r++) {
      const warm = r < opts.warmup;
      const subject = `bench-${r}`;
      const token = await oidc.token({ sub: subject, groups: ["analysts"] }, { lifetimeSeconds: 3600 });
      const loginStarted = Date.now();
      await openSessions(dataPlanePorts, subject, token);
      loginSeconds.push((Date.now() - loginStarted) / 1000);
      // A revocation lands on a fleet at rest: the control plane has every session in its view, and
      // the login burst's trailing work (session events, decision records) is done.
      await until(
        "the control plane to list every session",
        async () => (await admin.ListSessions({ subject, page_size: 1 })).total_size === totalSessions,
        60_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 2_000));

      const m = await measureCut(`run ${r}`, () => admin.RevokeSubject({ subject, reason: "bench" }));
      const cut = m.result.acks.reduce((n, a) => n + a.sessions_cut, 0);
      if (!warm) {
        allClosed.push(m.last);
        perSocket.push(...m.closes);
        fatalAt.push(...m.fatals);
        firstFatalAt.push(...m.firstFatals);
        rpcMs.push(m.rpcMs);
      }
      say(
        `  ${(warm ? `warm-${r + 1}` : String(r - opts.warmup + 1)).padEnd(8)} ${m.last.toFixed(1).padStart(14)} ${percentile(m.closes, 50).toFixed(1).padStart(11)} ${percentile(m.fatals, 50).toFixed(1).padStart(10)} ${m.rpcMs.toFixed(1).padStart(8)} ${String(cut).padStart(6)}`,
      );
      // PostgreSQL lets the backends go before the next run
      await until(
        "PostgreSQL to release the revoked sessions",
        async () => (await analystBackends()) <= baseline,
        120_000,
      );
    }

    // The floor: the same clients and sessions held by bare servers that only cut (bench/lib/floor-server.ts).
    const floorClosed: number[] = [];
    if (opts.floorRuns > 0) {
      say();
      say(`  the floor: ${opts.dataPlanes} bare servers cut the same sessions on one core NATS message`);
      const subjectName = "portcullis.bench.floor.cut";
      const floorPorts: number[] = [];
      for (let i = 0; i < opts.dataPlanes; i++) {
        const log = join(work, `floor-${i + 1}.log`);
        const child = spawn(
          process.execPath,
          [
            new URL("./lib/floor-server.js", import.meta.url).pathname,
            "--nats",
            nats.url,
            "--subject",
            subjectName,
          ],
          { stdio: ["ignore", "pipe", openSync(log, "a")] },
        );
        children.push({ name: `floor-${i + 1}`, log, process: child });
        floorPorts.push(
          await new Promise<number>((resolve, reject) => {
            child.once("exit", (code) => reject(new Error(`a floor server exited (${code}); see ${log}`)));
            child.stdout!.once("data", (line: Buffer) =>
              resolve((JSON.parse(line.toString()) as { port: number }).port),
            );
          }),
        );
      }
      const nc = await connect({ servers: nats.url });
      cleanups.push(() => nc.close());
      for (let r = 0; r < opts.warmup + opts.floorRuns; r++) {
        await openSessions(floorPorts, `floor-${r}`, "unused");
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const m = await measureCut(`floor run ${r}`, async () => nc.publish(subjectName));
        if (r >= opts.warmup) floorClosed.push(m.last);
        say(
          `  ${(r < opts.warmup ? `warm-${r + 1}` : `floor ${r - opts.warmup + 1}`).padEnd(8)} ${m.last.toFixed(1).padStart(14)} ${percentile(m.closes, 50).toFixed(1).padStart(11)} ${percentile(m.fatals, 50).toFixed(1).padStart(10)}`,
        );
      }
    }

    const sortedRuns = [...allClosed].sort((a, b) => a - b);
    const sortedSockets = [...perSocket].sort((a, b) => a - b);
    const sortedRpc = [...rpcMs].sort((a, b) => a - b);
    const p50 = percentile(sortedRuns, 50);
    const p99 = percentile(sortedRuns, 99);
    const pass = p99 <= TARGET_P99_MS;
    say();
    say("  time from the RevokeSubject call to the close of client sockets (ms, at the clients)");
    say(`  ${"".padEnd(34)} ${"p50".padStart(8)} ${"p99".padStart(8)} ${"max".padStart(8)}`);
    const row = (name: string, sorted: number[]) =>
      say(
        `  ${name.padEnd(34)} ${percentile(sorted, 50).toFixed(1).padStart(8)} ${percentile(sorted, 99).toFixed(1).padStart(8)} ${sorted[sorted.length - 1]!.toFixed(1).padStart(8)}`,
      );
    row(`every socket closed (${opts.runs} runs)`, sortedRuns);
    row(`each socket (${sortedSockets.length})`, sortedSockets);
    row(
      "each FATAL 57P01 received",
      [...fatalAt].sort((a, b) => a - b),
    );
    row(
      "each data plane's first FATAL",
      [...firstFatalAt].sort((a, b) => a - b),
    );
    row("RevokeSubject returned (all acked)", sortedRpc);
    const sortedFloor = [...floorClosed].sort((a, b) => a - b);
    const floorP99 = percentile(sortedFloor, 99);
    if (sortedFloor.length > 0) row(`floor: every socket closed (${sortedFloor.length})`, sortedFloor);
    const sortedTargeted = [...targeted].sort((a, b) => a - b);
    const targetedP99 = percentile(sortedTargeted, 99);
    if (sortedTargeted.length > 0) {
      row(`targeted: one subject × ${opts.dataPlanes} (${sortedTargeted.length})`, sortedTargeted);
    }
    const massVsFloor = p99 / floorP99;
    const targetedPass = targetedP99 <= TARGETED_TARGET_P99_MS && othersDisturbed === 0;
    const massPass = massVsFloor <= MASS_TARGET_VS_FLOOR;
    say();
    if (sortedTargeted.length > 0) {
      say(
        `  ${targetedPass ? "PASS" : "MISS"}  targeted p99 ${targetedP99.toFixed(2)} ms (target ≤ ${TARGETED_TARGET_P99_MS} ms), ${othersDisturbed} of ${bystanderCount} other sessions disturbed (target 0)`,
      );
    }
    if (sortedFloor.length > 0) {
      say(
        `  ${massPass ? "PASS" : "MISS"}  mass p99 ${p99.toFixed(1)} ms = ${massVsFloor.toFixed(2)}× the floor's p99 (target ≤ ${MASS_TARGET_VS_FLOOR}×)`,
      );
    }
    say(
      `  ${pass ? "PASS" : "MISS"}  p99 all ${totalSessions} sessions closed ${p99.toFixed(1)} ms (target ≤ ${TARGET_P99_MS} ms)${sortedFloor.length > 0 ? `; ${(p99 / floorP99).toFixed(2)}× the floor's p99 ${floorP99.toFixed(1)} ms on this machine` : ""}`,
    );

    const out = {
      benchmark: "revocation",
      date: new Date().toISOString(),
      machine: benchMachine(
        "one machine runs PostgreSQL, NATS, the control plane, every data plane and the clients",
      ),
      targeted: {
        what: `one subject with one session on each of ${opts.dataPlanes} data planes while ${bystanderCount} other sessions stay live (half running SELECT 1 every ${opts.queryEveryMs} ms): RevokeSubject call → the last of the subject's sockets closed`,
        runs: sortedTargeted.length,
        p50_ms: round(percentile(sortedTargeted, 50)),
        p99_ms: round(targetedP99),
        max_ms: round(sortedTargeted[sortedTargeted.length - 1] ?? Number.NaN),
        rpc_p50_ms: round(
          percentile(
            [...targetedRpc].sort((a, b) => a - b),
            50,
          ),
        ),
        others: bystanderCount,
        others_disturbed: othersDisturbed,
        others_queries_answered: bystanderQueries,
        target: { p99_ms_at_most: TARGETED_TARGET_P99_MS, others_disturbed: 0, pass: targetedPass },
      },
      mass: {
        what: `${totalSessions} sessions of one subject across ${opts.dataPlanes} data planes: RevokeSubject call → the last socket closed`,
        runs: sortedRuns.length,
        p50_ms: round(p50),
        p99_ms: round(p99),
        p99_vs_floor_p99: round(massVsFloor),
        target: { p99_vs_floor_at_most: MASS_TARGET_VS_FLOOR, pass: massPass },
      },
      p50_ms: round(p50),
      p99_ms: round(p99),
      sessions: totalSessions,
      data_planes: opts.dataPlanes,
      sessions_per_data_plane: opts.sessions,
      runs: opts.runs,
      warmup_runs: opts.warmup,
      client_tls: !opts.plaintextClients,
      per_socket_p50_ms: round(percentile(sortedSockets, 50)),
      per_socket_p99_ms: round(percentile(sortedSockets, 99)),
      fatal_p50_ms: round(
        percentile(
          [...fatalAt].sort((a, b) => a - b),
          50,
        ),
      ),
      fatal_p99_ms: round(
        percentile(
          [...fatalAt].sort((a, b) => a - b),
          99,
        ),
      ),
      client_threads: opts.clientThreads,
      rpc_p50_ms: round(percentile(sortedRpc, 50)),
      rpc_p99_ms: round(percentile(sortedRpc, 99)),
      login_seconds_per_run_p50: round(
        percentile(
          [...loginSeconds].sort((a, b) => a - b),
          50,
        ),
      ),
      runs_all_closed_ms: allClosed.map(round),
      first_fatal_per_data_plane_p50_ms: round(
        percentile(
          [...firstFatalAt].sort((a, b) => a - b),
          50,
        ),
      ),
      first_fatal_per_data_plane_p99_ms: round(
        percentile(
          [...firstFatalAt].sort((a, b) => a - b),
          99,
        ),
      ),
      floor: {
        what: "the same clients and sessions held by bare servers (one process per data plane) that only send FATAL 57P01 and close, on one core NATS message: the least any proxy could take on this machine",
        runs: sortedFloor.length,
        p50_ms: round(percentile(sortedFloor, 50)),
        p99_ms: round(floorP99),
      },
      p99_vs_floor_p99: round(p99 / floorP99),
      target: { p99_ms_at_most: TARGET_P99_MS, pass },
    };
    const file = join(projectRoot(), "bench", "results", "revocation.json");
    mkdirSync(join(projectRoot(), "bench", "results"), { recursive: true });
    writeFileSync(`${file}.tmp`, `${JSON.stringify(out, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    say(`  wrote bench/results/revocation.json in ${Math.round((Date.now() - started) / 1000)} s`);
    return 0;
  } catch (err) {
    failed = true;
    say(`bench-revocation failed: ${(err as Error).message}`);
    for (const child of children) say(`  ${child.name} log (kept): ${child.log}`);
    return 1;
  } finally {
    for (const child of children.reverse()) await stopChild(child.process).catch(() => undefined);
    await cleanups.run();
    if (!failed && !opts.keep) await rm(work, { recursive: true, force: true });
  }
}

runBench("revocation", main, () => true);
