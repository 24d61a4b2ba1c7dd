/**
 * A fleet on real NATS clusters started from the shipped configs (devstack/nats-cluster.ts): the
 * clusters of the regions asked for, one PostgreSQL, one OIDC provider, a policy repository with the
 * default policies, a control plane in the first region (R3 buckets and streams placed there) and
 * the data planes given, each on its own list of servers with the shipped data-plane user. Resolves
 * once every data plane enforces the first bundle. Shared by the cluster and supercluster tests.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalSupercluster, startSupercluster } from "../../devstack/nats-cluster.js";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type AdminClient, createAdminClient } from "../../proto/load.js";
import { startTestControlPlane, type TestControlPlane } from "./control-plane.js";
import { type FleetDataPlane, startFleetDataPlane } from "./fleet.js";
import { eventually, TempGitRepo } from "./git-repo.js";
import { type OidcHarness, startOidcProvider } from "./oidc.js";

export interface ClusterFleetPlane {
  id: string;
  region: string;
  /** The data plane's servers, in the order it tries them (default: its region's). */
  servers?: (cluster: LocalSupercluster) => string[];
}

export interface ClusterFleet {
  cluster: LocalSupercluster;
  pg: LocalPostgres;
  oidc: OidcHarness;
  repo: TempGitRepo;
  cp: TestControlPlane;
  admin: AdminClient;
  dps: FleetDataPlane[];
  /** Every data plane enforces `revision`. */
  converged(revision: string): boolean;
  destroy(): Promise<void>;
}

/**
 * The clusters' ports are picked free and then bound: on a busy machine another process may take
 * one in between, and that server exits at start. Such a start is tried again (a new set of ports).
 */
async function startSuperclusterRetrying(regions: string[]): Promise<LocalSupercluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSupercluster({ regions });
    } catch (err) {
      if (attempt >= 3 || !/exited during start-up/.test((err as Error).message)) throw err;
    }
  }
}

export async function startClusterFleet(options: {
  regions: string[];
  dataPlanes: ClusterFleetPlane[];
  /** How long the first bundle may take to reach every data plane. */
  firstBundleMs?: number;
}): Promise<ClusterFleet> {
  const home = options.regions[0]!;
  const work = await mkdtemp(join(tmpdir(), "portcullis-cluster-fleet-"));
  // torn down in reverse, also when the start fails half-way (no process outlives the test file)
  const cleanups: (() => Promise<unknown>)[] = [() => rm(work, { recursive: true, force: true })];
  const destroy = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const started = await Promise.allSettled([
      startSuperclusterRetrying(options.regions),
      startPostgres(),
      startOidcProvider(),
    ]);
    for (const s of started) {
      if (s.status === "fulfilled")
        cleanups.push(() => ("destroy" in s.value ? s.value.destroy() : s.value.stop()));
    }
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const [cluster, pg, oidc] = started.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [
      LocalSupercluster,
      LocalPostgres,
      OidcHarness,
    ];
    const repo = await TempGitRepo.withDefaultPolicies();
    cleanups.push(() => repo.destroy());
    const homeServers = cluster.urls(home);
    const cp = await startTestControlPlane({
      natsUrl: homeServers[0]!,
      repo: repo.dir,
      config: {
        nats: cluster.access("control-plane", homeServers),
        distribution: { replicas: 3, placement_cluster: home },
      },
    });
    cleanups.push(() => cp.destroy());
    await cp.sync();
    const dps: FleetDataPlane[] = [];
    cleanups.push(async () => {
      for (const dp of dps) await dp.stop().catch(() => undefined);
    });
    for (const plane of options.dataPlanes) {
      const servers = plane.servers?.(cluster) ?? cluster.urls(plane.region);
      dps.push(
        await startFleetDataPlane({
          id: plane.id,
          region: plane.region,
          dir: join(work, plane.id),
          natsUrl: servers[0]!,
          publicKeyFile: cp.publicKeyFile,
          pg,
          oidc,
          config: {
            bus: { ...cluster.access("data-plane", servers), reconnect_max_ms: 500 },
            revocation: { max_staleness: "60s", boot_timeout: "10s" },
          },
        }),
      );
    }
    const admin = createAdminClient(cp.admin.address);
    cleanups.push(async () => admin.close());
    const converged = (revision: string) => dps.every((dp) => dp.policy.current()?.revision === revision);
    await eventually(
      () => converged(cp.store.bundles.active()!.revision),
      "every data plane on the first bundle",
      options.firstBundleMs ?? 90_000,
    );
    return { cluster, pg, oidc, repo, cp, admin, dps, converged, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}
