import { describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import { encodeBusMessage, type SessionEnded, type SessionStarted } from "../../proto/bus.js";
import { EventHub } from "../events/event-hub.js";
import { ControlPlaneStore } from "../store/index.js";
import { SessionView } from "./session-view.js";

function started(id: string, dataPlane: string, subject: string, at: string): SessionStarted {
  return {
    session_id: id,
    data_plane_id: dataPlane,
    region: dataPlane === "dp-1" ? "eu" : "us",
    subject,
    issuer: "https://idp",
    jti: `jti-${id}`,
    db_role: "analyst",
    database: "app",
    client_addr: "10.0.0.1",
    application_name: "psql",
    revision: "r1",
    at,
    claims_digest: "a".repeat(64),
    token_expires_at: at,
  };
}

describe("the session view", () => {
  it("follows starts, ends and heartbeats, drops silent data planes, and survives a restart", () => {
    const store = ControlPlaneStore.open(":memory:");
    let now = Date.parse("2030-01-01T00:00:00Z");
    const view = new SessionView({
      repository: store.sessions,
      heartbeatTimeoutMs: 30_000,
      logger: silentLogger,
      now: () => now,
    });
    const at = new Date(now).toISOString();
    view.handle("portcullis.sessions.started.dp-1", encodeBusMessage(started("s1", "dp-1", "alice", at)));
    view.handle("portcullis.sessions.started.dp-1", encodeBusMessage(started("s2", "dp-1", "bob", at)));
    view.handle("portcullis.sessions.started.dp-2", encodeBusMessage(started("s3", "dp-2", "alice", at)));
    view.handle("portcullis.sessions.started.dp-2", new TextEncoder().encode("{not json"));
    view.handle("portcullis.sessions.resync", new Uint8Array());
    expect(view.list().map((s) => s.id)).toEqual(["s1", "s2", "s3"]);
    expect(view.list({ subject: "alice", region: "us" }).map((s) => s.id)).toEqual(["s3"]);
    expect(view.list({ dataPlaneId: "dp-1" }).map((s) => s.id)).toEqual(["s1", "s2"]);

    view.handle(
      "portcullis.sessions.ended.dp-1",
      encodeBusMessage({
        session_id: "s2",
        data_plane_id: "dp-1",
        reason: "client",
        statements: 4,
        denied: 1,
        at,
      }),
    );
    // a heartbeat that no longer lists s1: its end may still be on its way (the grace)
    now += 1_000;
    view.heartbeat({ data_plane_id: "dp-1", session_ids: [], at: new Date(now).toISOString() });
    expect(view.list().map((s) => s.id)).toEqual(["s1", "s3"]);
    // still missing after the grace: its end was missed
    now += 10_000;
    view.heartbeat({ data_plane_id: "dp-1", session_ids: [], at: new Date(now).toISOString() });
    expect(view.list().map((s) => s.id)).toEqual(["s3"]);
    view.flush();
    expect(store.sessions.get("s2")).toMatchObject({ endReason: "client", statements: 4, denied: 1 });
    expect(store.sessions.get("s1")).toMatchObject({ endReason: "missing" });
    expect(store.sessions.get("s3")).toMatchObject({ jti: "jti-s3", claimsDigest: "a".repeat(64) });

    // a restarted control plane shows what it knew until the data planes speak
    const restarted = new SessionView({
      repository: store.sessions,
      heartbeatTimeoutMs: 30_000,
      logger: silentLogger,
      now: () => now,
    });
    expect(restarted.list().map((s) => s.id)).toEqual(["s3"]);
    // dp-2 says nothing for longer than the timeout
    now += 31_000;
    expect(restarted.sweep()).toBe(1);
    expect(restarted.list()).toEqual([]);
    restarted.flush();
    expect(store.sessions.get("s3")).toMatchObject({ endReason: "data plane lost" });
    store.close();
  });
});

function ended(id: string, dataPlane: string, at: string, statements = 3): SessionEnded {
  return { session_id: id, data_plane_id: dataPlane, reason: "client", statements, denied: 1, at };
}

describe("session events delivered again, late or out of order", () => {
  const setup = () => {
    const store = ControlPlaneStore.open(":memory:");
    let now = Date.parse("2030-01-01T00:00:00Z");
    const events = new EventHub({ store, logger: silentLogger });
    const seen: string[] = [];
    events.subscribe(["session"], (e) => {
      const payload = e.payload as { session_id: string; reason?: string };
      seen.push(`${e.type} ${payload.session_id}${payload.reason ? ` ${payload.reason}` : ""}`);
    });
    const make = () =>
      new SessionView({
        repository: store.sessions,
        heartbeatTimeoutMs: 30_000,
        missingGraceMs: 5_000,
        logger: silentLogger,
        events,
        now: () => now,
      });
    return {
      store,
      seen,
      make,
      advance: (ms: number) => (now += ms),
      iso: () => new Date(now).toISOString(),
    };
  };

  it("stores a redelivered start and end once, and reports each once", () => {
    const { store, seen, make, iso } = setup();
    const view = make();
    const s = started("s1", "dp-1", "alice", iso());
    const e = ended("s1", "dp-1", iso(), 7);
    view.started(s);
    view.ended(e);
    view.commit();
    view.started(s);
    view.ended({ ...e, statements: 99 });
    view.commit();
    expect(view.list()).toEqual([]);
    expect(store.sessions.get("s1")).toMatchObject({ subject: "alice", endReason: "client", statements: 7 });
    expect(seen).toEqual(["session.started s1", "session.ended s1 client"]);
    // a restarted control plane redelivered everything
    const again = make();
    again.started(s);
    again.ended(e);
    again.commit();
    expect(again.list()).toEqual([]);
    expect(seen).toHaveLength(2);
    store.close();
  });

  it("keeps an end that arrives before its start, and the start completes it", () => {
    const { store, seen, make, iso } = setup();
    const view = make();
    const at = iso();
    view.ended(ended("s1", "dp-1", at));
    view.commit();
    expect(store.sessions.get("s1")).toMatchObject({ endedAt: at, endReason: "client", statements: 3 });
    expect(store.sessions.live()).toEqual([]);
    view.started(started("s1", "dp-1", "alice", at));
    view.commit();
    expect(view.list()).toEqual([]);
    expect(store.sessions.get("s1")).toMatchObject({ subject: "alice", jti: "jti-s1", endReason: "client" });
    // the same in a later process, whose memory does not hold the end
    make().started(started("s1", "dp-1", "alice", at));
    expect(store.sessions.live()).toEqual([]);
    expect(seen).toEqual([]);
    store.close();
  });

  it("reports a session missing from heartbeats ended once, and takes its real end after the grace", () => {
    const { store, seen, make, advance, iso } = setup();
    const view = make();
    view.started(started("s1", "dp-1", "alice", iso()));
    view.started(started("s2", "dp-1", "bob", iso()));
    const realEnd = ended("s1", "dp-1", iso(), 5);
    // the heartbeat (core NATS) overtakes s1's end (the stream)
    advance(100);
    view.heartbeat({ data_plane_id: "dp-1", session_ids: ["s2"], at: iso() });
    view.ended(realEnd);
    // s2's end is lost: inferred after the grace; then it arrives after all
    advance(1_000);
    view.heartbeat({ data_plane_id: "dp-1", session_ids: [], at: iso() });
    advance(5_000);
    view.heartbeat({ data_plane_id: "dp-1", session_ids: [], at: iso() });
    view.commit();
    expect(store.sessions.get("s2")).toMatchObject({ endReason: "missing" });
    view.ended(ended("s2", "dp-1", iso(), 9));
    view.commit();
    expect(seen).toEqual([
      "session.started s1",
      "session.started s2",
      "session.ended s1 client",
      "session.ended s2 not in the data plane's heartbeat",
    ]);
    expect(store.sessions.get("s1")).toMatchObject({ endReason: "client", statements: 5 });
    expect(store.sessions.get("s2")).toMatchObject({ endReason: "client", statements: 9 });
    store.close();
  });
});

describe("paging the session view", () => {
  const view = (): SessionView => {
    const store = ControlPlaneStore.open(":memory:");
    const v = new SessionView({
      repository: store.sessions,
      heartbeatTimeoutMs: 30_000,
      logger: silentLogger,
    });
    const base = Date.parse("2030-01-01T00:00:00Z");
    // 2,500 sessions, many sharing a start time (the id breaks the tie)
    for (let i = 0; i < 2_500; i++) {
      const at = new Date(base + Math.floor(i / 7) * 1000).toISOString();
      v.started(
        started(`s${String(i).padStart(4, "0")}`, i % 3 === 0 ? "dp-1" : "dp-2", `user${i % 50}`, at),
      );
    }
    return v;
  };

  const pageAll = (v: SessionView, pageSize: number, newestFirst: boolean, between?: (n: number) => void) => {
    const seen: string[] = [];
    let after: { startedAt: string; id: string } | undefined;
    for (let n = 0; ; n++) {
      const page = v.page({}, { pageSize, newestFirst, ...(after ? { after } : {}) });
      expect(page.sessions.length).toBeLessThanOrEqual(pageSize);
      seen.push(...page.sessions.map((s) => s.id));
      if (!page.next) return seen;
      after = page.next;
      between?.(n);
    }
  };

  it("pages 2,500 sessions in both orders without repeats or gaps", () => {
    const v = view();
    const oldest = pageAll(v, 100, false);
    expect(oldest).toHaveLength(2_500);
    expect(new Set(oldest).size).toBe(2_500);
    expect(oldest).toEqual([...oldest].sort());
    const newest = pageAll(v, 1000, true);
    expect(newest).toEqual([...oldest].reverse());
    expect(v.page({}, { pageSize: 10 }).total).toBe(2_500);
    expect(v.page({ dataPlaneId: "dp-1" }, { pageSize: 10 }).total).toBe(834);
    expect(
      v.page({ search: "USER7" }, { pageSize: 1000 }).sessions.every((s) => s.subject.startsWith("user7")),
    ).toBe(true);
  });

  it("keeps every session live throughout on exactly one page while others end and start", () => {
    const v = view();
    const ended = new Set<string>();
    let extra = 0;
    const seen = pageAll(v, 100, false, (n) => {
      // between pages: end sessions on both sides of the cursor and start new ones
      for (const i of [n * 97, n * 97 + 1, 2_499 - n * 13]) {
        const id = `s${String(i).padStart(4, "0")}`;
        if (!ended.has(id) && v.get(id)) {
          v.ended({
            session_id: id,
            data_plane_id: v.get(id)!.dataPlaneId,
            reason: "t",
            statements: 0,
            denied: 0,
            at: "2030-01-02T00:00:00.000Z",
          });
          ended.add(id);
        }
      }
      v.started(started(`new${extra++}`, "dp-1", "late", "2031-01-01T00:00:00.000Z"));
    });
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = 0; i < 2_500; i++) {
      const id = `s${String(i).padStart(4, "0")}`;
      if (!ended.has(id)) expect(seen).toContain(id);
    }
    // sessions that started meanwhile sort after every earlier one: they come on the last pages
    expect(seen.filter((id) => id.startsWith("new")).length).toBeGreaterThan(0);
  });
});
