/**
 * `make bench-rollout`: how long a policy change takes from `git commit` to every data plane
 * enforcing it, for 1 and for 10 data planes, split into the stages of its path.
 *
 * Everything is real and runs on loopback: a git repository in a temp dir, the control plane
 * (git fetch + export, opa check --strict, opa test, opa build -t wasm, Ed25519 signing, SQLite,
 * publication to NATS JetStream), nats-server, one PostgreSQL and one OIDC provider, and N data
 * planes in this process (test/harness/proxy-stack.ts: each a full proxy on its own port, with its
 * own NATS connection, bundle watcher and opa-wasm runtime).
 *
 * Each round commits a policy change (the default policies, then the default policies plus one
 * rule that closes sales.customers to analysts, alternately), asks the control plane to sync at
 * once (as a webhook or `portcullis admin sync` would; a poll interval would add up to its period),
 * and waits until every data plane's PolicyHolder has swapped to the new revision: from that
 * instant every new statement is decided by it. That swap is what "enforcing" means here. After
 * each round (outside the timing) a real connection to every proxy checks that alice's
 * `SELECT ... FROM sales.customers` is allowed or denied as the new revision says.
 *
 * Stages of one round, summing to its total:
 *   fetch     git fetch of the policy branch
 *   export    git archive of the policy folder
 *   check     opa check --strict   } these three run side by side: the slowest of them is on the
 *   test      opa test             } path (the "other" stage subtracts only that one)
 *   build     opa build -t wasm    }
 *   sign      manifest + Ed25519 JWS, single-file bundle
 *   store     the ready bundle in SQLite
 *   other     the rest before the publication starts: finding the new commits, bookkeeping,
 *             the activation in SQLite
 *   publish   object into the Object Store, then the pointer into KV: until a KV watcher in
 *             this process (standing in for the data planes' watches) sees the new pointer
 *   load      from there to the last data plane's swap: the live bundle message (or, for a data
 *             plane that missed it, the pointer watch and an Object Store fetch), SHA-256,
 *             signature and activation checks, opa-wasm load, swap
 *
 * Options: --commits-n1=N (10), --commits-n10=N (20), --status-interval-ms=N (1000).
 */
import { execFile } from "node:child_process";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { projectRoot, ToolchainError, toolchain } from "../common/toolchain.js";
import { startNats } from "../devstack/nats.js";
import { startPostgres } from "../devstack/postgres.js";
import { BUS, decodeBundlePointer } from "../proto/bus.js";
import { AUDIT_REASON, AUDIT_REGO } from "../test/harness/audit-policy.js";
import { startTestControlPlane } from "../test/harness/control-plane.js";
import { TempGitRepo } from "../test/harness/git-repo.js";
import { startOidcProvider } from "../test/harness/oidc.js";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";
import { benchMachine } from "./lib/machine.js";
import { BenchError } from "./lib/pgbouncer.js";
import { Cleanups, percentile, runBench, say, until } from "./lib/process.js";

const run = promisify(execFile);

const TARGET_N10_P99_MS = 3_000;
const SIZES = [1, 10] as const;
const STAGES = [
  "fetch",
  "export",
  "check",
  "test",
  "build",
  "sign",
  "store",
  "other",
  "publish",
  "load",
] as const;
type Stage = (typeof STAGES)[number];

function count(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new BenchError(`--${what} must be 1..1000`);
  return n;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

interface Plane {
  id: string;
  stack: ProxyStack;
  /** performance.now() of the swap to each revision. */
  swappedAt: Map<string, number>;
}

interface Round {
  revision: string;
  audit: boolean;
  total_ms: number;
  stages_ms: Record<Stage, number>;
  /** From the publication to each data plane's swap, fastest first. */
  load_per_plane_ms: number[];
}

interface SizeResult {
  data_planes: number;
  commits: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  stages_p50_ms: Record<Stage, number>;
  stages_p99_ms: Record<Stage, number>;
  /** p50 over rounds of the first and of the median data plane's load. */
  load_first_p50_ms: number;
  load_median_plane_p50_ms: number;
  rounds: Round[];
}

async function versionOf(command: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args);
    return /\d+\.\d+\.\d+\S*/.exec(stdout || stderr)?.[0] ?? "unknown";
  } catch {
    return "unknown";
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      "commits-n1": { type: "string" },
      "commits-n10": { type: "string" },
      "status-interval-ms": { type: "string" },
    },
  });
  const commits: Record<(typeof SIZES)[number], number> = {
    1: count(values["commits-n1"], 10, "commits-n1"),
    10: count(values["commits-n10"], 20, "commits-n10"),
  };
  const statusIntervalMs = count(values["status-interval-ms"], 1000, "status-interval-ms");
  const started = Date.now();
  const cleanups = new Cleanups().stopOnInterrupt();
  try {
    say("bench-rollout: git commit → control plane → NATS → every data plane enforcing");
    const scratch = await mkdtemp(join(tmpdir(), "portcullis-bench-rollout-"));
    cleanups.push(() => rm(scratch, { recursive: true, force: true }));
    say("  starting PostgreSQL, NATS and the OIDC provider…");
    const [pgServer, nats, oidc] = await Promise.all([
      startPostgres(),
      startNats(),
      startOidcProvider({ defaultLifetimeSeconds: 3600 }),
    ]);
    cleanups.push(
      () => pgServer.stop(),
      () => nats.destroy(),
      () => oidc.stop(),
    );
    const opaVersion = await versionOf(toolchain().opa, ["version"]);
    const natsVersion = await versionOf(toolchain().natsServer, ["--version"]);

    say("  policy repository (default policies) and control plane…");
    const repo = await TempGitRepo.withDefaultPolicies();
    cleanups.push(() => repo.destroy());
    const cp = await startTestControlPlane({ natsUrl: nats.url, repo: repo.dir });
    cleanups.push(() => cp.destroy());
    await cp.sync();
    if (!cp.store.bundles.active()) throw new BenchError("the default policies did not build");
    // When the publication starts (the distributor's publishActive), and when the new pointer is
    // visible in KV (a watch like the data planes' own, from this process).
    let publishStartedAt = 0;
    const publishActive = cp.distributor.publishActive.bind(cp.distributor);
    cp.distributor.publishActive = () => {
      publishStartedAt = performance.now();
      return publishActive();
    };
    await cp.distributor.whenReady(30_000);
    const pointerSeenAt = new Map<string, number>();
    const observer = await connect({ servers: nats.url, name: "bench-rollout-observer" });
    cleanups.push(() => observer.close());
    const pointerWatch = await (await new Kvm(observer).open(BUS.bundleKv)).watch({ key: BUS.activeKey });
    void (async () => {
      for await (const entry of pointerWatch) {
        if (entry.operation !== "PUT") continue;
        const revision = decodeBundlePointer(entry.value).revision;
        if (!pointerSeenAt.has(revision)) pointerSeenAt.set(revision, performance.now());
      }
    })().catch(() => {});

    const aliceToken = await oidc.token(USERS.alice, { lifetimeSeconds: 3600 });
    const planes: Plane[] = [];
    const addPlanes = async (n: number) => {
      while (planes.length < n) {
        const id = `bench-dp-${String(planes.length + 1).padStart(2, "0")}`;
        const stack = await startProxyStack({
          pg: pgServer,
          oidc,
          config: {
            proxy: { id, region: "bench" },
            listen: { host: "127.0.0.1", port: 0 },
            policy: { public_key_file: cp.publicKeyFile },
            bus: { servers: [nats.url], state_dir: join(scratch, id), status_interval_ms: statusIntervalMs },
          },
        });
        cleanups.push(() => stack.stop());
        const plane: Plane = { id, stack, swappedAt: new Map() };
        stack.proxy.policy.onSwap((next) => {
          if (!plane.swappedAt.has(next.revision)) plane.swappedAt.set(next.revision, performance.now());
        });
        planes.push(plane);
      }
      const active = cp.store.bundles.active()!.revision;
      await until(
        "every data plane on the first bundle",
        () => planes.every((p) => p.stack.proxy.policy.revision === active),
        60_000,
      );
    };

    /** Alice's customers statement on every proxy: allowed without the audit rule, 42501 with it. */
    const checkEnforcement = async (audit: boolean): Promise<string[]> => {
      const problems: string[] = [];
      for (const plane of planes) {
        const client = new pg.Client({
          host: "127.0.0.1",
          port: plane.stack.port,
          user: "alice@example.com",
          password: aliceToken,
          database: "app",
          ssl: { rejectUnauthorized: false },
          connectionTimeoutMillis: 10_000,
        });
        client.on("error", () => {});
        let outcome: string;
        try {
          await client.connect();
          await client.query("SELECT count(*) FROM sales.customers");
          outcome = "allowed";
        } catch (err) {
          const e = err as { code?: string; message: string };
          outcome =
            e.code === "42501" && e.message.includes(AUDIT_REASON) ? "denied" : `${e.code}: ${e.message}`;
        } finally {
          await client.end().catch(() => {});
        }
        const expected = audit ? "denied" : "allowed";
        if (outcome !== expected) problems.push(`${plane.id}: expected ${expected}, got ${outcome}`);
      }
      return problems;
    };

    let audit = false;
    const oneRound = async (): Promise<Round> => {
      audit = !audit;
      if (audit) await repo.write({ "policies/audit.rego": AUDIT_REGO });
      else await repo.remove("policies/audit.rego");
      const revision = await repo.commit(audit ? "audit: close sales.customers to analysts" : "audit over");
      const committed = performance.now();
      publishStartedAt = 0;
      const sync = await cp.sync();
      const activation = sync.result?.activation;
      if (activation?.revision !== revision || !activation.published) {
        const errors = sync.result?.builds.flatMap((b) => b.bundle.errors.map((e) => e.message)) ?? [];
        throw new BenchError(
          `commit ${revision.slice(0, 12)} was not activated and published: ${errors.join("; ")}`,
        );
      }
      await until(
        "the pointer and every data plane",
        () => pointerSeenAt.has(revision) && planes.every((p) => p.swappedAt.has(revision)),
        60_000,
      ).catch(() => {
        const missing = planes.filter((p) => !p.swappedAt.has(revision)).map((p) => p.id);
        throw new BenchError(`revision ${revision.slice(0, 12)} never reached ${missing.join(", ") || "KV"}`);
      });
      const published = pointerSeenAt.get(revision)!;
      if (publishStartedAt === 0) throw new BenchError("the activation was published outside publishActive");
      const swaps = planes.map((p) => p.swappedAt.get(revision)!).sort((a, b) => a - b);
      const last = swaps[swaps.length - 1]!;
      const durations = cp.store.bundles.require(revision).durations;
      const stages: Record<Stage, number> = {
        fetch: sync.fetchMs,
        export: durations.export ?? 0,
        check: durations.check ?? 0,
        test: durations.test ?? 0,
        build: durations.build ?? 0,
        sign: durations.sign ?? 0,
        store: durations.store ?? 0,
        other: 0,
        publish: published - publishStartedAt,
        load: last - published,
      };
      // check, test and build run side by side (control-plane/compile/index.ts): the slowest counts
      const built =
        stages.fetch +
        stages.export +
        Math.max(stages.check, stages.test, stages.build) +
        stages.sign +
        stages.store;
      stages.other = publishStartedAt - committed - built;
      const total = last - committed;
      const problems = await checkEnforcement(audit);
      if (problems.length > 0) {
        throw new BenchError(`revision ${revision.slice(0, 12)} is not enforced: ${problems.join("; ")}`);
      }
      await new Promise((r) => setTimeout(r, 200));
      return {
        revision,
        audit,
        total_ms: round1(total),
        stages_ms: Object.fromEntries(STAGES.map((s) => [s, round1(stages[s])])) as Record<Stage, number>,
        load_per_plane_ms: swaps.map((t) => round1(t - published)),
      };
    };

    const results: SizeResult[] = [];
    for (const size of SIZES) {
      say(`  ${size} data plane${size > 1 ? "s" : ""}: starting…`);
      await addPlanes(size);
      say(`  ${size} data plane${size > 1 ? "s" : ""}: 1 warm-up commit, then ${commits[size]} measured`);
      await oneRound();
      const rounds: Round[] = [];
      for (let i = 0; i < commits[size]; i++) {
        const r = await oneRound();
        rounds.push(r);
        say(
          `    [${String(i + 1).padStart(2)}/${commits[size]}] ${r.revision.slice(0, 12)} ${r.audit ? "+audit" : "-audit"}  ${r.total_ms.toFixed(0).padStart(5)} ms  (check ${r.stages_ms.check.toFixed(0)}, test ${r.stages_ms.test.toFixed(0)}, build ${r.stages_ms.build.toFixed(0)}, publish ${r.stages_ms.publish.toFixed(0)}, load ${r.stages_ms.load.toFixed(0)})`,
        );
      }
      const totals = rounds.map((r) => r.total_ms);
      const stageStat = (p: number) =>
        Object.fromEntries(
          STAGES.map((s) => [
            s,
            round1(
              percentile(
                rounds.map((r) => r.stages_ms[s]),
                p,
              ),
            ),
          ]),
        ) as Record<Stage, number>;
      results.push({
        data_planes: size,
        commits: rounds.length,
        p50_ms: round1(percentile(totals, 50)),
        p90_ms: round1(percentile(totals, 90)),
        p99_ms: round1(percentile(totals, 99)),
        max_ms: round1(Math.max(...totals)),
        stages_p50_ms: stageStat(50),
        stages_p99_ms: stageStat(99),
        load_first_p50_ms: round1(
          percentile(
            rounds.map((r) => r.load_per_plane_ms[0]!),
            50,
          ),
        ),
        load_median_plane_p50_ms: round1(
          percentile(
            rounds.map((r) => percentile(r.load_per_plane_ms, 50)),
            50,
          ),
        ),
        rounds,
      });
    }

    // --- report -------------------------------------------------------------------------------
    say();
    say(
      "git commit → all data planes enforcing (ms; p99 is the nearest rank: the maximum below 100 commits)",
    );
    say(
      `${"planes".padEnd(7)} ${"commits".padStart(7)} ${"p50".padStart(7)} ${"p90".padStart(7)} ${"p99".padStart(7)} ${"max".padStart(7)}`,
    );
    for (const r of results) {
      say(
        `${String(r.data_planes).padEnd(7)} ${String(r.commits).padStart(7)} ${r.p50_ms.toFixed(0).padStart(7)} ${r.p90_ms.toFixed(0).padStart(7)} ${r.p99_ms.toFixed(0).padStart(7)} ${r.max_ms.toFixed(0).padStart(7)}`,
      );
    }
    say();
    say("stages (ms, p50 / p99 over the commits)");
    say(`${"planes".padEnd(7)} ${STAGES.map((s) => s.padStart(11)).join(" ")}`);
    for (const r of results) {
      say(
        `${String(r.data_planes).padEnd(7)} ${STAGES.map((s) => `${r.stages_p50_ms[s].toFixed(0)} / ${r.stages_p99_ms[s].toFixed(0)}`.padStart(11)).join(" ")}`,
      );
    }
    say();
    for (const r of results) {
      say(
        `load with ${r.data_planes} data plane${r.data_planes > 1 ? "s" : ""}: first ${r.load_first_p50_ms.toFixed(0)} ms, median plane ${r.load_median_plane_p50_ms.toFixed(0)} ms, last ${r.stages_p50_ms.load.toFixed(0)} ms (p50 over the commits)`,
      );
    }
    const n1 = results.find((r) => r.data_planes === 1)!;
    const n10 = results.find((r) => r.data_planes === 10)!;
    const pass = n10.p99_ms <= TARGET_N10_P99_MS;
    say();
    say("target (reported, never enforced):");
    say(
      `  ${pass ? "PASS" : "MISS"}  10 data planes, p99 git commit → enforcing   ${n10.p99_ms.toFixed(0)} ms (target ≤ ${TARGET_N10_P99_MS} ms)`,
    );

    const out = {
      benchmark: "rollout",
      date: new Date().toISOString(),
      n1_p50_ms: n1.p50_ms,
      n10_p50_ms: n10.p50_ms,
      n10_p99_ms: n10.p99_ms,
      stages: Object.fromEntries(
        results.map((r) => [`n${r.data_planes}`, { p50_ms: r.stages_p50_ms, p99_ms: r.stages_p99_ms }]),
      ),
      targets: [
        {
          name: "10 data planes, p99 git commit → enforcing",
          metric: "n10_p99_ms",
          value: n10.p99_ms,
          threshold_ms: TARGET_N10_P99_MS,
          pass,
        },
      ],
      machine: benchMachine("shared machine: other work may have run at the same time"),
      versions: { opa: opaVersion, nats_server: natsVersion },
      setup: {
        policies:
          "the default policies, alternately with and without one extra deny rule (policies/audit.rego)",
        trigger:
          "the control plane syncs right after the commit (webhook / portcullis admin sync); no poll interval",
        enforcing:
          "every data plane's PolicyHolder has swapped to the new revision (in-process listener); after each commit a real connection to every proxy checks alice's SELECT on sales.customers is allowed/denied accordingly",
        data_planes:
          "in this process (test/harness/proxy-stack.ts), one event loop, each with its own NATS connection and opa-wasm runtime",
        status_interval_ms: statusIntervalMs,
        warmup_commits_per_size: 1,
        percentile: "nearest rank",
      },
      results,
    };
    const file = join(projectRoot(), "bench", "results", "rollout.json");
    mkdirSync(join(projectRoot(), "bench", "results"), { recursive: true });
    writeFileSync(`${file}.tmp`, `${JSON.stringify(out, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    say();
    say(`wrote bench/results/rollout.json in ${Math.round((Date.now() - started) / 1000)} s`);
    return 0;
  } finally {
    await cleanups.run();
  }
}

runBench("rollout", main, (err) => err instanceof BenchError || err instanceof ToolchainError);
