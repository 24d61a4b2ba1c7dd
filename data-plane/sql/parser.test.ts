import { fingerprintSync } from "libpg-query";
import { beforeAll, describe, expect, it } from "vitest";
import { fingerprint, loadParser, parserLoaded, parseStatements, SqlParseError } from "./parser.js";
import { BARE_FIELD_TYPES, bareFieldType, nodeType, unwrap, walk } from "./walk.js";

beforeAll(async () => {
  await loadParser();
});

describe("parser", () => {
  it("loads once", async () => {
    const p1 = loadParser();
    const p2 = loadParser();
    expect(p1).toBe(p2);
    await p1;
    expect(parserLoaded()).toBe(true);
  });

  it("splits statements with their node type and own text", () => {
    const stmts = parseStatements("SELECT 1; INSERT INTO t VALUES (';'); -- tail");
    expect(stmts.map((s) => [s.type, s.text])).toEqual([
      ["SelectStmt", "SELECT 1"],
      ["InsertStmt", "INSERT INTO t VALUES (';')"],
    ]);
  });

  it("keeps a statement's own leading and trailing comments", () => {
    const [s] = parseStatements("SELECT 1 /* why */");
    expect(s?.text).toBe("SELECT 1 /* why */");
  });

  it("throws SqlParseError with the parser message and cursor position", () => {
    let caught: unknown;
    try {
      parseStatements("SELECT * FROM");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SqlParseError);
    expect((caught as SqlParseError).message).toBe("syntax error at end of input");
    expect((caught as SqlParseError).position).toBe(13);
  });

  it("fingerprints like libpg-query", () => {
    expect(fingerprint("SELECT a FROM t WHERE b = 1")).toBe(fingerprintSync("SELECT a FROM t WHERE b = 2"));
  });
});

describe("AST shape helpers", () => {
  it("tells wrapped nodes from bare structs", () => {
    const [del] = parseStatements("DELETE FROM t USING s");
    if (del === undefined) throw new Error("no statement");
    // The trap: DeleteStmt.relation is a bare RangeVar, usingClause items are wrapped.
    expect(unwrap(del.node.relation)).toBeNull();
    expect(bareFieldType("DeleteStmt", "relation")).toBe("RangeVar");
    expect(nodeType((del.node.usingClause as unknown[])[0])).toBe("RangeVar");
  });

  it("types bare set-operation branches", () => {
    const [u] = parseStatements("SELECT 1 FROM a UNION SELECT 2 FROM b");
    if (u === undefined) throw new Error("no statement");
    const seen: string[] = [];
    walk(u.node, (type, node) => {
      if (type === "RangeVar") seen.push(String(node.relname));
      return undefined;
    });
    expect(seen).toEqual(["a", "b"]);
  });

  it("only lists struct-typed fields", () => {
    for (const [key, type] of Object.entries(BARE_FIELD_TYPES)) {
      expect(key).toMatch(/^[A-Z][A-Za-z_]*\.[a-z][A-Za-z_]*$/);
      expect(type).toMatch(/^[A-Z]/);
    }
  });
});
