/**
 * Whether the WHERE of an UPDATE or DELETE (or MERGE's ON and WHEN … AND conditions) restricts the rows it
 * changes, for the "no WHERE" guard. A condition that cannot depend on the row restricts nothing:
 * `WHERE true`, `WHERE 1 = 1`, `WHERE NOT false`, `WHERE true OR id = 1`, `WHERE $1`, `WHERE random() < 2`,
 * `WHERE EXISTS (SELECT 1 FROM other)` all count as no WHERE.
 *
 * The rule, from the parse tree alone (no values are looked at, so two statements that differ only in their
 * literals are decided alike, as the shape cache requires):
 * - a leaf condition (anything but AND / OR / NOT) depends on the row when it refers to a column of the
 *   changed table: a column reference outside any subquery, unqualified or qualified with the table's name
 *   or alias, or inside a subquery qualified with it (`EXISTS (SELECT 1 FROM x WHERE x.id = o.id)`);
 *   columns of other FROM / USING items or of the subquery's own tables do not count;
 * - AND / OR / NOT are folded: a condition may hold for every row when it is a leaf that does not depend on
 *   the row, an AND whose parts all may, an OR one of whose parts may, or a NOT of a part that may be false
 *   for every row (and the other way round for "may be false for every row");
 * - `WHERE CURRENT OF cursor` restricts (one row).
 * A condition that names a column can still be true for every row (`WHERE id = id`): the guard catches
 * conditions that cannot depend on the row, it does not prove the others selective.
 */
import { qualifierKey } from "./scope.js";
import { list, nodeType, stringValue, unwrap, walk } from "./walk.js";

/** True when `condition` (absent: no WHERE) restricts the rows of the table known by `names`. */
export function restrictsRows(condition: unknown, names: readonly string[]): boolean {
  if (condition === undefined || condition === null) return false;
  return !mayHoldForAll(condition, names, true);
}

/** Whether `e` may evaluate to `value` for every row (true: it might; false: it depends on the row). */
function mayHoldForAll(e: unknown, names: readonly string[], value: boolean): boolean {
  const w = unwrap(e);
  if (w?.type === "CurrentOfExpr") return false;
  if (w?.type === "BoolExpr") {
    const args = list(w.node.args);
    switch (w.node.boolop) {
      case "AND_EXPR":
        return value
          ? args.every((a) => mayHoldForAll(a, names, true))
          : args.some((a) => mayHoldForAll(a, names, false));
      case "OR_EXPR":
        return value
          ? args.some((a) => mayHoldForAll(a, names, true))
          : args.every((a) => mayHoldForAll(a, names, false));
      case "NOT_EXPR":
        return args.every((a) => mayHoldForAll(a, names, !value));
      default:
        return true;
    }
  }
  return !refersToRow(e, names, false);
}

/** Whether an expression refers to a column (or the whole row) of the changed table. */
function refersToRow(value: unknown, names: readonly string[], nested: boolean): boolean {
  let found = false;
  walk(value, (type, node) => {
    if (found) return false;
    if (type === "ColumnRef") {
      if (columnOfTable(list(node.fields), names, nested)) found = true;
      return false;
    }
    if (!nested && type === "SubLink") {
      if (refersToRow(node.testexpr, names, false) || refersToRow(node.subselect, names, true)) found = true;
      return false;
    }
    if (!nested && (type === "SelectStmt" || type === "RangeSubselect")) {
      if (refersToRow(node, names, true)) found = true;
      return false;
    }
    return undefined;
  });
  return found;
}

function columnOfTable(fields: unknown[], names: readonly string[], nested: boolean): boolean {
  const star = fields.length > 0 && nodeType(fields[fields.length - 1]) === "A_Star";
  const parts: string[] = [];
  for (const f of star ? fields.slice(0, -1) : fields) {
    const s = stringValue(f);
    if (s === null) return false;
    parts.push(s);
  }
  if (parts.length === 0) return false;
  // `o` alone is the whole row of o, or (outside a subquery) any column of the table
  if (parts.length === 1 && !star) return !nested || names.includes(parts[0] as string);
  const qualifier = star ? parts.slice(-2) : parts.slice(0, -1).slice(-2);
  return names.includes(qualifierKey(qualifier));
}
