/** SQL statement analysis for the query policy input. Call `loadParser()` once at start-up. */
export {
  AnalysisCache,
  type AnalysisCacheOptions,
  type AnalyzeResult,
  analyzeQuery,
  analyzeUncached,
  defaultAnalysisCache,
} from "./analysis-cache.js";
export { analyzeNode, analyzeStatement } from "./analyze.js";
export {
  fingerprint,
  loadParser,
  parserLoaded,
  parseStatements,
  type RawStatement,
  SqlParseError,
} from "./parser.js";
export { type Setting, splitIdentifierList, UNKNOWN_SETTING } from "./settings.js";
