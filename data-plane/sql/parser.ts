/**
 * The one place that talks to libpg-query (PostgreSQL 18's own parser compiled to WASM).
 *
 * `loadParser()` must have resolved before any synchronous call; until then every call throws
 * {@link SqlParseError} ("parser not loaded"), which callers treat as a denial.
 */
import { fingerprintSync, loadModule, normalizeSync, parseSync } from "libpg-query";
import { type AstObject, isObject, unwrap } from "./walk.js";

let loading: Promise<void> | null = null;
let loaded = false;

/** Loads the WASM module once; later calls return the same promise. */
export function loadParser(): Promise<void> {
  if (loading === null) {
    loading = loadModule().then(
      () => {
        loaded = true;
      },
      (err: unknown) => {
        loading = null;
        throw err;
      },
    );
  }
  return loading;
}

export function parserLoaded(): boolean {
  return loaded;
}

/** A parse failure: `message` is the parser's own message; `position` the 0-based character offset if known. */
export class SqlParseError extends Error {
  readonly position: number | undefined;
  constructor(message: string, position?: number) {
    super(message);
    this.name = "SqlParseError";
    this.position = position;
  }
}

/** One statement of a (possibly multi-statement) query string. */
export interface RawStatement {
  /** The libpg-query node name, e.g. "SelectStmt". */
  type: string;
  /** The statement node (unwrapped). */
  node: AstObject;
  /** The statement's own text, trimmed (comments inside it are kept). */
  text: string;
}

function requireLoaded(): void {
  if (!loaded) throw new SqlParseError("SQL parser not loaded (loadParser() has not completed)");
}

function toParseError(err: unknown): SqlParseError {
  if (err instanceof SqlParseError) return err;
  if (err instanceof Error) {
    const details = (err as { sqlDetails?: { cursorPosition?: unknown } }).sqlDetails;
    const pos = typeof details?.cursorPosition === "number" ? details.cursorPosition : undefined;
    return new SqlParseError(err.message, pos);
  }
  return new SqlParseError(String(err));
}

/** True when the text holds no statement at all (empty, whitespace). The parser refuses such input. */
function blank(sql: string): boolean {
  return sql.trim().length === 0;
}

/**
 * Parses `sql` and splits it into statements, each with its own text (cut with the parser's byte offsets,
 * so semicolons inside strings, `$$` bodies, comments and quoted identifiers never split anything).
 * An empty string or one holding only comments/semicolons gives no statement.
 */
export function parseStatements(sql: string): RawStatement[] {
  requireLoaded();
  // A NUL would end the C string the WASM parser reads: it would analyse less than the server receives.
  if (sql.includes("\u0000")) throw new SqlParseError("query text contains a NUL character");
  if (blank(sql)) return [];
  let result: unknown;
  try {
    result = parseSync(sql);
  } catch (err) {
    throw toParseError(err);
  }
  const stmts = isObject(result) && Array.isArray(result.stmts) ? result.stmts : null;
  if (stmts === null) throw new SqlParseError("parser returned no statement list");
  // Offsets are in bytes of the UTF-8 text; skip the conversion for pure ASCII.
  const bytes = Buffer.byteLength(sql, "utf8") === sql.length ? null : Buffer.from(sql, "utf8");
  const total = bytes === null ? sql.length : bytes.length;
  const out: RawStatement[] = [];
  for (const raw of stmts) {
    if (!isObject(raw)) throw new SqlParseError("parser returned a malformed statement");
    const wrapped = unwrap(raw.stmt);
    if (wrapped === null) throw new SqlParseError("parser returned a statement without a node");
    const start = typeof raw.stmt_location === "number" ? raw.stmt_location : 0;
    // stmt_len 0 (omitted) means "to the end of the string".
    const len = typeof raw.stmt_len === "number" && raw.stmt_len > 0 ? raw.stmt_len : total - start;
    const piece =
      bytes === null ? sql.slice(start, start + len) : bytes.subarray(start, start + len).toString("utf8");
    out.push({ type: wrapped.type, node: wrapped.node, text: piece.trim() });
  }
  return out;
}

/** libpg-query fingerprint of one statement's text (equal for statements differing only in literals). */
export function fingerprint(text: string): string {
  requireLoaded();
  try {
    return fingerprintSync(text);
  } catch (err) {
    throw toParseError(err);
  }
}

/**
 * libpg-query normalize: `text` with every literal replaced by a placeholder (`$1`, `$2`, …, after
 * the parameters it already has), for logs that must not carry values. Throws SqlParseError when
 * the text does not parse.
 */
export function normalize(text: string): string {
  requireLoaded();
  if (text.includes("\u0000")) throw new SqlParseError("query text contains a NUL character");
  try {
    return normalizeSync(text);
  } catch (err) {
    throw toParseError(err);
  }
}
