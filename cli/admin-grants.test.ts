import { describe, expect, it } from "vitest";
import { parseFor } from "./admin-grants.js";

describe("--for", () => {
  it("takes a duration or seconds, in whole seconds", () => {
    expect(parseFor("30m")).toBe(1800);
    expect(parseFor("1h")).toBe(3600);
    expect(parseFor("90s")).toBe(90);
    expect(parseFor("120")).toBe(120);
    expect(() => parseFor(undefined)).toThrow(/give --for/);
    expect(() => parseFor("1500ms")).toThrow(/whole seconds/);
    expect(() => parseFor("soon")).toThrow(/not a duration/);
    expect(() => parseFor("0")).toThrow(/not a duration/);
  });
});
