import type { StatementInfo } from "../../proto/policy.js";

/**
 * Rules the proxy enforces whatever the policy says, because its own analysis depends on them: the
 * parser reads SQL as the server does only while standard_conforming_strings is on and the client
 * encoding keeps ASCII bytes meaning ASCII (in SJIS, BIG5, GBK, GB18030, UHC and JOHAB a second byte
 * can be a quote or a backslash, so a string could end where the parser does not see it end).
 */

/** Client encodings whose multibyte characters can contain ASCII quote or backslash bytes. */
export const UNSAFE_CLIENT_ENCODINGS = new Set([
  "sjis",
  "shift_jis_2004",
  "big5",
  "gbk",
  "gb18030",
  "uhc",
  "johab",
]);

function normalizeEncoding(value: string): string {
  return value
    .toLowerCase()
    .replace(/[-\s]/g, "")
    .replace(/^shiftjis2004$/, "shift_jis_2004")
    .replace(/^shiftjis$/, "sjis");
}

export function unsafeClientEncoding(value: string): boolean {
  const v = normalizeEncoding(value);
  // PostgreSQL's aliases for the same encodings
  return (
    UNSAFE_CLIENT_ENCODINGS.has(v) ||
    ["mskanji", "windows932", "windows936", "windows949", "windows950"].includes(v)
  );
}

const TRUE = new Set(["on", "true", "yes", "1", "t", "y"]);

function* settingsOf(info: StatementInfo): Generator<NonNullable<StatementInfo["settings"]>[number]> {
  for (const s of info.settings ?? []) yield s;
  if (info.inner) yield* settingsOf(info.inner);
}

/** The reason a statement breaks a proxy invariant, or undefined. */
export function invariantViolation(info: StatementInfo): string | undefined {
  for (const setting of settingsOf(info)) {
    if (setting.name === "standard_conforming_strings" && !setting.reset) {
      if (setting.value === null || !TRUE.has(setting.value.toLowerCase())) {
        return "standard_conforming_strings must stay on through Portcullis";
      }
    }
    if (setting.name === "client_encoding" && !setting.reset) {
      if (setting.value === null || unsafeClientEncoding(setting.value)) {
        return `client_encoding ${setting.value ?? "(computed)"} is not allowed through Portcullis`;
      }
    }
  }
  return undefined;
}
