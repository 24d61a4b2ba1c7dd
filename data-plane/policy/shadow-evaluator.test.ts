import { describe, expect, it } from "vitest";
import { maskKey, queryChange } from "./shadow-evaluator.js";

describe("how a shadow decision differs from the enforced one", () => {
  const mask = (column: string) => ({ relation: "sales.customers", column, with: "redact" as const });

  it("names allow to deny and deny to allow", () => {
    expect(queryChange({ allow: true, reasons: [] }, { allow: false, reasons: ["no"] })).toBe(
      "allow_to_deny",
    );
    expect(queryChange({ allow: false, reasons: ["no"] }, { allow: true, reasons: [] })).toBe(
      "deny_to_allow",
    );
  });

  it("sees other masks on an allowed statement, whatever their order", () => {
    const enforced = { allow: true, reasons: [], mask: [mask("email"), mask("phone")] };
    expect(queryChange(enforced, { allow: true, reasons: [], mask: [mask("phone"), mask("email")] })).toBe(
      undefined,
    );
    expect(queryChange(enforced, { allow: true, reasons: [], mask: [mask("email")] })).toBe("mask_change");
    expect(maskKey({ allow: true, reasons: [] })).toBe("");
  });

  it("ignores reasons and masks of two denials", () => {
    expect(
      queryChange({ allow: false, reasons: ["a"] }, { allow: false, reasons: ["b"], mask: [mask("x")] }),
    ).toBe(undefined);
  });
});
