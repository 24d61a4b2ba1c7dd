/**
 * The control plane SIGKILLed with sessions live, on real processes: nats-server with JetStream,
 * PostgreSQL, an OIDC provider, the control plane as its own `portcullis control-plane` process
 * (dist/) and two data planes fed by it.
 *
 * What is proven: while the control plane is gone, sessions open, run statements, are denied what
 * the policy denies and end, as before (the data planes enforce the bundle they hold); when it comes
 * back on the same SQLite, every decision record and every session start and end is stored exactly
 * once: none lost while it was down, none twice from what was delivered to the killed process and
 * never acknowledged; and again after both durable consumers are deleted and every event on the
 * streams is delivered once more.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import { spawnPortcullis, stopChild } from "../bench/lib/process.js";
import { type LocalNats, startNats } from "../devstack/nats.js";
import { freePort } from "../devstack/ports.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { BUS } from "../proto/bus.js";
import { type AdminClient, createAdminClient } from "../proto/load.js";
import { type FleetDataPlane, type OpenSession, openSession, startFleetDataPlane } from "./harness/fleet.js";
import { eventually, TempGitRepo } from "./harness/git-repo.js";
import { type OidcHarness, startOidcProvider } from "./harness/oidc.js";
import { USERS } from "./harness/proxy-stack.js";

const DECISIONS_DURABLE = "cp-killed-decisions";
const SESSIONS_DURABLE = "cp-killed-sessions";

let work: string;
let pgServer: LocalPostgres;
let nats: LocalNats;
let oidc: OidcHarness;
let repo: TempGitRepo;
let ops: NatsConnection;
let cpConfig: string;
let cpDir: string;
let adminPort: number;
let cp: ChildProcess | undefined;
const dps: FleetDataPlane[] = [];
const open: OpenSession[] = [];
/** What the clients did: every session opened and every statement sent (allowed or denied). */
let sessionsOpened = 0;
let statementsSent = 0;
let tokens: { alice: string; bob: string };

async function startControlPlane(): Promise<AdminClient> {
  cp = spawnPortcullis(["control-plane", "--config", cpConfig], join(work, "control-plane.log"));
  const admin = createAdminClient(`127.0.0.1:${adminPort}`, { deadlineMs: 60_000 });
  await eventually(
    async () => (await admin.GetFleetStatus({}).catch(() => undefined)) !== undefined,
    "the control plane's admin API",
    60_000,
  );
  return admin;
}

/** Opens a session through `dp` and runs `statements` allowed ones (and one denied for alice); counts them. */
async function session(dp: FleetDataPlane, token: string, statements: number): Promise<OpenSession> {
  const s = await openSession(dp.port, token);
  open.push(s);
  sessionsOpened++;
  for (let i = 0; i < statements; i++) {
    const { rows } = await s.client.query(`SELECT ${i}::int AS n, count(*) FROM sales.orders`);
    expect(rows[0].n).toBe(i);
    statementsSent++;
  }
  if (token === tokens.alice) {
    // an analyst: the policy denies writes, with or without the control plane
    await expect(s.client.query("DELETE FROM sales.orders WHERE id = -1")).rejects.toMatchObject({
      code: "42501",
    });
    statementsSent++;
  }
  return s;
}

async function end(s: OpenSession): Promise<void> {
  await s.close();
  await s.ended;
}

/** Resolves once the data planes saw every closed session end and handed every event to JetStream. */
async function dataPlanesFlushed(): Promise<void> {
  const live = open.filter((s) => !s.isEnded).length;
  await eventually(
    () =>
      dps.reduce((sum, dp) => sum + dp.dataPlane.registry.all().length, 0) === live &&
      dps.every(
        (dp) => (dp.decisionLog?.depth ?? 0) === 0 && (dp.sessionControls?.reporter?.depth ?? 0) === 0,
      ),
    "the data planes' queues to empty",
    30_000,
  );
}

/** Resolves once both durable consumers exist and have nothing pending or unacknowledged. */
async function consumersDrained(): Promise<void> {
  const jsm = await jetstreamManager(ops);
  await eventually(
    async () => {
      for (const [stream, durable] of [
        [BUS.decisionsStream, DECISIONS_DURABLE],
        [BUS.sessionsStream, SESSIONS_DURABLE],
      ] as const) {
        const info = await jsm.consumers.info(stream, durable).catch(() => undefined);
        if (!info || info.num_pending > 0 || info.num_ack_pending > 0) return false;
      }
      return true;
    },
    "both consumers to have every event acknowledged",
    90_000,
  );
}

interface Stored {
  decisions: number;
  distinctDecisionIds: number;
  sessions: {
    id: string;
    started_at: string;
    ended_at: string | null;
    end_reason: string | null;
    statements: number;
    subject: string;
    end_inferred: number;
    start_known: number;
  }[];
}

/** Stops the control plane (SIGTERM) and reads what its SQLite holds. */
async function stopAndRead(): Promise<Stored> {
  if (cp) await stopChild(cp);
  cp = undefined;
  const db = new Database(join(cpDir, "control-plane.db"), { readonly: true });
  try {
    const decisions = (db.prepare("SELECT count(*) AS n FROM decisions").get() as { n: number }).n;
    const distinct = (
      db.prepare("SELECT count(DISTINCT record_id) AS n FROM decisions").get() as { n: number }
    ).n;
    const sessions = db
      .prepare(
        "SELECT id, started_at, ended_at, end_reason, statements, subject, end_inferred, start_known FROM sessions ORDER BY id",
      )
      .all() as Stored["sessions"];
    return { decisions, distinctDecisionIds: distinct, sessions };
  } finally {
    db.close();
  }
}

function expectComplete(stored: Stored): void {
  // a connection record per session, a query record per statement
  expect(stored.decisions).toBe(sessionsOpened + statementsSent);
  expect(stored.distinctDecisionIds).toBe(stored.decisions);
  expect(stored.sessions).toHaveLength(sessionsOpened);
  for (const s of stored.sessions) {
    expect(s, s.id).toMatchObject({ end_reason: "client", end_inferred: 0, start_known: 1 });
    expect(["alice", "bob"]).toContain(s.subject);
    expect(s.ended_at! >= s.started_at, s.id).toBe(true);
  }
  expect(stored.sessions.reduce((sum, s) => sum + s.statements, 0)).toBe(statementsSent);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "portcullis-cp-killed-"));
  [pgServer, nats, oidc] = await Promise.all([startPostgres(), startNats(), startOidcProvider()]);
  ops = await connect({ servers: nats.url });
  repo = await TempGitRepo.withDefaultPolicies();
  cpDir = join(work, "control-plane");
  adminPort = await freePort();
  cpConfig = join(work, "control-plane.yaml");
  await writeFile(
    cpConfig,
    toYaml({
      data_dir: cpDir,
      signing: { public_key_out: join(work, "bundle-public.pem") },
      source: { git: { url: repo.dir, branch: "main", folder: "policies", poll_interval_ms: 0 } },
      nats: { servers: [nats.url], reconnect_initial_ms: 50, reconnect_max_ms: 500 },
      admin: { host: "127.0.0.1", port: adminPort, auth: "none", tls: { enabled: false } },
      decisions: { consumer: DECISIONS_DURABLE },
      // what the killed process held unacknowledged comes again after 2 s
      sessions: { consumer: SESSIONS_DURABLE, ack_wait_ms: 2_000, heartbeat_timeout: "60s" },
    }),
  );
  const admin = await startControlPlane();
  await admin.SyncPolicies({});
  admin.close();
  for (const [i, region] of ["eu", "us"].entries()) {
    dps.push(
      await startFleetDataPlane({
        id: `dp-${i + 1}`,
        region,
        dir: join(work, `dp-${i + 1}`),
        natsUrl: nats.url,
        publicKeyFile: join(work, "bundle-public.pem"),
        pg: pgServer,
        oidc,
      }),
    );
  }
  await eventually(() => dps.every((dp) => dp.policy.current()), "both data planes to load the bundle");
  tokens = { alice: await oidc.token(USERS.alice), bob: await oidc.token(USERS.bob) };
}, 180_000);

afterAll(async () => {
  for (const s of open) await s.close();
  for (const dp of dps) await dp.stop().catch(() => undefined);
  if (cp) await stopChild(cp, 2_000);
  await ops?.close();
  await repo?.destroy();
  await nats?.destroy();
  await oidc?.stop();
  await pgServer?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

describe("the control plane SIGKILLed", () => {
  it("loses no session event or decision record, and stores each once, also after a full redelivery", async () => {
    const [dp1, dp2] = dps as [FleetDataPlane, FleetDataPlane];
    // before: two sessions end, four stay open across the kill
    await end(await session(dp1, tokens.alice, 5));
    await end(await session(dp2, tokens.bob, 5));
    const across = [
      await session(dp1, tokens.alice, 3),
      await session(dp1, tokens.bob, 3),
      await session(dp2, tokens.alice, 3),
      await session(dp2, tokens.bob, 3),
    ];
    await dataPlanesFlushed();

    cp!.kill("SIGKILL");
    await new Promise<void>((resolve) => cp!.once("exit", () => resolve()));
    cp = undefined;

    // while it is gone: the open sessions go on and two of them end; new ones start, run and end
    for (const s of across) {
      const { rows } = await s.client.query("SELECT count(*) AS n FROM sales.orders");
      expect(Number(rows[0].n)).toBeGreaterThan(0);
      statementsSent++;
    }
    await end(across[0]!);
    await end(across[3]!);
    for (let i = 0; i < 3; i++) {
      await end(await session(dp1, tokens.alice, 4));
      await end(await session(dp2, tokens.bob, 4));
    }
    const opened = [await session(dp1, tokens.bob, 2), await session(dp2, tokens.alice, 2)];
    await dataPlanesFlushed();
    // what happened meanwhile waits on the streams: 8 starts and 8 ends, and the decision records
    const jsm = await jetstreamManager(ops);
    const waiting = await jsm.consumers.info(BUS.sessionsStream, SESSIONS_DURABLE);
    expect(waiting.num_pending + waiting.num_ack_pending).toBeGreaterThanOrEqual(16);
    expect((await jsm.consumers.info(BUS.decisionsStream, DECISIONS_DURABLE)).num_pending).toBeGreaterThan(0);

    // back on the same SQLite; then every session ends
    const admin = await startControlPlane();
    for (const s of [across[1]!, across[2]!, ...opened]) await end(s);
    await dataPlanesFlushed();
    await consumersDrained();
    await eventually(async () => (await admin.ListSessions({})).sessions.length === 0, "no live session");
    admin.close();
    const stored = await stopAndRead();
    expectComplete(stored);

    // a full redelivery: both durable consumers deleted, everything on the streams comes again
    await jsm.consumers.delete(BUS.decisionsStream, DECISIONS_DURABLE);
    await jsm.consumers.delete(BUS.sessionsStream, SESSIONS_DURABLE);
    const again = await startControlPlane();
    await consumersDrained();
    again.close();
    const redelivered = await stopAndRead();
    expect(redelivered).toEqual(stored);
    console.log(
      `control plane killed: ${stored.decisions} decision records, ${stored.sessions.length} sessions stored once (also after a full redelivery)`,
    );
  }, 300_000);
});
