import { beforeAll, describe, expect, it } from "vitest";
import type { QueryInput } from "../../proto/policy.js";
import { loadParser, normalize } from "../sql/parser.js";
import { replayableQueryInput } from "./replayable-input.js";

beforeAll(() => loadParser());

describe("the policy input a decision record keeps", () => {
  it("has no literal: statement texts normalized, setting values left out", () => {
    const input = {
      session: {
        id: "s",
        subject: "alice",
        claims: { sub: "alice" },
        db_role: "analyst",
        database: "app",
        region: "eu",
      },
      protocol: "simple",
      statement: {
        kind: "explain",
        command: "ExplainStmt",
        relations: [],
        functions: [],
        text: "EXPLAIN SELECT * FROM t WHERE secret = 'hunter2'",
        fingerprint: "f",
        settings: [{ name: "app.token", value: "hunter2", local: false }],
        inner: {
          kind: "select",
          command: "SelectStmt",
          relations: [],
          functions: [],
          text: "SELECT * FROM t WHERE secret = 'hunter2'",
          fingerprint: "g",
        },
      },
      statement_index: 0,
      statement_count: 1,
      now_ns: 1,
    } as unknown as QueryInput;
    const kept = replayableQueryInput(input, (t) => normalize(t));
    expect(JSON.stringify(kept)).not.toContain("hunter2");
    expect(kept.statement.inner?.text).toBe("SELECT * FROM t WHERE secret = $1");
    expect(kept.statement.settings?.[0]).toMatchObject({ name: "app.token", value: null });
    // the input itself is not changed
    expect(input.statement.text).toContain("hunter2");
  });
});
