import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DecisionRecordMessage } from "../../proto/bus.js";
import { ControlPlaneStore } from "../store/index.js";
import { DecisionQueryError, decodePageToken, parseTimeBound, queryDecisions } from "./query.js";

const NOW = Date.parse("2026-03-10T12:00:00Z");

function record(overrides: Partial<DecisionRecordMessage> = {}): DecisionRecordMessage {
  return {
    id: randomUUID(),
    at: new Date(NOW - 60_000).toISOString(),
    kind: "query",
    data_plane_id: "dp-eu-1",
    region: "eu",
    session_id: "s-1",
    subject: "alice",
    issuer: "https://issuer.example",
    db_role: "analyst",
    database: "app",
    revision: "rev-1",
    allow: true,
    reasons: [],
    eval_micros: 12.5,
    cached: false,
    protocol: "simple",
    statement_kind: "select",
    statement_command: "SelectStmt",
    relations: [{ schema: "sales", name: "orders", access: "read" }],
    sql: "SELECT * FROM sales.orders WHERE id = $1",
    fingerprint: "abc",
    client_addr: "",
    application_name: "",
    ...overrides,
  };
}

let store: ControlPlaneStore;
beforeEach(() => {
  store = ControlPlaneStore.open(":memory:");
});
afterEach(() => store.close());

describe("decision store and QueryDecisions", () => {
  it("stores a record once however often it is delivered", () => {
    const r = record();
    expect(store.decisions.insertMany([{ record: r, streamSeq: 1 }])).toBe(1);
    expect(store.decisions.insertMany([{ record: r, streamSeq: 2 }])).toBe(0);
    expect(store.decisions.count()).toBe(1);
    const [d] = queryDecisions(store.decisions, {}, NOW).decisions;
    expect(d).toMatchObject({
      id: r.id,
      result: "allowed",
      subject: "alice",
      statement_text: "SELECT * FROM sales.orders WHERE id = $1",
      relations: ["sales.orders:read"],
      eval_micros: 12.5,
      data_plane_id: "dp-eu-1",
      region: "eu",
    });
  });

  it("filters by subject, result, relation, data plane, kind and time", () => {
    store.decisions.insertMany(
      [
        record({ subject: "alice" }),
        record({ subject: "bob", allow: false, reasons: ["role analyst may not write sales.orders"] }),
        record({
          subject: "bob",
          relations: [{ schema: "hr", name: "employees", access: "read" }],
          data_plane_id: "dp-us-1",
        }),
        record({ subject: "carol", kind: "connection", relations: [], sql: "", statement_kind: "" }),
        record({ subject: "alice", at: new Date(NOW - 3 * 3600_000).toISOString() }),
        record({ subject: "dave", relations: [{ schema: null, name: "orders", access: "read" }] }),
      ].map((r) => ({ record: r })),
    );
    const subjects = (req: Parameters<typeof queryDecisions>[1]) =>
      queryDecisions(store.decisions, req, NOW)
        .decisions.map((d) => d.subject)
        .sort();
    expect(subjects({ subject: "alice" })).toEqual(["alice", "alice"]);
    expect(subjects({ subject: "alice", since: "1h" })).toEqual(["alice"]);
    expect(subjects({ until: "2h" })).toEqual(["alice"]);
    expect(subjects({ result: "denied" })).toEqual(["bob"]);
    expect(subjects({ denied_only: true })).toEqual(["bob"]);
    expect(subjects({ relation: "hr.employees" })).toEqual(["bob"]);
    expect(subjects({ relation: "sales.orders", since: "1h" })).toEqual(["alice", "bob"]);
    expect(subjects({ relation: "orders", since: "1h" })).toEqual(["alice", "bob", "dave"]);
    expect(subjects({ data_plane_id: "dp-us-1" })).toEqual(["bob"]);
    expect(subjects({ kind: "connection" })).toEqual(["carol"]);
    expect(subjects({ since: new Date(NOW - 2 * 3600_000).toISOString() })).toHaveLength(5);
  });

  it("pages newest first, every decision exactly once", () => {
    const all = Array.from({ length: 23 }, (_, i) =>
      // several decisions share a millisecond: the row id breaks the tie
      record({ at: new Date(NOW - 1000 * Math.floor(i / 3)).toISOString() }),
    );
    store.decisions.insertMany(all.map((r) => ({ record: r })));
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = queryDecisions(store.decisions, { limit: 5, page_token: token }, NOW);
      seen.push(...page.decisions.map((d) => d.id));
      const times = page.decisions.map((d) => d.at);
      expect([...times].sort().reverse()).toEqual(times);
      token = page.next_page_token;
      pages++;
    } while (token);
    expect(pages).toBe(5);
    expect(new Set(seen).size).toBe(23);
    expect(seen.sort()).toEqual(all.map((r) => r.id).sort());
    // page_size is the name of the page's size; limit the older one, read when page_size is not given
    expect(queryDecisions(store.decisions, { page_size: 7 }, NOW).decisions).toHaveLength(7);
    expect(queryDecisions(store.decisions, { page_size: 7, limit: 2 }, NOW).decisions).toHaveLength(7);
    expect(queryDecisions(store.decisions, {}, NOW).decisions).toHaveLength(23);
  });

  it("prunes decisions older than the cutoff with their relations", () => {
    store.decisions.insertMany([
      { record: record({ at: new Date(NOW - 40 * 86_400_000).toISOString() }) },
      { record: record({ at: new Date(NOW - 86_400_000).toISOString() }) },
    ]);
    expect(store.decisions.pruneBefore(new Date(NOW - 30 * 86_400_000).toISOString())).toBe(1);
    expect(store.decisions.count()).toBe(1);
    const orphans = store.db
      .prepare(
        "SELECT count(*) AS n FROM decision_relations WHERE decision_id NOT IN (SELECT id FROM decisions)",
      )
      .get() as { n: number };
    expect(orphans.n).toBe(0);
  });

  it("refuses requests it cannot answer as asked, saying why", () => {
    const bad = (req: Parameters<typeof queryDecisions>[1]) => () =>
      queryDecisions(store.decisions, req, NOW);
    expect(bad({ since: "yesterday" })).toThrow(/neither an RFC 3339 time .* nor a duration back from now/);
    expect(bad({ result: "maybe" })).toThrow(DecisionQueryError);
    expect(bad({ kind: "admin" })).toThrow(/not connection or query/);
    expect(bad({ relation: ".orders" })).toThrow(/schema.name/);
    expect(bad({ since: "1h", until: "2h" })).toThrow(/not before until/);
    expect(bad({ page_token: "garbage" })).toThrow(/page_token/);
    expect(bad({ limit: -1 })).toThrow(/negative/);
  });

  it("reads times as RFC 3339 or as durations back from now", () => {
    expect(parseTimeBound("1h", "since", NOW)).toBe("2026-03-10T11:00:00.000Z");
    expect(parseTimeBound("1h30m", "since", NOW)).toBe("2026-03-10T10:30:00.000Z");
    expect(parseTimeBound("7d", "since", NOW)).toBe("2026-03-03T12:00:00.000Z");
    expect(parseTimeBound("2026-03-01T10:00:00+02:00", "since", NOW)).toBe("2026-03-01T08:00:00.000Z");
    expect(parseTimeBound("2026-03-01", "since", NOW)).toBe("2026-03-01T00:00:00.000Z");
    expect(() => decodePageToken(Buffer.from('["x",1]').toString("base64url"))).toThrow(DecisionQueryError);
  });
});
