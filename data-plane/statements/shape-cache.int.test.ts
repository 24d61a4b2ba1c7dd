import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import type { DecisionRecord } from "./statement-gate.js";

describe("decisions by statement shape (cacheable_by_shape)", () => {
  let stack: ProxyStack;
  const records: DecisionRecord[] = [];
  beforeAll(async () => {
    stack = await startProxyStack({ start: { onDecision: (r) => records.push(r) } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** Runs simple-protocol queries (pg without parameters) and returns the decision records they made. */
  async function decide(user: keyof typeof USERS, sqls: string[]) {
    const client = await stack.client(await stack.token(USERS[user]));
    const outcomes: (string | undefined)[] = [];
    const first = records.length;
    for (const sql of sqls) {
      outcomes.push(
        await client.query(sql).then(
          () => undefined,
          (e: { code?: string }) => e.code,
        ),
      );
    }
    await client.end();
    return { outcomes, records: records.slice(first).filter((r) => r.protocol === "simple") };
  }

  it("decides later statements of a known shape from the cache, with their own text", async () => {
    const { outcomes, records: made } = await decide("bob", [
      "SELECT status FROM sales.orders WHERE id = 1",
      "SELECT status FROM sales.orders WHERE id = 2",
      "SELECT status FROM sales.orders WHERE id = 3",
    ]);
    expect(outcomes).toEqual([undefined, undefined, undefined]);
    expect(made.map((r) => r.cached)).toEqual([false, true, true]);
    expect(made.map((r) => r.text)).toEqual([
      "SELECT status FROM sales.orders WHERE id = 1",
      "SELECT status FROM sales.orders WHERE id = 2",
      "SELECT status FROM sales.orders WHERE id = 3",
    ]);
    expect(made[2]!.statement?.relations).toEqual([
      expect.objectContaining({ schema: "sales", name: "orders", access: "read" }),
    ]);
  });

  it("keeps denying a denied shape, and the database does not change", async () => {
    const { outcomes, records: made } = await decide("alice", [
      "DELETE FROM sales.orders WHERE id = 10",
      "DELETE FROM sales.orders WHERE id = 11",
    ]);
    expect(outcomes).toEqual(["42501", "42501"]);
    expect(made.map((r) => [r.decision.allow, r.cached])).toEqual([
      [false, false],
      [false, true],
    ]);
    expect(await stack.pg.psql("SELECT count(*) FROM sales.orders WHERE id IN (10, 11)")).toBe("2");
  });

  it("never decides by shape where literal values matter (settings) or across identities", async () => {
    const { records: sets } = await decide("bob", [
      "SET statement_timeout = '1s'",
      "SET statement_timeout = '2s'",
    ]);
    expect(sets.map((r) => r.cached)).toEqual([false, false]);
    // alice has not run this shape yet: her first one is decided afresh, not from bob's entry
    const { records: other } = await decide("alice", ["SELECT status FROM sales.orders WHERE id = 4"]);
    expect(other.map((r) => r.cached)).toEqual([false]);
  });

  it("a shape that reads masked columns still masks every result", async () => {
    const client = await stack.client(await stack.token(USERS.carol));
    for (const id of [1, 2, 3]) {
      const { rows } = await client.query(`SELECT ssn, name FROM hr.employees WHERE id = ${id}`);
      expect(rows[0].ssn).toBe("***");
    }
    await client.end();
  });

  it("never shares a shape across positional references (DISTINCT ON (1) then (2), ORDER BY 1 then 2)", async () => {
    const pairs: [allowed: string, denied: string][] = [
      [
        "SELECT DISTINCT ON (1) name, ssn FROM hr.employees ORDER BY name",
        "SELECT DISTINCT ON (2) name, ssn FROM hr.employees ORDER BY name",
      ],
      [
        "SELECT name, salary FROM hr.employees ORDER BY 1 LIMIT 1",
        "SELECT name, salary FROM hr.employees ORDER BY 2 LIMIT 1",
      ],
    ];
    for (const [allowed, denied] of pairs) {
      const { outcomes, records: made } = await decide("carol", [allowed, denied, allowed, denied]);
      expect(outcomes).toEqual([undefined, "42501", undefined, "42501"]);
      for (const r of [made[1]!, made[3]!]) {
        expect(r.decision.reasons.join(" ")).toMatch(/masked column hr\.employees\.(ssn|salary)/);
      }
      // positional statements are never decided by shape
      expect(made.map((r) => r.cached)).toEqual([false, false, true, true]);
    }
  });
});
