import { describe, expect, it } from "vitest";
import {
  CanarySelectorError,
  canaryBucket,
  canarySelects,
  decodeCanaryPointer,
  formatCanarySelector,
  parseCanarySelector,
} from "./canary.js";

describe("canary selectors", () => {
  it("reads region=NAME and percent=N and writes them back", () => {
    expect(parseCanarySelector("region=eu")).toEqual({ region: "eu" });
    expect(parseCanarySelector(" percent = 10 ")).toEqual({ percent: 10 });
    expect(formatCanarySelector({ region: "eu" })).toBe("region=eu");
    expect(formatCanarySelector({ percent: 10 })).toBe("percent=10");
  });

  it("refuses what it cannot read, saying why", () => {
    for (const bad of ["", "eu", "colour=blue", "percent=0", "percent=101", "percent=2.5", "percent=x"]) {
      expect(() => parseCanarySelector(bad), bad).toThrow(CanarySelectorError);
    }
  });

  it("selects by region", () => {
    expect(canarySelects({ region: "eu" }, { id: "a", region: "eu" })).toBe(true);
    expect(canarySelects({ region: "eu" }, { id: "a", region: "us" })).toBe(false);
  });

  it("selects a stable share of data plane ids by percent", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `dp-${i}`);
    const picked = ids.filter((id) => canarySelects({ percent: 10 }, { id, region: "eu" }));
    // a hash, not a count: about a tenth, and the same ones every time
    expect(picked.length).toBeGreaterThan(100);
    expect(picked.length).toBeLessThan(300);
    expect(ids.filter((id) => canarySelects({ percent: 10 }, { id, region: "us" }))).toEqual(picked);
    expect(ids.every((id) => canarySelects({ percent: 100 }, { id, region: "" }))).toBe(true);
    expect(canaryBucket("dp-eu")).toBe(canaryBucket("dp-eu"));
  });

  it("decodes only a well-formed canary pointer", () => {
    const pointer = {
      revision: "r2",
      sha256: "a".repeat(64),
      object: "bundles/r2.tar",
      signature: "sig",
      activated_at: "2026-01-01T00:00:00.000Z",
      size: 10,
      bucket: "portcullis_bundle_objects",
      activation: "jws",
    };
    const ok = {
      selector: { region: "eu" },
      pointer,
      previous_revision: "r1",
      started_at: pointer.activated_at,
    };
    expect(decodeCanaryPointer(Buffer.from(JSON.stringify(ok))).selector).toEqual({ region: "eu" });
    const both = { ...ok, selector: { region: "eu", percent: 5 } };
    expect(() => decodeCanaryPointer(Buffer.from(JSON.stringify(both)))).toThrow();
  });
});
