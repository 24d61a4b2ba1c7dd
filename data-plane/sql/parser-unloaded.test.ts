// Runs in its own module registry: the WASM parser is never loaded here.
import { describe, expect, it } from "vitest";
import { AnalysisCache, analyzeUncached } from "./analysis-cache.js";
import { parserLoaded } from "./parser.js";

describe("before loadParser() completes", () => {
  it("denies instead of guessing, and does not cache the failure", () => {
    expect(parserLoaded()).toBe(false);
    const r = analyzeUncached("SELECT 1");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/parser not loaded/);
    const cache = new AnalysisCache();
    expect(cache.analyze("SELECT 1").ok).toBe(false);
    expect(cache.size).toBe(0);
  });
});
