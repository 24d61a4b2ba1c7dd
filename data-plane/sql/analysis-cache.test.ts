import { beforeAll, describe, expect, it } from "vitest";
import { AnalysisCache, analyzeQuery, analyzeUncached, defaultAnalysisCache } from "./analysis-cache.js";
import { loadParser } from "./parser.js";

beforeAll(async () => {
  await loadParser();
});

describe("AnalysisCache", () => {
  it("returns the same frozen result for the same text", () => {
    const cache = new AnalysisCache();
    const a = cache.analyze("SELECT * FROM t WHERE id = 1");
    const b = cache.analyze("SELECT * FROM t WHERE id = 1");
    expect(b).toBe(a);
    expect(cache.hits).toBe(1);
    expect(cache.misses).toBe(1);
    expect(Object.isFrozen(a)).toBe(true);
    if (!a.ok) throw new Error("expected ok");
    expect(Object.isFrozen(a.statements[0]?.relations[0])).toBe(true);
    expect(() => {
      (a.statements as unknown as unknown[]).push(1);
    }).toThrow();
  });

  it("keys by exact text", () => {
    const cache = new AnalysisCache();
    cache.analyze("SELECT 1");
    cache.analyze("select 1");
    expect(cache.misses).toBe(2);
  });

  it("caches parse errors too", () => {
    const cache = new AnalysisCache();
    const a = cache.analyze("SELEC 1");
    expect(a.ok).toBe(false);
    expect(cache.analyze("SELEC 1")).toBe(a);
  });

  it("stays within its entry bound", () => {
    const cache = new AnalysisCache({ maxEntries: 3 });
    for (let i = 0; i < 10; i++) cache.analyze(`SELECT ${i} FROM t${i}`);
    expect(cache.size).toBe(3);
  });

  it("does not keep texts over the length limit", () => {
    const cache = new AnalysisCache({ maxTextLength: 20 });
    const long = `SELECT 1 AS ${"x".repeat(40)}`;
    expect(cache.analyze(long).ok).toBe(true);
    expect(cache.size).toBe(0);
  });

  it("stays within its total text size bound", () => {
    const cache = new AnalysisCache({ maxTotalTextLength: 100 });
    for (let i = 0; i < 20; i++) cache.analyze(`SELECT ${i} AS c${"y".repeat(20)}`);
    expect(cache.size).toBeLessThanOrEqual(100 / 30 + 1);
  });

  it("analyzeQuery goes through the shared cache", () => {
    const before = defaultAnalysisCache().hits;
    analyzeQuery("SELECT 42");
    analyzeQuery("SELECT 42");
    expect(defaultAnalysisCache().hits).toBe(before + 1);
  });
});

describe("micro-benchmark (printed, not asserted)", () => {
  it("cached vs uncached analyze", () => {
    const queries = [
      "SELECT e.id, e.name, d.title FROM hr.employees e JOIN hr.departments d ON d.id = e.dept_id WHERE e.active AND e.salary > $1 ORDER BY e.name LIMIT 50",
      "INSERT INTO app.orders (customer_id, total) VALUES ($1, $2) RETURNING id",
      "UPDATE app.orders SET status = 'shipped' WHERE id = $1",
      "WITH recent AS (SELECT * FROM app.orders WHERE created_at > now() - interval '1 day') SELECT count(*) FROM recent r JOIN app.customers c ON c.id = r.customer_id",
      "BEGIN; SET LOCAL statement_timeout = '5s'; SELECT 1; COMMIT",
    ];
    const rounds = 400;
    const time = (fn: () => void): number => {
      const t0 = performance.now();
      fn();
      return performance.now() - t0;
    };
    // Warm up the JIT and the WASM module.
    for (let i = 0; i < 50; i++) for (const q of queries) analyzeUncached(q);
    const uncached = time(() => {
      for (let i = 0; i < rounds; i++) for (const q of queries) analyzeUncached(q);
    });
    const cache = new AnalysisCache();
    for (const q of queries) cache.analyze(q);
    const cachedRounds = rounds * 50;
    const cached = time(() => {
      for (let i = 0; i < cachedRounds; i++) for (const q of queries) cache.analyze(q);
    });
    const perUncached = (uncached * 1000) / (rounds * queries.length);
    const perCached = (cached * 1000) / (cachedRounds * queries.length);
    console.log(
      `[sql analysis] uncached: ${perUncached.toFixed(1)} µs/query (${Math.round(1e6 / perUncached)}/s); ` +
        `cached: ${perCached.toFixed(3)} µs/query (${Math.round(1e6 / perCached)}/s); ratio ${(perUncached / perCached).toFixed(0)}x`,
    );
    expect(cache.hits).toBe(cachedRounds * queries.length);
  });
});
