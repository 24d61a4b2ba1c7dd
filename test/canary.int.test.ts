/**
 * Canary rollouts end to end, on real components (test/harness/canary-fleet.ts): a control plane,
 * real opa, nats-server, PostgreSQL and an OIDC provider, and two data planes, dp-eu in region eu
 * and dp-us in us, with alice reading sales.customers through both the whole time.
 *
 *   - a bad revision (it denies alice what the previous one allowed) activated with canary
 *     region=eu reaches dp-eu only, is rolled back by the control plane on its deny rate before the
 *     bake time is over, with a signed rollback activation, and dp-us never sees it;
 *   - a good revision is promoted to the whole fleet once the bake time passes cleanly;
 *   - percent=N picks data planes by a stable hash of their id;
 *   - a revision that fails closed at run time (evaluation errors) is rolled back past max_errors;
 *   - a rolled-back canary pointer replayed into KV is refused;
 *   - a control plane restarted mid-canary takes the canary up (its counts from the stored
 *     decisions) instead of rolling it back, and promotes it when its bake time is over;
 *   - every step is a WatchEvents event of kind canary, and GetFleetStatus and `portcullis admin
 *     fleet` show the canary.
 */
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerAdminCommands } from "../cli/admin.js";
import { BUS, decodeBundlePointer } from "../proto/bus.js";
import { canaryBucket } from "../proto/canary.js";
import { AUDIT_REGO } from "./harness/audit-policy.js";
import { type CanaryFleet, startCanaryFleet } from "./harness/canary-fleet.js";
import { eventually } from "./harness/git-repo.js";

const BAKE_SECONDS = 8;
let fleet: CanaryFleet;
let first: string;
/** The bad canary's KV value, kept to replay it after its rollback. */
let badCanary: Uint8Array | undefined;

/** `portcullis admin …` against the test control plane (plaintext, no authentication); its output. */
async function cli(...args: string[]): Promise<string> {
  const lines: string[] = [];
  const program = new Command().exitOverride();
  registerAdminCommands(program, { out: (text) => lines.push(text) });
  await program.parseAsync(["admin", ...args, "--server", fleet.cp.admin.address, "--plaintext"], {
    from: "user",
  });
  return lines.join("\n");
}

async function converged(revision: string): Promise<void> {
  await eventually(
    async () => {
      const f = await fleet.admin.GetFleetStatus({});
      return f.active_revision === revision && f.all_converged && f.live === 2;
    },
    `both data planes on ${revision.slice(0, 12)}`,
  );
}

beforeAll(async () => {
  fleet = await startCanaryFleet({ canary: { bake_seconds: BAKE_SECONDS, max_deny_rate_increase: 0.2 } });
  first = await fleet.repo.head();
  await converged(first);
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

describe("canary rollout with automatic rollback", () => {
  it("refuses a canary that selects no live data plane, and a selector it cannot read", async () => {
    await expect(
      fleet.admin.ActivateBundle({ revision: first, reason: "", canary: "region=mars" }),
    ).rejects.toMatchObject({ code: 9 });
    await expect(
      fleet.admin.ActivateBundle({ revision: first, reason: "", canary: "colour=blue" }),
    ).rejects.toMatchObject({ code: 3 });
  });

  it("rolls a bad revision on region eu back by itself; region us never sees it", async () => {
    await fleet.repo.write({ "policies/audit.rego": AUDIT_REGO });
    const bad = await fleet.repo.commit("audit: close sales.customers to analysts");
    await fleet.admin.SyncPolicies({});
    expect((await fleet.admin.GetBundle({ revision: bad })).status).toBe("ready");

    const watch = await fleet.watchEvents(["canary"]);
    const traffic = fleet.traffic();
    try {
      // a baseline under the previous revision on both data planes first
      await eventually(() => traffic.outcomes["dp-us"]!.length >= 10, "traffic on both data planes");
      const started = await fleet.admin.ActivateBundle({
        revision: bad,
        reason: "try the audit rule on eu",
        canary: "region=eu",
      });
      expect(started.canary).toMatchObject({
        revision: bad,
        previous_revision: first,
        selector: "region=eu",
        state: "running",
      });
      badCanary = await fleet.cp.distributor.readCanary();
      const during = await fleet.admin.GetFleetStatus({});
      expect(during.active_revision).toBe(first);
      expect(Object.fromEntries(during.data_planes.map((d) => [d.id, d.canary]))).toEqual({
        "dp-eu": true,
        "dp-us": false,
      });

      const rolledBack = await eventually(
        () => watch.events.find((e) => e.type === "canary.rolled_back"),
        "the canary to be rolled back",
        60_000,
      );
      const payload = JSON.parse(rolledBack.json) as {
        revision: string;
        previous_revision: string;
        reason: string;
        measures: { canary: { denied: number } };
      };
      expect(payload).toMatchObject({ revision: bad, previous_revision: first });
      // judged on its deny rate, not at the end of the bake time
      expect(payload.reason).toContain("deny rate");
      expect(payload.measures.canary.denied).toBeGreaterThan(0);
      expect(watch.events.map((e) => e.type)).toEqual(["canary.started", "canary.rolled_back"]);

      await eventually(
        () => fleet.eu.stack.proxy.policy.revision === first,
        "dp-eu back on the previous revision",
      );
      await converged(first);
      // the way back was a new activation signed as a rollback
      const pointer = await fleet.cp.distributor.readPointer();
      const activation = JSON.parse(
        Buffer.from(pointer!.activation!.split(".")[1]!, "base64url").toString("utf8"),
      ) as { revision: string; rollback: boolean };
      expect(activation).toMatchObject({ revision: first, rollback: true });
      expect(await fleet.cp.distributor.readCanary()).toBeUndefined();

      const after = await fleet.admin.GetFleetStatus({});
      expect(after.canary).toMatchObject({ revision: bad, state: "rolled_back" });
      expect(after.data_planes.every((d) => !d.canary)).toBe(true);
    } finally {
      await traffic.stop();
      watch.cancel();
    }
    // dp-eu ran the bad revision, then the previous one again; dp-us never wanted nor loaded it
    expect(fleet.eu.loaded).toContain(bad);
    expect(fleet.eu.loaded.at(-1)).toBe(first);
    expect(fleet.us.loaded).not.toContain(bad);
    expect(fleet.us.wanted).not.toContain(bad);
    expect(traffic.outcomes["dp-us"]!.every((o) => o === "ok")).toBe(true);
    expect(traffic.outcomes["dp-eu"]).toContain("42501");
  }, 120_000);

  it("refuses the rolled-back canary's pointer put back into KV (no rollback of the rollback by replay)", async () => {
    expect(badCanary).toBeDefined();
    const nc = await connect({ servers: fleet.nats.url });
    try {
      const kv = await new Kvm(nc).open(BUS.bundleKv);
      await kv.put(BUS.canaryKey, badCanary!);
      await eventually(
        () => fleet.eu.stack.proxy.watcher?.state.loadError?.includes("activation refused"),
        "dp-eu to refuse the replayed canary",
      );
      expect(fleet.eu.stack.proxy.policy.revision).toBe(first);
      await kv.delete(BUS.canaryKey);
      await eventually(() => !fleet.eu.stack.proxy.watcher?.state.canaryRevision, "dp-eu out of the canary");
    } finally {
      await nc.close();
    }
    expect(fleet.us.stack.proxy.policy.revision).toBe(first);
  }, 60_000);

  it("promotes a good revision to the whole fleet once the bake time passes cleanly", async () => {
    await fleet.repo.write({
      "policies/audit.rego": 'package portcullis.note\n\nnote := "a harmless change"\n',
    });
    const good = await fleet.repo.commit("a harmless change");
    await fleet.admin.SyncPolicies({});

    const watch = await fleet.watchEvents(["canary"]);
    const traffic = fleet.traffic();
    try {
      await eventually(() => traffic.outcomes["dp-us"]!.length >= 10, "traffic on both data planes");
      const out = await cli("activate", good, "--canary", "region=eu");
      expect(out).toContain(`canary: ${good} on region=eu`);
      await eventually(() => fleet.eu.stack.proxy.policy.revision === good, "dp-eu to run the canary");
      // the canary runs on eu only, and the fleet view says so
      const during = await fleet.admin.GetFleetStatus({});
      const byId = Object.fromEntries(during.data_planes.map((d) => [d.id, d]));
      expect(byId["dp-eu"]).toMatchObject({ canary: true });
      expect(byId["dp-us"]).toMatchObject({ canary: false, revision: first });
      expect(during.canary).toMatchObject({ revision: good, state: "running", selector: "region=eu" });
      const table = await cli("fleet");
      expect(table).toContain(`canary running: ${good.slice(0, 12)} on region=eu`);
      expect(table).toMatch(/CANARY/);
      expect(table).toMatch(/dp-eu +eu .* yes /);

      const promoted = await eventually(
        () => watch.events.find((e) => e.type === "canary.promoted"),
        "the canary to be promoted",
        60_000,
      );
      expect(JSON.parse(promoted.json)).toMatchObject({ revision: good, previous_revision: first });
      expect(watch.events.map((e) => e.type)).toEqual(["canary.started", "canary.promoted"]);
      await converged(good);
      expect(
        decodeBundlePointer(Buffer.from(JSON.stringify(await fleet.cp.distributor.readPointer()))),
      ).toMatchObject({ revision: good });
      expect((await fleet.admin.GetFleetStatus({})).canary).toMatchObject({ state: "promoted" });
    } finally {
      await traffic.stop();
      watch.cancel();
    }
    expect(traffic.outcomes["dp-eu"]!.every((o) => o === "ok")).toBe(true);
    expect(traffic.outcomes["dp-us"]!.every((o) => o === "ok")).toBe(true);
  }, 120_000);

  it("a control plane restarted mid-canary takes it up where it was (counts from the stored decisions, bake time from its start) and promotes it", async () => {
    const previous = (await fleet.admin.GetFleetStatus({})).active_revision;
    await fleet.repo.write({
      "policies/audit.rego": 'package portcullis.note\n\nnote := "a change across a restart"\n',
    });
    const good = await fleet.repo.commit("a change across a restart");
    await fleet.admin.SyncPolicies({});
    const traffic = fleet.traffic();
    let watch: Awaited<ReturnType<CanaryFleet["watchEvents"]>> | undefined;
    try {
      await eventually(() => traffic.outcomes["dp-us"]!.length >= 10, "traffic on both data planes");
      await fleet.admin.ActivateBundle({ revision: good, reason: "", canary: "region=eu" });
      await eventually(() => fleet.eu.stack.proxy.policy.revision === good, "dp-eu to run the canary");
      const before = await eventually(async () => {
        const c = (await fleet.admin.GetFleetStatus({})).canary;
        return c && Number(c.decisions) >= 5 && Number(c.baseline_decisions) >= 5 ? c : undefined;
      }, "canary and baseline decisions stored");
      expect(before).toMatchObject({ revision: good, state: "running" });

      await fleet.restartControlPlane();
      watch = await fleet.watchEvents(["canary"]);
      // taken up, not rolled back: the counts it had are back from the audit trail
      const after = await eventually(async () => {
        const c = (await fleet.admin.GetFleetStatus({})).canary;
        return c?.state === "running" ? c : undefined;
      }, "the restarted control plane to take the canary up");
      expect(after).toMatchObject({ revision: good, previous_revision: previous, selector: "region=eu" });
      expect(after!.started_at).toBe(before!.started_at);
      expect(Number(after!.decisions)).toBeGreaterThanOrEqual(Number(before!.decisions));
      expect(Number(after!.baseline_decisions)).toBeGreaterThanOrEqual(Number(before!.baseline_decisions));
      expect(fleet.us.loaded).not.toContain(good);

      const promoted = await eventually(
        () => watch!.events.find((e) => e.type === "canary.promoted"),
        "the canary to be promoted after its bake time",
        60_000,
      );
      expect(JSON.parse(promoted.json)).toMatchObject({ revision: good, previous_revision: previous });
      expect(watch.events.map((e) => e.type)).not.toContain("canary.rolled_back");
      await converged(good);
    } finally {
      await traffic.stop();
      watch?.cancel();
    }
    expect(traffic.outcomes["dp-eu"]!.every((o) => o === "ok")).toBe(true);
  }, 180_000);

  it("selects by percent with a stable hash of the data plane id: percent=60 takes dp-eu (51), not dp-us (69)", async () => {
    expect([canaryBucket("dp-eu"), canaryBucket("dp-us")]).toEqual([51, 69]);
    const previous = (await fleet.admin.GetFleetStatus({})).active_revision;
    await fleet.repo.write({ "policies/audit_again.rego": AUDIT_REGO });
    const bad = await fleet.repo.commit("audit again");
    await fleet.admin.SyncPolicies({});
    const watch = await fleet.watchEvents(["canary"]);
    const traffic = fleet.traffic();
    try {
      await eventually(() => traffic.outcomes["dp-us"]!.length >= 10, "traffic on both data planes");
      await fleet.admin.ActivateBundle({ revision: bad, reason: "", canary: "percent=60" });
      const rolledBack = await eventually(
        () => watch.events.find((e) => e.type === "canary.rolled_back"),
        "the percent canary to be rolled back",
        60_000,
      );
      expect(JSON.parse(rolledBack.json)).toMatchObject({ revision: bad, canary: "percent=60" });
      await converged(previous);
    } finally {
      await traffic.stop();
      watch.cancel();
    }
    expect(fleet.eu.loaded).toContain(bad);
    expect(fleet.us.loaded).not.toContain(bad);
    expect(fleet.us.wanted).not.toContain(bad);
    expect(traffic.outcomes["dp-us"]!.every((o) => o === "ok")).toBe(true);
  }, 120_000);

  it("rolls back on evaluation errors past max_errors (a policy that fails closed at run time)", async () => {
    const previous = (await fleet.admin.GetFleetStatus({})).active_revision;
    await fleet.repo.write({
      "policies/audit_again.rego": "package portcullis.note_again\n\nnote := 1\n",
      // two values for one complete rule, only for analysts reading sales.customers: a run-time
      // conflict the data plane turns into a fail-closed "policy error" denial
      "policies/conflict.rego": `package portcullis.query

reads_customers if {
	db_role == "analyst"
	some s in statements
	some r in object.get(s, "relations", [])
	r.name == "customers"
}

audit_level := 1 if reads_customers

audit_level := 2 if reads_customers

deny contains "audit level 3" if audit_level == 3
`,
    });
    const broken = await fleet.repo.commit("a rule with two values");
    await fleet.admin.SyncPolicies({});
    expect((await fleet.admin.GetBundle({ revision: broken })).status).toBe("ready");
    const watch = await fleet.watchEvents(["canary"]);
    const traffic = fleet.traffic();
    try {
      await eventually(() => traffic.outcomes["dp-us"]!.length >= 10, "traffic on both data planes");
      await fleet.admin.ActivateBundle({ revision: broken, reason: "", canary: "region=eu" });
      const rolledBack = await eventually(
        () => watch.events.find((e) => e.type === "canary.rolled_back"),
        "the canary to be rolled back",
        60_000,
      );
      const payload = JSON.parse(rolledBack.json) as {
        reason: string;
        measures: { canary: { evaluation_errors: number } };
      };
      expect(payload.reason).toMatch(/^\d+ evaluation errors and 0 load errors, over max_errors 0/);
      expect(payload.measures.canary.evaluation_errors).toBeGreaterThan(0);
      await converged(previous);
    } finally {
      await traffic.stop();
      watch.cancel();
    }
    expect(fleet.us.loaded).not.toContain(broken);
  }, 120_000);
});
