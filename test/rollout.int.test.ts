/**
 * A policy rollout end to end, on real components only: a git repository in a temp dir, the real
 * opa, nats-server with JetStream, a control plane (SQLite, signing key, admin gRPC API) and TWO
 * data planes, each a full proxy on its own port, sharing one PostgreSQL and one OIDC provider.
 *
 * What is proven, through real client connections and the real admin gRPC client:
 *   - a commit reaches both proxies (alice is refused a statement she was allowed, 42501) and the
 *     fleet view shows both on the new revision;
 *   - commits that fail `opa test` or `opa check` are reported with file:line and change nothing;
 *   - ActivateBundle rolls back and forward;
 *   - bundles put straight onto NATS that are tampered with or signed with another key are refused
 *     (the previous revision keeps enforcing, the fleet view shows load_error);
 *   - a data plane restarted while NATS is down starts from its copy on disk and enforces it;
 *   - bundle swaps during a pgbench run cost no transaction.
 *
 * Timings are printed, never asserted.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePgbenchOutput } from "../bench/lib/pgbench-output.js";
import { toolchain } from "../common/toolchain.js";
import { signBundle } from "../control-plane/bundle/sign.js";
import { type LocalNats, startNats } from "../devstack/nats.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { parseManifest, sha256 } from "../proto/bundle.js";
import { decodeBundle, encodeBundle } from "../proto/bundle-file.js";
import {
  BUS,
  type BundlePointer,
  decodeBundlePointer,
  encodeBusMessage,
  encodeLiveBundle,
} from "../proto/bus.js";
import {
  type AdminClient,
  createAdminClient,
  type DataPlaneMessage,
  type FleetStatusMessage,
} from "../proto/load.js";
import { AUDIT_REASON, AUDIT_REGO } from "./harness/audit-policy.js";
import { startTestControlPlane, type TestControlPlane } from "./harness/control-plane.js";
import { eventually, TempGitRepo } from "./harness/git-repo.js";
import { type OidcHarness, type OidcUser, startOidcProvider } from "./harness/oidc.js";
import { throwawaySigningKey } from "./harness/opa.js";
import { type ProxyStack, startProxyStack, USERS } from "./harness/proxy-stack.js";

const auditTest = (customersAllowed: boolean) => `package portcullis.audit_test

import data.portcullis.query

analyst_reads(name) := d if {
	d := query.decision with input as {
		"session": {"id": "s-1", "subject": "alice", "claims": {"sub": "alice", "groups": ["analysts"]}, "db_role": "analyst", "database": "app", "region": "eu"},
		"protocol": "simple",
		"statement": {"kind": "select", "command": "SelectStmt", "functions": [], "text": "-- test", "fingerprint": "0", "relations": [{"schema": "sales", "name": name, "access": "read", "resolved": true}]},
		"statement_index": 0,
		"statement_count": 1,
		"now_ns": 0,
	}
}

test_analysts_read_customers if {
	d := analyst_reads("customers")
	d.allow == ${customersAllowed}
}

test_analysts_still_read_orders if {
	d := analyst_reads("orders")
	d.allow == true
}
`;
/** 1-based line of `needle` in `text`. */
const lineOf = (text: string, needle: string) => text.split("\n").findIndex((l) => l.includes(needle)) + 1;

const CUSTOMERS = "SELECT count(*) AS n FROM sales.customers";
const ORDERS = "SELECT count(*) AS n FROM sales.orders";

interface Plane {
  id: string;
  stateDir: string;
  stack: ProxyStack;
}

let pgServer: LocalPostgres;
let oidc: OidcHarness;
let nats: LocalNats;
let repo: TempGitRepo;
let cp: TestControlPlane;
let admin: AdminClient;
let scratch: string;
const planes: Plane[] = [];
const tokens = new Map<string, string>();

async function token(user: OidcUser): Promise<string> {
  let t = tokens.get(user.sub);
  if (!t) {
    t = await oidc.token(user, { lifetimeSeconds: 1800 });
    tokens.set(user.sub, t);
  }
  return t;
}

async function startPlane(id: string, region: string, stateDir: string, port = 0): Promise<Plane> {
  const stack = await startProxyStack({
    pg: pgServer,
    oidc,
    config: {
      proxy: { id, region },
      listen: { host: "127.0.0.1", port },
      // no local bundle: every policy comes from the control plane (or the last good copy on disk)
      policy: { public_key_file: cp.publicKeyFile },
      bus: { servers: [nats.url], state_dir: stateDir, status_interval_ms: 200 },
    },
  });
  return { id, stateDir, stack };
}

type Outcome = { code: "ok"; n: number } | { code: string; message: string; at: "login" | "statement" };

/** Logs in through a proxy as `user` and runs one statement; says how it went (never throws). */
async function attempt(plane: Plane, user: OidcUser, sql: string): Promise<Outcome> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port: plane.stack.port,
    user: user.email as string,
    password: await token(user),
    database: "app",
    ssl: { rejectUnauthorized: false },
    connectionTimeoutMillis: 10_000,
  });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { code: e.code ?? "none", message: e.message, at: "login" };
  }
  try {
    const { rows } = await client.query(sql);
    return { code: "ok", n: Number(rows[0]?.n) };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { code: e.code ?? "none", message: e.message, at: "statement" };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Alice's customers statement is allowed (the default policy) or denied (the audit rule) on every plane. */
async function expectCustomers(expected: "allowed" | "denied", on: Plane[] = planes): Promise<void> {
  for (const plane of on) {
    const outcome = await attempt(plane, USERS.alice, CUSTOMERS);
    if (expected === "allowed") expect(outcome, plane.id).toEqual({ code: "ok", n: 50 });
    else {
      expect(outcome, plane.id).toMatchObject({ code: "42501", at: "statement" });
      expect((outcome as { message: string }).message, plane.id).toContain(AUDIT_REASON);
    }
    // the rest of her access is the same under both revisions
    expect(await attempt(plane, USERS.alice, ORDERS), plane.id).toEqual({ code: "ok", n: 500 });
  }
}

/** Waits until both data planes report `revision` and it is the active one; returns the fleet. */
async function converged(revision: string): Promise<FleetStatusMessage> {
  const started = performance.now();
  const fleet = await eventually(
    async () => {
      const f = await admin.GetFleetStatus({});
      return f.active_revision === revision && f.all_converged && f.live === planes.length ? f : undefined;
    },
    `both data planes to report ${revision.slice(0, 12)}`,
  );
  console.log(
    `fleet converged on ${revision.slice(0, 12)} ${Math.round(performance.now() - started)} ms after asking`,
  );
  return fleet;
}

function byId(fleet: FleetStatusMessage): Record<string, DataPlaneMessage> {
  return Object.fromEntries(fleet.data_planes.map((d) => [d.id, d]));
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "portcullis-rollout-"));
  [pgServer, oidc, nats] = await Promise.all([
    startPostgres(),
    startOidcProvider({ defaultLifetimeSeconds: 1800 }),
    startNats(),
  ]);
  // pgbench's tables, before any proxy takes its catalog snapshot of `app`
  await pgbenchInit(pgServer);

  repo = await TempGitRepo.withDefaultPolicies();
  cp = await startTestControlPlane({ natsUrl: nats.url, repo: repo.dir });
  admin = createAdminClient(cp.admin.address);
  await admin.waitForReady(10_000);
  await cp.sync();

  planes.push(await startPlane("dp-eu", "eu", join(scratch, "dp-eu")));
  planes.push(await startPlane("dp-us", "us", join(scratch, "dp-us")));
});

afterAll(async () => {
  admin?.close();
  for (const plane of planes) await plane.stack.stop().catch(() => {});
  await cp?.destroy();
  await repo?.destroy();
  await nats?.destroy();
  await oidc?.stop();
  await pgServer?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

let rolledBackPointer: BundlePointer | undefined;

describe("policy rollout: git → control plane → NATS → two proxies", () => {
  let first: string; // the default policies
  let audit: string; // + the audit rule

  it("starts both proxies on the first revision", async () => {
    first = await repo.head();
    const fleet = await converged(first);
    expect(Object.keys(byId(fleet)).sort()).toEqual(["dp-eu", "dp-us"]);
    for (const plane of planes) expect(plane.stack.proxy.policy.revision).toBe(first);
    await expectCustomers("allowed");
  });

  it("rolls a git commit out to both proxies, and the fleet view shows them converged", async () => {
    await repo.write({ "policies/audit.rego": AUDIT_REGO, "policies/audit_test.rego": auditTest(false) });
    audit = await repo.commit("audit: close sales.customers to analysts");
    const sync = await admin.SyncPolicies({});
    expect(sync).toMatchObject({ head: audit, active_revision: audit, activated: true, published: true });
    expect(sync.commits).toEqual([expect.objectContaining({ commit: audit, status: "active", errors: [] })]);

    const fleet = await converged(audit);
    for (const id of ["dp-eu", "dp-us"]) {
      expect(byId(fleet)[id]).toMatchObject({ revision: audit, converged: true, live: true, load_error: "" });
    }
    await expectCustomers("denied");
    const bundle = await admin.GetBundle({ revision: audit });
    console.log(
      `commit ${audit.slice(0, 12)} stages (ms): ${JSON.stringify(bundle.durations_ms)}; tests ${bundle.tests_passed} passed`,
    );
  });

  it("rejects a commit whose opa test fails and one with a syntax error, with file:line; the old policy stays", async () => {
    const failingTest = auditTest(true);
    await repo.write({ "policies/audit_test.rego": failingTest });
    const testFails = await repo.commit("audit: a test that does not hold");
    const broken = `${AUDIT_REGO.trimEnd().slice(0, -1)}\n`; // the closing brace is gone
    await repo.write({ "policies/audit_test.rego": auditTest(false), "policies/audit.rego": broken });
    const syntaxError = await repo.commit("audit: a syntax error");

    const sync = await admin.SyncPolicies({});
    expect(sync).toMatchObject({ head: syntaxError, active_revision: audit, activated: false });
    expect(sync.commits.map((c) => [c.commit, c.status])).toEqual([
      [testFails, "failed"],
      [syntaxError, "failed"],
    ]);

    const listed = await admin.ListBundles({ statuses: ["failed"] });
    expect(listed.active_revision).toBe(audit);
    expect(listed.bundles.map((b) => b.revision).sort()).toEqual([testFails, syntaxError].sort());

    const failedTest = await admin.GetBundle({ revision: testFails });
    expect(failedTest).toMatchObject({ status: "failed", failed_stage: "test", sha256: "", size_bytes: 0 });
    expect(failedTest.errors).toEqual([
      expect.objectContaining({
        stage: "test",
        file: "audit_test.rego",
        row: lineOf(failingTest, "test_analysts_read_customers"),
        code: "test_failed",
        message: expect.stringContaining("test_analysts_read_customers"),
      }),
    ]);
    expect(failedTest.test_output).toContain("audit_test.rego:");

    const failedCheck = await admin.GetBundle({ revision: syntaxError });
    expect(failedCheck).toMatchObject({ status: "failed", failed_stage: "check", sha256: "" });
    expect(failedCheck.errors[0]).toMatchObject({
      stage: "check",
      file: "audit.rego",
      code: "rego_parse_error",
    });
    expect(failedCheck.errors[0]?.row).toBeGreaterThan(0);
    expect(failedCheck.errors[0]?.row).toBeLessThanOrEqual(broken.split("\n").length);
    console.log(
      `rejected: ${[...failedTest.errors, ...failedCheck.errors].map((e) => `${e.stage}: ${e.file}:${e.row}: ${e.code}`).join("; ")}`,
    );

    // nothing was published: the pointer, both proxies and the fleet view are where they were
    expect((await cp.distributor.readPointer())?.revision).toBe(audit);
    for (const plane of planes) expect(plane.stack.proxy.policy.revision).toBe(audit);
    const fleet = await admin.GetFleetStatus({});
    expect(fleet).toMatchObject({ active_revision: audit, all_converged: true, live: 2 });
    await expectCustomers("denied");
  });

  it("rolls back to the first revision with ActivateBundle, and forward again", async () => {
    const back = await admin.ActivateBundle({ revision: first.slice(0, 10), reason: "audit postponed" });
    expect(back).toMatchObject({
      revision: first,
      previous_revision: audit,
      published: true,
      publish_error: "",
    });
    await converged(first);
    await expectCustomers("allowed");
    rolledBackPointer = await cp.distributor.readPointer();
    expect(rolledBackPointer?.revision).toBe(first);

    const forward = await admin.ActivateBundle({ revision: audit, reason: "audit on" });
    expect(forward).toMatchObject({ revision: audit, previous_revision: first, published: true });
    await converged(audit);
    await expectCustomers("denied");
  });

  it("refuses bundles put straight onto NATS: tampered bytes, another signing key", async () => {
    const nc = await connect({ servers: nats.url, name: "rollout-test-attacker" });
    try {
      const kv = await new Kvm(nc).open(BUS.bundleKv);
      const os = await new Objm(nc).open(BUS.bundleObjects);
      const entry = await kv.get(BUS.activeKey);
      const genuine: BundlePointer = decodeBundlePointer(entry!.value);
      expect(genuine.revision).toBe(audit);
      const auditBytes = Buffer.from((await os.getBlob(genuine.object))!);
      const auditFiles = await decodeBundle(auditBytes);
      const firstFiles = await decodeBundle(
        (await admin.GetBundle({ revision: first, include_bytes: true })).bundle,
      );

      // (1) bytes flipped inside policy.wasm in the object itself
      const flipped = Buffer.from(auditBytes);
      const wasmAt = flipped.indexOf(Buffer.from(auditFiles.policyWasm));
      expect(wasmAt).toBeGreaterThan(0);
      for (const at of [wasmAt + 100, wasmAt + 1000, wasmAt + 5000])
        flipped.writeUInt8(flipped.readUInt8(at) ^ 0xff, at);
      // (2) the audit bundle's signature and manifest over the first revision's policy (which would
      //     let alice read sales.customers again): a policy change that keeps the old signature
      const swapped = encodeBundle({ ...auditFiles, policyWasm: firstFiles.policyWasm });
      // (3) a well-formed bundle of the first revision's policy, signed with a key that is not the
      //     control plane's
      const manifest = parseManifest(firstFiles.manifestJson);
      const otherKey = await throwawaySigningKey();
      const forged = encodeBundle(
        await signBundle(
          {
            policyWasm: firstFiles.policyWasm,
            dataJson: firstFiles.dataJson,
            revision: "forged-rollback",
            entrypoints: manifest.entrypoints,
            opaVersion: manifest.opa_version,
          },
          otherKey,
        ),
      );
      const attacks = [
        {
          name: "flipped bytes",
          bytes: flipped,
          object: genuine.object,
          refusal: /policy\.wasm has SHA-256/,
        },
        {
          name: "policy swapped",
          bytes: swapped,
          object: genuine.object,
          refusal: /policy\.wasm has SHA-256/,
        },
        {
          name: "other key",
          bytes: forged,
          object: "bundles/forged-rollback.tar",
          refusal: new RegExp(`signature does not verify .*\\(signed by key ${otherKey.kid}\\)`),
        },
      ];
      for (const attack of attacks) {
        const pointer: BundlePointer = {
          ...genuine,
          revision: attack.object === genuine.object ? genuine.revision : "forged-rollback",
          object: attack.object,
          sha256: sha256(attack.bytes),
          size: attack.bytes.byteLength,
          activated_at: new Date().toISOString(),
        };
        await os.putBlob({ name: attack.object }, new Uint8Array(attack.bytes));
        await kv.put(BUS.activeKey, encodeBusMessage(pointer));

        const fleet = await eventually(async () => {
          const f = await admin.GetFleetStatus({});
          return f.data_planes.length === 2 && f.data_planes.every((d) => d.load_error !== "")
            ? f
            : undefined;
        }, `both data planes to refuse the ${attack.name} bundle`);
        for (const d of fleet.data_planes) {
          expect(d, attack.name).toMatchObject({ revision: audit, wanted_revision: pointer.revision });
          expect(d.load_error, attack.name).toMatch(attack.refusal);
        }
        for (const plane of planes) {
          expect(plane.stack.proxy.policy.revision).toBe(audit);
          expect(plane.stack.proxy.watcher?.state.loadError).toMatch(attack.refusal);
        }
        await expectCustomers("denied");
        console.log(`${attack.name}: refused with "${fleet.data_planes[0]?.load_error}"`);

        // the control plane puts NATS back to what SQLite says on the next activation
        const repaired = await admin.ActivateBundle({ revision: audit, reason: "repair NATS" });
        expect(repaired.published).toBe(true);
        expect(decodeBundlePointer((await kv.get(BUS.activeKey))!.value)).toMatchObject({
          revision: audit,
          sha256: genuine.sha256,
        });
        await eventually(async () => {
          const f = await admin.GetFleetStatus({});
          return f.all_converged && f.data_planes.every((d) => d.load_error === "") ? f : undefined;
        }, `the fleet to clear the load errors after the ${attack.name} bundle`);
      }
      expect(Buffer.from((await os.getBlob(genuine.object))!).equals(auditBytes)).toBe(true);
    } finally {
      await nc.close();
    }
  });

  it("refuses a re-published older pointer, in KV or on the live subject (no rollback by replay); a rollback the control plane signs is enforced", async () => {
    expect(rolledBackPointer).toBeDefined();
    const replayed = rolledBackPointer!;
    const nc = await connect({ servers: nats.url, name: "rollout-test-replayer" });
    try {
      // the genuine earlier activation with its bytes, replayed on the live subject: refused, and
      // what the control plane wants (KV) is unchanged
      nc.publish(BUS.bundlesLiveSubject, encodeLiveBundle(replayed, cp.store.bundles.bytes(first)!));
      const live = await eventually(async () => {
        const f = await admin.GetFleetStatus({});
        return f.data_planes.length === 2 && f.data_planes.every((d) => d.load_error !== "") ? f : undefined;
      }, "both data planes to refuse the replayed live bundle");
      for (const d of live.data_planes) {
        expect(d).toMatchObject({ revision: audit, wanted_revision: audit });
        expect(d.load_error).toMatch(
          /activation refused: activation \d+ of \w+ is not newer than activation \d+/,
        );
      }
      for (const plane of planes) expect(plane.stack.proxy.policy.revision).toBe(audit);

      const kv = await new Kvm(nc).open(BUS.bundleKv);
      // the genuine pointer of an earlier activation, bytes and signatures all valid, put back
      await kv.put(BUS.activeKey, encodeBusMessage(replayed));
      const fleet = await eventually(async () => {
        const f = await admin.GetFleetStatus({});
        return f.data_planes.length === 2 &&
          f.data_planes.every((d) => d.load_error !== "" && d.wanted_revision === first)
          ? f
          : undefined;
      }, "both data planes to refuse the replayed pointer");
      for (const d of fleet.data_planes) {
        expect(d).toMatchObject({ revision: audit, wanted_revision: first });
        expect(d.load_error).toMatch(
          /activation refused: activation \d+ of \w+ is not newer than activation \d+/,
        );
      }
      for (const plane of planes) expect(plane.stack.proxy.policy.revision).toBe(audit);
      await expectCustomers("denied");
      console.log(`replayed pointer: refused with "${fleet.data_planes[0]?.load_error}"`);

      // a pointer with the activation stripped is refused too
      const { activation: _stripped, ...unsigned } = replayed;
      await kv.put(BUS.activeKey, encodeBusMessage(unsigned));
      await eventually(async () => {
        const f = await admin.GetFleetStatus({});
        return f.data_planes.every((d) => /carries no signed activation/.test(d.load_error)) ? f : undefined;
      }, "both data planes to refuse the pointer without an activation");
      for (const plane of planes) expect(plane.stack.proxy.policy.revision).toBe(audit);
    } finally {
      await nc.close();
    }

    // the control plane's own rollback: a newer activation signed as a rollback
    const back = await admin.ActivateBundle({ revision: first, reason: "explicit rollback" });
    expect(back).toMatchObject({ revision: first, published: true });
    const pointer = await cp.distributor.readPointer();
    expect(pointer?.activation).not.toBe(replayed.activation);
    await converged(first);
    await expectCustomers("allowed");
    const forward = await admin.ActivateBundle({ revision: audit, reason: "audit on" });
    expect(forward.published).toBe(true);
    await converged(audit);
    await expectCustomers("denied");
  });

  it("starts a data plane from its last good bundle on disk while NATS is down", async () => {
    const [eu, us] = planes as [Plane, Plane];
    const port = us.stack.port;
    await us.stack.stop();
    await nats.stop();
    try {
      // the running proxy keeps enforcing what it has
      await expectCustomers("denied", [eu]);

      const restarted = await startPlane(us.id, "us", us.stateDir, port);
      planes[1] = restarted;
      expect(restarted.stack.port).toBe(port);
      expect(restarted.stack.proxy.policy.revision).toBe(audit);
      expect(restarted.stack.proxy.watcher?.state).toMatchObject({
        connected: false,
        revision: audit,
        loadedFrom: "disk",
      });
      // connections are allowed and denied, and statements decided, per the last good revision
      await expectCustomers("denied", [restarted]);
      expect(await attempt(restarted, USERS.mallory, ORDERS)).toMatchObject({ code: "28000", at: "login" });
      expect(await attempt(restarted, USERS.bob, ORDERS)).toEqual({ code: "ok", n: 500 });
    } finally {
      await nats.restart();
    }
    // both data planes are back on NATS (the running one reconnects, the restarted one connects
    // for the first time) and report again: seen after the restart, on the active revision
    const back = new Date().toISOString();
    const started = performance.now();
    const reconnectedMs = new Map<string, number>();
    await eventually(() => {
      for (const p of planes) {
        if (p.stack.proxy.watcher?.state.connected && !reconnectedMs.has(p.id))
          reconnectedMs.set(p.id, Math.round(performance.now() - started));
      }
      return reconnectedMs.size === planes.length;
    }, "both data planes to connect to NATS again");
    const fleet = await eventually(async () => {
      const f = await admin.GetFleetStatus({});
      return f.all_converged && f.data_planes.every((d) => d.last_seen_at > back) ? f : undefined;
    }, "both data planes to report after the NATS restart");
    console.log(
      `after the NATS restart: connected again (ms) ${JSON.stringify(Object.fromEntries(reconnectedMs))}; both reporting after ${Math.round(performance.now() - started)} ms`,
    );
    expect(byId(fleet)["dp-us"]).toMatchObject({ revision: audit, live: true, load_error: "" });
    expect(byId(fleet)["dp-eu"]).toMatchObject({ revision: audit, live: true, load_error: "" });
    expect(planes[1]!.stack.proxy.watcher?.state).toMatchObject({ connected: true, revision: audit });
  });

  for (const mode of ["prepared", "simple"] as const) {
    it(`swaps bundles under a pgbench run (-M ${mode}) without a failed transaction`, async () => {
      const plane = planes[0]!;
      const holder = plane.stack.proxy.policy;
      const swaps: string[] = [];
      const timings: string[] = [];
      const args = `-n -S -c 4 -j 2 -T 8 -M ${mode}`.split(" ");
      const run = pgbench(plane, await token(USERS.bob), args);
      // only the swaps made while pgbench was still running count
      const stopListening = holder.onSwap((next) => {
        if (!run.done) swaps.push(next.revision);
      });
      try {
        // wait until pgbench is through its connections and running transactions
        await new Promise((r) => setTimeout(r, 1_500));
        let target = holder.revision === audit ? first : audit;
        while (!run.done && swaps.length < 8) {
          const asked = performance.now();
          await admin.ActivateBundle({ revision: target, reason: `pgbench ${mode} swap` });
          const activated = performance.now();
          const wanted = target;
          await eventually(() => holder.revision === wanted, `the proxy to swap to ${wanted.slice(0, 12)}`);
          timings.push(`${Math.round(activated - asked)}+${Math.round(performance.now() - activated)}`);
          target = target === audit ? first : audit;
          await new Promise((r) => setTimeout(r, 300));
        }
      } finally {
        stopListening();
      }
      const result = await run.result;
      console.log(
        `pgbench -M ${mode}: ${swaps.length} swaps during the run (ms to activate + to swap: ${timings.join(", ")}); ${result.summaryLine}`,
      );
      expect(result.code, result.output).toBe(0);
      const summary = parsePgbenchOutput(result.output);
      expect(summary.transactions).toBeGreaterThan(0);
      expect(result.output).toMatch(/^number of failed transactions: 0 /m); // pgbench 15+
      expect(summary.failed).toBe(0);
      // the swaps really happened while pgbench ran: several, alternating
      expect(swaps.length).toBeGreaterThanOrEqual(4);
      for (let i = 1; i < swaps.length; i++) expect(swaps[i]).not.toBe(swaps[i - 1]);
      expect(new Set(swaps)).toEqual(new Set([first, audit]));
    });
  }
});

/** pgbench's tables in schema sales, readable and writable by app_rw (the role bob maps to). */
async function pgbenchInit(server: LocalPostgres): Promise<void> {
  const result = await runPgbench(
    {
      PGHOST: server.host,
      PGPORT: String(server.port),
      PGUSER: "postgres",
      PGPASSWORD: server.passwords.postgres,
      PGDATABASE: server.database,
      PGSSLMODE: "require",
      PGOPTIONS: "-c search_path=sales",
    },
    ["-i", "-s", "1", "-q"],
  ).result;
  if (result.code !== 0) throw new Error(`pgbench -i failed: ${result.output}`);
  await server.psql(
    [
      "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sales TO app_rw",
      `ALTER ROLE app_rw IN DATABASE ${server.database} SET search_path = sales, public`,
    ].join("; "),
  );
}

function pgbench(plane: Plane, password: string, args: string[]) {
  return runPgbench(
    {
      PGHOST: "127.0.0.1",
      PGPORT: String(plane.stack.port),
      PGUSER: "bob@example.com",
      PGPASSWORD: password,
      PGDATABASE: "app",
      PGSSLMODE: "require",
      PGCONNECT_TIMEOUT: "10",
      PGOPTIONS: "",
    },
    args,
  );
}

interface PgbenchRun {
  readonly done: boolean;
  result: Promise<{ code: number | null; output: string; summaryLine: string }>;
}

function runPgbench(env: Record<string, string>, args: string[]): PgbenchRun {
  const child = spawn(toolchain().pgbench, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    output += c.toString();
  });
  const run = {
    done: false,
    result: new Promise<{ code: number | null; output: string; summaryLine: string }>((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      child.on("close", (code) => {
        clearTimeout(timer);
        run.done = true;
        const summaryLine = output
          .split("\n")
          .filter((l) => /^(tps|number of (transactions actually processed|failed transactions))/.test(l))
          .join("; ");
        resolve({ code, output, summaryLine });
      });
    }),
  };
  return run;
}
