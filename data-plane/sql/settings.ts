/**
 * Run-time parameter changes: SET / RESET / SET LOCAL / SET TRANSACTION, BEGIN options, and
 * `set_config(name, value, is_local)` calls.
 *
 * Value format (`Setting.value`): the text PostgreSQL itself stores for the parameter (what `SHOW` prints):
 * - one literal → its text: `SET statement_timeout = '5s'` → `5s`, `SET x = 10` → `10`, `SET ROLE admin` → `admin`;
 * - several literals → joined with ", ";
 * - for list parameters whose elements are identifiers (search_path, temp_tablespaces, *_preload_libraries),
 *   each element is quoted as an identifier when needed, so case and special characters survive:
 *   `SET search_path TO a, "B", '$user'` → `a, "B", "$user"` — the same format `set_config('search_path', …)`
 *   takes, readable with {@link splitIdentifierList};
 * - anything that is not a literal (an interval expression, `FROM CURRENT`) → null;
 * - RESET x, RESET ALL (name "all") and SET x TO DEFAULT → value null with `reset: true`.
 * set_config: name lower-cased; a non-literal name → "*unknown*"; a non-literal value → null; a non-literal
 * `is_local` → `local: false` (the wider, session-long effect).
 */
import type { StatementInfo } from "../../proto/policy.js";
import { constBoolean, constText, isStringConst, quoteIdent } from "./literals.js";
import { type AstObject, isObject, list, nameParts, str, unwrap } from "./walk.js";

export type Setting = NonNullable<StatementInfo["settings"]>[number];

/** Name reported for a set_config call whose parameter name is not a literal. */
export const UNKNOWN_SETTING = "*unknown*";

/** Parameters PostgreSQL stores as a list of quoted identifiers (GUC_LIST_QUOTE). */
const LIST_QUOTE_PARAMETERS: ReadonlySet<string> = new Set([
  "search_path",
  "temp_tablespaces",
  "session_preload_libraries",
  "shared_preload_libraries",
  "local_preload_libraries",
]);

/** The value text of SET's argument list (see the module comment), or null when not all literals. */
export function formatSetValue(name: string, args: unknown[]): string | null {
  if (args.length === 0) return null;
  const quote = LIST_QUOTE_PARAMETERS.has(name);
  const parts: string[] = [];
  for (const arg of args) {
    const w = unwrap(arg);
    // A cast (SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE) is interpreted by the server: not a plain literal.
    if (w?.type !== "A_Const") return null;
    const text = constText(arg);
    if (text === null) return null;
    parts.push(quote && isStringConst(arg) ? quoteIdent(text) : text);
  }
  return parts.join(", ");
}

function transactionOptions(args: unknown[], prefix: string, local: boolean): Setting[] {
  const out: Setting[] = [];
  for (const arg of args) {
    const w = unwrap(arg);
    if (w?.type !== "DefElem") continue;
    const defname = str(w.node.defname);
    if (defname === undefined) continue;
    out.push({ name: prefix + defname.toLowerCase(), value: constText(w.node.arg), local });
  }
  return out;
}

/** The settings a VariableSetStmt changes. */
export function variableSetSettings(stmt: AstObject): Setting[] {
  const kind = str(stmt.kind);
  const name = (str(stmt.name) ?? "").toLowerCase();
  const local = stmt.is_local === true;
  switch (kind) {
    case "VAR_SET_VALUE":
      return [{ name, value: formatSetValue(name, list(stmt.args)), local }];
    case "VAR_SET_DEFAULT":
      return [{ name, value: null, local, reset: true }];
    case "VAR_SET_CURRENT":
      return [{ name, value: null, local }];
    case "VAR_RESET":
      return [{ name, value: null, local: false, reset: true }];
    case "VAR_RESET_ALL":
      return [{ name: "all", value: null, local: false, reset: true }];
    case "VAR_SET_MULTI":
      // SET TRANSACTION … applies to the current transaction; SET SESSION CHARACTERISTICS AS TRANSACTION …
      // sets the default_transaction_* parameters.
      if (name === "transaction") return transactionOptions(list(stmt.args), "", true);
      if (name === "session characteristics") return transactionOptions(list(stmt.args), "default_", false);
      return [{ name: name || UNKNOWN_SETTING, value: null, local }];
    default:
      return [{ name: name || UNKNOWN_SETTING, value: null, local }];
  }
}

/** BEGIN / START TRANSACTION options (isolation level, read only, deferrable) as transaction-local settings. */
export function transactionStartSettings(options: unknown[]): Setting[] {
  return transactionOptions(options, "", true);
}

/** The setting a `set_config(setting_name, new_value, is_local)` call makes (positional or named arguments). */
export function setConfigSetting(args: unknown[]): Setting {
  const byName: Record<string, unknown> = {};
  let position = 0;
  for (const arg of args) {
    const w = unwrap(arg);
    if (w?.type === "NamedArgExpr") {
      const n = str(w.node.name);
      if (n !== undefined) byName[n.toLowerCase()] = w.node.arg;
    } else {
      const key = ["setting_name", "new_value", "is_local"][position];
      if (key !== undefined) byName[key] = arg;
      position++;
    }
  }
  const nameText = constText(byName.setting_name);
  const local = constBoolean(byName.is_local);
  return {
    name: nameText === null ? UNKNOWN_SETTING : nameText.toLowerCase(),
    value: constText(byName.new_value),
    local: local === true,
  };
}

/**
 * Splits a list parameter value (search_path format) into its elements the way PostgreSQL's
 * SplitIdentifierString does: unquoted elements are trimmed and lower-cased, double-quoted ones are taken
 * as written (`""` inside stands for one `"`). Returns null for a malformed list.
 */
export function splitIdentifierList(value: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  const isSpace = (c: string | undefined) =>
    c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f";
  while (isSpace(value[i])) i++;
  if (i >= value.length) return out;
  for (;;) {
    let element = "";
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) return null;
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            element += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        element += value[i];
        i++;
      }
    } else {
      const start = i;
      while (i < value.length && value[i] !== "," && !isSpace(value[i])) i++;
      // downcased as the server's lexer does in a multibyte database: ASCII letters only ("É" stays)
      element = value.slice(start, i).replace(/[A-Z]+/g, (m) => m.toLowerCase());
      if (element.length === 0) return null;
    }
    out.push(element);
    while (isSpace(value[i])) i++;
    if (i >= value.length) return out;
    if (value[i] !== ",") return null;
    i++;
    while (isSpace(value[i])) i++;
  }
}

/** The fields a bare `SELECT <one column>` has in libpg-query's tree (defaults are left out). */
const BARE_SELECT_FIELDS: ReadonlySet<string> = new Set(["targetList", "op", "limitOption"]);
const BARE_TARGET_FIELDS: ReadonlySet<string> = new Set(["val", "name", "location"]);
const BARE_CALL_FIELDS: ReadonlySet<string> = new Set(["funcname", "args", "funcformat", "location"]);

/**
 * Whether a SelectStmt is `SELECT [pg_catalog.]set_config('search_path', '…', true|false) [AS name]`
 * and nothing else: every argument a literal (a string, a string, a boolean), no other column, no
 * FROM, WHERE, GROUP, ORDER, LIMIT, set operation, WITH or INTO. Such a call runs exactly once.
 */
export function isSoleSearchPathSetConfig(select: AstObject): boolean {
  for (const key in select) if (!BARE_SELECT_FIELDS.has(key)) return false;
  if (select.op !== undefined && select.op !== "SETOP_NONE") return false;
  if (select.limitOption !== undefined && select.limitOption !== "LIMIT_OPTION_DEFAULT") return false;
  const targets = list(select.targetList);
  if (targets.length !== 1) return false;
  const target = unwrap(targets[0]);
  if (target?.type !== "ResTarget") return false;
  for (const key in target.node) if (!BARE_TARGET_FIELDS.has(key)) return false;
  const call = unwrap(target.node.val);
  if (call?.type !== "FuncCall") return false;
  for (const key in call.node) if (!BARE_CALL_FIELDS.has(key)) return false;
  if (call.node.funcformat !== undefined && call.node.funcformat !== "COERCE_EXPLICIT_CALL") return false;
  const name = nameParts(call.node.funcname);
  if (name === null || name[name.length - 1] !== "set_config") return false;
  if (name.length > 2 || (name.length === 2 && name[0] !== "pg_catalog")) return false;
  const raw = list(call.node.args);
  const args = raw.map(unwrap);
  if (args.length !== 3 || args.some((a) => a?.type !== "A_Const" || a.node.isnull === true)) return false;
  return (
    isObject(args[0]!.node.sval) &&
    constText(raw[0])?.toLowerCase() === "search_path" &&
    isObject(args[1]!.node.sval) &&
    isObject(args[2]!.node.boolval)
  );
}
