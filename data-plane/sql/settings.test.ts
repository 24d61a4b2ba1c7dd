import { describe, expect, it } from "vitest";
import { parseBool, quoteIdent } from "./literals.js";
import { splitIdentifierList } from "./settings.js";

describe("splitIdentifierList (search_path format)", () => {
  it.each([
    ["a, b", ["a", "b"]],
    ['a, "B", "$user"', ["a", "B", "$user"]],
    ["  Hr ,PUBLIC  ", ["hr", "public"]],
    ['"we""ird", x', ['we"ird', "x"]],
    ['"a,b"', ["a,b"]],
    ["", []],
    ["   ", []],
    ["Éco, ÜBER_x", ["Éco", "Über_x"]],
  ])("%j → %j", (input, expected) => {
    expect(splitIdentifierList(input)).toEqual(expected);
  });

  it.each(["a,", ",a", 'a, "b', "a b", "a,,b"])("rejects malformed %j", (input) => {
    expect(splitIdentifierList(input)).toBeNull();
  });

  it("reads back what quoteIdent writes", () => {
    const names = ["plain", "Mixed", "with space", 'quo"te', "$user", "1abc", "ü"];
    expect(splitIdentifierList(names.map(quoteIdent).join(", "))).toEqual(names);
  });
});

describe("quoteIdent", () => {
  it.each([
    ["abc", "abc"],
    ["a_1", "a_1"],
    ["Abc", '"Abc"'],
    ["1a", '"1a"'],
    ["a b", '"a b"'],
    ['a"b', '"a""b"'],
    ["", '""'],
  ])("%j → %s", (input, expected) => {
    expect(quoteIdent(input)).toBe(expected);
  });
});

describe("parseBool (PostgreSQL boolean input)", () => {
  it.each([
    ["true", true],
    ["TRUE", true],
    ["t", true],
    ["yes", true],
    ["on", true],
    ["1", true],
    ["false", false],
    ["f", false],
    ["no", false],
    ["off", false],
    ["of", false],
    ["0", false],
    ["o", null],
    ["maybe", null],
    ["", null],
  ])("%j → %s", (input, expected) => {
    expect(parseBool(input)).toBe(expected);
  });
});
