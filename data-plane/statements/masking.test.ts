import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ColumnMask } from "../../proto/policy.js";
import { CatalogSnapshot } from "./catalog.js";
import { type ColumnPlan, MaskPins, maskDataRow, planFromRowDescription } from "./masking.js";

// Hand-built backend messages, byte for byte as the protocol lays them out.

interface Field {
  name: string;
  table: number;
  attnum: number;
  format?: 0 | 1;
}

function rowDescription(fields: Field[]): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.alloc(2);
  count.writeInt16BE(fields.length);
  parts.push(count);
  for (const f of fields) {
    parts.push(Buffer.from(`${f.name}\0`, "utf8"));
    const rest = Buffer.alloc(18);
    rest.writeUInt32BE(f.table, 0);
    rest.writeInt16BE(f.attnum, 4);
    rest.writeUInt32BE(25, 6); // text
    rest.writeInt16BE(-1, 10);
    rest.writeInt32BE(-1, 12);
    rest.writeInt16BE(f.format ?? 0, 16);
    parts.push(rest);
  }
  return frame("T", Buffer.concat(parts));
}

function dataRow(values: (string | Buffer | null)[]): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.alloc(2);
  count.writeInt16BE(values.length);
  parts.push(count);
  for (const v of values) {
    const len = Buffer.alloc(4);
    if (v === null) {
      len.writeInt32BE(-1);
      parts.push(len);
      continue;
    }
    const bytes = typeof v === "string" ? Buffer.from(v, "utf8") : v;
    len.writeInt32BE(bytes.length);
    parts.push(len, bytes);
  }
  return frame("D", Buffer.concat(parts));
}

function frame(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, "latin1");
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** Reads a DataRow back: the declared length must match, every value is text or null. */
function readDataRow(raw: Buffer): (string | null)[] {
  expect(raw.toString("latin1", 0, 1)).toBe("D");
  expect(raw.readInt32BE(1)).toBe(raw.length - 1);
  const count = raw.readInt16BE(5);
  const out: (string | null)[] = [];
  let offset = 7;
  for (let i = 0; i < count; i++) {
    const len = raw.readInt32BE(offset);
    offset += 4;
    if (len < 0) {
      out.push(null);
      continue;
    }
    out.push(raw.toString("utf8", offset, offset + len));
    offset += len;
  }
  expect(offset).toBe(raw.length);
  return out;
}

const EMPLOYEES = 16_401;
const ORDERS = 16_390;
const catalog = new CatalogSnapshot(Date.now(), [
  {
    oid: EMPLOYEES,
    schema: "hr",
    name: "employees",
    kind: "table",
    columns: new Map([
      [1, "id"],
      [2, "name"],
      [4, "email"],
      [5, "ssn"],
      [6, "salary"],
    ]),
  },
  {
    oid: ORDERS,
    schema: "sales",
    name: "orders",
    kind: "table",
    columns: new Map([
      [1, "id"],
      [3, "amount"],
    ]),
  },
]);

const MASKS: ColumnMask[] = [
  { relation: "hr.employees", column: "ssn", with: "redact" },
  { relation: "hr.employees", column: "salary", with: "null" },
  { relation: "hr.employees", column: "email", with: "hash" },
];
const KEY = Buffer.from("0123456789abcdef0123456789abcdef");

describe("planFromRowDescription: masks keyed by table OID and attribute number", () => {
  it("masks by what the server says the column is, whatever it is called in the result", () => {
    const raw = rowDescription([
      { name: "x", table: EMPLOYEES, attnum: 5 }, // SELECT ssn AS x
      { name: "name", table: EMPLOYEES, attnum: 2 },
      { name: "pay", table: EMPLOYEES, attnum: 6 },
      { name: "contact", table: EMPLOYEES, attnum: 4 },
    ]);
    const plan = planFromRowDescription(raw, MASKS, catalog);
    expect(plan).toEqual({ actions: ["redact", undefined, "null", "hash"], any: true, unknownTables: false });
  });

  it("leaves a column named like a masked one alone when the server traces it elsewhere or nowhere", () => {
    const raw = rowDescription([
      { name: "ssn", table: ORDERS, attnum: 3 }, // amount AS ssn
      { name: "ssn", table: 0, attnum: 0 }, // an expression
      { name: "salary", table: EMPLOYEES, attnum: 1 }, // id AS salary
    ]);
    const plan = planFromRowDescription(raw, MASKS, catalog);
    expect(plan.any).toBe(false);
    expect(plan.actions).toEqual([undefined, undefined, undefined]);
  });

  it("applies a mask without a relation to that column of every table, and one naming the bare table", () => {
    const raw = rowDescription([
      { name: "id", table: ORDERS, attnum: 1 },
      { name: "amount", table: ORDERS, attnum: 3 },
      { name: "id", table: EMPLOYEES, attnum: 1 },
    ]);
    const plan = planFromRowDescription(
      raw,
      [
        { column: "id", with: "null" },
        { relation: "orders", column: "amount", with: "redact" },
      ],
      catalog,
    );
    expect(plan.actions).toEqual(["null", "redact", "null"]);
  });

  it("sends null for a binary-format masked column, whatever the mask says", () => {
    const raw = rowDescription([
      { name: "ssn", table: EMPLOYEES, attnum: 5, format: 1 },
      { name: "email", table: EMPLOYEES, attnum: 4, format: 1 },
      { name: "name", table: EMPLOYEES, attnum: 2, format: 1 },
    ]);
    expect(planFromRowDescription(raw, MASKS, catalog).actions).toEqual(["null", "null", undefined]);
  });

  it("fails closed on a table the snapshot does not know while masks exist, and asks for a refresh", () => {
    const raw = rowDescription([
      { name: "a", table: 99_999, attnum: 1 },
      { name: "id", table: ORDERS, attnum: 1 },
    ]);
    expect(planFromRowDescription(raw, MASKS, catalog)).toEqual({
      actions: ["null", undefined],
      any: true,
      unknownTables: true,
    });
    expect(planFromRowDescription(raw, MASKS, undefined).actions).toEqual(["null", "null"]);
    // with no masks, nothing can be masked: unknown tables pass
    expect(planFromRowDescription(raw, [], undefined)).toEqual({
      actions: [undefined, undefined],
      any: false,
      unknownTables: false,
    });
  });

  it("reads field names of any length and multi-byte names without losing its place", () => {
    const raw = rowDescription([
      { name: "é".repeat(40), table: EMPLOYEES, attnum: 2 },
      { name: "", table: EMPLOYEES, attnum: 5 },
    ]);
    expect(planFromRowDescription(raw, MASKS, catalog).actions).toEqual([undefined, "redact"]);
  });

  it("keeps a pinned mask on its table OID and attribute number after the column, table or schema is renamed", () => {
    const pins = new MaskPins();
    pins.pin(MASKS, catalog);
    // the snapshot after ALTER TABLE hr.employees RENAME COLUMN ssn TO s, RENAME TO staff, SET SCHEMA public
    const renamed = new CatalogSnapshot(Date.now(), [
      {
        oid: EMPLOYEES,
        schema: "public",
        name: "staff",
        kind: "table",
        columns: new Map([
          [1, "id"],
          [2, "name"],
          [4, "contact"],
          [5, "s"],
          [6, "pay"],
        ]),
      },
    ]);
    const raw = rowDescription([
      { name: "s", table: EMPLOYEES, attnum: 5 },
      { name: "name", table: EMPLOYEES, attnum: 2 },
      { name: "pay", table: EMPLOYEES, attnum: 6 },
      { name: "contact", table: EMPLOYEES, attnum: 4, format: 1 },
    ]);
    expect(planFromRowDescription(raw, MASKS, renamed).actions).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(planFromRowDescription(raw, MASKS, renamed, pins).actions).toEqual([
      "redact",
      undefined,
      "null",
      "null",
    ]);
  });

  it("pins a mask matched by name when the session had no snapshot to pin it with", () => {
    const pins = new MaskPins();
    pins.pin(MASKS, undefined);
    const raw = rowDescription([{ name: "ssn", table: EMPLOYEES, attnum: 5 }]);
    expect(planFromRowDescription(raw, MASKS, catalog, pins).actions).toEqual(["redact"]);
    expect(pins.get(EMPLOYEES, 5)).toBe("redact");
  });

  it("handles a result with no columns", () => {
    expect(planFromRowDescription(rowDescription([]), MASKS, catalog)).toEqual({
      actions: [],
      any: false,
      unknownTables: false,
    });
  });
});

describe("maskDataRow", () => {
  const plan: ColumnPlan = {
    actions: [undefined, "redact", "null", "hash"],
    any: true,
    unknownTables: false,
  };

  it("rewrites each masked value and keeps the others byte for byte, with a correct length", () => {
    const out = maskDataRow(dataRow(["Alice", "123-45-6789", "98000.00", "alice@example.com"]), plan, KEY);
    const values = readDataRow(out);
    expect(values[0]).toBe("Alice");
    expect(values[1]).toBe("***");
    expect(values[2]).toBeNull();
    expect(values[3]).toMatch(/^[0-9a-f]{32}$/);
    expect(values[3]).not.toContain("alice");
  });

  it("hashes with the key: equal values hash equal (joins still work), other keys and values differ", () => {
    const hash = (value: string, key: Buffer) =>
      readDataRow(maskDataRow(dataRow(["", "", "", value]), plan, key))[3];
    expect(hash("alice@example.com", KEY)).toBe(hash("alice@example.com", KEY));
    expect(hash("alice@example.com", KEY)).not.toBe(hash("bob@example.com", KEY));
    expect(hash("alice@example.com", KEY)).not.toBe(hash("alice@example.com", Buffer.from("other key")));
    // an HMAC-SHA256 of the value's bytes, not a plain digest an attacker could precompute
    expect(hash("alice@example.com", KEY)).toBe(
      createHmac("sha256", KEY).update("alice@example.com").digest("hex").slice(0, 32),
    );
  });

  it("keeps SQL NULL as NULL whatever the mask", () => {
    const out = readDataRow(maskDataRow(dataRow(["x", null, null, null]), plan, KEY));
    expect(out).toEqual(["x", null, null, null]);
  });

  it("copes with empty strings, multi-byte text and values far larger than the replacement", () => {
    const big = "9".repeat(100_000);
    const out = readDataRow(maskDataRow(dataRow(["ünïcödé ✓", big, "", ""]), plan, KEY));
    expect(out[0]).toBe("ünïcödé ✓");
    expect(out[1]).toBe("***");
    expect(out[2]).toBeNull();
    expect(out[3]).toMatch(/^[0-9a-f]{32}$/);
  });

  it("passes binary values of unmasked columns through untouched", () => {
    const binary = Buffer.from([0, 1, 2, 0xff, 0]);
    const out = maskDataRow(dataRow([binary, "s", "1", "e"]), plan, KEY);
    expect(out.subarray(11, 16)).toEqual(binary);
  });
});
