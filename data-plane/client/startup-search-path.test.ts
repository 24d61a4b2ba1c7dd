import { describe, expect, it } from "vitest";
import {
  checkServerSearchPath,
  parseStartupSearchPath,
  StartupSearchPathRefused,
} from "./startup-search-path.js";

function refusal(value: string): string | undefined {
  try {
    parseStartupSearchPath(value);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(StartupSearchPathRefused);
    return (err as StartupSearchPathRefused).sqlstate;
  }
}

describe("a start-up search_path is read as the server reads it", () => {
  it.each([
    ["foo", ["foo"], "SET search_path TO 'foo'"],
    ["Sales, PUBLIC", ["sales", "public"], "SET search_path TO 'sales', 'public'"],
    ['"$user", public', ["$user", "public"], "SET search_path TO '$user', 'public'"],
    ["$user,public", ["$user", "public"], "SET search_path TO '$user', 'public'"],
    ['"My Schema" ,  "a,b"', ["My Schema", "a,b"], "SET search_path TO 'My Schema', 'a,b'"],
    ['"we""ird", "o\'k"', ['we"ird', "o'k"], "SET search_path TO 'we\"ird', 'o''k'"],
    ["ÉCOLE", ["École"], "SET search_path TO 'École'"],
    ['""', [""], "SET search_path TO ''"],
  ])("%j → %j, decided as %s", (value, schemas, statement) => {
    expect(parseStartupSearchPath(value)).toEqual({ value, schemas, statement });
  });

  it.each(["a,", ",a", 'a, "b', "a b", "a,,b", '"x"y'])("refuses %j as the server does: 22023", (value) => {
    expect(refusal(value)).toBe("22023");
  });

  it("refuses what it cannot represent exactly: an empty list, a name the server would truncate (0A000)", () => {
    expect(refusal("")).toBe("0A000");
    expect(refusal("   ")).toBe("0A000");
    expect(refusal("a".repeat(64))).toBe("0A000");
    expect(refusal("é".repeat(32))).toBe("0A000"); // 64 bytes
    expect(refusal("a".repeat(63))).toBeUndefined();
  });
});

describe("what the server says after login is checked against it", () => {
  const given = parseStartupSearchPath('"$user", Sales, public');

  it("accepts the same list, searched in order, with $user expanded and the session's temp schema", () => {
    expect(
      checkServerSearchPath(given, '"$user", sales, public', ["sales", "public"], "admin"),
    ).toBeUndefined();
    expect(
      checkServerSearchPath(given, '"$user", sales, public', ["admin", "public"], "admin"),
    ).toBeUndefined();
    expect(checkServerSearchPath(given, '"$user", sales, public', [], "admin")).toBeUndefined();
    const temp = parseStartupSearchPath("pg_temp, public");
    expect(checkServerSearchPath(temp, "pg_temp, public", ["pg_temp_3", "public"], "admin")).toBeUndefined();
  });

  it("refuses another setting, a schema it does not name, another order", () => {
    expect(checkServerSearchPath(given, "sales, public", ["sales", "public"], "admin")).toMatch(
      /not the one/,
    );
    expect(checkServerSearchPath(given, null, [], "admin")).toMatch(/not the one/);
    expect(checkServerSearchPath(given, '"$user", sales, public', ["hr"], "admin")).toMatch(/schema hr/);
    expect(checkServerSearchPath(given, '"$user", sales, public', ["public", "sales"], "admin")).toMatch(
      /schema sales/,
    );
    expect(checkServerSearchPath(given, '"$user", sales, public', null, "admin")).toMatch(/did not say/);
  });
});
