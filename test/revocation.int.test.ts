/**
 * Real-time revocation and live sessions, end to end on real components: PostgreSQL, nats-server
 * with JetStream, an OIDC provider, a control plane (git policy source, opa, SQLite, the admin API
 * over TLS with OIDC bearer tokens) and three data planes (eu, us, ap) fed by it over NATS; the
 * third reaches NATS through a TCP forwarder the test can cut. Clients are node-postgres and psql.
 *
 * What is proven: sessions show up in ListSessions; RevokeSession / RevokeSubject / RevokeToken cut
 * exactly the matching sessions on every data plane (FATAL 57P01, the upstream query cancelled,
 * the transaction rolled back) and refuse new logins; a data plane cut off from NATS cuts right
 * after it reconnects; a stale deny-list refuses logins (57P03) and, in strict mode, ends
 * sessions; forged revocations are ignored; a restarted data plane knows earlier revocations
 * before it listens; with the control plane gone, data planes keep enforcing; admin calls need a
 * valid token from an allowed group; tokens expire sessions.
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Command } from "commander";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerAdminCommands } from "../cli/admin.js";
import { toolchain } from "../common/toolchain.js";
import type { SigningKey } from "../control-plane/bundle/signing-key.js";
import { signRevocation } from "../control-plane/revocation/sign.js";
import { DENY_LIST_FILE } from "../data-plane/revocation/session-controls.js";
import { type LocalNats, startNats } from "../devstack/nats.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { BUS, encodeBusMessage, type Revocation, revocationSubject } from "../proto/bus.js";
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
import { startTcpForwarder, type TcpForwarder } from "./harness/tcp-forwarder.js";

const ERIN: OidcUser = { sub: "erin", email: "erin@example.com", groups: ["analysts"] };
const FRANK: OidcUser = { sub: "frank", email: "frank@example.com", groups: ["analysts"] };
const OLIVIA: OidcUser = { sub: "olivia", email: "olivia@example.com", groups: ["operators"] };

let work: string;
let pgServer: LocalPostgres;
let nats: LocalNats;
let oidc: OidcHarness;
let repo: TempGitRepo;
let cp: TestControlPlane;
let forwarder: TcpForwarder;
let admin: AdminClient;
let carolToken: string;
const dps: FleetDataPlane[] = [];
const sessions: OpenSession[] = [];

function grpcCode(err: unknown): string {
  return grpc.status[(err as grpc.ServiceError).code] ?? "none";
}

async function open(dp: FleetDataPlane, token: string): Promise<OpenSession> {
  const session = await openSession(dp.port, token);
  sessions.push(session);
  return session;
}

async function metricValue(
  dp: FleetDataPlane,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = await dp.metrics.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

function psqlLogin(
  dp: FleetDataPlane,
  token: string,
  user: string,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      toolchain().psql,
      [
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "SELECT 1",
        `host=127.0.0.1 port=${dp.port} user=${user} dbname=app sslmode=require`,
      ],
      { env: { ...process.env, PGPASSWORD: token, PGCONNECT_TIMEOUT: "10" }, timeout: 30_000 },
      (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stderr }),
    );
  });
}

async function startDataPlanes(): Promise<void> {
  const regions = ["eu", "us", "ap"];
  for (let i = 0; i < 3; i++) {
    dps.push(
      await startFleetDataPlane({
        id: `dp-${i + 1}`,
        region: regions[i]!,
        dir: join(work, `dp-${i + 1}`),
        natsUrl: i === 2 ? `nats://127.0.0.1:${forwarder.port}` : nats.url,
        publicKeyFile: cp.publicKeyFile,
        pg: pgServer,
        oidc,
        config: {
          revocation: { max_staleness: "2s", boot_timeout: "1s", ...(i === 1 ? { mode: "strict" } : {}) },
          ...(i === 2 ? { session: { on_token_expiry: "continue" } } : {}),
        },
      }),
    );
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "portcullis-revocation-"));
  [pgServer, nats, oidc] = await Promise.all([startPostgres(), startNats(), startOidcProvider()]);
  repo = await TempGitRepo.withDefaultPolicies();
  cp = await startTestControlPlane({
    natsUrl: nats.url,
    repo: repo.dir,
    config: {
      admin: oidcAdmin(oidc),
      sessions: { heartbeat_timeout: "3s" },
    },
  });
  await cp.sync();
  await cp.live.bus.whenReady(30_000);
  forwarder = await startTcpForwarder(nats.port);
  await startDataPlanes();
  await eventually(() => dps.every((dp) => dp.policy.current()), "every data plane to load the bundle");
  carolToken = await oidc.token(USERS.carol);
  admin = createAdminClient(cp.admin.address, {
    credentials: grpc.credentials.createSsl(Buffer.from(cp.adminTls.certPem!)),
    bearerToken: carolToken,
    deadlineMs: 30_000,
  });
  await eventually(async () => (await admin.GetFleetStatus({})).live === 3, "three live data planes");
}, 180_000);

afterAll(async () => {
  for (const session of sessions) await session.close();
  admin?.close();
  for (const dp of dps) await dp.stop().catch(() => undefined);
  await forwarder?.close();
  await cp?.destroy();
  await repo?.destroy();
  await nats?.destroy();
  await oidc?.stop();
  await pgServer?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

describe("the admin API", () => {
  it("needs TLS and a valid token from a group the admin policy allows", async () => {
    const tls = grpc.credentials.createSsl(Buffer.from(cp.adminTls.certPem!));
    const call = async (token: string | undefined, fn: (c: AdminClient) => Promise<unknown>) => {
      const client = createAdminClient(cp.admin.address, {
        credentials: tls,
        ...(token ? { bearerToken: token } : {}),
        deadlineMs: 15_000,
      });
      try {
        return await fn(client).catch((e: unknown) => e);
      } finally {
        client.close();
      }
    };
    const anonymous = await call(undefined, (c) => c.ListSessions({}));
    expect(grpcCode(anonymous)).toBe("UNAUTHENTICATED");
    expect((anonymous as grpc.ServiceError).details).toMatch(/bearer token is required/);
    const garbage = await call("not-a-token", (c) => c.ListSessions({}));
    expect(grpcCode(garbage)).toBe("UNAUTHENTICATED");
    expect((garbage as grpc.ServiceError).details).toMatch(/token rejected: token malformed/);
    const otherAudience = await call(await oidc.token(USERS.carol, { audience: "other-app" }), (c) =>
      c.ListSessions({}),
    );
    expect(grpcCode(otherAudience)).toBe("UNAUTHENTICATED");

    const alice = await oidc.token(USERS.alice);
    expect(grpcCode(await call(alice, (c) => c.ListSessions({})))).toBe("PERMISSION_DENIED");
    expect(grpcCode(await call(alice, (c) => c.RevokeSubject({ subject: "bob" })))).toBe("PERMISSION_DENIED");
    const operator = await oidc.token(OLIVIA);
    expect(await call(operator, (c) => c.ListSessions({}))).toMatchObject({ sessions: expect.any(Array) });
    const denied = await call(operator, (c) => c.RevokeSubject({ subject: "bob" }));
    expect(grpcCode(denied)).toBe("PERMISSION_DENIED");
    expect((denied as grpc.ServiceError).details).toMatch(/olivia may not call RevokeSubject/);

    // plaintext to a TLS listener does not get through
    const plain = createAdminClient(cp.admin.address, { bearerToken: carolToken, deadlineMs: 5_000 });
    expect(grpcCode(await plain.ListSessions({}).catch((e: unknown) => e))).toBe("UNAVAILABLE");
    plain.close();
  });

  it("lets only the bootstrap admins call before any bundle is active", async () => {
    const fresh = await startTestControlPlane({
      natsUrl: "nats://127.0.0.1:1",
      config: {
        admin: {
          auth: "oidc",
          oidc: { issuers: [{ issuer: oidc.issuer, audience: oidc.clientId }], allow_insecure_issuer: true },
          bootstrap: { subjects: ["carol"] },
          tls: { enabled: true },
        },
      },
    });
    const creds = grpc.credentials.createSsl(Buffer.from(fresh.adminTls.certPem!));
    const asCarol = createAdminClient(fresh.admin.address, { credentials: creds, bearerToken: carolToken });
    const asAlice = createAdminClient(fresh.admin.address, {
      credentials: creds,
      bearerToken: await oidc.token(USERS.alice),
    });
    try {
      expect(await asCarol.ListBundles({})).toMatchObject({ bundles: [], active_revision: "" });
      const refused = await asAlice.ListBundles({}).catch((e: unknown) => e);
      expect(grpcCode(refused)).toBe("PERMISSION_DENIED");
      expect((refused as grpc.ServiceError).details).toMatch(/no policy bundle is active yet/);
    } finally {
      asCarol.close();
      asAlice.close();
      await fresh.destroy();
    }
  });
});

describe("live sessions", () => {
  it("are listed across data planes with their details, and filtered", async () => {
    const alice = await oidc.token(USERS.alice);
    for (const dp of dps) await open(dp, alice);
    const listed = await eventually(async () => {
      const { sessions } = await admin.ListSessions({ subject: "alice" });
      return sessions.length === 3 ? sessions : undefined;
    }, "alice's three sessions");
    expect(listed.map((s) => [s.data_plane_id, s.region]).sort()).toEqual([
      ["dp-1", "eu"],
      ["dp-2", "us"],
      ["dp-3", "ap"],
    ]);
    const claims = decodeJwt(alice);
    for (const s of listed) {
      expect(s).toMatchObject({
        subject: "alice",
        issuer: oidc.issuer,
        jti: claims.jti,
        db_role: "analyst",
        database: "app",
        client_addr: "127.0.0.1",
        token_expires_at: new Date(claims.exp! * 1000).toISOString(),
      });
      expect(s.claims_digest).toMatch(/^[0-9a-f]{64}$/);
    }
    expect((await admin.ListSessions({ subject: "alice", region: "us" })).sessions).toHaveLength(1);
    expect((await admin.ListSessions({ subject: "alice", data_plane_id: "dp-3" })).sessions).toHaveLength(1);

    // the CLI, over TLS with the control plane's certificate and carol's token
    const lines: string[] = [];
    const program = new Command().exitOverride();
    registerAdminCommands(program, { out: (text) => lines.push(text) });
    await program.parseAsync(
      [
        "admin",
        "--server",
        cp.admin.address,
        "--ca",
        cp.adminTls.certFile!,
        "--token",
        carolToken,
        "sessions",
      ],
      { from: "user" },
    );
    expect(lines.join("\n")).toMatch(/alice +analyst +app +dp-2 +us/);
    const insecure: string[] = [];
    const again = new Command().exitOverride();
    registerAdminCommands(again, { out: (text) => insecure.push(text) });
    await again.parseAsync(
      [
        "admin",
        "sessions",
        "--subject",
        "alice",
        "--json",
        "--server",
        cp.admin.address,
        "--insecure",
        "--token",
        carolToken,
      ],
      { from: "user" },
    );
    expect((JSON.parse(insecure.join("\n")) as { sessions: unknown[] }).sessions).toHaveLength(3);
  });
});

describe("revocation", () => {
  it("RevokeSession ends that session only, cancelling its running query", async () => {
    const busy = await open(dps[0]!, carolToken);
    const other = await open(dps[0]!, carolToken);
    await eventually(
      async () =>
        (await admin.ListSessions({ subject: "carol", data_plane_id: "dp-1" })).sessions.length === 2,
      "carol's two sessions in the view",
    );
    const running = busy.client.query("SELECT pg_sleep(600)").catch((e: Error & { code?: string }) => e);
    const sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'";
    await eventually(async () => (await pgServer.psql(sleeping)).trim() === "1", "the long query to run");
    // which of the two is busy: the data plane knows
    const id = dps[0]!.dataPlane.registry.all().find((s) => s.subject === "carol" && s.busy?.())!.id;

    const response = await admin.RevokeSession({ session_id: id, reason: "runaway query" });
    expect(response.published).toBe(true);
    expect(response.missing).toEqual([]);
    expect(response.acks.map((a) => [a.data_plane_id, a.sessions_cut])).toEqual([
      ["dp-1", 1],
      ["dp-2", 0],
      ["dp-3", 0],
    ]);
    expect(response.revocation).toMatchObject({ kind: "session", value: id, created_by: "carol" });
    const error = (await running) as Error & { code?: string };
    expect(error.code).toBe("57P01");
    expect(error.message).toBe("session revoked: runaway query");
    await busy.ended; // the FATAL went to the running query, above
    expect(busy.isEnded).toBe(true);
    // the backend stopped: the query was cancelled, not left running
    await eventually(
      async () => (await pgServer.psql(sleeping)).trim() === "0",
      "the cancelled query to stop",
    );
    // the other session of the same subject carries on, and carol may log in again
    expect((await other.client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    expect(await tryLogin(dps[0]!.port, carolToken)).toEqual({ ok: true });
  }, 60_000);

  it("RevokeSubject ends the subject's sessions on every data plane, refuses it, and leaves others alone", async () => {
    const bob = await oidc.token(USERS.bob);
    const inTx = await open(dps[0]!, bob);
    await inTx.client.query("BEGIN");
    await inTx.client.query(
      "INSERT INTO sales.customers (name, email, region) VALUES ('revoked-tx', 'x@example.com', 'eu')",
    );
    const onUs = await open(dps[1]!, bob);
    const onAp = await open(dps[2]!, bob);
    const alice = await open(dps[0]!, await oidc.token(USERS.alice));
    await eventually(
      async () => (await admin.ListSessions({ subject: "bob" })).sessions.length === 3,
      "bob's sessions in the view",
    );

    const response = await admin.RevokeSubject({ subject: "bob", reason: "compromised laptop" });
    expect(response.missing).toEqual([]);
    expect(response.acks.map((a) => [a.data_plane_id, a.sessions_cut])).toEqual([
      ["dp-1", 1],
      ["dp-2", 1],
      ["dp-3", 1],
    ]);
    for (const session of [inTx, onUs, onAp]) {
      expect(await session.ended).toEqual({ code: "57P01", message: "session revoked: compromised laptop" });
    }
    // the open transaction was rolled back with the upstream session
    await eventually(
      async () =>
        (
          await pgServer.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app_rw' AND state LIKE 'idle in transaction%'",
          )
        ).trim() === "0",
      "bob's upstream session to end",
    );
    expect(
      (await pgServer.psql("SELECT count(*) FROM sales.customers WHERE name = 'revoked-tx'")).trim(),
    ).toBe("0");
    // others carry on
    expect((await alice.client.query("SELECT count(*)::int AS n FROM sales.orders")).rows[0]).toEqual({
      n: 500,
    });
    // bob cannot come back, with the old token or a new one, through any data plane (real psql)
    for (const dp of dps) {
      const refused = await psqlLogin(dp, await oidc.token(USERS.bob), "bob");
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/subject revoked/);
    }
    expect(await tryLogin(dps[1]!.port, bob)).toMatchObject({
      ok: false,
      code: "28000",
      message: "subject revoked",
    });
    const listed = (await admin.ListRevocations({})).revocations.find((r) => r.value === "bob")!;
    expect(listed).toMatchObject({ kind: "subject", created_by: "carol", acks: 3, sessions_cut: 3 });
    // every live data plane acknowledged: the lag metric holds the time that took
    expect(cp.live.revocations.lagSeconds()).toBeGreaterThan(0);
    expect(cp.live.revocations.lagSeconds()).toBeLessThan(60);
    expect(Date.parse(listed.expires_at) - Date.parse(listed.created_at)).toBe(24 * 3600 * 1000);
  }, 90_000);

  it("RevokeToken ends the sessions opened with that token and refuses it; another token of the subject works", async () => {
    const first = await oidc.token(USERS.dave);
    const second = await oidc.token(USERS.dave);
    const a = await open(dps[0]!, first);
    const b = await open(dps[1]!, first);
    const c = await open(dps[2]!, second);
    const jti = decodeJwt(first).jti as string;
    expect(jti).toBeTruthy();
    const response = await admin.RevokeToken({ jti, reason: "token leaked" });
    expect(response.acks.reduce((n, ack) => n + ack.sessions_cut, 0)).toBe(2);
    expect(await a.ended).toEqual({ code: "57P01", message: "session revoked: token leaked" });
    expect(await b.ended).toEqual({ code: "57P01", message: "session revoked: token leaked" });
    expect((await c.client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    expect(await tryLogin(dps[2]!.port, first)).toMatchObject({
      ok: false,
      code: "28000",
      message: "token revoked",
    });
    expect(await tryLogin(dps[2]!.port, second)).toEqual({ ok: true });
  }, 60_000);

  it("ignores and counts revocations that the control plane did not sign", async () => {
    const alice = await oidc.token(USERS.alice);
    const live = await open(dps[0]!, alice);
    const before = await Promise.all(
      dps.map((dp) => metricValue(dp, "portcullis_revocations_rejected_total")),
    );
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const forgedKey: SigningKey = { privateKey, publicKey, kid: "forged", path: "", generated: true };
    const fields = {
      id: "forged-1",
      kind: "subject" as const,
      value: "alice",
      reason: "forged",
      created_at: new Date().toISOString(),
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
    };
    const forged = await signRevocation(fields, forgedKey);
    // a genuine signature over other fields: the message is altered after signing
    const genuine = await signRevocation({ ...fields, id: "altered-1", value: "nobody" }, cp.signingKey);
    const altered: Revocation = { ...genuine, value: "alice" };
    const unsigned: Revocation = { ...fields, id: "unsigned-1", signature: "e30.e30.e30" };
    const nc = await connect({ servers: nats.url });
    try {
      const js = jetstream(nc);
      for (const message of [forged, altered, unsigned]) {
        await js.publish(revocationSubject("subject"), encodeBusMessage(message), { msgID: message.id });
        // and on the fast path, which is verified the same way
        nc.publish(BUS.revocationsLiveSubject, encodeBusMessage(message));
      }
      await nc.flush();
    } finally {
      await nc.close();
    }
    await eventually(async () => {
      const after = await Promise.all(
        dps.map((dp) => metricValue(dp, "portcullis_revocations_rejected_total")),
      );
      return after.every((n, i) => n >= before[i]! + 6);
    }, "every data plane to reject the three revocations on both paths");
    expect(
      await metricValue(dps[0]!, "portcullis_revocations_rejected_total", { reason: "bad_signature" }),
    ).toBeGreaterThan(0);
    expect(
      await metricValue(dps[0]!, "portcullis_revocations_rejected_total", { reason: "payload_mismatch" }),
    ).toBeGreaterThan(0);
    expect(live.isEnded).toBe(false);
    expect((await live.client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    for (const dp of dps) expect(await tryLogin(dp.port, alice)).toEqual({ ok: true });
  }, 60_000);

  it("cuts on the fast path alone: a signed revocation on the core subject, never stored, ends the session", async () => {
    const subject = "fast-path-only";
    const token = await oidc.token({ sub: subject, groups: ["analysts"] });
    const live = await openSession(dps[0]!.port, token);
    const revocation = await signRevocation(
      {
        id: `fast-${Date.now()}`,
        kind: "subject",
        value: subject,
        reason: "fast path",
        created_at: new Date().toISOString(),
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
      },
      cp.signingKey,
    );
    const nc = await connect({ servers: nats.url });
    try {
      nc.publish(BUS.revocationsLiveSubject, encodeBusMessage(revocation));
      await nc.flush();
    } finally {
      await nc.close();
    }
    expect((await live.ended).code).toBe("57P01");
    for (const dp of dps) {
      await eventually(async () => {
        const r = await tryLogin(dp.port, token);
        return !r.ok && r.code === "28000" ? true : undefined;
      }, `${dp.id} refusing the subject`);
    }
  }, 60_000);

  it("a data plane cut off from NATS cuts the session right after it reconnects", async () => {
    const erin = await oidc.token(ERIN);
    const onEu = await open(dps[0]!, erin);
    const onAp = await open(dps[2]!, erin);
    await eventually(
      async () => (await admin.ListSessions({ subject: "erin" })).sessions.length === 2,
      "erin's sessions in the view",
    );
    forwarder.partition();
    // the control plane stops hearing dp-3's heartbeats and drops its sessions from the view
    await eventually(
      async () => (await admin.ListSessions({ data_plane_id: "dp-3" })).sessions.length === 0,
      "dp-3's sessions to leave the view",
    );
    const response = await admin.RevokeSubject({
      subject: "erin",
      reason: "left the company",
      wait_timeout_ms: 1500,
    });
    expect(response.missing).toEqual(["dp-3"]);
    expect(response.acks.map((a) => [a.data_plane_id, a.sessions_cut])).toEqual([
      ["dp-1", 1],
      ["dp-2", 0],
    ]);
    expect(await onEu.ended).toEqual({ code: "57P01", message: "session revoked: left the company" });
    // dp-3 has not heard: erin's session there is still up
    expect((await onAp.client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    expect(onAp.isEnded).toBe(false);

    forwarder.restore();
    expect(await onAp.ended).toEqual({ code: "57P01", message: "session revoked: left the company" });
    // its late acknowledgement is recorded
    const id = response.revocation!.id;
    await eventually(
      async () => (await admin.ListRevocations({})).revocations.find((r) => r.id === id)?.acks === 3,
      "dp-3's acknowledgement",
    );
    await eventually(() => dps[2]!.sessionControls?.enforcer?.current, "dp-3 to catch up");
    expect(await tryLogin(dps[2]!.port, erin)).toMatchObject({ ok: false, code: "28000" });
  }, 90_000);

  it("streams session and revocation events to WatchEvents", async () => {
    const events: EventMessage[] = [];
    const stream = admin.watchEvents({ kinds: ["session", "revocation"] });
    await new Promise<void>((resolve, reject) => {
      stream.once("metadata", () => resolve());
      stream.once("error", reject);
    });
    stream.on("data", (e: EventMessage) => events.push(e));
    stream.on("error", () => {});
    try {
      const session = await open(dps[1]!, await oidc.token(USERS.alice));
      const id = await eventually(
        () =>
          events
            .map((e) => JSON.parse(e.json) as { session_id?: string; subject?: string })
            .find((e) => e.subject === "alice")?.session_id,
        "a session.started event for alice",
      );
      await admin.RevokeSession({ session_id: id, reason: "watch test" });
      await session.ended;
      await eventually(
        () =>
          events.some(
            (e) =>
              e.type === "session.ended" &&
              (JSON.parse(e.json) as { session_id: string; reason: string }).session_id === id &&
              (JSON.parse(e.json) as { reason: string }).reason === "revoked",
          ),
        "a session.ended event with reason revoked",
      );
      const types = events.map((e) => e.type);
      expect(types).toContain("session.started");
      expect(types).toContain("revocation.created");
      expect(types).toContain("revocation.ack");
      expect(events.every((e) => e.kind === "session" || e.kind === "revocation")).toBe(true);
    } finally {
      stream.cancel();
    }
  }, 60_000);

  it("revokes and lists revocations through the CLI", async () => {
    // alice may hold sessions on dp-2 from earlier tests: this test's session is the new one
    const before = new Set(dps[1]!.dataPlane.registry.all().map((s) => s.id));
    const session = await open(dps[1]!, await oidc.token(USERS.alice));
    const id = await eventually(
      () =>
        dps[1]!.dataPlane.registry
          .all()
          .find((s) => s.subject === "alice" && !s.endReason && !before.has(s.id))?.id,
      "alice's new session on dp-2",
    );
    const cli = async (...args: string[]) => {
      const lines: string[] = [];
      const program = new Command().exitOverride();
      registerAdminCommands(program, { out: (text) => lines.push(text) });
      await program.parseAsync(
        [
          "admin",
          ...args,
          "--server",
          cp.admin.address,
          "--ca",
          cp.adminTls.certFile!,
          "--token",
          carolToken,
        ],
        { from: "user" },
      );
      return lines.join("\n");
    };
    const out = await cli("revoke-session", id, "--reason", "cli test");
    expect(out).toMatch(new RegExp(`^revoked session ${id} \\(revocation [0-9a-f-]+, in force until `));
    expect(out).toMatch(/dp-2 +1 /);
    expect(out).toMatch(/1 session cut; 3 data planes acknowledged$/);
    expect(await session.ended).toEqual({ code: "57P01", message: "session revoked: cli test" });
    const listed = JSON.parse(await cli("revocations", "--json")) as {
      revocations: { value: string; acks: number }[];
    };
    expect(listed.revocations.find((r) => r.value === id)).toMatchObject({ acks: 3 });
    expect(await cli("revocations")).toMatch(new RegExp(`session +${id} +carol `));
  }, 60_000);

  it("ends a session when its token expires (terminate), not on a data plane told to continue", async () => {
    const token = await oidc.token(FRANK, { lifetimeSeconds: 4 });
    const terminating = await open(dps[0]!, token);
    const continuing = await open(dps[2]!, token);
    expect(await terminating.ended).toEqual({ code: "57P01", message: "token expired" });
    // past the token's expiry, the session on the `continue` data plane still works
    expect((await continuing.client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    expect(continuing.isEnded).toBe(false);
  }, 60_000);

  it("a restarted data plane knows earlier revocations before it accepts connections", async () => {
    const old = dps[0]!;
    await old.stop();
    expect(existsSync(join(old.dir, "state", DENY_LIST_FILE))).toBe(true);
    dps[0] = await startFleetDataPlane(old.options);
    expect(dps[0].sessionControls?.enforcer?.current).toBe(true);
    expect(await tryLogin(dps[0].port, await oidc.token(USERS.bob))).toMatchObject({
      ok: false,
      code: "28000",
      message: "subject revoked",
    });
    expect(await tryLogin(dps[0].port, await oidc.token(USERS.alice))).toEqual({ ok: true });
  }, 60_000);
});

describe("bounded staleness", () => {
  it("refuses new logins once NATS has been gone longer than max_staleness, ends sessions in strict mode, recovers", async () => {
    const alice = await oidc.token(USERS.alice);
    const lenient = await open(dps[0]!, alice);
    const strict = await open(dps[1]!, alice);
    await nats.kill();
    const stale = await eventually(async () => {
      const attempt = await tryLogin(dps[0]!.port, alice);
      return attempt.ok ? undefined : attempt;
    }, "dp-1 to refuse logins");
    expect(stale).toMatchObject({
      ok: false,
      code: "57P03",
      message: expect.stringMatching(/^revocation list is stale/),
    });
    expect(await strict.ended).toEqual({ code: "57P01", message: "revocation list is stale" });
    // refuse_new keeps the live session
    expect((await lenient.client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    // a data plane (re)started while NATS is down follows the same rule: its list on disk is stale
    const old = dps[2]!;
    await old.stop();
    dps[2] = await startFleetDataPlane(old.options);
    expect(await tryLogin(dps[2].port, alice)).toMatchObject({ ok: false, code: "57P03" });
    await eventually(
      async () => (await metricValue(dps[0]!, "portcullis_revocation_stale")) === 1,
      "the stale gauge",
    );

    await nats.restart();
    for (const dp of dps) {
      // NATS clients reconnect with capped backoff (up to 10 s between attempts)
      await eventually(
        async () => (await tryLogin(dp.port, alice)).ok,
        `${dp.id} to accept logins again`,
        60_000,
      );
    }
    expect(await metricValue(dps[0]!, "portcullis_revocation_stale")).toBe(0);
    // and the revocations still hold
    expect(await tryLogin(dps[1]!.port, await oidc.token(USERS.bob))).toMatchObject({
      ok: false,
      code: "28000",
    });
  }, 180_000);
});

describe("without the control plane", () => {
  it("data planes keep enforcing earlier revocations and policies", async () => {
    await cp.stop();
    const alice = await oidc.token(USERS.alice);
    for (const dp of dps) {
      expect(await tryLogin(dp.port, await oidc.token(USERS.bob))).toMatchObject({
        ok: false,
        code: "28000",
      });
      const session = await open(dp, alice);
      expect((await session.client.query("SELECT count(*)::int AS n FROM sales.orders")).rows[0]).toEqual({
        n: 500,
      });
      const denied = await session.client
        .query("DELETE FROM sales.orders WHERE id = 1")
        .catch((e: Error & { code?: string }) => e);
      expect((denied as { code?: string }).code).toBe("42501");
    }
    // a data plane started now still gets the revocations (they live in the stream, not the control plane)
    const old = dps[2]!;
    await old.stop();
    dps[2] = await startFleetDataPlane(old.options);
    expect(dps[2].sessionControls?.enforcer?.current).toBe(true);
    expect(await tryLogin(dps[2].port, await oidc.token(USERS.bob))).toMatchObject({
      ok: false,
      code: "28000",
    });
  }, 90_000);
});
