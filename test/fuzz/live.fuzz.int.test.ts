/**
 * Random and mutated bytes to a live data plane (bounded, seeded): start-up packets over plain TCP,
 * mutated start-up and password messages inside TLS, garbage after a good login. Every input gets an
 * ErrorResponse or a close; the data plane never hangs or crashes, and a session opened beside the
 * fuzzing keeps working throughout. PORTCULLIS_FUZZ_SEED replays a run.
 */
import fc from "fast-check";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProxyStack, startProxyStack, USERS } from "../harness/proxy-stack.js";
import { liveInput, sendLive } from "./live.js";

let stack: ProxyStack;
let token: string;
let beside: pg.Client;

beforeAll(async () => {
  stack = await startProxyStack();
  token = await stack.token(USERS.alice, { lifetimeSeconds: 3600 });
  beside = await stack.client(token);
}, 120_000);

afterAll(async () => {
  await beside?.end().catch(() => {});
  await stack?.stop();
});

describe("live data plane under fuzzed start-up, password and mid-session bytes", () => {
  it("every input gets an ErrorResponse or a close, and the session beside it keeps working", async () => {
    const seed = Number(process.env.PORTCULLIS_FUZZ_SEED ?? 7);
    const outcomes: Record<string, number> = {};
    let n = 0;
    await fc.assert(
      fc.asyncProperty(liveInput("alice@example.com", token), async (input) => {
        const outcome = await sendLive({ port: stack.port, user: "alice@example.com", token }, input);
        outcomes[`${input.kind}:${outcome}`] = (outcomes[`${input.kind}:${outcome}`] ?? 0) + 1;
        expect(outcome).not.toBe("hang");
        if (++n % 50 === 0) {
          const { rows } = await beside.query("SELECT 1 AS one");
          expect(rows).toEqual([{ one: 1 }]);
        }
      }),
      { seed, numRuns: 300 },
    );
    console.log("live fuzz outcomes:", outcomes);
    const { rows } = await beside.query("SELECT count(*)::int AS n FROM sales.orders");
    expect(rows[0].n).toBeGreaterThan(0);
    const fresh = await stack.client(token);
    await fresh.query("SELECT 1");
    await fresh.end();
  }, 180_000);
});
