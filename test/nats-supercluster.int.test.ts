import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalSupercluster } from "../devstack/nats-cluster.js";
import type { AdminClient } from "../proto/load.js";
import { type ClusterFleet, startClusterFleet } from "./harness/cluster-fleet.js";
import type { TestControlPlane } from "./harness/control-plane.js";
import { type FleetDataPlane, tryLogin } from "./harness/fleet.js";
import { eventually, type TempGitRepo } from "./harness/git-repo.js";
import type { OidcHarness } from "./harness/oidc.js";
import { USERS } from "./harness/proxy-stack.js";

let fleet: ClusterFleet;
let cluster: LocalSupercluster;
let cp: TestControlPlane;
let admin: AdminClient;
let repo: TempGitRepo;
let dps: FleetDataPlane[];
let oidc: OidcHarness;
const converged = (revision: string) => fleet.converged(revision);

beforeAll(async () => {
  fleet = await startClusterFleet({
    regions: ["eu", "us"],
    dataPlanes: [
      { id: "dp-eu", region: "eu" },
      { id: "dp-us", region: "us" },
    ],
  });
  ({ cluster, cp, admin, repo, dps, oidc } = fleet);
}, 240_000);

afterAll(async () => {
  await fleet?.destroy();
}, 60_000);

describe("two regions joined by gateways", () => {
  it("each data plane reports the region's cluster it is on", async () => {
    await eventually(
      () => cp.fleet.get("dp-eu")?.natsCluster === "eu" && cp.fleet.get("dp-us")?.natsCluster === "us",
      "fleet records naming each data plane's NATS cluster",
    );
    expect(cluster.region("us").map((n) => n.name)).toContain(cp.fleet.get("dp-us")!.natsServer);
    const fleet = await admin.GetFleetStatus({ include_stale: false });
    expect(fleet.data_planes.find((d) => d.id === "dp-us")).toMatchObject({ nats_cluster: "us" });
  });

  it("a policy commit reaches every region", async () => {
    await repo.write({ "policies/region_marker.rego": "package region_marker\n\nmarker := 2\n" });
    const revision = await repo.commit("a commit for every region");
    await cp.sync();
    await eventually(() => converged(revision), "both regions on the new bundle", 90_000);
  }, 120_000);

  it("a revocation reaches every region", async () => {
    await admin.RevokeSubject({ subject: USERS.bob.sub, reason: "supercluster" });
    const bob = await oidc.token(USERS.bob);
    for (const dp of dps) {
      await eventually(
        async () => {
          const result = await tryLogin(dp.port, bob);
          return !result.ok && result.code === "28000" ? true : undefined;
        },
        `${dp.id} refusing the revoked subject`,
        60_000,
      );
    }
  }, 120_000);

  it("a region cut off from the home region keeps enforcing, and catches up when the link is back", async () => {
    const us = dps.find((dp) => dp.id === "dp-us")!;
    const before = us.policy.current()!.revision;
    for (const node of cluster.region("eu")) await node.kill();
    const [alice, bob] = await Promise.all([oidc.token(USERS.alice), oidc.token(USERS.bob)]);
    // within the staleness bound: the last bundle and the deny-list still decide
    expect(await tryLogin(us.port, alice)).toEqual({ ok: true });
    expect(await tryLogin(us.port, bob)).toMatchObject({ ok: false, code: "28000" });
    expect(us.policy.current()!.revision).toBe(before);
    for (const node of cluster.region("eu")) await node.restart();
    await repo.write({ "policies/region_marker.rego": "package region_marker\n\nmarker := 3\n" });
    const revision = await repo.commit("a commit after the link is back");
    await eventually(
      async () => {
        await cp.sync();
        return converged(revision);
      },
      "both regions on the commit made after the link came back",
      120_000,
    );
    expect(await tryLogin(us.port, bob)).toMatchObject({ ok: false, code: "28000" });
  }, 240_000);
});
