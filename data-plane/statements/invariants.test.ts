import { describe, expect, it } from "vitest";
import type { StatementInfo } from "../../proto/policy.js";
import { invariantViolation, unsafeClientEncoding } from "./invariants.js";

type Setting = NonNullable<StatementInfo["settings"]>[number];

function set(...settings: Setting[]): StatementInfo {
  return {
    kind: "set",
    command: "VariableSetStmt",
    relations: [],
    functions: [],
    settings,
    text: "SET …",
    fingerprint: "",
  };
}

const scs = (value: string | null, extra: Partial<Setting> = {}): Setting => ({
  name: "standard_conforming_strings",
  value,
  local: false,
  ...extra,
});
const encoding = (value: string | null, extra: Partial<Setting> = {}): Setting => ({
  name: "client_encoding",
  value,
  local: false,
  ...extra,
});

describe("standard_conforming_strings stays on", () => {
  it.each(["off", "OFF", "false", "0", "no", "n", "f", "whatever"])("refuses %s", (value) => {
    expect(invariantViolation(set(scs(value)))).toBe(
      "standard_conforming_strings must stay on through Portcullis",
    );
  });

  it.each(["on", "ON", "true", "1", "yes", "t", "y"])("allows %s", (value) => {
    expect(invariantViolation(set(scs(value)))).toBeUndefined();
  });

  it("refuses a value it cannot read (set_config with an expression) and SET LOCAL off", () => {
    expect(invariantViolation(set(scs(null)))).toBeDefined();
    expect(invariantViolation(set(scs("off", { local: true })))).toBeDefined();
  });

  it("allows RESET (the server default is on; login refuses a server where it is not)", () => {
    expect(invariantViolation(set(scs(null, { reset: true })))).toBeUndefined();
  });
});

describe("client_encoding keeps ASCII bytes meaning ASCII", () => {
  it.each([
    "SJIS",
    "sjis",
    "Shift_JIS",
    "SHIFT-JIS",
    "shift_jis_2004",
    "BIG5",
    "gbk",
    "GB18030",
    "UHC",
    "JOHAB",
    "mskanji",
    "WINDOWS-932",
    "win 936",
    "windows949",
    "Windows950",
    "win932",
    "WIN-950",
    "win_936",
    "win949",
    "b_i_g_5",
    "Shift_JIS_2004",
  ])("refuses %s", (value) => {
    expect(invariantViolation(set(encoding(value)))).toBe(
      `client_encoding ${value} is not allowed through Portcullis`,
    );
  });

  it.each(["UTF8", "utf-8", "LATIN1", "SQL_ASCII", "EUC_JP", "WIN1252"])("allows %s", (value) => {
    expect(invariantViolation(set(encoding(value)))).toBeUndefined();
  });

  it("refuses an unreadable value, allows RESET", () => {
    expect(invariantViolation(set(encoding(null)))).toBe(
      "client_encoding (computed) is not allowed through Portcullis",
    );
    expect(invariantViolation(set(encoding(null, { reset: true })))).toBeUndefined();
  });
});

describe("where the settings come from", () => {
  it("lets SHOW read them: it changes nothing", () => {
    for (const setting of [scs(null), encoding(null)]) {
      expect(
        invariantViolation({ ...set(setting), kind: "show", command: "VariableShowStmt" }),
      ).toBeUndefined();
    }
  });

  it("checks every setting of a statement, and the statements nested in it", () => {
    expect(
      invariantViolation(set({ name: "search_path", value: "sales", local: false }, scs("off"))),
    ).toBeDefined();
    const nested: StatementInfo = {
      kind: "explain",
      command: "ExplainStmt",
      relations: [],
      functions: ["set_config"],
      text: "EXPLAIN ANALYZE SELECT set_config('client_encoding', 'BIG5', false)",
      fingerprint: "",
      inner: {
        kind: "prepare",
        command: "PrepareStmt",
        relations: [],
        functions: [],
        text: "",
        fingerprint: "",
        inner: { ...set(encoding("BIG5")), kind: "select", command: "SelectStmt" },
      },
    };
    expect(invariantViolation(nested)).toMatch(/client_encoding BIG5/);
  });

  it("has nothing to say about statements without such settings", () => {
    expect(invariantViolation(set({ name: "search_path", value: "sales", local: false }))).toBeUndefined();
    expect(
      invariantViolation({
        kind: "select",
        command: "SelectStmt",
        relations: [],
        functions: [],
        text: "",
        fingerprint: "",
      }),
    ).toBeUndefined();
  });
});

describe("unsafeClientEncoding (also used for the start-up parameter)", () => {
  it("normalises case, dashes and spaces like PostgreSQL's encoding names", () => {
    expect(unsafeClientEncoding("Shift-JIS")).toBe(true);
    expect(unsafeClientEncoding("gb 18030")).toBe(true);
    expect(unsafeClientEncoding("UTF8")).toBe(false);
    expect(unsafeClientEncoding("")).toBe(false);
  });
});
