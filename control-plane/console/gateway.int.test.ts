/**
 * The console's JSON gateway against a real control plane (git source, opa, SQLite, NATS, the admin
 * API over TLS with OIDC bearer tokens decided by portcullis/admin/decision) and the real OIDC
 * provider, over HTTPS as a browser calls it:
 *
 * - every rpc of proto/admin.proto is served (`POST /api/<Method>`) and reaches the admin server;
 * - a call without a token, with a garbage one or with a non-admin's is refused with 401 / 403 and
 *   the admin server's reason, WatchEvents included;
 * - bad JSON, unknown fields, mistyped fields and oversized bodies get a clear 4xx, and the console
 *   keeps serving;
 * - WatchEvents streams events as Server-Sent Events;
 * - 2,500 live sessions, seeded as the session events data planes publish, page through
 *   ListSessions without a repeat or a gap.
 */
import { readdir, readFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { join, relative } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerAdminCommands } from "../../cli/admin.js";
import { listAllSessions } from "../../cli/admin-sessions.js";
import { projectRoot } from "../../common/toolchain.js";
import { type LocalNats, startNats } from "../../devstack/nats.js";
import { encodeBusMessage, type SessionStarted, sessionSubject } from "../../proto/bus.js";
import { adminProtoPath, createAdminClient } from "../../proto/load.js";
import { oidcAdmin, startTestControlPlane, type TestControlPlane } from "../../test/harness/control-plane.js";
import { eventually, TempGitRepo } from "../../test/harness/git-repo.js";
import { type OidcHarness, startOidcProvider } from "../../test/harness/oidc.js";
import { USERS } from "../../test/harness/proxy-stack.js";
import { createAdminGateway } from "./gateway.js";

let nats: LocalNats;
let oidc: OidcHarness;
let repo: TempGitRepo;
let cp: TestControlPlane;
let nc: NatsConnection;
let carol: string;
let alice: string;
let consoleUrl: URL;
let ca: string;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown>;
}

/** One HTTPS request to the console; `body` as given (a string, bytes, or chunks sent without a length). */
function send(
  path: string,
  options: {
    method?: string;
    body?: string | Buffer | Buffer[];
    token?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (typeof options.body === "string" || Buffer.isBuffer(options.body)) {
      headers["content-length"] = String(Buffer.byteLength(options.body));
    }
    const req = httpsRequest(
      new URL(path, consoleUrl),
      { method: options.method ?? "POST", headers, ca, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (Array.isArray(options.body)) {
      for (const chunk of options.body) req.write(chunk);
      req.end();
    } else req.end(options.body);
  });
}

/** `token` "" sends none. */
const api = (method: string, body: unknown, token: string = carol) =>
  send(`/api/${method}`, { body: JSON.stringify(body), ...(token ? { token } : {}) });

/** WatchEvents as Server-Sent Events: the parsed `data:` messages as they come. */
function watch(kinds: string[], token: string) {
  const events: { type: string; kind: string; json: string }[] = [];
  let status = 0;
  let contentType = "";
  let close = (): void => {};
  const opened = new Promise<void>((resolve, reject) => {
    const req = httpsRequest(
      new URL("/api/WatchEvents", consoleUrl),
      {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        ca,
        agent: false,
      },
      (res) => {
        status = res.statusCode ?? 0;
        contentType = String(res.headers["content-type"] ?? "");
        let buffer = "";
        res.on("data", (chunk: Buffer) => {
          buffer += chunk.toString("utf8");
          if (buffer.includes(": stream open")) resolve();
          let end = buffer.indexOf("\n\n");
          while (end >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = frame
              .split("\n")
              .filter((l) => l.startsWith("data: "))
              .map((l) => l.slice(6))
              .join("\n");
            if (data) events.push(JSON.parse(data) as (typeof events)[number]);
            end = buffer.indexOf("\n\n");
          }
        });
        res.on("end", () => resolve());
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ kinds }));
    close = () => req.destroy();
  });
  return {
    events,
    opened,
    status: () => status,
    contentType: () => contentType,
    close: () => close(),
  };
}

async function policyFiles(): Promise<{ path: string; content: string }[]> {
  const root = join(projectRoot(), "policies");
  const out: { path: string; content: string }[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.push({ path: relative(root, path), content: (await readFile(path)).toString("base64") });
    }
  };
  await walk(root);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function startedEvent(i: number, dataPlane: string): SessionStarted {
  // many sessions share a start time: the id breaks the tie in the order
  const at = new Date(Date.parse("2030-01-01T00:00:00Z") + Math.floor(i / 9) * 1000).toISOString();
  return {
    session_id: `seed-${String(i).padStart(5, "0")}`,
    data_plane_id: dataPlane,
    region: dataPlane.endsWith("eu") ? "eu" : "us",
    subject: `user${i % 40}@example.com`,
    issuer: oidc.issuer,
    jti: `jti-${i}`,
    db_role: i % 2 ? "analyst" : "app_rw",
    database: "app",
    client_addr: `10.0.${Math.floor(i / 250)}.${i % 250}`,
    application_name: "psql",
    revision: "seed",
    at,
  };
}

beforeAll(async () => {
  [nats, oidc] = await Promise.all([startNats(), startOidcProvider()]);
  repo = await TempGitRepo.withDefaultPolicies();
  cp = await startTestControlPlane({
    natsUrl: nats.url,
    repo: repo.dir,
    config: {
      admin: oidcAdmin(oidc),
      console: { listen: "127.0.0.1:0" },
      // the seeded sessions' data planes send no heartbeats
      sessions: { heartbeat_timeout: "10m" },
    },
  });
  await cp.sync();
  await cp.live.bus.whenReady(30_000);
  consoleUrl = new URL(cp.console!.url);
  ca = cp.adminTls.certPem!;
  [carol, alice] = await Promise.all([oidc.token(USERS.carol), oidc.token(USERS.alice)]);
  nc = await connect({ servers: nats.url });
}, 180_000);

afterAll(async () => {
  await nc?.close();
  await cp?.destroy();
  await repo?.destroy();
  await nats?.destroy();
  await oidc?.stop();
}, 60_000);

describe("the console's JSON gateway", () => {
  it("serves every rpc of admin.proto, each reaching the admin server", async () => {
    const proto = await readFile(adminProtoPath(), "utf8");
    const rpcs = [...proto.matchAll(/^\s*rpc\s+(\w+)\s*\(/gm)].map((m) => m[1]!);
    expect(rpcs.length).toBeGreaterThanOrEqual(14);
    // the gateway's methods are admin.proto's, as loaded, with no list of its own
    const gateway = createAdminGateway({
      address: cp.admin.address,
      credentials: grpc.credentials.createInsecure(),
    });
    expect([...gateway.methods.keys()].sort()).toEqual([...rpcs].sort());
    expect(gateway.methods.get("WatchEvents")).toEqual({ responseStream: true });
    gateway.close();
    const active = cp.store.bundles.active()!.revision;
    const files = await policyFiles();
    // a request for each rpc and what its answer shows of the admin server having handled it
    // access requests of alice's (anyone may ask), for carol to decide: never her own
    const asked = await Promise.all(
      ["gateway test: approve me", "gateway test: deny me"].map(async (reason) => {
        const a = await api("RequestAccess", { role: "app_rw", seconds: 600, reason }, alice);
        expect(a.status, a.text).toBe(200);
        return a.json.id as string;
      }),
    );
    let grantId = "";
    const cases: Record<string, { request: unknown; expect: (a: Answer) => void }> = {
      ListSessions: {
        request: { page_size: 5 },
        expect: (a) =>
          expect(a.json).toMatchObject({ sessions: expect.any(Array), total_size: expect.any(Number) }),
      },
      RevokeSession: {
        request: { session_id: "gateway-test-session", reason: "gateway test", no_wait: true },
        expect: (a) =>
          expect(a.json).toMatchObject({
            revocation: { kind: "session", value: "gateway-test-session", created_by: "carol" },
          }),
      },
      RevokeSubject: {
        request: { subject: "gateway-test-subject", no_wait: true },
        expect: (a) =>
          expect(a.json).toMatchObject({ revocation: { kind: "subject", value: "gateway-test-subject" } }),
      },
      RevokeToken: {
        request: { jti: "gateway-test-jti", no_wait: true },
        expect: (a) =>
          expect(a.json).toMatchObject({ revocation: { kind: "token", value: "gateway-test-jti" } }),
      },
      ListRevocations: {
        request: {},
        expect: (a) =>
          expect((a.json.revocations as { value: string }[]).map((r) => r.value)).toContain(
            "gateway-test-jti",
          ),
      },
      ListBundles: {
        request: { limit: 5 },
        expect: (a) => expect(a.json).toMatchObject({ active_revision: active }),
      },
      GetBundle: {
        request: { revision: active, include_bytes: true },
        expect: (a) => {
          expect(a.json).toMatchObject({ revision: active, status: "active", source: "git" });
          // bytes come back as base64, as protobuf's JSON mapping writes them
          expect(Buffer.from(a.json.bundle as string, "base64").length).toBe(a.json.size_bytes);
        },
      },
      GetBundleSources: {
        request: { revision: active },
        expect: (a) => {
          const got = a.json.files as { path: string; content: string }[];
          expect(got.map((f) => f.path)).toEqual(files.map((f) => f.path));
          const connection = got.find((f) => f.path === "connection.rego")!;
          expect(Buffer.from(connection.content, "base64").toString()).toMatch(
            /^package portcullis\.connection/m,
          );
        },
      },
      PublishBundle: {
        // the default policies, their bytes as base64: built through the whole gate, not activated
        request: { files, no_activate: true, note: "gateway test" },
        expect: (a) =>
          expect(a.json).toMatchObject({
            activated: false,
            bundle: {
              revision: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
              status: "ready",
              source: "publish",
              requested_by: "carol",
            },
          }),
      },
      ActivateBundle: {
        request: { revision: active, reason: "gateway test" },
        expect: (a) => expect(a.json).toMatchObject({ revision: active }),
      },
      SyncPolicies: {
        request: {},
        expect: (a) =>
          expect(a.json).toMatchObject({
            head: expect.stringMatching(/^[0-9a-f]{40}$/),
            active_revision: active,
          }),
      },
      GetFleetStatus: {
        request: { include_stale: true },
        expect: (a) => expect(a.json).toMatchObject({ active_revision: active, nats_connected: true }),
      },
      QueryDecisions: {
        request: { since: "1h", page_size: 10 },
        expect: (a) => expect(a.json).toMatchObject({ decisions: [], next_page_token: "" }),
      },
      ShadowReport: {
        request: { revision: active },
        expect: (a) => expect(a.json).toMatchObject({ revision: active, disagreements: 0 }),
      },
      ReplayDecisions: {
        request: { against: active, last: 10 },
        expect: (a) => expect(a.json).toMatchObject({ against: active, replayed: 0, allow_to_deny: 0 }),
      },
      Grant: {
        request: { subject: "gateway-test-subject", role: "app_rw", seconds: 600, reason: "gateway test" },
        expect: (a) => {
          expect(a.json).toMatchObject({
            grant: { subject: "gateway-test-subject", kind: "role", value: "app_rw", created_by: "carol" },
          });
          grantId = (a.json.grant as { id: string }).id;
        },
      },
      ListGrants: {
        request: {},
        expect: (a) =>
          expect((a.json.grants as { subject: string }[]).map((g) => g.subject)).toContain(
            "gateway-test-subject",
          ),
      },
      RevokeGrant: {
        get request() {
          return { id: grantId, reason: "gateway test" };
        },
        expect: (a) => expect(a.json).toMatchObject({ grant: { id: grantId, status: "revoked" } }),
      },
      RequestAccess: {
        request: { schema: "hr", seconds: 600, reason: "gateway test: carol's own" },
        expect: (a) => expect(a.json).toMatchObject({ subject: "carol", kind: "schema", status: "pending" }),
      },
      ListRequests: {
        request: { status: "pending" },
        expect: (a) =>
          expect((a.json.requests as { id: string }[]).map((r) => r.id)).toEqual(
            expect.arrayContaining(asked),
          ),
      },
      ApproveRequest: {
        request: { id: asked[0], note: "gateway test" },
        expect: (a) =>
          expect(a.json).toMatchObject({
            request: { id: asked[0], status: "approved", decided_by: "carol" },
            grant: { grant: { kind: "role", value: "app_rw" } },
          }),
      },
      DenyRequest: {
        request: { id: asked[1], note: "gateway test" },
        expect: (a) => expect(a.json).toMatchObject({ request: { id: asked[1], status: "denied" } }),
      },
    };
    for (const rpc of rpcs) {
      if (rpc === "WatchEvents") continue; // a stream: its own test below
      const c = cases[rpc];
      if (!c) throw new Error(`admin.proto has rpc ${rpc}: give it a case in this test`);
      const answer = await api(rpc, c.request);
      expect({ rpc, status: answer.status, text: answer.status === 200 ? "" : answer.text }).toEqual({
        rpc,
        status: 200,
        text: "",
      });
      expect(answer.headers["content-type"]).toMatch(/^application\/json/);
      c.expect(answer);
    }
    expect(Object.keys(cases).sort()).toEqual(rpcs.filter((r) => r !== "WatchEvents").sort());
    // an error the admin server gives (not the gateway) comes through with its status and message
    const missing = await api("GetBundle", { revision: "f".repeat(40) });
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ status: "NOT_FOUND", code: 5 });
    // nothing that is not an rpc
    const none = await api("DropEverything", {});
    expect(none.status).toBe(404);
    expect(none.json).toMatchObject({ status: "UNIMPLEMENTED", message: "no admin method DropEverything" });
  }, 120_000);

  it("refuses calls without a token, with a bad one, or from a non-admin, with a clear status", async () => {
    const anonymous = await api("ListSessions", {}, "");
    expect(anonymous.status).toBe(401);
    expect(anonymous.json).toMatchObject({
      status: "UNAUTHENTICATED",
      message: expect.stringMatching(/bearer token is required/),
    });
    const garbage = await api("ListBundles", {}, "not-a-token");
    expect(garbage.status).toBe(401);
    expect(garbage.json).toMatchObject({
      status: "UNAUTHENTICATED",
      message: expect.stringMatching(/token malformed/),
    });
    const basic = await send("/api/ListBundles", {
      body: "{}",
      headers: { authorization: "Basic Y2Fyb2w6eA==" },
    });
    expect(basic.status).toBe(401);
    expect(basic.json.message).toMatch(/Bearer <token>/);
    const otherAudience = await api(
      "ListBundles",
      {},
      await oidc.token(USERS.carol, { audience: "other-app" }),
    );
    expect(otherAudience.status).toBe(401);

    for (const [method, request] of [
      ["ListSessions", {}],
      ["RevokeSubject", { subject: "bob", no_wait: true }],
      ["ActivateBundle", { revision: cp.store.bundles.active()!.revision }],
      ["QueryDecisions", {}],
    ] as const) {
      const refused = await api(method, request, alice);
      expect({ method, status: refused.status, body: refused.json }).toMatchObject({
        method,
        status: 403,
        body: { status: "PERMISSION_DENIED", message: expect.stringMatching(/alice/) },
      });
    }
    // nothing was revoked by the refused call
    expect(
      cp.store.revocations.list({ includeExpired: true, limit: 1000 }).some((r) => r.value === "bob"),
    ).toBe(false);

    // the stream is refused before it opens: a plain JSON error, not an event stream
    for (const token of ["not-a-token", alice]) {
      const refused = await send("/api/WatchEvents", { body: "{}", token });
      expect(refused.status).toBe(token === alice ? 403 : 401);
      expect(refused.headers["content-type"]).toMatch(/^application\/json/);
    }
  });

  it("answers bad JSON, unknown or mistyped fields and oversized bodies with a clear 4xx, and keeps serving", async () => {
    const bad = async (
      body: string | Buffer | Buffer[],
      status: number,
      message: RegExp,
      method = "ListSessions",
    ) => {
      const answer = await send(`/api/${method}`, { body, token: carol });
      expect({ status: answer.status, message: answer.json.message }).toEqual({
        status,
        message: expect.stringMatching(message),
      });
      if (status === 400) expect(answer.json).toMatchObject({ status: "INVALID_ARGUMENT", code: 3 });
    };
    await bad("{not json", 400, /not JSON/);
    await bad('{"subject": "a"', 400, /not JSON/);
    await bad("[1, 2]", 400, /must be a JSON object/);
    await bad('"ListSessions"', 400, /must be a JSON object/);
    await bad("null", 400, /must be a JSON object/);
    await bad(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 400, /not UTF-8/);
    await bad(
      '{"subjct": "alice"}',
      400,
      /unknown field "subjct" in ListSessionsRequest \(its fields: subject, /,
    );
    await bad('{"dataPlaneId": "dp-1"}', 400, /unknown field "dataPlaneId"/);
    await bad('{"page_size": "many"}', 400, /page_size must be an integer/);
    await bad('{"page_size": 1.5}', 400, /page_size must be an integer/);
    await bad('{"page_size": 99999999999}', 400, /page_size must be an integer from/);
    await bad('{"subject": 7}', 400, /subject must be a string, not 7/);
    await bad('{"newest_first": "yes"}', 400, /newest_first must be true or false/);
    await bad('{"kinds": "session"}', 400, /kinds must be a JSON array/, "WatchEvents");
    await bad('{"kinds": [1]}', 400, /kinds\[0\] must be a string/, "WatchEvents");
    await bad(
      '{"files": [{"path": "a.rego", "content": "not base64!"}]}',
      400,
      /files\[0\]\.content must be base64/,
      "PublishBundle",
    );
    await bad(
      '{"files": [{"path": "a.rego", "mode": 420}]}',
      400,
      /unknown field "mode" in files\[0\]/,
      "PublishBundle",
    );
    await bad(`${"[".repeat(5000)}${"]".repeat(5000)}`, 400, /must be a JSON object/);
    await bad(
      `{"files": [${'{"path": "x"},'.repeat(3)}{"path": {"deep": {}}}]}`,
      400,
      /files\[3\]\.path must be a string/,
      "PublishBundle",
    );
    // the admin server's own checks still apply to well-formed requests
    await bad('{"page_size": -1}', 400, /page_size -1 is negative/);
    await bad('{"page_token": "forged"}', 400, /page_token is not one this server gave out/);

    // larger than the gateway takes (8 MiB): with a length, and streamed without one
    const big = Buffer.alloc(9 * 1024 * 1024, 0x20);
    await bad(big, 413, /larger than 8388608 bytes/, "PublishBundle");
    await bad(
      Array.from({ length: 9 }, () => Buffer.alloc(1024 * 1024, 0x20)),
      413,
      /larger than 8388608 bytes/,
      "PublishBundle",
    );

    const get = await send("/api/ListSessions", { method: "GET", token: carol });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");

    // still serving; null stands for a field's default
    const ok = await api("ListSessions", { subject: null, page_size: "3" });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ sessions: expect.any(Array) });
    expect((await send("/console-config.json", { method: "GET" })).json).toMatchObject({
      issuer: oidc.issuer,
    });
  }, 60_000);

  it("streams WatchEvents as Server-Sent Events", async () => {
    const stream = watch(["session", "revocation"], carol);
    try {
      await stream.opened;
      expect(stream.status()).toBe(200);
      expect(stream.contentType()).toMatch(/^text\/event-stream/);
      // a revocation through the gateway, and a session start as a data plane publishes it
      const revoked = await api("RevokeSubject", { subject: "streamed-subject", no_wait: true });
      expect(revoked.status).toBe(200);
      nc.publish(sessionSubject("started", "dp-stream"), encodeBusMessage(startedEvent(99_999, "dp-stream")));
      await eventually(
        () =>
          stream.events.some((e) => e.type === "revocation.created" && e.json.includes("streamed-subject")) &&
          stream.events.some((e) => e.type === "session.started" && e.json.includes("seed-99999")),
        "the revocation and the session start on the event stream",
      );
      expect(stream.events.every((e) => e.kind === "session" || e.kind === "revocation")).toBe(true);
      const started = stream.events.find((e) => e.type === "session.started")!;
      expect(JSON.parse(started.json)).toMatchObject({
        session_id: "seed-99999",
        data_plane_id: "dp-stream",
      });
    } finally {
      stream.close();
    }
    const unknownKind = await api("WatchEvents", { kinds: ["gossip"] });
    expect(unknownKind.status).toBe(400);
    expect(unknownKind.json.message).toMatch(/unknown event kind gossip/);
  }, 60_000);

  it("pages 2,500 live sessions, seeded as data planes publish them, without a repeat or a gap", async () => {
    const planes = ["dp-seed-eu", "dp-seed-us"];
    for (let i = 0; i < 2_500; i++) {
      const plane = planes[i % 2]!;
      nc.publish(sessionSubject("started", plane), encodeBusMessage(startedEvent(i, plane)));
    }
    await nc.flush();
    const seeded = async (): Promise<number> =>
      (await api("ListSessions", { search: "seed-0", page_size: 1 })).json.total_size as number;
    await eventually(async () => (await seeded()) === 2_500, "the control plane to know the 2,500 sessions");

    const pageAll = async (request: Record<string, unknown>) => {
      const ids: string[] = [];
      let token = "";
      let pages = 0;
      do {
        const answer = await api("ListSessions", { ...request, page_token: token });
        expect(answer.status).toBe(200);
        const page = answer.json as {
          sessions: { id: string; started_at: string }[];
          next_page_token: string;
          total_size: number;
        };
        expect(page.sessions.length).toBeLessThanOrEqual(Math.min(1000, Number(request.page_size ?? 100)));
        ids.push(...page.sessions.map((s) => s.id));
        token = page.next_page_token;
        pages++;
      } while (token);
      return { ids, pages };
    };
    const expected = Array.from({ length: 2_500 }, (_, i) => `seed-${String(i).padStart(5, "0")}`);
    // the default page (100), oldest first: every session once, in order
    const oldest = await pageAll({ search: "seed-0" });
    expect(oldest.pages).toBe(25);
    expect(oldest.ids).toEqual(expected);
    // a page size above the maximum is read as 1000; newest first
    const newest = await pageAll({ search: "seed-0", page_size: 5000, newest_first: true });
    expect(newest.pages).toBe(3);
    expect(newest.ids).toEqual([...expected].reverse());
    // a filter pages too
    const eu = await pageAll({ data_plane_id: "dp-seed-eu", page_size: 333 });
    expect(eu.ids).toEqual(expected.filter((_, i) => i % 2 === 0));

    // sessions ending and starting between pages: the others still come once each
    const ended = new Set<string>();
    const ids: string[] = [];
    let token = "";
    let n = 0;
    do {
      const page = (await api("ListSessions", { search: "seed-0", page_size: 250, page_token: token }))
        .json as {
        sessions: { id: string }[];
        next_page_token: string;
      };
      ids.push(...page.sessions.map((s) => s.id));
      token = page.next_page_token;
      // end one already seen and one not yet seen, as their data planes would report it
      for (const i of [n * 250, 2_499 - n * 7]) {
        const id = expected[i]!;
        if (ended.has(id)) continue;
        ended.add(id);
        nc.publish(
          sessionSubject("ended", planes[i % 2]!),
          encodeBusMessage({
            session_id: id,
            data_plane_id: planes[i % 2]!,
            reason: "test",
            statements: 0,
            denied: 0,
            at: new Date().toISOString(),
          }),
        );
      }
      await nc.flush();
      await eventually(
        async () => (await seeded()) === 2_500 - ended.size,
        "the control plane to drop the ended sessions",
      );
      n++;
    } while (token);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of expected) if (!ended.has(id)) expect(ids).toContain(id);

    // the CLI pages through them as well: `portcullis admin sessions -n 0 --json`, and -n 1500
    const cli = async (...args: string[]): Promise<string> => {
      const lines: string[] = [];
      const program = new Command().exitOverride();
      registerAdminCommands(program, { out: (text) => lines.push(text) });
      await program.parseAsync(
        [
          "admin",
          "sessions",
          ...args,
          "--server",
          cp.admin.address,
          "--ca",
          cp.adminTls.certFile!,
          "--token",
          carol,
        ],
        { from: "user" },
      );
      return lines.join("\n");
    };
    const printed = JSON.parse(await cli("--search", "seed-0", "-n", "0", "--json")) as {
      sessions: { id: string }[];
      total_size: number;
    };
    expect(printed.sessions.map((s) => s.id)).toEqual(expected.filter((id) => !ended.has(id)));
    const table = (await cli("--search", "seed-0", "-n", "1500", "--page-size", "400")).split("\n");
    expect(table[0]).toMatch(/^SESSION +SUBJECT +ROLE/);
    expect(table).toHaveLength(1 + 1_500 + 1);
    expect(table.at(-1)).toBe(`(${2_500 - ended.size - 1_500} more: raise --limit, or 0 for all)`);
    const client = createAdminClient(cp.admin.address, {
      credentials: grpc.credentials.createSsl(Buffer.from(ca)),
      bearerToken: carol,
    });
    try {
      const all = await listAllSessions(client, { search: "seed-0", page_size: 1000 }, 0);
      expect(all.sessions.map((s) => s.id)).toEqual(expected.filter((id) => !ended.has(id)));
      expect(all.total_size).toBe(2_500 - ended.size);
      const some = await listAllSessions(client, { search: "seed-0", page_size: 1000 }, 1_500);
      expect(some.sessions).toHaveLength(1_500);
    } finally {
      client.close();
    }
  }, 120_000);
});
