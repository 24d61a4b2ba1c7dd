import { LRUCache } from "lru-cache";
import type { PolicyHolder } from "../../common/policy/runtime.js";
import type { StatementInfo } from "../../proto/policy.js";
import { normalize } from "../sql/parser.js";
import type { ShapeCache } from "./decision-cache.js";

/**
 * The shape of a simple query (its text with literals replaced by placeholders), by which a plain
 * statement seen before is analysed, and may be decided, without the parser.
 */

/**
 * Shapes (normalized texts) for which the parser's normalization of a text equalled `plainShape`'s.
 * Two texts with the same plainShape have the same tokens but for the digits of their integer
 * literals, so the parser reads the same statement with its constants at the same places and
 * normalizes both to the same text: once one was checked, the others need not be parsed to be shaped.
 */
const VERIFIED_SHAPES = new LRUCache<string, true>({ max: 10_000 });

/**
 * The normalized text of a statement written in a deliberately small grammar — ASCII identifiers and
 * keywords, whitespace, `= , ( ) ; * < > + .` and unsigned decimal integers — with each integer
 * replaced by `$1`, `$2`… in order, as the parser's normalization writes constants; undefined for
 * anything else (quotes, `$`, `-`, `/`, `:`, other bytes, or an integer touching a letter, `_` or `.`).
 * Only a candidate: it is trusted once the parser agreed on the same shape (VERIFIED_SHAPES).
 */
export function plainShape(text: string): string | undefined {
  let out = "";
  let from = 0;
  let n = 0;
  const length = text.length;
  for (let i = 0; i < length; ) {
    const c = text.charCodeAt(i);
    if (isIdentStart(c)) {
      i++;
      while (i < length && isIdentPart(text.charCodeAt(i))) i++;
    } else if (c >= 0x30 && c <= 0x39) {
      if (i > 0 && text.charCodeAt(i - 1) === 0x2e /* . */) return undefined;
      const start = i;
      while (i < length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
      if (i < length) {
        const next = text.charCodeAt(i);
        if (isIdentPart(next) || next === 0x2e) return undefined;
      }
      out += `${text.slice(from, start)}$${++n}`;
      from = i;
    } else if (PLAIN_PUNCTUATION.has(c)) i++;
    else return undefined;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Whitespace and the punctuation plainShape accepts. */
const PLAIN_PUNCTUATION: ReadonlySet<number> = new Set(
  [..." \t\n\r=,();*<>+."].map((ch) => ch.charCodeAt(0)),
);

function isIdentStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 0x30 && c <= 0x39);
}

/** Longest query text the shape cache is used for. */
const MAX_SHAPE_TEXT = 8 * 1024;

/**
 * Statements whose analysis does not depend on their literal values: plain reads and writes with no
 * settings (SET, set_config) and no positional reference (`ORDER BY 2` normalizes to `ORDER BY $1`,
 * but which column it uses is the literal's value). Every statement of the same shape has the same
 * analysis but its text.
 */
export function shapeable(info: StatementInfo): boolean {
  return (
    (info.kind === "select" || info.kind === "insert" || info.kind === "update" || info.kind === "delete") &&
    (info.settings?.length ?? 0) === 0 &&
    info.positional_references !== true &&
    info.inner === undefined
  );
}

/** The normalized text (literals → placeholders) of a simple query and what the shape cache knows of it. */
export function shapeOf(
  text: string,
  shapes: ShapeCache | undefined,
  policy: PolicyHolder,
): { normalized: string; template: StatementInfo | undefined } | undefined {
  if (!shapes || !policy.current()?.hasCacheableByShape || text.length > MAX_SHAPE_TEXT) return undefined;
  // A text in the small grammar plainShape reads whose shape the parser already normalized the same
  // way needs no parser call: same tokens but for the integers, same constants (see plainShape).
  const plain = plainShape(text);
  if (plain !== undefined && VERIFIED_SHAPES.has(plain))
    return { normalized: plain, template: shapes.get(plain) };
  try {
    const normalized = normalize(text);
    if (plain !== undefined && plain === normalized) VERIFIED_SHAPES.set(plain, true);
    return { normalized, template: shapes.get(normalized) };
  } catch {
    return undefined; // the full path says why it does not parse
  }
}
