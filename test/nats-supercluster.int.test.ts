/**
 * Two regions as separate 3-node JetStream clusters joined by gateways, started from the shipped
 * supercluster config (deploy/nats/supercluster.conf). The bundle buckets and the revocation
 * stream live in the home region (eu, where the control plane is); the data plane of the other
 * region (us) connects only to its own region's servers and reaches them through the gateway.
 *
 * What is proven: the regions form one supercluster; a policy commit reaches the data planes of
 * both regions; a revocation reaches both; with the home region's servers gone (the other region
 * cut off from the streams, as a cut gateway leaves it) the us data plane keeps enforcing its last
 * bundle and its deny-list, and it catches up with a commit made once the link is back.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalSupercluster, startSupercluster } from "../devstack/nats-cluster.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { type AdminClient, createAdminClient } from "../proto/load.js";
import { startTestControlPlane, type TestControlPlane } from "./harness/control-plane.js";
import { type FleetDataPlane, startFleetDataPlane, tryLogin } from "./harness/fleet.js";
import { eventually, TempGitRepo } from "./harness/git-repo.js";
import { type OidcHarness, startOidcProvider } from "./harness/oidc.js";
import { USERS } from "./harness/proxy-stack.js";

let work: string;
let cluster: LocalSupercluster;
let pgServer: LocalPostgres;
let oidc: OidcHarness;
let repo: TempGitRepo;
let cp: TestControlPlane;
let admin: AdminClient;
const dps: FleetDataPlane[] = [];

function converged(revision: string): boolean {
  return dps.every((dp) => dp.policy.current()?.revision === revision);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "portcullis-supercluster-"));
  [cluster, pgServer, oidc] = await Promise.all([
    startSupercluster({ regions: ["eu", "us"] }),
    startPostgres(),
    startOidcProvider(),
  ]);
  repo = await TempGitRepo.create();
  await repo.copyDefaultPolicies();
  await repo.commit("default policies");
  cp = await startTestControlPlane({
    natsUrl: cluster.urls("eu")[0]!,
    repo: repo.dir,
    config: {
      nats: cluster.access("control-plane", cluster.urls("eu")),
      distribution: { replicas: 3, placement_cluster: "eu" },
    },
  });
  await cp.sync();
  for (const region of ["eu", "us"]) {
    dps.push(
      await startFleetDataPlane({
        id: `dp-${region}`,
        region,
        dir: join(work, `dp-${region}`),
        natsUrl: cluster.urls(region)[0]!,
        publicKeyFile: cp.publicKeyFile,
        pg: pgServer,
        oidc,
        config: {
          bus: { ...cluster.access("data-plane", cluster.urls(region)), reconnect_max_ms: 500 },
          revocation: { max_staleness: "60s", boot_timeout: "10s" },
        },
      }),
    );
  }
  admin = createAdminClient(cp.admin.address);
  await eventually(
    () => converged(cp.store.bundles.active()!.revision),
    "both regions on the first bundle",
    90_000,
  );
}, 240_000);

afterAll(async () => {
  admin?.close();
  for (const dp of dps) await dp.stop().catch(() => undefined);
  await cp?.destroy();
  await repo?.destroy();
  await cluster?.destroy();
  await oidc?.stop();
  await pgServer?.stop();
  if (work) await rm(work, { recursive: true, force: true });
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
