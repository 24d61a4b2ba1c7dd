import { describe, expect, it } from "vitest";
import {
  errorsOfRun,
  formatPolicyError,
  parseOpaJsonErrors,
  parseOpaTextErrors,
  relativeToFolder,
} from "./opa.js";

// The texts below are what opa 1.22 prints for these situations.
describe("opa output parsing", () => {
  it("reads check's JSON errors with their locations", () => {
    const stderr = JSON.stringify({
      errors: [
        {
          message: "unexpected } token",
          code: "rego_parse_error",
          location: { file: "bad.rego", row: 5, col: 1 },
          details: { line: "}", idx: 0 },
        },
        {
          message: "declared var v unused",
          code: "rego_compile_error",
          location: { file: "/p/sub/s.rego", row: 5, col: 8 },
        },
      ],
    });
    expect(parseOpaJsonErrors(stderr, "/p")).toEqual([
      { file: "bad.rego", row: 5, col: 1, code: "rego_parse_error", message: "unexpected } token" },
      { file: "sub/s.rego", row: 5, col: 8, code: "rego_compile_error", message: "declared var v unused" },
    ]);
  });

  it("reads load errors printed as text", () => {
    const text = [
      "1 error occurred during loading: w.rego:3: rego_parse_error: unexpected eof token",
      "\tallow if {",
      "\t         ^",
    ].join("\n");
    expect(parseOpaTextErrors(text, "/p")).toEqual([
      { file: "w.rego", row: 3, code: "rego_parse_error", message: "unexpected eof token" },
    ]);
    expect(
      parseOpaTextErrors("1 error occurred: w.rego:3: rego_unsafe_var_error: var y is unsafe", "/p"),
    ).toEqual([{ file: "w.rego", row: 3, code: "rego_unsafe_var_error", message: "var y is unsafe" }]);
    expect(
      parseOpaTextErrors(
        "error: load error: 1 error occurred during loading: data.json: unexpected EOF",
        "/p",
      ),
    ).toEqual([{ file: "data.json", message: "unexpected EOF" }]);
    expect(
      parseOpaTextErrors('error: entrypoint "w/nope" does not refer to a rule or policy decision', "/p"),
    ).toEqual([{ message: 'entrypoint "w/nope" does not refer to a rule or policy decision' }]);
  });

  it("falls back to an exit-code message when opa says nothing", () => {
    expect(errorsOfRun({ code: 3, stdout: "", stderr: "", durationMs: 1 }, "/p", "check")).toEqual([
      { message: "opa check failed with exit code 3 and no message" },
    ]);
  });

  it("formats file:row:col", () => {
    expect(
      formatPolicyError({ file: "a.rego", row: 2, col: 7, code: "rego_parse_error", message: "m" }),
    ).toBe("a.rego:2:7: rego_parse_error: m");
    expect(formatPolicyError({ message: "plain" })).toBe("plain");
    expect(relativeToFolder("./x/y.rego", "/p")).toBe("x/y.rego");
  });
});
