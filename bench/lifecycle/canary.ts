/**
 * bench-lifecycle, canary part: how long a bad revision activated as a canary stays on the canary
 * region. Real components (test/harness/canary-fleet.ts): a control plane, nats-server, PostgreSQL,
 * an OIDC provider, real opa, and two data planes (dp-eu in eu, dp-us in us) with alice reading
 * sales.customers through both.
 *
 * Each sample commits a revision that denies alice that read, activates it with `canary region=eu`
 * and times ActivateBundle's call → dp-eu enforcing the previous revision again (the control plane
 * judged the deny rate and rolled back by itself). The bake time is longer than the target, so a
 * rollback inside it is the judge's, never the end of the bake.
 *
 * Result: `{ canary: { rollback_s, rollback_s_p50, samples, bake_seconds, us_saw_canary } }`;
 * `rollback_s` is the slowest sample.
 */
import { pathToFileURL } from "node:url";
import { AUDIT_REGO } from "../../test/harness/audit-policy.js";
import { startCanaryFleet } from "../../test/harness/canary-fleet.js";
import { percentile, until } from "../lib/process.js";

const SAMPLES = 3;
const BAKE_SECONDS = 30;

export async function measureCanary(): Promise<Record<string, unknown>> {
  const fleet = await startCanaryFleet({
    canary: { bake_seconds: BAKE_SECONDS, max_deny_rate_increase: 0.2, min_decisions: 5 },
  });
  try {
    const previous = await fleet.repo.head();
    await until(
      "both data planes on the first revision",
      () =>
        fleet.eu.stack.proxy.policy.revision === previous &&
        fleet.us.stack.proxy.policy.revision === previous,
      60_000,
      20,
    );
    const seconds: number[] = [];
    const bad: string[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      await fleet.repo.write({ "policies/audit.rego": `${AUDIT_REGO}\n# sample ${i}\n` });
      const revision = await fleet.repo.commit(`audit, sample ${i}`);
      bad.push(revision);
      await fleet.admin.SyncPolicies({});
      const traffic = fleet.traffic();
      try {
        await until(
          "traffic on both data planes",
          () => (traffic.outcomes["dp-us"]?.length ?? 0) >= 10,
          30_000,
          20,
        );
        const started = performance.now();
        await fleet.admin.ActivateBundle({ revision, reason: "bench", canary: "region=eu" });
        await until("dp-eu to run the canary", () => fleet.eu.loaded.includes(revision), 30_000, 2);
        await until(
          "dp-eu back on the previous revision",
          () => fleet.eu.stack.proxy.policy.revision === previous,
          60_000,
          2,
        );
        seconds.push((performance.now() - started) / 1000);
        // the control plane records the end once its rollback activation is out and the canary
        // pointer cleared: the data plane may switch back a moment before that
        let status = await fleet.admin.GetFleetStatus({});
        await until(
          "the canary's end recorded",
          async () => {
            status = await fleet.admin.GetFleetStatus({});
            return status.canary?.state !== "running";
          },
          30_000,
          20,
        );
        if (status.canary?.state !== "rolled_back")
          throw new Error(`the canary ended as ${status.canary?.state ?? "nothing"}, not rolled back`);
      } finally {
        await traffic.stop();
      }
    }
    const round = (s: number) => Math.round(s * 1000) / 1000;
    return {
      canary: {
        rollback_s: round(Math.max(...seconds)),
        rollback_s_p50: round(percentile(seconds, 50)),
        samples: seconds.length,
        bake_seconds: BAKE_SECONDS,
        us_saw_canary: bad.some((r) => fleet.us.loaded.includes(r) || fleet.us.wanted.includes(r)),
      },
    };
  } finally {
    await fleet.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  measureCanary().then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      process.exit(0);
    },
    (err: Error) => {
      process.stderr.write(`bench-lifecycle canary failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
