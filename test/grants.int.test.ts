/**
 * Just-in-time grants and access requests, end to end on real components: PostgreSQL, nats-server
 * with JetStream, an OIDC provider, a control plane (git policy source with the default policies,
 * opa, SQLite, the admin API over TLS with OIDC bearer tokens) and two data planes fed over NATS.
 *
 * What is proven: a role grant lets a subject the mapping refuses log in, on every data plane,
 * without a new bundle, and its session is ended when the grant expires; a schema grant allows
 * statements (simple and prepared) in a live session and a revoke-grant denies them again at once;
 * an access request is approved by a second admin, never by the requester, and the audit trail and
 * events have it all; a duration over grants.max_seconds is refused; a restarted data plane knows
 * the grants before it listens; forged, unsigned and older-sequence grant messages are refused.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Command } from "commander";
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerAdminCommands } from "../cli/admin.js";
import { signGrant } from "../control-plane/grants/sign.js";
import { type LocalNats, startNats } from "../devstack/nats.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { encodeBusMessage } from "../proto/bus.js";
import { GRANTS_LIVE_SUBJECT, type Grant, grantSubject } from "../proto/grant.js";
import { type AdminClient, createAdminClient, type EventMessage } from "../proto/load.js";
import { oidcAdmin, startTestControlPlane, type TestControlPlane } from "./harness/control-plane.js";
import {
  type FleetDataPlane,
  type OpenSession,
  openSession,
  startFleetDataPlane,
  tryLogin,
} from "./harness/fleet.js";
import { eventually, TempGitRepo } from "./harness/git-repo.js";
import { type OidcHarness, type OidcUser, startOidcProvider } from "./harness/oidc.js";
import { USERS } from "./harness/proxy-stack.js";
import { rows, summary, WireClient } from "./harness/wire-client.js";

const DAN: OidcUser = { sub: "dan", email: "dan@example.com", groups: ["admins"] };
const MAX_SECONDS = 3600;

let work: string;
let pgServer: LocalPostgres;
let nats: LocalNats;
let oidc: OidcHarness;
let repo: TempGitRepo;
let cp: TestControlPlane;
let carol: AdminClient;
let dan: AdminClient;
let revision: string;
const dps: FleetDataPlane[] = [];
const sessions: OpenSession[] = [];
const clients: AdminClient[] = [];

function grpcError(err: unknown): { code: string; details: string } {
  const e = err as grpc.ServiceError;
  return { code: grpc.status[e.code] ?? "none", details: e.details ?? "" };
}

async function adminAs(user: OidcUser): Promise<AdminClient> {
  const client = createAdminClient(cp.admin.address, {
    credentials: grpc.credentials.createSsl(Buffer.from(cp.adminTls.certPem!)),
    bearerToken: await oidc.token(user),
    deadlineMs: 30_000,
  });
  clients.push(client);
  return client;
}

async function open(dp: FleetDataPlane, user: OidcUser): Promise<OpenSession> {
  const session = await openSession(dp.port, await oidc.token(user));
  sessions.push(session);
  return session;
}

async function startDataPlane(i: number): Promise<FleetDataPlane> {
  return startFleetDataPlane({
    id: `dp-${i + 1}`,
    region: ["eu", "us"][i]!,
    dir: join(work, `dp-${i + 1}`),
    natsUrl: nats.url,
    publicKeyFile: cp.publicKeyFile,
    pg: pgServer,
    oidc,
    config: { revocation: { boot_timeout: "5s" } },
  });
}

async function metric(
  dp: FleetDataPlane,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const values = (await dp.metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

const denied = async (session: OpenSession, sql: string | { name: string; text: string }) =>
  session.client.query(sql).then(
    () => undefined,
    (err: Error & { code?: string }) => err,
  );

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "portcullis-grants-"));
  [pgServer, nats, oidc] = await Promise.all([startPostgres(), startNats(), startOidcProvider()]);
  repo = await TempGitRepo.withDefaultPolicies();
  cp = await startTestControlPlane({
    natsUrl: nats.url,
    repo: repo.dir,
    config: { admin: oidcAdmin(oidc), grants: { max_seconds: MAX_SECONDS } },
  });
  await cp.sync();
  await cp.live.grantBus.whenReady(30_000);
  revision = cp.store.bundles.active()!.revision;
  for (let i = 0; i < 2; i++) dps.push(await startDataPlane(i));
  await eventually(() => dps.every((dp) => dp.policy.current()), "every data plane to load the bundle");
  carol = await adminAs(USERS.carol);
  dan = await adminAs(DAN);
}, 180_000);

afterAll(async () => {
  for (const session of sessions) await session.close();
  for (const client of clients) client.close();
  for (const dp of dps) await dp.stop().catch(() => undefined);
  await cp?.destroy();
  await repo?.destroy();
  await nats?.destroy();
  await oidc?.stop();
  await pgServer?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

describe("a role grant", () => {
  it("lets the subject in on every data plane without a new bundle, and ends its session when it expires", async () => {
    const mallory = await oidc.token(USERS.mallory);
    for (const dp of dps)
      expect(await tryLogin(dp.port, mallory)).toMatchObject({ ok: false, code: "28000" });

    const granted = await carol.Grant({
      subject: "mallory",
      role: "app_rw",
      seconds: 4,
      reason: "incident 42",
    });
    expect(granted).toMatchObject({
      published: true,
      grant: { subject: "mallory", kind: "role", value: "app_rw", status: "active", created_by: "carol" },
    });
    for (const dp of dps)
      await eventually(async () => (await tryLogin(dp.port, mallory)).ok, `mallory on ${dp.id}`);
    // no new bundle: the same revision everywhere
    expect(cp.store.bundles.active()!.revision).toBe(revision);
    for (const dp of dps) expect(dp.policy.revision).toBe(revision);

    const session = await open(dps[0]!, USERS.mallory);
    expect(
      (await session.client.query("SELECT count(*)::int AS n FROM sales.orders")).rows[0],
    ).toHaveProperty("n");
    const end = await session.ended;
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(granted.grant!.expires_at));
    expect(end.code).toBe("57P01");
    expect(end.message).toMatch(/access grant that allowed it ended: role app_rw \(grant .*, expired\)/);
    for (const dp of dps)
      expect(await tryLogin(dp.port, mallory)).toMatchObject({ ok: false, code: "28000" });
    expect((await carol.ListGrants({ include_ended: true, subject: "mallory" })).grants[0]).toMatchObject({
      id: granted.grant!.id,
      status: "expired",
    });
    expect((await carol.ListGrants({ subject: "mallory" })).grants).toEqual([]);
  }, 60_000);

  it("is refused over grants.max_seconds, without a reason, and for anybody the admin policy does not allow", async () => {
    const long = await carol
      .Grant({ subject: "mallory", role: "app_rw", seconds: MAX_SECONDS + 1, reason: "x" })
      .catch((e: unknown) => e);
    expect(grpcError(long)).toMatchObject({
      code: "INVALID_ARGUMENT",
      details: expect.stringMatching(/max_seconds/),
    });
    const reasonless = await carol
      .Grant({ subject: "mallory", role: "app_rw", seconds: 60 })
      .catch((e: unknown) => e);
    expect(grpcError(reasonless)).toMatchObject({
      code: "INVALID_ARGUMENT",
      details: expect.stringMatching(/reason/),
    });
    const alice = await adminAs(USERS.alice);
    const self = await alice
      .Grant({ subject: "alice", schema: "hr", seconds: 60, reason: "x" })
      .catch((e: unknown) => e);
    expect(grpcError(self).code).toBe("PERMISSION_DENIED");
  });
});

describe("a schema grant", () => {
  it("allows the subject's statements in a live session, and revoke-grant denies them again at once", async () => {
    const session = await open(dps[1]!, USERS.alice);
    const prepared = { name: "hr_count", text: "SELECT count(*)::int AS n FROM hr.employees" };
    expect(await denied(session, prepared.text)).toMatchObject({ code: "42501" });

    const granted = await carol.Grant({ subject: "alice", schema: "hr", seconds: 600, reason: "audit" });
    await eventually(async () => !(await denied(session, prepared.text)), "alice reading hr in her session");
    expect((await session.client.query(prepared)).rows).toHaveLength(1);

    const revoked = await carol.RevokeGrant({ id: granted.grant!.id, reason: "done" });
    expect(revoked.grant).toMatchObject({ status: "revoked", revoked_by: "carol" });
    await eventually(async () => (await denied(session, prepared.text))?.code === "42501", "hr denied again");
    // a statement prepared while the grant held is decided again at its next Bind
    expect(await denied(session, prepared)).toMatchObject({ code: "42501" });
    // the session itself goes on: analyst is still what the mapping gives alice
    expect((await session.client.query("SELECT count(*)::int AS n FROM sales.orders")).rows).toHaveLength(1);
    expect(session.isEnded).toBe(false);
  }, 60_000);
});

describe("a schema grant and what was opened under it", () => {
  it("a WITH HOLD cursor declared while the grant held reads nothing once it is revoked: the session ends", async () => {
    const session = await open(dps[0]!, USERS.alice);
    const granted = await carol.Grant({ subject: "alice", schema: "hr", seconds: 600, reason: "cursor" });
    await eventually(
      async () => !(await denied(session, "SELECT 1 FROM hr.employees LIMIT 1")),
      "alice reading hr in her session",
    );
    await session.client.query("DECLARE held_hr CURSOR WITH HOLD FOR SELECT name FROM hr.employees");
    // another session of hers, without a cursor, goes on
    const other = await open(dps[0]!, USERS.alice);
    await carol.RevokeGrant({ id: granted.grant!.id, reason: "done" });
    await eventually(
      async () => (await denied(other, "SELECT 1 FROM hr.employees LIMIT 1"))?.code === "42501",
      "hr denied again",
    );
    const fetched = await session.client.query("FETCH ALL FROM held_hr").then(
      (r) => r.rows as unknown[],
      (err: Error & { code?: string }) => err,
    );
    // never the rows of a schema the subject may no longer read
    expect(fetched).toBeInstanceOf(Error);
    expect(session.isEnded).toBe(true);
    expect(other.isEnded).toBe(false);
  }, 60_000);

  it("a portal bound while the grant held is not executed once it is revoked", async () => {
    const c = await WireClient.connect({
      host: "127.0.0.1",
      port: dps[0]!.port,
      user: "alice@example.com",
      password: await oidc.token(USERS.alice),
      database: "app",
    });
    try {
      const granted = await carol.Grant({ subject: "alice", schema: "hr", seconds: 600, reason: "portal" });
      await eventually(async () => {
        c.send(serialize.query("SELECT 1 FROM hr.employees LIMIT 1"));
        return !summary(await c.untilReady()).some((m) => m.startsWith("error"));
      }, "alice reading hr");
      c.send(serialize.query("BEGIN"));
      await c.untilReady();
      c.send(
        serialize.parse({ name: "", text: "SELECT name FROM hr.employees" }),
        serialize.bind({ statement: "", portal: "held" }),
        serialize.sync(),
      );
      expect(summary(await c.untilReady())).toEqual(["parseComplete", "bindComplete", "ready T"]);
      await carol.RevokeGrant({ id: granted.grant!.id, reason: "done" });
      await eventually(async () => {
        c.send(serialize.query("SAVEPOINT probe"));
        await c.untilReady();
        c.send(serialize.query("SELECT 1 FROM hr.employees LIMIT 1"));
        const denied = summary(await c.untilReady()).includes("error 42501");
        c.send(serialize.query("ROLLBACK TO SAVEPOINT probe"));
        await c.untilReady();
        return denied;
      }, "hr denied again");
      c.send(serialize.execute({ portal: "held", rows: 0 }), serialize.sync());
      const read = await c.untilReady();
      expect(rows(read)).toEqual([]);
      expect(summary(read)).toContain("error 42501");
    } finally {
      c.end();
    }
  }, 60_000);
});

describe("access requests", () => {
  it("are approved by a second admin, never by the requester, and audited", async () => {
    const events: EventMessage[] = [];
    const stream = carol.watchEvents({ kinds: ["grant"] });
    stream.on("data", (e: EventMessage) => events.push(e));
    stream.on("error", () => {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    try {
      const request = await carol.RequestAccess({ role: "app_rw", seconds: 120, reason: "deploy fix" });
      expect(request).toMatchObject({ subject: "carol", kind: "role", value: "app_rw", status: "pending" });

      const self = await carol.ApproveRequest({ id: request.id }).catch((e: unknown) => e);
      expect(grpcError(self)).toEqual({
        code: "PERMISSION_DENIED",
        details: `carol may not approve their own access request ${request.id}: another person must decide it`,
      });
      expect(grpcError(await carol.DenyRequest({ id: request.id }).catch((e: unknown) => e)).code).toBe(
        "PERMISSION_DENIED",
      );

      const approved = await dan.ApproveRequest({ id: request.id, note: "ok" });
      expect(approved.request).toMatchObject({ status: "approved", decided_by: "dan" });
      expect(approved.grant?.grant).toMatchObject({
        subject: "carol",
        value: "app_rw",
        created_by: "dan",
        request_id: request.id,
      });
      const again = await dan.ApproveRequest({ id: request.id }).catch((e: unknown) => e);
      expect(grpcError(again).code).toBe("FAILED_PRECONDITION");

      // a subject without any admin group may ask, not decide
      const bob = await adminAs(USERS.bob);
      const asked = await bob.RequestAccess({ schema: "hr", seconds: 60, reason: "report" });
      expect(grpcError(await bob.DenyRequest({ id: asked.id }).catch((e: unknown) => e)).code).toBe(
        "PERMISSION_DENIED",
      );
      expect((await dan.DenyRequest({ id: asked.id, note: "no" })).request).toMatchObject({
        status: "denied",
        decided_by: "dan",
      });
      expect(
        (await carol.ListRequests({ status: "pending" })).requests.filter((r) => r.id === asked.id),
      ).toEqual([]);

      expect(cp.store.grants.auditTrail({ requestId: request.id }).map((e) => [e.action, e.by])).toEqual([
        ["requested", "carol"],
        ["approved", "dan"],
        ["granted", "dan"],
      ]);
      expect(cp.store.grants.auditTrail({ requestId: asked.id }).map((e) => [e.action, e.by])).toEqual([
        ["requested", "bob"],
        ["denied", "dan"],
      ]);
      await eventually(
        () =>
          ["request.created", "request.approved", "grant.created", "request.denied"].every((t) =>
            events.some((e) => e.type === t),
          ),
        "the grant events",
      );
    } finally {
      stream.cancel();
    }
  });
});

describe("the CLI", () => {
  it("requests access as the user, and grants, lists and approves as admins", async () => {
    const run = async (user: OidcUser, args: string[]) => {
      const lines: string[] = [];
      const program = new Command().exitOverride();
      registerAdminCommands(program, { out: (text) => lines.push(text) });
      const connection = [
        "--server",
        cp.admin.address,
        "--ca",
        cp.adminTls.certFile!,
        "--token",
        await oidc.token(user),
      ];
      await program.parseAsync([...args, ...connection], { from: "user" });
      return lines.join("\n");
    };
    const asked = await run(USERS.bob, [
      "request",
      "--schema",
      "hr",
      "--for",
      "10m",
      "--reason",
      "quarterly report",
    ]);
    const id = /request ([0-9a-f-]{36})/.exec(asked)?.[1];
    expect(id, asked).toBeDefined();
    expect(await run(DAN, ["admin", "requests", "--status", "pending"])).toMatch(
      new RegExp(`${id} +bob +schema hr +600s +pending`),
    );
    await expect(
      run(USERS.bob, ["request", "--schema", "hr", "--for", "2h", "--reason", "x"]),
    ).rejects.toThrow(/longer than the 3600 s/);
    expect(await run(DAN, ["admin", "approve", id!])).toMatch(/approved[\s\S]*granted schema hr to bob/);
    const granted = await run(USERS.carol, [
      "admin",
      "grant",
      "bob",
      "--role",
      "analyst",
      "--for",
      "90s",
      "-r",
      "cli",
    ]);
    expect(granted).toMatch(/granted role analyst to bob until .* \(grant .*\)/);
    expect(await run(USERS.carol, ["admin", "grants", "--subject", "bob"])).toMatch(
      /bob +role analyst +active/,
    );
    const grantId = /\(grant ([0-9a-f-]{36})\)/.exec(granted)![1]!;
    expect(await run(USERS.carol, ["admin", "revoke-grant", grantId])).toMatch(/revoked grant/);
  });
});

describe("a data plane", () => {
  it("replays the grants before it listens after a restart", async () => {
    const granted = await carol.Grant({
      subject: "mallory",
      role: "analyst",
      seconds: 600,
      reason: "replay",
    });
    await eventually(
      async () => (await tryLogin(dps[1]!.port, await oidc.token(USERS.mallory))).ok,
      "granted",
    );
    await dps[1]!.stop();
    dps[1] = await startDataPlane(1);
    // no waiting: the grant was replayed before the listener opened
    expect(await tryLogin(dps[1]!.port, await oidc.token(USERS.mallory))).toEqual({ ok: true });
    await carol.RevokeGrant({ id: granted.grant!.id });
    await eventually(
      async () => !(await tryLogin(dps[1]!.port, await oidc.token(USERS.mallory))).ok,
      "revoked on the restarted data plane",
    );
  }, 60_000);

  it("refuses forged, unsigned and older-sequence grant messages", async () => {
    const granted = await carol.Grant({ subject: "mallory", role: "app_rw", seconds: 600, reason: "x" });
    const active = cp.store.grants.get(granted.grant!.id)!.grant;
    await carol.RevokeGrant({ id: active.id });
    const mallory = await oidc.token(USERS.mallory);
    for (const dp of dps)
      await eventually(async () => !(await tryLogin(dp.port, mallory)).ok, `revoked on ${dp.id}`);

    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const { signature: _signature, ...fields } = active;
    const forged = await signGrant(
      { ...fields, id: "forged-1", sequence: active.sequence + 100 },
      { privateKey, publicKey, kid: "attacker", path: "", generated: true },
    );
    const unsigned: Grant = {
      ...fields,
      id: "unsigned-1",
      sequence: active.sequence + 101,
      signature: "x.y.z",
    };
    const tampered: Grant = { ...active, id: "tampered-1" };
    const nc = await connect({ servers: nats.url });
    try {
      const before = await Promise.all(dps.map((dp) => metric(dp, "portcullis_grants_rejected_total")));
      for (const message of [forged, unsigned, tampered, active]) {
        nc.publish(GRANTS_LIVE_SUBJECT, encodeBusMessage(message));
      }
      // the old "active" state on the stream too, as a replay would deliver it
      await jetstream(nc).publish(grantSubject(active.id), encodeBusMessage(active));
      await nc.flush();
      for (const [i, dp] of dps.entries()) {
        await eventually(
          async () => (await metric(dp, "portcullis_grants_rejected_total")) >= before[i]! + 5,
          `five refusals on ${dp.id}`,
        );
        expect(
          await metric(dp, "portcullis_grants_rejected_total", { reason: "older_sequence" }),
        ).toBeGreaterThan(0);
        expect(
          await metric(dp, "portcullis_grants_rejected_total", { reason: "bad_signature" }),
        ).toBeGreaterThan(0);
        expect(
          await metric(dp, "portcullis_grants_rejected_total", { reason: "payload_mismatch" }),
        ).toBeGreaterThan(0);
        expect(await tryLogin(dp.port, mallory)).toMatchObject({ ok: false, code: "28000" });
      }
    } finally {
      await nc.close();
    }
  }, 60_000);
});
