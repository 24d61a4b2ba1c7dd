import type { StatementInfo } from "../../proto/policy.js";

/**
 * Rules the proxy enforces whatever the policy says, because its own analysis depends on them: the
 * parser reads SQL as the server does only while standard_conforming_strings is on and the client
 * encoding keeps ASCII bytes meaning ASCII (in SJIS, BIG5, GBK, GB18030, UHC and JOHAB a second byte
 * can be a quote or a backslash, so a string could end where the parser does not see it end).
 */

/**
 * Client encodings whose multibyte characters can contain ASCII quote or backslash bytes, under every
 * name PostgreSQL accepts for them (its encoding-name table, compared after dropping everything but
 * letters and digits, as the server does: "Shift_JIS", "win-932" and "B_I_G_5" all count).
 */
export const UNSAFE_CLIENT_ENCODINGS = new Set([
  "sjis",
  "shiftjis",
  "mskanji",
  "win932",
  "windows932",
  "shiftjis2004",
  "big5",
  "win950",
  "windows950",
  "gbk",
  "win936",
  "windows936",
  "gb18030",
  "uhc",
  "win949",
  "windows949",
  "johab",
]);

/** PostgreSQL's clean_encoding_name: lower case, letters and digits only. */
function normalizeEncoding(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9]/g, "");
}

export function unsafeClientEncoding(value: string): boolean {
  return UNSAFE_CLIENT_ENCODINGS.has(normalizeEncoding(value));
}

const TRUE = new Set(["on", "true", "yes", "1", "t", "y"]);

function* settingsOf(info: StatementInfo): Generator<NonNullable<StatementInfo["settings"]>[number]> {
  // SHOW reports the setting it reads: it changes nothing
  if (info.kind !== "show") for (const s of info.settings ?? []) yield s;
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

/**
 * Why a setting the server reports (ParameterStatus, at login or at any point of a session) makes its
 * SQL read differently from the proxy's reading, or undefined when it is safe. Settings are changed
 * in ways the proxy cannot see (set_config inside a function, ALTER DATABASE/ROLE … SET, RESET after
 * such a default), so what the server reports is checked, whatever the statements looked like.
 */
export function unsafeReportedSetting(name: string, value: string): string | undefined {
  const key = name.toLowerCase();
  if (key === "standard_conforming_strings" && value.toLowerCase() !== "on") {
    return `the database session's standard_conforming_strings is ${value}, which Portcullis cannot analyse safely`;
  }
  if (key === "client_encoding" && unsafeClientEncoding(value)) {
    return `the database session's client_encoding is ${value}, which Portcullis cannot analyse safely`;
  }
  return undefined;
}
