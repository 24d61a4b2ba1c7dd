import { describe, expect, it } from "vitest";
import { FrontendFramer } from "../protocol/frontend-messages.js";
import {
  DENIAL_MARKER,
  DENIAL_SQLSTATE,
  DENIAL_STATEMENT,
  denialSql,
  extendedDenial,
  SYNTAX_ERROR_SQLSTATE,
  simpleDenial,
  tidyDenialError,
} from "./denial.js";

/** An ErrorResponse as PL/pgSQL's RAISE leaves it: severity, code, message, context, schema marker. */
function errorResponse(fields: [string, string][]): Buffer {
  const body = Buffer.concat([
    ...fields.map(([type, value]) => Buffer.from(`${type}${value}\0`, "utf8")),
    Buffer.from([0]),
  ]);
  const out = Buffer.alloc(5 + body.length);
  out.write("E", 0, "latin1");
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function fieldsOf(raw: Buffer): [string, string][] {
  expect(raw.readInt32BE(1)).toBe(raw.length - 1);
  const out: [string, string][] = [];
  let offset = 5;
  while (raw[offset] !== 0) {
    const end = raw.indexOf(0, offset + 1);
    out.push([String.fromCharCode(raw[offset]!), raw.toString("utf8", offset + 1, end)]);
    offset = end + 1;
  }
  expect(offset).toBe(raw.length - 1);
  return out;
}

/** The frontend messages in a buffer, as the proxy's own parser cuts them. */
function messages(raw: Buffer): { type: string; body: Buffer }[] {
  const framer = new FrontendFramer();
  framer.push(raw);
  const out: { type: string; body: Buffer }[] = [];
  for (let m = framer.next(); m; m = framer.next()) out.push({ type: m.type, body: m.body });
  return out;
}

describe("denialSql", () => {
  it("is a DO block raising 42501 with the message and the marker schema", () => {
    expect(denialSql("permission denied: no")).toBe(
      `DO $pcl$BEGIN RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'permission denied: no', SCHEMA = '${DENIAL_MARKER}'; END$pcl$`,
    );
  });

  it("doubles single quotes and drops NUL bytes, so no message can end the literal", () => {
    const sql = denialSql("it's'); DROP TABLE x; --\0");
    expect(sql).toContain("MESSAGE = 'it''s''); DROP TABLE x; --'");
    expect(sql).not.toContain("\0");
  });

  it("picks a dollar-quote tag the message does not contain", () => {
    const sql = denialSql("a $pcl$ b $pclx$ c");
    expect(sql.startsWith("DO $pclxx$")).toBe(true);
    expect(sql.endsWith("$pclxx$")).toBe(true);
  });

  it("adds a hint, and raises the syntax-error code when asked (and only the proxy's two codes)", () => {
    expect(denialSql("m", "try x")).toContain("HINT = 'try x'");
    expect(denialSql("m", undefined, SYNTAX_ERROR_SQLSTATE)).toContain("ERRCODE = '42601'");
    expect(() => denialSql("m", undefined, "00000")).toThrow(/not a denial SQLSTATE/);
  });
});

describe("denial messages", () => {
  it("simple protocol: one Query with the DO block", () => {
    const parsed = messages(simpleDenial("nope"));
    expect(parsed.map((m) => m.type)).toEqual(["Q"]);
    expect(parsed[0]!.body.toString("utf8")).toBe(`${denialSql("nope")}\0`);
  });

  it("extended protocol: Parse, Bind and Execute on the unnamed statement and portal", () => {
    const parsed = messages(extendedDenial("nope", undefined, SYNTAX_ERROR_SQLSTATE));
    expect(parsed.map((m) => m.type)).toEqual(["P", "B", "E"]);
    // Parse: name "" then the text
    expect(parsed[0]!.body[0]).toBe(0);
    expect(parsed[0]!.body.toString("utf8", 1)).toContain(denialSql("nope", undefined, "42601"));
    // Bind: portal "" and statement ""
    expect([parsed[1]!.body[0], parsed[1]!.body[1]]).toEqual([0, 0]);
    // Execute: portal "", no row limit
    expect(parsed[2]!.body).toEqual(Buffer.from([0, 0, 0, 0, 0]));
  });

  it("extended protocol under the reserved statement name: Close first, the unnamed statement untouched", () => {
    const parsed = messages(
      extendedDenial("nope", undefined, undefined, { statement: DENIAL_STATEMENT, close: true }),
    );
    expect(parsed.map((m) => m.type)).toEqual(["C", "P", "B", "E"]);
    expect(parsed[0]!.body.toString("utf8")).toBe(`S${DENIAL_STATEMENT}\0`);
    expect(parsed[1]!.body.toString("utf8", 0, DENIAL_STATEMENT.length + 1)).toBe(`${DENIAL_STATEMENT}\0`);
    // Bind: portal "" and the reserved statement
    expect(parsed[2]!.body.toString("utf8", 0, DENIAL_STATEMENT.length + 2)).toBe(`\0${DENIAL_STATEMENT}\0`);
  });
});

describe("tidyDenialError", () => {
  const ours: [string, string][] = [
    ["S", "ERROR"],
    ["V", "ERROR"],
    ["C", DENIAL_SQLSTATE],
    ["M", "permission denied by Portcullis policy: x"],
    ["W", "PL/pgSQL function inline_code_block line 1 at RAISE"],
    ["s", DENIAL_MARKER],
    ["F", "pl_exec.c"],
  ];

  it("drops the PL/pgSQL context and the marker, keeps everything else in order", () => {
    const tidy = tidyDenialError(errorResponse(ours));
    expect(tidy).toBeDefined();
    expect(fieldsOf(tidy!)).toEqual([
      ["S", "ERROR"],
      ["V", "ERROR"],
      ["C", "42501"],
      ["M", "permission denied by Portcullis policy: x"],
      ["F", "pl_exec.c"],
    ]);
  });

  it("tidies the proxy's syntax errors too", () => {
    const raw = errorResponse(ours.map(([t, v]) => [t, t === "C" ? SYNTAX_ERROR_SQLSTATE : v]));
    expect(fieldsOf(tidyDenialError(raw)!)).toContainEqual(["C", "42601"]);
  });

  it("leaves errors that are not the proxy's alone", () => {
    // a real 42501 from the server (no marker)
    expect(tidyDenialError(errorResponse(ours.filter(([t]) => t !== "s")))).toBeUndefined();
    // the marker with another code
    expect(tidyDenialError(errorResponse(ours.map(([t, v]) => [t, t === "C" ? "22012" : v])))).toBe(
      undefined,
    );
    // another schema name
    expect(tidyDenialError(errorResponse(ours.map(([t, v]) => [t, t === "s" ? "public" : v])))).toBe(
      undefined,
    );
  });

  it("gives up on a malformed message instead of reading past it", () => {
    const raw = errorResponse(ours);
    const cut = raw.subarray(0, raw.length - 8); // no terminators at the end
    expect(tidyDenialError(cut)).toBeUndefined();
  });
});
