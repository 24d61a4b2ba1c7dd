/**
 * No literal a client sends leaves the data plane in a decision record (the audit trail), not even in
 * the reasons of a statement the parser could not read: through a real data plane with the default
 * policies in front of a real PostgreSQL, every record the gate makes (what the decision log
 * publishes: its `reasons`, its input, its text once normalized) is checked for the secret, while the
 * client still gets the parser's whole message, as from the server.
 */
import { serialize } from "pg-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";
import { summary, WireClient } from "../../test/harness/wire-client.js";
import type { DecisionRecord } from "./statement-gate.js";

let postgres: LocalPostgres;
let stack: ProxyStack;
let token: string;
const records: DecisionRecord[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
  stack = await startProxyStack({ pg: postgres, start: { onDecision: (r) => void records.push(r) } });
  token = await stack.token(USERS.alice, { lifetimeSeconds: 3600 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await postgres?.stop();
});

const SECRET = "hunter2-do-not-log";

/** Texts the parser stops on right at a literal holding the secret, each quoted in its message. */
const UNPARSEABLE = [
  `SELECT '${SECRET}`,
  `SELECT 'a' '${SECRET}'`,
  `SELECT $$${SECRET}`,
  `SELECT 12${SECRET.replace(/-/g, "")}`,
  `SELECT * FROM sales.orders WHERE note = '${SECRET}' '${SECRET}'`,
  `SELECT "${SECRET}`,
];

/** The parts of a record the decision log publishes (reasons as they are; the text it normalizes). */
function published(r: DecisionRecord): string {
  return JSON.stringify({ reasons: r.decision.reasons, input: r.input ?? null, shadow: r.shadow ?? null });
}

describe("decision records of statements that do not parse", () => {
  for (const text of UNPARSEABLE) {
    for (const via of ["simple", "extended"] as const) {
      it(`${via}: ${text}`, async () => {
        const c = await WireClient.connect({
          host: "127.0.0.1",
          port: stack.port,
          user: "alice@example.com",
          password: token,
          database: "app",
        });
        try {
          const from = records.length;
          if (via === "simple") c.send(serialize.query(text));
          else c.send(serialize.parse({ text }), serialize.bind({}), serialize.execute({}), serialize.sync());
          const answered = await c.untilReady();
          expect(summary(answered)).toEqual(["error 42601", "ready I"]);
          // the client is told where, as by the server (its own text)
          expect((answered[0] as unknown as { message: string }).message).toMatch(/ at or near "/);
          const mine = records.slice(from);
          expect(mine.length).toBeGreaterThan(0);
          for (const r of mine) {
            expect(r.decision.allow).toBe(false);
            expect(published(r)).not.toContain(SECRET.slice(0, 7));
            expect(r.decision.reasons.join(" ")).toMatch(/could not be parsed: .* \(at character \d+\)$/);
          }
        } finally {
          c.end();
        }
      });
    }
  }
});
