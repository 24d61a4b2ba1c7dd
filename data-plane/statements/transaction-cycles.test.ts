import { serialize } from "pg-protocol";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../common/logger.js";
import type { StatementInfo } from "../../proto/policy.js";
import { BackendCode } from "../protocol/codes.js";
import { FrontendFramer, type FrontendMessage } from "../protocol/frontend-messages.js";
import { Catalog } from "./catalog.js";
import { parseSearchPath, SearchPath } from "./search-path.js";
import { NO_EFFECT, type Prepared } from "./session-state.js";
import { TransactionCycles } from "./transaction-cycles.js";

// The cycle bookkeeping alone, driven by client messages as bytes and by the upstream's answers by type.

function message(bytes: Buffer): FrontendMessage {
  const framer = new FrontendFramer();
  framer.push(bytes);
  return framer.next()!;
}

const SELECT = message(serialize.query("SELECT 1"));
const WITH_BACKSLASH = message(serialize.query("SELECT E'\\\\'"));

function statement(kind: StatementInfo["kind"], command: string, text = ""): StatementInfo {
  return { kind, command, relations: [], functions: [], text, fingerprint: "" };
}

function prepared(text: string): Prepared {
  const info = statement("select", "SelectStmt", text);
  return { raw: info, info, masks: [], pathKey: "", catalog: undefined, policyGeneration: 0 };
}

function cycles(): TransactionCycles {
  const catalog = new Catalog({
    host: "127.0.0.1",
    port: 1,
    ssl: false,
    ttlMs: 60_000,
    logger: createLogger("catalog", { level: "silent" }),
  });
  return new TransactionCycles(new SearchPath(parseSearchPath('"$user", public'), "alice"), catalog, "app");
}

describe("TransactionCycles: what one session has in flight and what the upstream confirmed", () => {
  it("applies a Parse's effect to the confirmed state at its ParseComplete, not before", () => {
    const t = cycles();
    const cycle = t.begin("extended");
    const s1 = prepared("SELECT 1");
    t.spec.prepared.set("s1", s1);
    cycle.parses.push((state) => state.prepared.set("s1", s1));
    expect(t.confirmed.prepared.has("s1")).toBe(false);
    t.observe(BackendCode.ParseComplete);
    expect(t.confirmed.prepared.get("s1")).toBe(s1);
  });

  it("voids the rest of a cycle at an ErrorResponse: later completions change nothing", () => {
    const t = cycles();
    const cycle = t.begin("query");
    cycle.completions.push((state) => state.prepared.set("a", prepared("SELECT 'a'")));
    cycle.completions.push((state) => state.prepared.set("b", prepared("SELECT 'b'")));
    t.observe(BackendCode.CommandComplete);
    t.observe(BackendCode.ErrorResponse);
    t.observe(BackendCode.CommandComplete);
    expect([...t.confirmed.prepared.keys()]).toEqual(["a"]);
  });

  it("restarts the speculation from the confirmed state once nothing is in flight", () => {
    const t = cycles();
    t.begin("extended");
    t.spec.prepared.set("never-confirmed", prepared("SELECT 2"));
    t.readyForQuery("I");
    expect(t.inFlight).toHaveLength(0);
    expect(t.spec.prepared.has("never-confirmed")).toBe(false);
  });

  it("lets a new cycle go at once behind an untracked one, and makes it wait behind a tracked one", async () => {
    const t = cycles();
    expect(t.mustWait(SELECT)).toBe(false);
    const first = t.begin("query");
    expect(t.mustWait(SELECT)).toBe(false);
    first.tracked = true;
    expect(t.mustWait(SELECT)).toBe(true);
    let woken = false;
    const waiting = t.whenAnswered().then(() => {
      woken = true;
    });
    await Promise.resolve();
    expect(woken).toBe(false);
    t.readyForQuery("I");
    await waiting;
    expect(woken).toBe(true);
    expect(t.mustWait(SELECT)).toBe(false);
  });

  it("makes a text with a backslash wait behind any cycle in flight (its reading may depend on it)", () => {
    const t = cycles();
    expect(t.mustWait(WITH_BACKSLASH)).toBe(false);
    t.begin("query");
    expect(t.mustWait(WITH_BACKSLASH)).toBe(true);
    expect(t.mustWait(SELECT)).toBe(false);
  });

  it("ends the portals bound up to a cycle when its transaction ends, and keeps them inside a block", () => {
    const t = cycles();
    const first = t.begin("extended");
    t.portals.set("p1", {
      cycle: first.seq,
      info: statement("select", "SelectStmt"),
      masks: [],
      effect: NO_EFFECT,
      policyGeneration: 0,
    });
    t.open = undefined;
    const second = t.begin("extended");
    t.portals.set("p2", {
      cycle: second.seq,
      info: statement("select", "SelectStmt"),
      masks: [],
      effect: NO_EFFECT,
      policyGeneration: 0,
    });
    t.readyForQuery("T");
    expect([...t.portals.keys()]).toEqual(["p1", "p2"]);
    t.begin("query");
    t.readyForQuery("I"); // the second cycle ends the transaction
    expect([...t.portals.keys()]).toEqual([]);
  });

  it("forgets every portal after a statement that shares their namespace (DECLARE, CLOSE, DISCARD)", () => {
    const t = cycles();
    const cycle = t.begin("extended");
    t.portals.set("p", {
      cycle: cycle.seq,
      info: statement("select", "SelectStmt"),
      masks: [],
      effect: NO_EFFECT,
      policyGeneration: 0,
    });
    t.executed(statement("select", "SelectStmt"));
    expect(t.portals.size).toBe(1);
    t.executed(statement("utility", "DeclareCursorStmt"));
    expect(t.portals.size).toBe(0);
  });

  it("tells the proxy's own Describe answers from the client's, in order", () => {
    const t = cycles();
    const cycle = t.begin("extended");
    cycle.describes++; // the client's
    cycle.ours.push(cycle.describes++); // the proxy's own, before an Execute
    t.ourDescribes++;
    expect(t.describeAnswered(cycle)).toBe(false);
    expect(t.describeAnswered(cycle)).toBe(true);
    expect(t.ourDescribes).toBe(0);
  });

  it("counts the proxy's own Describes an ErrorResponse left unanswered as done", () => {
    const t = cycles();
    const cycle = t.begin("extended");
    cycle.ours.push(cycle.describes++);
    t.ourDescribes++;
    t.observe(BackendCode.ErrorResponse);
    expect(t.ourDescribes).toBe(0);
    expect(t.describeAnswered(cycle)).toBe(false);
  });

  it("leaves unqualified names unresolved after DDL until its transaction ends", () => {
    const t = cycles();
    const cycle = t.begin("query");
    t.ddlSent(cycle);
    expect(cycle.tracked).toBe(true);
    expect(t.spec.schemas()).toBeNull();
    t.readyForQuery("I");
    expect(t.confirmed.ddl).toBe(false);
    expect(t.spec.schemas()).not.toBeNull();
  });
});
