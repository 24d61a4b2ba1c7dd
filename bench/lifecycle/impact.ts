/**
 * bench-lifecycle, impact and shadow parts: a scripted policy change with a known answer.
 *
 * Real components: nats-server, a control plane (SQLite, signing key, opa builds of the default
 * policies and of the same policies plus the audit rule, which closes sales.customers to analysts),
 * a data plane fed by it over NATS, PostgreSQL and an OIDC provider. With the default policies
 * active and the audit revision as the shadow one, concurrent analyst sessions run a workload where
 * one statement in five reads sales.customers (the known share the shadow disagrees on) and the
 * rest read sales.orders.
 *
 *   shadow.enforced_changes  statements whose outcome was not the active revision's (must be 0:
 *                            every statement of the workload is allowed by the active revision)
 *   shadow.disagreements     portcullis_shadow_disagreements_total after the workload
 *   shadow.expected          the customers statements run (what the shadow should disagree on)
 *   shadow.decisions         decisions the shadow revision was asked about
 *
 * Then every decision of the workload, as the control plane stored it, copied under new record ids
 * until the log holds at least 20,000 (the same records the real gate built, each copy a decision
 * with the same known answer), is replayed against the audit revision (ReplayDecisions):
 *
 *   impact.decisions_per_s   replay speed, as the control plane measured its loop (SQLite rows
 *                            streamed, JSON parsed, wasm evaluated, compared)
 *   impact.flips_found       flips of every kind the replay found
 *   impact.flips_expected    the customers statements of the workload (each flips allow → deny)
 */
import { cp as copyDir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { readPolicyFolder } from "../../cli/admin.js";
import { projectRoot } from "../../common/toolchain.js";
import { startNats } from "../../devstack/nats.js";
import { createAdminClient } from "../../proto/load.js";
import { AUDIT_REGO } from "../../test/harness/audit-policy.js";
import { startTestControlPlane } from "../../test/harness/control-plane.js";
import { startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { until } from "../lib/process.js";

const CUSTOMERS = "SELECT count(*) AS n FROM sales.customers";
const ORDERS = "SELECT count(*) AS n FROM sales.orders WHERE id < 100";
/** One statement in SHARE reads sales.customers. */
const SHARE = 5;
const SESSIONS = 8;
const STATEMENTS_PER_SESSION = 300;
/** Decisions replayed at least: the workload's stored records, copied (new ids) until there are this many. */
const REPLAY_AT_LEAST = 20_000;

const log = (line: string) => process.stderr.write(`[impact] ${line}\n`);

export async function measureImpact(): Promise<Record<string, unknown>> {
  const scratch = await mkdtemp(join(tmpdir(), "portcullis-bench-impact-"));
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const nats = await startNats();
    cleanup.unshift(() => nats.destroy());
    const cp = await startTestControlPlane({ natsUrl: nats.url });
    cleanup.unshift(() => cp.destroy());
    const admin = createAdminClient(cp.admin.address, { deadlineMs: 120_000 });
    cleanup.unshift(async () => admin.close());

    const auditDir = join(scratch, "audit-policies");
    await copyDir(join(projectRoot(), "policies"), auditDir, { recursive: true });
    await writeFile(join(auditDir, "audit.rego"), AUDIT_REGO);
    const publish = async (dir: string, activate: boolean) => {
      const r = await admin.PublishBundle({ files: await readPolicyFolder(dir), no_activate: !activate });
      if (!r.bundle || r.bundle.status === "failed") throw new Error(`the bundle of ${dir} was rejected`);
      return r.bundle.revision;
    };
    const base = await publish(join(projectRoot(), "policies"), true);
    const audit = await publish(auditDir, false);

    const stack = await startProxyStack({
      config: {
        proxy: { id: "dp-bench-impact", region: "eu" },
        policy: { public_key_file: cp.publicKeyFile },
        bus: { servers: [nats.url], state_dir: join(scratch, "state"), status_interval_ms: 1_000 },
        decision_log: { max_queue: 200_000 },
      },
    });
    cleanup.unshift(() => stack.stop());
    await until(
      "the data plane to enforce the base revision",
      () => stack.proxy.policy.revision === base,
      30_000,
      20,
    );
    await admin.ActivateBundle({ revision: audit, mode: "shadow" });
    await until(
      "the shadow revision on the data plane",
      () => stack.proxy.shadow.revision === audit,
      30_000,
      20,
    );
    await until("the decision log", () => stack.proxy.decisionLog?.connected === true, 30_000, 20);
    log(`active ${base.slice(0, 19)}…, shadow ${audit.slice(0, 19)}…`);

    const since = new Date().toISOString();
    const token = await stack.token(USERS.alice, { lifetimeSeconds: 3600 });
    let customers = 0;
    let enforcedChanges = 0;
    let statements = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: SESSIONS }, async () => {
        const client = await stack.client(token);
        try {
          for (let i = 0; i < STATEMENTS_PER_SESSION; i++) {
            const isCustomers = i % SHARE === 0;
            if (isCustomers) customers++;
            statements++;
            // the active revision allows both: any failure is an outcome it did not decide
            await client.query(isCustomers ? CUSTOMERS : ORDERS).catch(() => {
              enforcedChanges++;
            });
          }
        } finally {
          await client.end();
        }
      }),
    );
    const workloadS = (performance.now() - started) / 1000;
    await stack.proxy.shadow.drained();
    const metric = await stack.proxy.metrics.shadowDisagreements.get();
    const disagreements = metric.values.reduce((n, v) => n + v.value, 0);
    const shadowStats = stack.proxy.shadow.stats;
    log(`${statements} statements in ${workloadS.toFixed(1)} s; shadow: ${disagreements} disagreements`);

    const expectedRecords = statements + SESSIONS;
    const stored = () =>
      (
        cp.store.db
          .prepare("SELECT count(*) AS n FROM decisions WHERE at >= ? AND input_json IS NOT NULL")
          .get(since) as { n: number }
      ).n;
    await until(
      "every decision in the control plane's store",
      () => stored() >= expectedRecords,
      120_000,
      200,
    );
    const copies = Math.max(0, Math.ceil(REPLAY_AT_LEAST / expectedRecords) - 1);
    const columns = (cp.store.db.prepare("PRAGMA table_info(decisions)").all() as { name: string }[])
      .map((c) => c.name)
      .filter((c) => c !== "id" && c !== "record_id");
    const copy = cp.store.db.prepare(
      `INSERT INTO decisions (record_id, ${columns.join(", ")})
       SELECT record_id || '-copy-' || @n, ${columns.join(", ")} FROM decisions
       WHERE at >= @since AND input_json IS NOT NULL AND record_id NOT LIKE '%-copy-%'`,
    );
    cp.store.db.transaction(() => {
      for (let n = 1; n <= copies; n++) copy.run({ n, since });
    })();
    log(
      `${stored()} decisions stored (${copies} copies of the workload's); replaying against the audit revision`,
    );

    const replay = await admin.ReplayDecisions({ against: audit, since, max_flips: 1 });
    const flipsFound = replay.allow_to_deny + replay.deny_to_allow + replay.mask_change;
    // the same without the memo: one wasm evaluation per decision
    const raw = await admin.ReplayDecisions({ against: audit, since, max_flips: 1, evaluate_all: true });
    log(`replayed ${replay.replayed} in ${Math.round(replay.duration_ms)} ms: ${flipsFound} flips`);
    return {
      impact: {
        decisions_per_s: Math.round(replay.decisions_per_s),
        decisions: replay.replayed,
        replay_ms: Math.round(replay.duration_ms),
        flips_found: flipsFound,
        flips_expected: customers * (copies + 1),
        candidate_evaluations: replay.evaluations,
        uncached_decisions_per_s: Math.round(raw.decisions_per_s),
        uncached_flips_found: raw.allow_to_deny + raw.deny_to_allow + raw.mask_change,
        allow_to_deny: replay.allow_to_deny,
        deny_to_allow: replay.deny_to_allow,
        mask_change: replay.mask_change,
      },
      shadow: {
        enforced_changes: enforcedChanges,
        disagreements,
        expected: customers,
        decisions: shadowStats.evaluated,
        dropped: shadowStats.dropped,
        statements,
        statements_per_s: Math.round(statements / workloadS),
      },
    };
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  measureImpact().then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      process.exit(0);
    },
    (err: Error) => {
      process.stderr.write(`bench impact failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
