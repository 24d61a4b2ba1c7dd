import { createHmac } from "node:crypto";
import type { ColumnMask } from "../../proto/policy.js";
import type { CatalogSnapshot } from "./catalog.js";

/**
 * Column masking keyed by what the server says a result column is: RowDescription's table OID and
 * attribute number, resolved to schema.table.column through the catalog. An alias cannot dodge it.
 * Values are rewritten in DataRow: null, `***` (redact) or a keyed hash. A binary-format column gets
 * null for every mask kind: a replacement in the wrong binary shape would break the client's decoder.
 */

export type MaskAction = "null" | "redact" | "hash";

export interface ColumnPlan {
  /** Per result column: what to do, or undefined to pass through. */
  actions: (MaskAction | undefined)[];
  any: boolean;
  /** Some column came from a table the catalog snapshot does not know. */
  unknownTables: boolean;
}

/**
 * Masks pinned to what they named when the session got them: table OID → attribute number → mask.
 * A mask names `schema.table.column`, but once a session has it, it stays on that column whatever the
 * column or table is called later (`RENAME COLUMN ssn TO s`, `RENAME TO`, `SET SCHEMA`).
 */
export class MaskPins {
  private readonly byOid = new Map<number, Map<number, ColumnMask["with"]>>();

  /** Pins every mask to the (OID, attribute number) the catalog says it names now. */
  pin(masks: readonly ColumnMask[], catalog: CatalogSnapshot | undefined): void {
    if (!catalog) return;
    for (const mask of masks) {
      for (const relation of catalog.byOid.values()) {
        if (!maskNamesRelation(mask, relation.schema, relation.name)) continue;
        for (const [attnum, name] of relation.columns) {
          if (name === mask.column) this.add(relation.oid, attnum, mask.with);
        }
      }
    }
  }

  add(oid: number, attnum: number, with_: ColumnMask["with"]): void {
    let columns = this.byOid.get(oid);
    if (!columns) {
      columns = new Map();
      this.byOid.set(oid, columns);
    }
    if (!columns.has(attnum)) columns.set(attnum, with_);
  }

  /** Whether any mask is pinned to a column of this table. */
  has(oid: number | undefined): boolean {
    return oid !== undefined && this.byOid.has(oid);
  }

  get(oid: number, attnum: number): ColumnMask["with"] | undefined {
    return this.byOid.get(oid)?.get(attnum);
  }
}

function maskNamesRelation(mask: ColumnMask, schema: string, name: string): boolean {
  return mask.relation === undefined || mask.relation === `${schema}.${name}` || mask.relation === name;
}

/**
 * Reads RowDescription and decides, per column, which mask applies (if any): a pinned one by table
 * OID and attribute number, else one naming the column as the catalog names it now (then pinned).
 */
export function planFromRowDescription(
  raw: Buffer,
  masks: readonly ColumnMask[],
  catalog: CatalogSnapshot | undefined,
  pins?: MaskPins,
): ColumnPlan {
  const count = raw.readInt16BE(5);
  const actions: (MaskAction | undefined)[] = new Array(count);
  let any = false;
  let unknownTables = false;
  let offset = 7;
  for (let i = 0; i < count; i++) {
    const nameEnd = raw.indexOf(0, offset);
    offset = nameEnd + 1;
    const tableOid = raw.readUInt32BE(offset);
    const attnum = raw.readInt16BE(offset + 4);
    const format = raw.readInt16BE(offset + 16);
    offset += 18;
    if (tableOid === 0) continue;
    const pinned = pins?.get(tableOid, attnum);
    if (pinned !== undefined) {
      actions[i] = format === 1 ? "null" : pinned;
      any = true;
      continue;
    }
    const relation = catalog?.byOid.get(tableOid);
    if (!relation) {
      // A table the snapshot does not know (created or re-created since it was read): it could be a
      // masked one, so fail closed and send null. The caller refreshes the catalog.
      if (masks.length > 0) {
        actions[i] = "null";
        any = true;
        unknownTables = true;
      }
      continue;
    }
    const column = relation.columns.get(attnum);
    if (!column) continue;
    const mask = masks.find(
      (m) => m.column === column && maskNamesRelation(m, relation.schema, relation.name),
    );
    if (mask) {
      pins?.add(tableOid, attnum, mask.with);
      actions[i] = format === 1 ? "null" : mask.with;
      any = true;
    }
  }
  return { actions, any, unknownTables };
}

const REDACTED = Buffer.from("***");

/** Rewrites one DataRow according to the plan. */
export function maskDataRow(raw: Buffer, plan: ColumnPlan, hashKey: Buffer): Buffer {
  const count = raw.readInt16BE(5);
  const parts: Buffer[] = [raw.subarray(0, 7)];
  let offset = 7;
  let length = 2;
  for (let i = 0; i < count; i++) {
    const len = raw.readInt32BE(offset);
    const valueEnd = offset + 4 + Math.max(len, 0);
    if (len < -1 || valueEnd > raw.length) throw new Error("upstream sent a malformed DataRow");
    const action = plan.actions[i];
    if (action === undefined || len < 0) {
      parts.push(raw.subarray(offset, valueEnd));
      length += valueEnd - offset;
    } else {
      const replacement =
        action === "null"
          ? null
          : action === "redact"
            ? REDACTED
            : Buffer.from(
                createHmac("sha256", hashKey)
                  .update(raw.subarray(offset + 4, valueEnd))
                  .digest("hex")
                  .slice(0, 32),
              );
      const header = Buffer.alloc(4);
      header.writeInt32BE(replacement === null ? -1 : replacement.length);
      parts.push(header);
      length += 4;
      if (replacement) {
        parts.push(replacement);
        length += replacement.length;
      }
    }
    offset = valueEnd;
  }
  const out = Buffer.concat(parts);
  out.writeInt32BE(length + 4, 1);
  return out;
}
