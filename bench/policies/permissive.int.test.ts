/**
 * The driver-suite bench's permissive policy goes through the real pipeline (opa check --strict, its
 * own opa tests, opa build -t wasm, signed, verified, loaded) and decides as the bench relies on:
 * admins map to admin on the configured databases, every statement is allowed without masks. The bench
 * reads it from the same folder (`POLICY_DIR` in bench/driver-suite.ts).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../common/toolchain.js";
import { loadRuntime } from "../../test/harness/opa.js";

describe("bench/policies/permissive", () => {
  it("compiles, tests and signs; allows what a driver suite runs, unmasked", async () => {
    const runtime = await loadRuntime(join(projectRoot(), "bench", "policies", "permissive"));
    const token = { sub: "carol", iss: "https://issuer.example", groups: ["admins"] };
    for (const database of ["app", "template1"]) {
      expect(runtime.evaluateConnection({ token, startup: { database } } as never)).toMatchObject({
        allow: true,
        db_role: "admin",
      });
    }
    expect(runtime.evaluateConnection({ token, startup: { database: "postgres" } } as never).allow).toBe(
      false,
    );
    expect(
      runtime.evaluateConnection({
        token: { ...token, groups: ["analysts"] },
        startup: { database: "app" },
      } as never).allow,
    ).toBe(false);
    for (const [kind, text, functions] of [
      ["delete", "DELETE FROM t", []],
      ["do", "DO $$ BEGIN RAISE NOTICE 'x'; END $$", []],
      ["select", "SELECT pg_terminate_backend(1)", ["pg_terminate_backend"]],
    ] as const) {
      const decision = runtime.evaluateQuery({
        session: { id: "s", subject: "carol", claims: token, db_role: "admin", database: "app", region: "r" },
        protocol: "simple",
        statement: { kind, command: "X", text, relations: [], functions: [...functions], fingerprint: "" },
        statement_index: 0,
        statement_count: 1,
        now_ns: 0,
      } as never);
      expect(decision, text).toEqual({ allow: true, reasons: [] });
    }
  });
});
