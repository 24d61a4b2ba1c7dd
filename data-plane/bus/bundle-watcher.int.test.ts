/**
 * The data plane's bundle watcher against a real control plane and a real nats-server: every
 * activation arrives, verified and loaded into opa-wasm through the PolicyHolder; status reports
 * make the fleet view converge; a NATS kill and restart is survived on both sides (an activation
 * made while NATS was down arrives afterwards); the last good bundle on disk starts a data plane
 * while NATS is down; a bundle the data plane refuses is reported as load_error; each activation
 * also arrives with its bytes on the live subject, which is enough to switch, while a live message
 * whose bytes are not its pointer's is ignored and KV stays what decides.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBundlePublicKeys, verifyBundle } from "../../common/policy/bundle-verify.js";
import { PolicyHolder, PolicyRuntime } from "../../common/policy/runtime.js";
import { type LocalNats, startNats } from "../../devstack/nats.js";
import { decodeBundle } from "../../proto/bundle-file.js";
import { BUS, type BundlePointer, decodeLiveBundle, encodeLiveBundle } from "../../proto/bus.js";
import { startTestControlPlane, type TestControlPlane } from "../../test/harness/control-plane.js";
import { eventually, TempGitRepo } from "../../test/harness/git-repo.js";
import { BundleWatcher, LAST_GOOD_BUNDLE } from "./bundle-watcher.js";

let nats: LocalNats;
let repo: TempGitRepo;
let cp: TestControlPlane;
let stateRoot: string;
let publicKeys: KeyObject[];
const watchers: BundleWatcher[] = [];

interface Plane {
  watcher: BundleWatcher;
  holder: PolicyHolder;
  loads: BundlePointer[];
  stateDir: string;
}

function dataPlane(id: string, keys: () => KeyObject[], stateDir = join(stateRoot, id)): Plane {
  const holder = new PolicyHolder();
  const loads: BundlePointer[] = [];
  const watcher = new BundleWatcher({
    servers: nats.url,
    id,
    region: "eu",
    labels: { test: "yes" },
    stateDir,
    statusIntervalMs: 200,
    checkIntervalMs: 1_000,
    backoff: { initialMs: 50, maxMs: 500 },
    connectTimeoutMs: 2_000,
    sessions: () => 2,
    onBundle: async (bytes, pointer) => {
      const verified = await verifyBundle(await decodeBundle(bytes), keys());
      if (verified.revision !== pointer.revision) {
        throw new Error(`pointer says ${pointer.revision}, the bundle is ${verified.revision}`);
      }
      holder.swap(await PolicyRuntime.load(verified));
      loads.push(pointer);
    },
  });
  watchers.push(watcher);
  return { watcher, holder, loads, stateDir };
}

/** The data plane runs `revision` and says so (its last good copy is on disk by then). */
function loaded(plane: Plane, revision: string): boolean {
  return plane.watcher.state.revision === revision && plane.holder.revision === revision;
}

async function commitPolicy(name: string): Promise<string> {
  await repo.write({ [`policies/${name}.rego`]: `package portcullis.${name}\n\nmarker := "${name}"\n` });
  const sha = await repo.commit(`add ${name}`);
  const result = await cp.sync();
  expect(result.result?.activation?.revision, JSON.stringify(result.result?.builds[0]?.bundle.errors)).toBe(
    sha,
  );
  return sha;
}

beforeAll(async () => {
  nats = await startNats();
  repo = await TempGitRepo.withDefaultPolicies();
  stateRoot = await mkdtemp(join(tmpdir(), "portcullis-dp-state-"));
  cp = await startTestControlPlane({ natsUrl: nats.url, repo: repo.dir });
  await cp.sync();
  publicKeys = await loadBundlePublicKeys(cp.publicKeyFile);
});

afterAll(async () => {
  for (const w of watchers) await w.stop();
  await cp?.destroy();
  await repo?.destroy();
  await nats?.destroy();
  await rm(stateRoot, { recursive: true, force: true });
});

describe("bundle watcher", () => {
  let plane: Plane;
  const revisions: string[] = [];

  it("loads the active bundle and reports until the fleet has converged", async () => {
    revisions.push(cp.store.bundles.active()!.revision);
    plane = dataPlane("dp-eu-1", () => publicKeys);
    plane.watcher.start();
    await eventually(() => loaded(plane, revisions[0]!), "the first bundle on the data plane");
    expect(plane.watcher.state).toMatchObject({
      connected: true,
      revision: revisions[0],
      loadedFrom: "nats",
    });
    const summary = await eventually(() => {
      const s = cp.fleet.summary(cp.store.bundles.active()?.revision);
      return s.allConverged ? s : undefined;
    }, "the fleet view to converge");
    expect(summary.dataPlanes).toEqual([
      expect.objectContaining({
        id: "dp-eu-1",
        region: "eu",
        revision: revisions[0],
        sessions: 2,
        converged: true,
        live: true,
      }),
    ]);
    expect(summary.dataPlanes[0]?.labels).toEqual({ test: "yes" });
    expect(cp.store.fleet.get("dp-eu-1")?.revision).toBe(revisions[0]);
    // what the holder runs is the real policy
    expect(
      plane.holder.require().evaluateAdmin({
        token: { iss: "https://idp", sub: "x", aud: "portcullis", exp: 2_000_000_000, groups: [] },
        method: "ListBundles",
        request: {},
      }).allow,
    ).toBe(false);
  });

  it("receives each activation: new commits, a rollback and a roll forward", async () => {
    revisions.push(await commitPolicy("alpha"));
    await eventually(() => loaded(plane, revisions[1]!), "the alpha commit on the data plane");
    revisions.push(await commitPolicy("beta"));
    await eventually(() => loaded(plane, revisions[2]!), "the beta commit on the data plane");
    const activatedAt = cp.store.bundles.require(revisions[2]!).activatedAt!;
    console.log(
      `activation → verified and loaded on the data plane: ${Date.parse(plane.watcher.state.loadedAt!) - Date.parse(activatedAt)} ms`,
    );

    const rollback = await cp.pipeline.activate(revisions[0]!, { by: "test", reason: "rollback" });
    expect(rollback.published).toBe(true);
    await eventually(() => loaded(plane, revisions[0]!), "the rollback on the data plane");
    await cp.pipeline.activate(revisions[2]!, { by: "test", reason: "forward" });
    await eventually(() => loaded(plane, revisions[2]!), "the roll forward on the data plane");
    expect(plane.loads.map((p) => p.revision)).toEqual([
      revisions[0],
      revisions[1],
      revisions[2],
      revisions[0],
      revisions[2],
    ]);
    await eventually(() => cp.fleet.summary(revisions[2]).allConverged, "convergence on beta");
  });

  it("survives a nats-server kill and restart; an activation made meanwhile arrives", async () => {
    await nats.kill();
    await eventually(
      () => !plane.watcher.state.connected && !cp.distributor.connected,
      "both sides to notice",
    );
    const whileDown = await cp.pipeline.activate(revisions[1]!, { by: "test", reason: "while NATS is down" });
    expect(whileDown).toMatchObject({ changed: true, published: false });
    expect(plane.holder.revision).toBe(revisions[2]); // still serving the old bundle
    await nats.restart();
    await eventually(() => loaded(plane, revisions[1]!), "the activation made while NATS was down", 60_000);
    expect(plane.watcher.state).toMatchObject({ connected: true, revision: revisions[1] });
    await eventually(
      () => cp.fleet.summary(revisions[1]).allConverged,
      "convergence after the restart",
      60_000,
    );

    // and the watch still works after the restart
    revisions.push(await commitPolicy("gamma"));
    await eventually(() => plane.watcher.state.revision === revisions[3], "a commit after the restart");
    expect(plane.holder.revision).toBe(revisions[3]);
  });

  it("keeps the last good bundle on disk and starts from it while NATS is down", async () => {
    const lastGood = await BundleWatcher.readLastGood(plane.stateDir);
    expect(lastGood?.pointer.revision).toBe(revisions[3]);
    expect(lastGood?.path).toBe(join(plane.stateDir, LAST_GOOD_BUNDLE));
    expect(Buffer.from(lastGood!.bytes).equals(Buffer.from(cp.store.bundles.bytes(revisions[3]!)!))).toBe(
      true,
    );

    await nats.stop();
    const restarted = dataPlane("dp-eu-1-restarted", () => publicKeys, plane.stateDir);
    const pointer = await restarted.watcher.loadLastGood();
    expect(pointer?.revision).toBe(revisions[3]);
    expect(restarted.holder.revision).toBe(revisions[3]);
    expect(restarted.watcher.state).toMatchObject({
      connected: false,
      revision: revisions[3],
      loadedFrom: "disk",
    });
    restarted.watcher.start(); // keeps trying in the background; nothing throws
    await new Promise((r) => setTimeout(r, 300));
    expect(restarted.watcher.state.connected).toBe(false);
    await nats.restart();
    await restarted.watcher.whenConnected(60_000);
    await eventually(
      () => cp.fleet.get("dp-eu-1-restarted")?.revision === revisions[3],
      "the restarted data plane's report",
    );
    // the same revision from NATS is not loaded twice
    expect(restarted.loads).toHaveLength(1);
  });

  it("reports a bundle it refuses as load_error and keeps its previous one", async () => {
    const wrongKey = generateKeyPairSync("ed25519").publicKey;
    const stranger = dataPlane("dp-wrong-key", () => [wrongKey]);
    stranger.watcher.start();
    const record = await eventually(() => {
      const r = cp.fleet.get("dp-wrong-key");
      return r?.loadError ? r : undefined;
    }, "the load error in the fleet view");
    expect(record.loadError).toMatch(/refused: bundle rejected: the signature does not verify/);
    expect(record.revision).toBe("");
    expect(record.wantedRevision).toBe(revisions[3]);
    expect(stranger.holder.revision).toBeUndefined();
    const view = cp.fleet.summary(revisions[3]).dataPlanes.find((d) => d.id === "dp-wrong-key");
    expect(view).toMatchObject({ converged: false, live: true });
    expect(await BundleWatcher.readLastGood(stranger.stateDir)).toBeUndefined();
  });

  it("gets each activation with its bytes on the live subject, the pointer as KV has it", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const sub = nc.subscribe(BUS.bundlesLiveSubject, { max: 1 });
      await nc.flush();
      revisions.push(await commitPolicy("delta"));
      let message: Uint8Array | undefined;
      for await (const m of sub) message = m.data;
      const live = decodeLiveBundle(message!);
      expect(live.pointer).toEqual(await cp.distributor.readPointer());
      expect(live.pointer.revision).toBe(revisions[4]);
      expect(Buffer.from(live.bytes).equals(Buffer.from(cp.store.bundles.bytes(revisions[4]!)!))).toBe(true);
      await eventually(() => loaded(plane, revisions[4]!), "the delta commit on the data plane");
    } finally {
      await nc.close();
    }
  });

  it("switches on a live message alone, ignores one whose bytes are not its pointer's, and KV still decides", async () => {
    const current = (await cp.distributor.readPointer())!;
    expect(plane.holder.revision).toBe(current.revision);
    // an earlier bundle, under an object name the Object Store does not hold: only the message has it
    const bytes = cp.store.bundles.bytes(revisions[1]!)!;
    const pointer: BundlePointer = {
      ...current,
      revision: revisions[1]!,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      size: bytes.byteLength,
      signature: cp.store.bundles.require(revisions[1]!).signature!,
      object: "bundles/not-in-the-object-store.tar",
    };
    const forged = randomBytes(bytes.byteLength);
    const loadsBefore = plane.loads.length;
    const seen: string[] = [];
    const stopListening = plane.watcher.onChange((state) =>
      seen.push(`${state.revision}:${state.loadedVia}`),
    );
    const nc = await connect({ servers: nats.url });
    try {
      nc.publish(BUS.bundlesLiveSubject, encodeLiveBundle(pointer, forged)); // first, from the same publisher
      nc.publish(BUS.bundlesLiveSubject, encodeLiveBundle(pointer, bytes));
      await nc.flush();
    } finally {
      await nc.close();
    }
    await eventually(() => plane.loads.length > loadsBefore, "a load from the live message");
    expect(plane.loads[loadsBefore]).toEqual(pointer); // the forged bytes never reached onBundle
    await eventually(() => seen.includes(`${revisions[1]}:live`), "the state saying it came live");
    // the periodic re-read of KV brings back what the control plane wants, fetched from the store
    await eventually(
      () => loaded(plane, current.revision) && plane.watcher.state.loadedVia === "object-store",
      "the KV pointer's bundle back from the Object Store",
    );
    stopListening();
    expect(plane.loads.slice(loadsBefore).map((p) => p.revision)).toEqual([revisions[1], current.revision]);
  });
});
