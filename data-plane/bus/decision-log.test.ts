import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../common/toolchain.js";
import type { StatementInfo } from "../../proto/policy.js";
import { loadDataPlaneConfig, parseDataPlaneConfig } from "../config.js";
import { statementRelations } from "./decision-log.js";

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
