/**
 * `make bench-policy`: the cost of deciding one statement, in process, no network.
 *
 * The default policy is compiled by the real opa and loaded into opa-wasm (test/harness/opa.ts), the SQL
 * analyzer is libpg-query (data-plane/sql), and each statement goes through the proxy's own
 * `StatementGate.onFrontend` as a Query message, with the same dependencies the data plane wires in
 * (data-plane/main.ts): the analysis cache, the decision cache, the session's search_path, a catalog
 * snapshot (built here instead of read from a server) and the decision metrics.
 *
 *   uncached   a fresh analysis cache and an empty decision cache before every statement:
 *              parse + analysis + name resolution + policy evaluation (decision and cacheable)
 *   cached     both caches warm: what a repeated statement costs (StatementGate.decide's cache hit)
 *
 * Prints p50/p99 per path and per statement, and writes bench/results/policy.json.
 * Options: --rounds-uncached=N (300), --rounds-cached=N (5000).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { serialize } from "pg-protocol";
import { silentLogger } from "../common/logger.js";
import { PolicyHolder } from "../common/policy/runtime.js";
import { projectRoot, ToolchainError } from "../common/toolchain.js";
import { DataPlaneMetrics } from "../data-plane/metrics.js";
import type { FrontendMessage } from "../data-plane/protocol/frontend-messages.js";
import { AnalysisCache, analyzeUncached, loadParser } from "../data-plane/sql/index.js";
import { type Catalog, type CatalogRelation, CatalogSnapshot } from "../data-plane/statements/catalog.js";
import { DecisionCache } from "../data-plane/statements/decision-cache.js";
import { SearchPath } from "../data-plane/statements/search-path.js";
import {
  type DecisionRecord,
  type GateSession,
  StatementGate,
} from "../data-plane/statements/statement-gate.js";
import type { TokenClaims } from "../proto/policy.js";
import { loadRuntime } from "../test/harness/opa.js";
import { USERS } from "../test/harness/proxy-stack.js";
import { benchMachine } from "./lib/machine.js";

const TARGETS = { cachedP50: 20, cachedP99: 100 };

interface Statement {
  session: "bob" | "carol";
  text: string;
}

/** A mix an application and its people send; bob is an engineer (app_rw), carol an admin (masked on hr). */
const STATEMENTS: Statement[] = [
  { session: "bob", text: "SELECT id, name, email FROM customers WHERE id = 42" },
  {
    session: "bob",
    text: "SELECT id, amount, status FROM sales.orders WHERE status = 'open' ORDER BY created_at DESC LIMIT 20",
  },
  {
    session: "bob",
    text: "SELECT c.name, sum(o.amount) AS total FROM sales.customers c JOIN sales.orders o ON o.customer_id = c.id WHERE c.region = 'eu' GROUP BY c.name ORDER BY total DESC LIMIT 10",
  },
  { session: "bob", text: "SELECT count(*) FROM orders WHERE created_at > now() - interval '7 days'" },
  {
    session: "bob",
    text: "SELECT o.id, o.amount FROM orders o WHERE o.customer_id IN (SELECT id FROM customers WHERE region = 'us')",
  },
  {
    session: "bob",
    text: "WITH recent AS (SELECT customer_id, amount FROM sales.orders WHERE created_at > now() - interval '1 day') SELECT customer_id, sum(amount) FROM recent GROUP BY customer_id",
  },
  { session: "bob", text: "SELECT abalance FROM pgbench_accounts WHERE aid = 48213" },
  {
    session: "bob",
    text: "INSERT INTO sales.orders (customer_id, amount, status) VALUES (7, 19.99, 'open') RETURNING id",
  },
  {
    session: "bob",
    text: "INSERT INTO customers (name, email, region) VALUES ('Ada', 'ada@example.com', 'eu')",
  },
  { session: "bob", text: "UPDATE sales.orders SET status = 'shipped' WHERE id = 17" },
  { session: "bob", text: "UPDATE customers SET email = 'new@example.com' WHERE id = 3" },
  { session: "bob", text: "DELETE FROM sales.orders WHERE id = 99 AND status = 'open'" },
  { session: "bob", text: "DELETE FROM sales.orders" },
  { session: "bob", text: "SET application_name = 'billing-worker'" },
  { session: "bob", text: "SET statement_timeout = '5s'" },
  { session: "bob", text: "BEGIN" },
  { session: "bob", text: "COMMIT" },
  { session: "bob", text: "SET ROLE admin" },
  {
    session: "carol",
    text: "SELECT id, name, department, ssn, salary FROM hr.employees WHERE department = 'engineering'",
  },
  { session: "bob", text: "EXPLAIN SELECT * FROM sales.orders WHERE customer_id = 12" },
];

function relation(oid: number, schema: string, name: string, columns: string[]): CatalogRelation {
  return { oid, schema, name, kind: "table", columns: new Map(columns.map((c, i) => [i + 1, c])) };
}

/** The sample schema plus pgbench's accounts table, as the catalog would read them. */
function catalogStub(): Catalog {
  const snapshot = new CatalogSnapshot(Date.now(), [
    relation(16400, "sales", "customers", ["id", "name", "email", "region"]),
    relation(16410, "sales", "orders", ["id", "customer_id", "amount", "status", "created_at"]),
    relation(16420, "hr", "employees", ["id", "name", "department", "email", "ssn", "salary"]),
    relation(16430, "sales", "pgbench_accounts", ["aid", "bid", "abalance", "filler"]),
  ]);
  // StatementGate uses fresh/get/invalidate; a snapshot that never goes stale stands in for the server
  const stub: Pick<Catalog, "fresh" | "get" | "invalidate"> = {
    fresh: () => snapshot,
    get: async () => snapshot,
    invalidate: () => {},
  };
  return stub as Catalog;
}

function claims(user: (typeof USERS)[keyof typeof USERS]): TokenClaims {
  const now = Math.floor(Date.now() / 1000);
  return { iss: "http://127.0.0.1:1", aud: "portcullis", iat: now, exp: now + 3600, ...user };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}

function summarize(samples: number[]): { p50: number; p99: number; mean: number; n: number } {
  const sorted = Float64Array.from(samples).sort();
  const mean = samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), mean, n: samples.length };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { "rounds-uncached": { type: "string" }, "rounds-cached": { type: "string" } },
  });
  const roundsUncached = Number(values["rounds-uncached"] ?? 300);
  const roundsCached = Number(values["rounds-cached"] ?? 5000);
  if (!(roundsUncached > 0 && roundsCached > 0)) throw new Error("rounds must be positive numbers");

  process.stdout.write("bench-policy: compiling the default policy with opa and loading the SQL parser…\n");
  await loadParser();
  const metrics = new DataPlaneMetrics({ proxy: "bench", region: "bench" });
  const runtime = await loadRuntime(join(projectRoot(), "policies"), {
    observer: (sample) =>
      metrics.evaluationSeconds.observe({ entrypoint: sample.entrypoint }, sample.durationNs / 1e9),
  });
  const policy = new PolicyHolder(runtime);
  const catalog = catalogStub();
  const decisions = new DecisionCache();
  const analysis = new AnalysisCache();
  const hashKey = randomBytes(32);
  const outcomes = new Map<string, DecisionRecord>();

  const gates = {
    bob: { user: USERS.bob, role: "app_rw", path: ["sales", "public"] },
    carol: { user: USERS.carol, role: "admin", path: ["$user", "public"] },
  };
  const gate = Object.fromEntries(
    Object.entries(gates).map(([name, g]) => {
      const session: GateSession = {
        id: `bench-${name}`,
        subject: g.user.sub,
        claims: claims(g.user),
        dbRole: g.role,
        database: "app",
        region: "bench",
      };
      return [
        name,
        new StatementGate({
          session,
          policy,
          analyze: (text) => analysis.analyze(text),
          catalog,
          catalogLogin: { role: g.role, password: "" },
          searchPath: new SearchPath(g.path, g.role),
          decisions,
          hashKey,
          logger: silentLogger,
          // what data-plane/main.ts does with every decision
          onDecision: (record) => {
            metrics.countStatement(record.decision.allow, record.protocol, record.cached);
            outcomes.set(record.text, record);
          },
        }),
      ];
    }),
  ) as Record<Statement["session"], StatementGate>;

  const messages: FrontendMessage[] = STATEMENTS.map((s) => {
    const raw = serialize.query(s.text);
    return { type: "Q", raw, body: raw.subarray(5) };
  });

  const decideOnce = (i: number): number => {
    const toUpstream: Buffer[] = [];
    const toClient: Buffer[] = [];
    const started = process.hrtime.bigint();
    const verdict = gate[STATEMENTS[i]!.session].onFrontend(messages[i]!, toUpstream, toClient);
    const elapsed = Number(process.hrtime.bigint() - started) / 1000;
    if (verdict !== true) throw new Error(`statement ${i + 1} did not decide synchronously`);
    // the upstream's ReadyForQuery: the next statement starts a cycle of its own (a gate decides a new
    // cycle only once those before it that could change the session's state have been answered)
    gate[STATEMENTS[i]!.session].onReadyForQuery("I");
    return elapsed;
  };

  const perStatement = STATEMENTS.map(() => ({ uncached: [] as number[], cached: [] as number[] }));
  const uncached: number[] = [];
  const cached: number[] = [];

  // warm-up: JIT both paths before measuring
  for (let r = 0; r < 50; r++) {
    for (let i = 0; i < STATEMENTS.length; i++) {
      analysis.clear();
      decisions.clear();
      decideOnce(i);
      decideOnce(i);
    }
  }

  process.stdout.write(`  uncached: ${roundsUncached} rounds × ${STATEMENTS.length} statements…\n`);
  const statsBefore = runtime.stats();
  for (let r = 0; r < roundsUncached; r++) {
    for (let i = 0; i < STATEMENTS.length; i++) {
      analysis.clear();
      decisions.clear();
      const us = decideOnce(i);
      uncached.push(us);
      perStatement[i]!.uncached.push(us);
    }
  }
  const statsAfter = runtime.stats();

  process.stdout.write(`  cached: ${roundsCached} rounds × ${STATEMENTS.length} statements…\n`);
  for (let i = 0; i < STATEMENTS.length; i++) decideOnce(i); // fill both caches
  const hitsBefore = decisions.hits;
  for (let r = 0; r < roundsCached; r++) {
    for (let i = 0; i < STATEMENTS.length; i++) {
      const us = decideOnce(i);
      cached.push(us);
      perStatement[i]!.cached.push(us);
    }
  }
  const cachedHits = decisions.hits - hitsBefore;

  // breakdown of the uncached path: parsing + analysis alone, and the two policy evaluations
  const parse: number[] = [];
  for (let r = 0; r < roundsUncached; r++) {
    for (const s of STATEMENTS) {
      const started = process.hrtime.bigint();
      analyzeUncached(s.text);
      parse.push(Number(process.hrtime.bigint() - started) / 1000);
    }
  }
  const evalMean = (entrypoint: "portcullis/query/decision" | "portcullis/query/cacheable") => {
    const a = statsAfter[entrypoint];
    const b = statsBefore[entrypoint];
    if (!a) return null;
    const count = a.count - (b?.count ?? 0);
    return count > 0 ? (a.totalNs - (b?.totalNs ?? 0)) / count / 1000 : null;
  };

  const u = summarize(uncached);
  const c = summarize(cached);
  const p = summarize(parse);
  const queryEval = evalMean("portcullis/query/decision");
  const cacheableEval = evalMean("portcullis/query/cacheable");

  const say = (line = "") => process.stdout.write(`${line}\n`);
  say();
  say(
    `${"#".padStart(2)} ${"statement".padEnd(58)} ${"decision".padEnd(10)} ${"uncached p50".padStart(12)} ${"cached p50".padStart(10)}`,
  );
  const rows = STATEMENTS.map((s, i) => {
    const record = outcomes.get(s.text);
    // the default policy returns every mask that applies to the session with each decision; "mask"
    // marks the statements that read a masked relation
    const masked = (record?.decision.mask ?? []).some((m) =>
      record?.statement?.relations.some((r) => `${r.schema}.${r.name}` === m.relation),
    );
    const decision = !record ? "?" : !record.decision.allow ? "deny" : masked ? "allow+mask" : "allow";
    const su = summarize(perStatement[i]!.uncached);
    const sc = summarize(perStatement[i]!.cached);
    const label = `${s.session}: ${s.text}`;
    say(
      `${String(i + 1).padStart(2)} ${(label.length > 58 ? `${label.slice(0, 55)}...` : label).padEnd(58)} ${decision.padEnd(10)} ${su.p50.toFixed(1).padStart(9)} µs ${sc.p50.toFixed(1).padStart(7)} µs`,
    );
    return {
      session: s.session,
      text: s.text,
      decision,
      reasons: record?.decision.reasons ?? [],
      uncached_p50_us: round2(su.p50),
      cached_p50_us: round2(sc.p50),
    };
  });
  say();
  say(
    `${"path".padEnd(44)} ${"p50 µs".padStart(9)} ${"p99 µs".padStart(9)} ${"mean µs".padStart(9)} ${"samples".padStart(8)}`,
  );
  const line = (name: string, s: ReturnType<typeof summarize>) =>
    say(
      `${name.padEnd(44)} ${s.p50.toFixed(1).padStart(9)} ${s.p99.toFixed(1).padStart(9)} ${s.mean.toFixed(1).padStart(9)} ${String(s.n).padStart(8)}`,
    );
  line("uncached (parse + analyse + resolve + policy)", u);
  line("cached (analysis hit + decision hit)", c);
  line("  of uncached: parse + analyse alone", p);
  say(
    `${"  of uncached: policy evaluation, mean".padEnd(44)} decision ${queryEval?.toFixed(1) ?? "—"} µs + cacheable ${cacheableEval?.toFixed(1) ?? "—"} µs`,
  );
  say(`  decision cache hits in the cached pass: ${cachedHits} of ${c.n}`);
  say();
  say("targets (reported, never enforced):");
  const checks = [
    { name: "cached p50", value: c.p50, threshold: TARGETS.cachedP50 },
    { name: "cached p99", value: c.p99, threshold: TARGETS.cachedP99 },
  ].map((k) => ({ ...k, value: round2(k.value), pass: k.value <= k.threshold }));
  for (const k of checks) {
    say(
      `  ${k.pass ? "PASS" : "MISS"}  ${k.name.padEnd(11)} ${k.value.toFixed(1)} µs (target ≤ ${k.threshold} µs)`,
    );
  }

  const out = {
    benchmark: "policy",
    date: new Date().toISOString(),
    machine: benchMachine(),
    policy_revision: runtime.revision,
    statements: STATEMENTS.length,
    rounds: { uncached: roundsUncached, cached: roundsCached },
    cached_p50_us: round2(c.p50),
    cached_p99_us: round2(c.p99),
    uncached_p50_us: round2(u.p50),
    uncached_p99_us: round2(u.p99),
    cached_mean_us: round2(c.mean),
    uncached_mean_us: round2(u.mean),
    breakdown: {
      parse_analyse_p50_us: round2(p.p50),
      parse_analyse_p99_us: round2(p.p99),
      query_decision_eval_mean_us: queryEval === null ? null : round2(queryEval),
      cacheable_eval_mean_us: cacheableEval === null ? null : round2(cacheableEval),
      cached_pass_decision_cache_hits: cachedHits,
    },
    targets: checks,
    per_statement: rows,
  };
  const file = join(projectRoot(), "bench", "results", "policy.json");
  mkdirSync(join(projectRoot(), "bench", "results"), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(out, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  say();
  say("wrote bench/results/policy.json");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof ToolchainError ? err.message : (err as Error).stack || String(err);
    process.stderr.write(`bench-policy: ${message}\n`);
    process.exit(1);
  },
);
