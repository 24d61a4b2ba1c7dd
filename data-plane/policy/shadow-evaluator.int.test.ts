/**
 * The shadow evaluator with the default policies built by the real opa: every decision is published
 * exactly once, after the active decision; a disagreement is put on the record; a full queue drops
 * the shadow evaluation (counted), never the record.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBundlePublicKeys, verifyBundle } from "../../common/policy/bundle-verify.js";
import { PolicyRuntime } from "../../common/policy/runtime.js";
import { projectRoot } from "../../common/toolchain.js";
import { readBundle } from "../../proto/bundle-file.js";
import type { QueryDecision, QueryInput } from "../../proto/policy.js";
import { buildBundle } from "../../test/harness/proxy-stack.js";
import { ShadowEvaluator, type ShadowSubject } from "./shadow-evaluator.js";

let dir: string;
let runtime: PolicyRuntime;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-shadow-eval-"));
  const built = await buildBundle(join(projectRoot(), "policies"), dir);
  const verified = await verifyBundle(
    await readBundle(built.path),
    await loadBundlePublicKeys(built.publicKeyFile),
  );
  runtime = await PolicyRuntime.load(verified);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const input = (schema: string, name: string): QueryInput => ({
  session: {
    id: "s-1",
    subject: "alice",
    claims: {
      iss: "https://issuer.test",
      sub: "alice",
      aud: "portcullis",
      exp: 4_000_000_000,
      groups: ["analysts"],
    },
    db_role: "analyst",
    database: "app",
    region: "eu",
  },
  protocol: "simple",
  statement: {
    kind: "select",
    command: "SelectStmt",
    text: `SELECT * FROM ${schema}.${name}`,
    fingerprint: "0",
    functions: [],
    relations: [{ schema, name, access: "read", resolved: true }],
  },
  statement_index: 0,
  statement_count: 1,
  now_ns: Date.now() * 1_000_000,
});

describe("shadow evaluation", () => {
  it("publishes each decision once, after it, with the shadow's verdict where it disagrees", async () => {
    const changes: string[] = [];
    const shadow = new ShadowEvaluator({
      onDisagreement: (kind, change) => changes.push(`${kind}:${change}`),
    });
    shadow.set(runtime);
    const orders = input("sales", "orders");
    const allowed = runtime.evaluateQuery(orders);
    expect(allowed.allow).toBe(true);
    // an enforced denial the shadow (the default policy) would allow
    const events: ShadowSubject<QueryDecision>[] = [
      { decision: allowed },
      { decision: { allow: false, reasons: ["closed by the active revision"] } },
    ];
    const published: number[] = [];
    for (const [i, event] of events.entries()) shadow.statement(orders, event, () => published.push(i));
    expect(published).toEqual([]); // not on the decision's own turn
    await shadow.drained();
    expect(published).toEqual([0, 1]);
    expect(events[0]!.shadow).toBeUndefined();
    expect(events[1]!.shadow).toMatchObject({ revision: runtime.revision, allow: true });
    expect(changes).toEqual(["query:deny_to_allow"]);
    expect(shadow.stats).toMatchObject({ evaluated: 2, disagreements: 1, dropped: 0, queued: 0 });
  });

  it("drops the shadow evaluation, never the record, when its queue is full", async () => {
    let dropped = 0;
    const shadow = new ShadowEvaluator({ maxQueue: 1, onDropped: () => dropped++ });
    shadow.set(runtime);
    const published: number[] = [];
    const orders = input("sales", "orders");
    for (let i = 0; i < 3; i++)
      shadow.statement(orders, { decision: { allow: false, reasons: [] } }, () => published.push(i));
    expect(published).toEqual([1, 2]); // over the bound: published at once, without a verdict
    await shadow.drained();
    expect(published).toEqual([1, 2, 0]);
    expect(dropped).toBe(2);
    expect(shadow.stats).toMatchObject({ evaluated: 1, dropped: 2 });
  });

  it("yields to the event loop once a turn has used its time, whatever the chunk", async () => {
    // a budget of 0: every evaluation uses it up, so each turn evaluates exactly one decision
    const shadow = new ShadowEvaluator({ chunk: 64, turnBudgetMs: 0 });
    shadow.set(runtime);
    const orders = input("sales", "orders");
    const published: number[] = [];
    for (let i = 0; i < 3; i++)
      shadow.statement(orders, { decision: { allow: true, reasons: [] } }, () => published.push(i));
    // queued behind the shadow's first turn: runs right after it, before its next
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(published).toEqual([0]);
    expect(shadow.stats).toMatchObject({ evaluated: 1, queued: 2 });
    await shadow.drained();
    expect(published).toEqual([0, 1, 2]);
  });

  it("publishes at once when no shadow is set or the policy was not asked", () => {
    const shadow = new ShadowEvaluator();
    const published: string[] = [];
    shadow.statement(input("sales", "orders"), { decision: { allow: true, reasons: [] } }, () =>
      published.push("a"),
    );
    shadow.set(runtime);
    shadow.statement(undefined, { decision: { allow: false, reasons: ["invariant"] } }, () =>
      published.push("b"),
    );
    expect(published).toEqual(["a", "b"]);
  });
});
