import type { StatementInfo } from "../../proto/policy.js";
import { UNKNOWN_SETTING } from "../sql/settings.js";

/**
 * What the statement gate asks of one analysed statement: pure predicates over its analysis, with no
 * state of the session.
 */

/** Whether a statement is, or nests, DDL (its names and the catalog change when it runs). */
export function isDdl(info: StatementInfo): boolean {
  for (let s: StatementInfo | undefined = info; s !== undefined; s = s.inner)
    if (s.kind === "ddl") return true;
  return false;
}

const STATE_KINDS: ReadonlySet<string> = new Set(["transaction", "prepare", "deallocate"]);
const PATH_SETTINGS: ReadonlySet<string> = new Set(["search_path", "all", UNKNOWN_SETTING]);

/** Statements whose completion changes what the gate tracks (the search_path, transactions, prepared statements). */
export function changesState(info: StatementInfo): boolean {
  if (STATE_KINDS.has(info.kind) || info.command === "DiscardStmt") return true;
  if (info.kind === "show") return false;
  const settings = info.kind === "execute" ? info.inner?.settings : info.settings;
  if (settings === undefined) return false;
  for (const s of settings) if (PATH_SETTINGS.has(s.name)) return true;
  return false;
}

/**
 * Whether deciding a statement needs the catalog: relation names (unqualified ones resolve by it, and
 * it says what a relation shows), EXECUTE, and column names (a name that is no column of its relation
 * is a function called on the whole row: only the catalog tells).
 */
export function needsNames(s: StatementInfo): boolean {
  if (s.kind === "execute") return true;
  // a qualified name too: only the catalog tells what a relation shows (a view's sources, a foreign table)
  if (s.relations.length > 0) return true;
  if (s.columns) for (const c of s.columns) if (c.relation !== null && c.column !== "*") return true;
  return s.inner !== undefined && needsNames(s.inner);
}

/** Whether a statement, or one it nests, names a setting (only those can break an invariant). */
export function hasSettings(info: StatementInfo): boolean {
  for (let s: StatementInfo | undefined = info; s !== undefined; s = s.inner)
    if (s.settings !== undefined && s.settings.length > 0) return true;
  return false;
}

/** Whether a statement is, or nests at any depth, an EXECUTE. */
export function containsExecute(info: StatementInfo): boolean {
  return info.kind === "execute" || (info.inner !== undefined && containsExecute(info.inner));
}

export function emptyStatement(): StatementInfo {
  return { kind: "utility", command: "EmptyQuery", relations: [], functions: [], text: "", fingerprint: "" };
}

/**
 * Whether a Query's or Parse's bytes hold a backslash: the only byte whose reading the settings the
 * proxy depends on change (an escape in a string once standard_conforming_strings is off; the trail
 * byte of a double-byte character in SJIS, BIG5, GBK, GB18030 and JOHAB). A text without one reads
 * the same whatever they are. (memchr: cheap on every statement.)
 */
export function readsSettings(raw: Buffer): boolean {
  return raw.includes(0x5c);
}

/**
 * A COPY … FROM STDIN: once the server runs it, it reads the client's CopyData until CopyDone or
 * CopyFail, ignoring a Sync or Flush meanwhile and failing on anything else.
 */
export function copiesFromClient(info: StatementInfo): boolean {
  return info.kind === "copy" && info.copy?.direction === "from";
}
