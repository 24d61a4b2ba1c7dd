/** Reading constants out of the AST, and the identifier quoting PostgreSQL uses when it prints names. */
import { type AstObject, isObject, unwrap } from "./walk.js";

/**
 * The text of a literal: an `A_Const` (string, integer, float, boolean, bit string), or a cast of one
 * (`'x'::text`). NULL and anything computed → null. libpg-query omits default values, so `0` arrives as
 * `{ ival: {} }` and `false` as `{ boolval: {} }`.
 */
export function constText(value: unknown): string | null {
  const w = unwrap(value);
  if (w === null) return null;
  if (w.type === "TypeCast") return constText(w.node.arg);
  if (w.type !== "A_Const") return null;
  return aConstText(w.node);
}

function aConstText(c: AstObject): string | null {
  if (c.isnull === true) return null;
  if (isObject(c.sval)) return typeof c.sval.sval === "string" ? c.sval.sval : "";
  if (isObject(c.ival)) return String(typeof c.ival.ival === "number" ? c.ival.ival : 0);
  if (isObject(c.fval)) return typeof c.fval.fval === "string" ? c.fval.fval : "0";
  if (isObject(c.boolval)) return c.boolval.boolval === true ? "true" : "false";
  if (isObject(c.bsval)) return typeof c.bsval.bsval === "string" ? c.bsval.bsval : "";
  return null;
}

/** True when the literal is a string constant (possibly cast), as opposed to a number or boolean. */
export function isStringConst(value: unknown): boolean {
  const w = unwrap(value);
  if (w === null) return false;
  if (w.type === "TypeCast") return isStringConst(w.node.arg);
  return w.type === "A_Const" && isObject(w.node.sval);
}

/**
 * A boolean literal as PostgreSQL's boolean input reads it (`true`, `'off'`, `'1'`, `'yes'`, unique
 * prefixes, case-insensitive), or null when it is not a literal or not a valid boolean.
 */
export function constBoolean(value: unknown): boolean | null {
  const w = unwrap(value);
  if (w === null) return null;
  if (w.type === "TypeCast") return constBoolean(w.node.arg);
  if (w.type !== "A_Const") return null;
  if (isObject(w.node.boolval)) return w.node.boolval.boolval === true;
  if (isObject(w.node.ival)) {
    const n = typeof w.node.ival.ival === "number" ? w.node.ival.ival : 0;
    return n === 0 ? false : n === 1 ? true : null;
  }
  if (isObject(w.node.sval)) return parseBool(typeof w.node.sval.sval === "string" ? w.node.sval.sval : "");
  return null;
}

/** PostgreSQL's `parse_bool`. */
export function parseBool(text: string): boolean | null {
  const s = text.trim().toLowerCase();
  if (s.length === 0) return null;
  const prefixOf = (word: string, min: number) => s.length >= min && word.startsWith(s);
  if (prefixOf("true", 1) || prefixOf("yes", 1)) return true;
  if (prefixOf("false", 1) || prefixOf("no", 1)) return false;
  if (s === "on") return true;
  if (prefixOf("off", 2)) return false;
  if (s === "1") return true;
  if (s === "0") return false;
  return null;
}

/**
 * Double-quotes an identifier unless it is made only of lower-case letters, digits and underscores and does
 * not start with a digit (the character rule of PostgreSQL's `quote_identifier`; keywords are not quoted,
 * which does not change how a list such as search_path is read back).
 */
export function quoteIdent(name: string): string {
  let safe = name.length > 0;
  for (let i = 0; i < name.length && safe; i++) {
    const ch = name.charCodeAt(i);
    const lower = ch >= 97 && ch <= 122;
    const digit = ch >= 48 && ch <= 57;
    safe = lower || ch === 95 || (digit && i > 0);
  }
  return safe ? name : `"${name.replaceAll('"', '""')}"`;
}
