/**
 * How the analysis names a function it reports in `functions`: the name parts as the server reads them
 * (unquoted identifiers folded to lower case, quoted ones and U&"…" escapes decoded), joined with ".",
 * each part double-quoted when it is not a plain lower-case identifier. So the text is unambiguous:
 * `lower(x)` → `lower`, `pg_catalog.lower(x)` → `pg_catalog.lower`, `U&"ts\005Fstat"(q)` → `ts_stat`,
 * `"LOWER"(x)` → `"LOWER"` (another function), `"a.b"(x)` → `"a.b"` (not schema a), and a policy can
 * compare these strings with plain names exactly.
 */
import { quoteIdent } from "./literals.js";

export function functionLabel(parts: readonly string[]): string {
  return parts.map(quoteIdent).join(".");
}
