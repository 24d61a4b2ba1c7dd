import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../common/toolchain.js";
import type { QueryInput, StatementInfo } from "../../proto/policy.js";
import { loadDataPlaneConfig, parseDataPlaneConfig } from "../config.js";
import { queryInputJson, statementRelations } from "./decision-log.js";

const minimal = {
  oidc: { issuers: [{ issuer: "https://issuer.example", audience: "portcullis" }] },
  policy: { public_key_file: "key.pem" },
  upstream: { roles: {} },
};

describe("decision log configuration", () => {
  it("is on by default with a bounded queue, and validated", () => {
    expect(parseDataPlaneConfig(minimal).decision_log).toEqual({
      enabled: true,
      max_queue: 10_000,
      publish_timeout_ms: 5_000,
    });
    expect(
      parseDataPlaneConfig({ ...minimal, decision_log: { enabled: "false", max_queue: "50" } }).decision_log,
    ).toMatchObject({ enabled: false, max_queue: 50 });
    expect(() => parseDataPlaneConfig({ ...minimal, decision_log: { max_queue: 0 } })).toThrow(/max_queue/);
    expect(() => parseDataPlaneConfig({ ...minimal, decision_log: { maxqueue: 5 } })).toThrow(/maxqueue/);
  });

  it("the example configuration parses", () => {
    const config = loadDataPlaneConfig(join(projectRoot(), "deploy", "data-plane.example.yaml"), {});
    expect(config.bus?.servers).toHaveLength(3);
    expect(config.decision_log.max_queue).toBe(10_000);
  });
});

describe("statement relations in a decision record", () => {
  it("lists the relations of the statement and of the one inside it, once each", () => {
    const inner: StatementInfo = {
      kind: "select",
      command: "SelectStmt",
      relations: [
        { schema: "sales", name: "orders", access: "read", resolved: true },
        { schema: null, name: "tmp", access: "read", resolved: false },
      ],
      functions: [],
      text: "SELECT …",
      fingerprint: "f",
    };
    const explain: StatementInfo = {
      ...inner,
      kind: "explain",
      command: "ExplainStmt",
      relations: [{ schema: "sales", name: "orders", access: "read", resolved: true }],
      inner,
    };
    expect(statementRelations(explain)).toEqual([
      { schema: "sales", name: "orders", access: "read" },
      { schema: null, name: "tmp", access: "read" },
    ]);
    expect(statementRelations(null)).toEqual([]);
  });
});

describe("queryInputJson: a record's input_json, the session part made once per session", () => {
  const statement: StatementInfo = {
    kind: "select",
    command: "SelectStmt",
    relations: [{ schema: "sales", name: "orders", access: "read", resolved: true }],
    functions: [],
    text: "SELECT * FROM orders WHERE id = $1",
    fingerprint: "f",
  };
  const session = Object.freeze({
    id: "s1",
    subject: "alice",
    claims: {
      iss: "https://idp",
      sub: "alice",
      aud: "portcullis",
      exp: 2,
      iat: 1,
      groups: ["analysts"],
      'x"y': "é\u2028",
    },
    db_role: "analyst",
    database: "app",
    region: "eu",
  });
  const input = (n: number, s: QueryInput["session"] = session): QueryInput => ({
    session: s,
    protocol: "simple",
    statement: { ...statement, text: `${statement.text} -- ${n}` },
    statement_index: n,
    statement_count: n + 1,
    now_ns: 1_796_698_309_246_000_000 + n,
  });

  it("is exactly JSON.stringify of the input, for every input of a session", () => {
    for (let n = 0; n < 3; n++) {
      expect(queryInputJson(input(n)).input_json).toBe(JSON.stringify(input(n)));
    }
  });

  it("does not keep the JSON of a session object that could change (not frozen)", () => {
    const open = { ...session, claims: { ...session.claims } };
    expect(queryInputJson(input(1, open)).input_json).toBe(JSON.stringify(input(1, open)));
    open.claims.sub = "mallory";
    expect(queryInputJson(input(1, open)).input_json).toBe(JSON.stringify(input(1, open)));
  });

  it("leaves out an input longer than a record carries", () => {
    const long = input(1);
    long.statement = { ...statement, text: "x".repeat(200 * 1024) };
    expect(queryInputJson(long).input_json).toBeUndefined();
  });
});
