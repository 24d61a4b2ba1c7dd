/**
 * The fleet on a real 3-node NATS JetStream cluster started from the shipped configs
 * (deploy/nats/server.conf + accounts.conf: TLS to clients and between servers, the shipped
 * accounts and users): the control plane and two data planes connect with their own users and a
 * list of cluster members, over TLS, with R3 buckets and streams.
 *
 * What is proven: a policy commit reaches every data plane; with the node a data plane is on
 * killed, the data planes fail over to another member, a new commit still converges and a
 * revocation made while the node is down is enforced everywhere; after the node is back the
 * revocation stream holds that revocation once (nothing duplicated) and every plane still agrees.
 * The shipped permissions refuse a data plane publishing a bundle, a revocation, a session resync
 * or a call administering the session stream, reading the
 * other data planes' status, and subjects of another account never reach the Portcullis account.
 */
import { readFile } from "node:fs/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_USERS, type ClusterUser, type LocalSupercluster } from "../devstack/nats-cluster.js";
import { BUS } from "../proto/bus.js";
import type { AdminClient } from "../proto/load.js";
import { type ClusterFleet, startClusterFleet } from "./harness/cluster-fleet.js";
import type { TestControlPlane } from "./harness/control-plane.js";
import { type FleetDataPlane, tryLogin } from "./harness/fleet.js";
import { eventually, type TempGitRepo } from "./harness/git-repo.js";
import { USERS } from "./harness/proxy-stack.js";

let fleet: ClusterFleet;
let cluster: LocalSupercluster;
let cp: TestControlPlane;
let admin: AdminClient;
let repo: TempGitRepo;
let dps: FleetDataPlane[];
const clients: NatsConnection[] = [];

async function client(user: ClusterUser, servers = cluster.urls("eu")): Promise<NatsConnection> {
  const nc = await connect({
    servers,
    user,
    pass: CLUSTER_USERS[user],
    tls: { caFile: cluster.caFile },
    name: `test-${user}`,
  });
  clients.push(nc);
  return nc;
}

async function revocationCount(): Promise<number> {
  const jsm = await jetstreamManager(await client("operator"));
  return (await jsm.streams.info(BUS.revocationsStream)).state.messages;
}

/**
 * The count once the stream answers: with a member down, the JetStream API can time out while the
 * cluster elects a new leader, which is not what the test is about; a wrong count still fails.
 */
async function settledRevocationCount(): Promise<number> {
  return eventually(async () => revocationCount(), "the revocation stream answering", 60_000);
}

const converged = (revision: string) => fleet.converged(revision);

beforeAll(async () => {
  fleet = await startClusterFleet({
    regions: ["eu"],
    // each data plane starts on another member than the control plane's first
    dataPlanes: [
      { id: "dp-1", region: "eu", servers: (c) => [1, 2, 0].map((i) => c.urls("eu")[i]!) },
      { id: "dp-2", region: "eu", servers: (c) => [2, 0, 1].map((i) => c.urls("eu")[i]!) },
    ],
    firstBundleMs: 60_000,
  });
  ({ cluster, cp, admin, repo, dps } = fleet);
}, 180_000);

afterAll(async () => {
  for (const nc of clients) await nc.close().catch(() => undefined);
  await fleet?.destroy();
}, 60_000);

describe("the fleet on a 3-node cluster", () => {
  it("places the bundle buckets and the streams in the region's cluster with three replicas", async () => {
    const jsm = await jetstreamManager(await client("operator"));
    for (const stream of ["KV_portcullis_bundles", "OBJ_portcullis_bundle_objects", BUS.revocationsStream]) {
      const info = await jsm.streams.info(stream);
      expect(info.config.num_replicas, stream).toBe(3);
      expect(info.cluster?.name, stream).toBe("eu");
    }
  });

  it("reports which NATS server and cluster each data plane is on", async () => {
    await eventually(
      () =>
        ["dp-1", "dp-2"].every(
          (id) => cp.fleet.get(id)?.natsCluster === "eu" && cp.fleet.get(id)?.natsServer,
        ),
      "fleet records with the NATS server and cluster",
    );
    const names = cluster.nodes.map((n) => n.name);
    expect(names).toContain(cp.fleet.get("dp-1")!.natsServer);
  });

  it("converges a rollout and loses no revocation with a node killed, duplicates nothing after its restart", async () => {
    const victimName = cp.fleet.get("dp-1")!.natsServer!;
    const victim = cluster.nodes.find((n) => n.name === victimName)!;
    await victim.kill();
    await repo.write({ "policies/fleet_marker.rego": "package fleet_marker\n\nmarker := 1\n" });
    const revision = await repo.commit("a commit while a NATS node is down");
    await cp.sync();
    await eventually(
      () => converged(revision),
      "both data planes on the new bundle with a node down",
      90_000,
    );
    await eventually(
      async () => (await admin.RevokeSubject({ subject: USERS.bob.sub, reason: "node down" })) !== undefined,
      "the revocation accepted with a node down",
      60_000,
    );
    const bob = await fleet.oidc.token(USERS.bob);
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
    expect(await settledRevocationCount()).toBe(1);
    await victim.restart();
    await eventually(
      async () => (await client("operator", [victim.url])).info?.server_name === victimName,
      "the restarted node serving clients",
      60_000,
    );
    // the restarted node catches up from its peers: the stream holds the revocation once
    await eventually(async () => (await revocationCount()) === 1, "one revocation after the restart");
    expect(converged(revision)).toBe(true);
    expect(cp.store.bundles.active()!.revision).toBe(revision);
  }, 300_000);

  it("needs nothing the shipped permissions refuse (no violation in any server's log)", async () => {
    for (const node of cluster.nodes) {
      const log = await readFile(node.logFile, "utf8");
      expect(log, node.name).not.toMatch(/Permissions Violation/);
      expect(log, node.name).toMatch(/Server is ready/);
    }
  });
});

describe("the shipped permissions", () => {
  it("refuse a data plane publishing a bundle pointer, a live bundle, a revocation or a grant", async () => {
    const nc = await client("data-plane");
    const before = await settledRevocationCount();
    const kv = await new Kvm(nc).open("portcullis_bundles");
    await expect(kv.put("active", "{}")).rejects.toThrow(/permission|timeout/i);
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === "error") errors.push(String(s.error));
    })();
    nc.publish("portcullis.revocations.subject", "{}");
    nc.publish("portcullis.grants.live", "{}");
    nc.publish("portcullis.grants.state.g1", "{}");
    nc.publish("$KV.portcullis_bundles.active", "{}");
    nc.publish("portcullis.bundles.live", "{}");
    // session events: only their own subjects, never the stream's administration
    nc.publish(`$JS.API.STREAM.PURGE.${BUS.sessionsStream}`, "{}");
    nc.publish("portcullis.sessions.resync", "");
    await nc.flush();
    await eventually(() => errors.length >= 7, "seven permission violations reported");
    expect(errors.join("\n")).toMatch(
      /Permissions Violation for Publish to "portcullis\.revocations\.subject"/,
    );
    expect(errors.join("\n")).toMatch(/Permissions Violation for Publish to "portcullis\.bundles\.live"/);
    expect(errors.join("\n")).toMatch(/Permissions Violation for Publish to "portcullis\.grants\.live"/);
    expect(errors.join("\n")).toMatch(/Permissions Violation for Publish to "portcullis\.grants\.state\.g1"/);
    expect(errors.join("\n")).toMatch(
      /Permissions Violation for Publish to "\$JS\.API\.STREAM\.PURGE\.PORTCULLIS_SESSIONS"/,
    );
    expect(errors.join("\n")).toMatch(/Permissions Violation for Publish to "portcullis\.sessions\.resync"/);
    expect(await settledRevocationCount()).toBe(before);
  });

  it("refuse a data plane reading other data planes' status, and keep other accounts apart", async () => {
    const dp = await client("data-plane");
    const errors: string[] = [];
    void (async () => {
      for await (const s of dp.status()) if (s.type === "error") errors.push(String(s.error));
    })();
    dp.subscribe("portcullis.status.*");
    await dp.flush();
    await eventually(
      () => errors.some((e) => /Permissions Violation for Subscription/.test(e)),
      "a refused subscription",
    );

    const controlPlane = await client("control-plane");
    const seen: string[] = [];
    controlPlane.subscribe("portcullis.status.*", {
      callback: (_err, msg) => {
        seen.push(msg.string());
      },
    });
    await controlPlane.flush();
    const apps = await client("apps");
    apps.publish("portcullis.status.forged", "from another account");
    await apps.flush();
    const dp2 = await client("data-plane");
    dp2.publish("portcullis.status.real", "from the data plane user");
    await dp2.flush();
    await eventually(() => seen.includes("from the data plane user"), "the data plane's status");
    expect(seen).not.toContain("from another account");
  });
});
