import { describe, expect, it } from "vitest";
import { parseFailOn } from "./policy-change.js";

describe("policy impact --fail-on", () => {
  it("reads a comma-separated list of flip kinds", () => {
    expect(parseFailOn("deny-to-allow, mask-change")).toEqual(["deny-to-allow", "mask-change"]);
    expect(parseFailOn(undefined)).toEqual([]);
  });

  it("refuses a kind it does not know", () => {
    expect(() => parseFailOn("deny-to-allow,everything")).toThrow(/everything is not one of/);
  });
});
