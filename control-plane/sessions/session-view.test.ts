import { describe, expect, it } from "vitest";
import { silentLogger } from "../../common/logger.js";
import { encodeBusMessage, type SessionStarted } from "../../proto/bus.js";
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
    // a heartbeat that no longer lists s1: its end was missed
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
