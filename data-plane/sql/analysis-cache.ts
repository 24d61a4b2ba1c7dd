/**
 * `analyzeQuery(text)`: the whole query string (simple protocol: possibly several statements; extended
 * protocol: one Parse message) → the StatementInfo of each statement, memoised in a bounded LRU keyed by the
 * exact text. Failures are results, never exceptions: the caller denies on `ok: false`.
 */
import { LRUCache } from "lru-cache";
import type { StatementInfo } from "../../proto/policy.js";
import { analyzeStatement } from "./analyze.js";
import { parseStatements, SqlParseError } from "./parser.js";

export type AnalyzeResult =
  | { ok: true; statements: StatementInfo[] }
  | {
      ok: false;
      /** The parser's message for a syntax error; otherwise why the text could not be analysed. */
      error: string;
      /** 0-based character offset of a syntax error, when the parser reports one. */
      position?: number;
    };

/** Analyses without caching. Never throws. */
export function analyzeUncached(text: string): AnalyzeResult {
  try {
    const statements = parseStatements(text).map(analyzeStatement);
    return { ok: true, statements };
  } catch (err) {
    if (err instanceof SqlParseError) {
      return err.position === undefined
        ? { ok: false, error: err.message }
        : { ok: false, error: err.message, position: err.position };
    }
    // Anything else (for example a statement nested too deeply to walk) is a failure to analyse: deny.
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, error: `statement could not be analysed: ${message}` };
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export interface AnalysisCacheOptions {
  /** Most entries kept (default 10,000). */
  maxEntries?: number;
  /** Texts longer than this (in characters) are analysed but not cached (default 64 KiB). */
  maxTextLength?: number;
  /** Upper bound on the summed length of cached texts, in characters (default 32 Mi). */
  maxTotalTextLength?: number;
}

export class AnalysisCache {
  private readonly cache: LRUCache<string, AnalyzeResult>;
  private readonly maxTextLength: number;
  hits = 0;
  misses = 0;

  constructor(opts: AnalysisCacheOptions = {}) {
    this.maxTextLength = opts.maxTextLength ?? 64 * 1024;
    this.cache = new LRUCache<string, AnalyzeResult>({
      max: opts.maxEntries ?? 10_000,
      maxSize: opts.maxTotalTextLength ?? 32 * 1024 * 1024,
      sizeCalculation: (_value, key) => Math.max(1, key.length),
    });
  }

  /** The analysis of `text`; results are deeply frozen and shared between callers. */
  analyze(text: string): AnalyzeResult {
    const cached = this.cache.get(text);
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const result = deepFreeze(analyzeUncached(text));
    // "parser not loaded" is a transient condition, not a property of the text.
    const transient = !result.ok && result.error.startsWith("SQL parser not loaded");
    if (text.length <= this.maxTextLength && !transient) this.cache.set(text, result);
    return result;
  }

  get size(): number {
    return this.cache.size;
  }

  clear(): void {
    this.cache.clear();
    this.hits = 0;
    this.misses = 0;
  }
}

const defaultCache = new AnalysisCache();

/** Analyses `text` through the process-wide cache. `loadParser()` must have resolved first. */
export function analyzeQuery(text: string): AnalyzeResult {
  return defaultCache.analyze(text);
}

/** The process-wide cache (for metrics and tests). */
export function defaultAnalysisCache(): AnalysisCache {
  return defaultCache;
}
