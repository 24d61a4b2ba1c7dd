import { beforeAll, describe, expect, it } from "vitest";
import { loadParser, normalize } from "../sql/parser.js";
import { plainShape } from "./statement-gate.js";

describe("plainShape: the shape of a statement in a small grammar, without the parser", () => {
  beforeAll(async () => {
    await loadParser();
  });

  it("replaces unsigned integers in order, as the parser's normalization does", () => {
    for (const text of [
      "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
      "SELECT a.id, b.x FROM s.t a, u b WHERE a.id = 1 AND b.y < 22 LIMIT 3",
      "UPDATE t SET n = n + 1 WHERE id = 7",
      "SELECT * FROM t1 WHERE c2 > 10",
    ]) {
      expect(plainShape(text)).toBe(normalize(text));
    }
  });

  it("reads nothing it cannot be sure of: quotes, signs, comments, casts, decimals, exponents, hex", () => {
    for (const text of [
      "SELECT 'x' FROM t",
      'SELECT "A" FROM t',
      "SELECT -1",
      "SELECT 1 -- c",
      "SELECT 1 /* c */",
      "SELECT 1::int",
      "SELECT 1.5",
      "SELECT .5",
      "SELECT 1e5",
      "SELECT 0x1F",
      "SELECT 1_000",
      "SELECT $1",
      "SELECT t.1",
      "SELECT é FROM t",
      "SELECT 1\u0000",
    ]) {
      expect(plainShape(text), text).toBeUndefined();
    }
  });

  it("leaves a text without integers as it is", () => {
    expect(plainShape("SELECT a FROM t")).toBe("SELECT a FROM t");
  });
});
