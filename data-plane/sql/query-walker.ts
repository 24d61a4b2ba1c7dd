/**
 * Walks queries and expressions with name scopes, feeding a {@link Collector}: relations (with read/write
 * access), function calls, column references (with their relation resolved through FROM aliases), set_config
 * calls, and whether UPDATE/DELETE/MERGE are restricted.
 *
 * Rules the walker follows (they are what a policy can rely on):
 * - A table named in a FROM list, JOIN, USING, MERGE … USING, subquery or CTE body is read; the target of
 *   INSERT/UPDATE/DELETE/MERGE, `SELECT … INTO` and every table a DDL statement acts on is written.
 *   `SELECT … FOR UPDATE/SHARE` needs UPDATE privilege and takes row locks, so the locked tables are
 *   reported written too (a bare FOR UPDATE locks every table of its FROM list, including inside subqueries).
 * - An unqualified name that matches a CTE visible at that point is not a relation. A non-recursive CTE does
 *   not see itself or later siblings (`WITH t AS (SELECT * FROM t)` reads the real table t).
 * - Column context "output" is given only by the caller for the top-level target list; every other use is
 *   "expression". A bare alias or table name used as a value (`SELECT e`, `row_to_json(e)`, `(e).x`) is a
 *   whole-row reference: column "*" in context "expression". `*` expands to one entry per FROM item.
 * - Nodes the walker has no rule for are still walked field by field, so nothing nested in them is missed.
 */
import type { ColumnUse } from "../../proto/policy.js";
import type { Access, Collector } from "./collector.js";
import { functionLabel } from "./function-label.js";
import { ROLE_PARAMETERS } from "./kinds.js";
import { Level, qualifierKey, type RangeItem, type RelationName, relationDisplay } from "./scope.js";
import { setConfigSetting, UNKNOWN_SETTING } from "./settings.js";
import {
  type AstObject,
  bareFieldType,
  isObject,
  list,
  nameParts,
  nodeType,
  str,
  stringValue,
  unwrap,
} from "./walk.js";
import { restrictsRows } from "./where-restricts.js";

/** RangeVars met outside a FROM list are acted upon (written), except in these fields, which only read. */
const READ_RANGEVAR_FIELDS: ReadonlySet<string> = new Set([
  "Constraint.pktable",
  "TableLikeClause.relation",
  "CreateTrigStmt.constrrel",
  "PublicationTable.relation",
]);

const QUERY_TYPES: ReadonlySet<string> = new Set([
  "SelectStmt",
  "InsertStmt",
  "UpdateStmt",
  "DeleteStmt",
  "MergeStmt",
]);

const SELECT_SPECIAL = new Set([
  "withClause",
  "larg",
  "rarg",
  "fromClause",
  "targetList",
  "intoClause",
  "lockingClause",
]);
const INSERT_SPECIAL = new Set([
  "withClause",
  "relation",
  "cols",
  "selectStmt",
  "onConflictClause",
  "returningClause",
]);
const UPDATE_SPECIAL = new Set([
  "withClause",
  "relation",
  "targetList",
  "fromClause",
  "whereClause",
  "returningClause",
]);
const DELETE_SPECIAL = new Set(["withClause", "relation", "usingClause", "whereClause", "returningClause"]);
const MERGE_SPECIAL = new Set([
  "withClause",
  "relation",
  "sourceRelation",
  "joinCondition",
  "mergeWhenClauses",
  "returningClause",
]);
const FUNC_SPECIAL = new Set(["funcname"]);
const ALIAS_ONLY = new Set(["alias"]);

export function relationOf(rv: unknown): RelationName | null {
  if (!isObject(rv)) return null;
  const name = str(rv.relname);
  if (name === undefined) return null;
  return { schema: str(rv.schemaname) ?? null, name };
}

function aliasName(alias: unknown): string | null {
  return isObject(alias) ? (str(alias.aliasname) ?? null) : null;
}

/** An alias with a column list (`AS e(a, b)`) renames the item's columns. */
function renamesColumns(alias: unknown): boolean {
  return isObject(alias) && list(alias.colnames).length > 0;
}

/** The FROM item for a table reference: answers to its alias, or to its name and "schema.name". */
export function tableItem(rv: AstObject, rel: RelationName, extraNames: string[] = []): RangeItem {
  const alias = aliasName(rv.alias);
  const names =
    alias !== null
      ? [alias]
      : rel.schema !== null
        ? [rel.name, qualifierKey([rel.schema, rel.name])]
        : [rel.name];
  const item: RangeItem = {
    names: [...names, ...extraNames],
    relation: relationDisplay(rel),
    underlying: [rel],
  };
  if (renamesColumns(rv.alias)) item.renamed = true;
  return item;
}

export class QueryWalker {
  /** Open collections of the relations read inside FROM subqueries (for FOR UPDATE pushdown). */
  private readonly sinks: RelationName[][] = [];

  constructor(private readonly out: Collector) {}

  // ---------------------------------------------------------------- statements

  /** A wrapped query node (SELECT/INSERT/UPDATE/DELETE/MERGE; anything else is walked generically). */
  query(value: unknown, parent: Level, output: boolean): void {
    const w = unwrap(value);
    if (w === null) {
      this.expr(value, parent);
      return;
    }
    this.queryNode(w.type, w.node, parent, output);
  }

  queryNode(type: string, node: AstObject, parent: Level, output: boolean): void {
    switch (type) {
      case "SelectStmt":
        this.select(node, parent, output);
        return;
      case "InsertStmt":
        this.insert(node, parent);
        return;
      case "UpdateStmt":
        this.update(node, parent);
        return;
      case "DeleteStmt":
        this.delete(node, parent);
        return;
      case "MergeStmt":
        this.merge(node, parent);
        return;
      default:
        this.node(type, node, parent, null, "");
    }
  }

  select(s: AstObject, parent: Level, output: boolean): void {
    const level = new Level(parent);
    if (isObject(s.withClause)) this.withClause(s.withClause, level);
    // Set operations: each branch is its own query; the result columns cannot be traced to a table.
    if (isObject(s.larg)) this.select(s.larg, level, false);
    if (isObject(s.rarg)) this.select(s.rarg, level, false);
    for (const item of list(s.fromClause)) this.fromItem(item, level);
    // SELECT … INTO sends nothing to the client: its columns go into a table.
    this.targetList(s.targetList, level, output && !isObject(s.intoClause));
    this.outputReferences(s, level);
    if (isObject(s.intoClause)) this.into(s.intoClause, level);
    this.locking(s.lockingClause, level);
    this.fields(s, "SelectStmt", level, SELECT_SPECIAL);
  }

  insert(s: AstObject, parent: Level): void {
    const level = new Level(parent);
    if (isObject(s.withClause)) this.withClause(s.withClause, level);
    const target = this.target(s.relation);
    for (const col of list(s.cols)) this.assignTarget(col, target, level, false);
    // The source rows cannot see the target table.
    if (s.selectStmt !== undefined) this.query(s.selectStmt, level.withoutItems(), false);
    if (target !== null) level.items.push(target);
    if (isObject(s.onConflictClause)) {
      const oc = s.onConflictClause;
      const conflict = new Level(level);
      conflict.items.push({ names: ["excluded"], relation: null, underlying: [], qualifiedOnly: true });
      this.expr(oc.infer, level, "OnConflictClause", "infer");
      for (const t of list(oc.targetList)) this.assignTarget(t, target, conflict, true);
      this.expr(oc.whereClause, conflict);
    }
    this.returning(s.returningClause, level, target);
    this.fields(s, "InsertStmt", level, INSERT_SPECIAL);
  }

  update(s: AstObject, parent: Level): void {
    const level = new Level(parent);
    if (isObject(s.withClause)) this.withClause(s.withClause, level);
    const target = this.target(s.relation);
    if (target !== null) level.items.push(target);
    for (const item of list(s.fromClause)) this.fromItem(item, level);
    for (const t of list(s.targetList)) this.assignTarget(t, target, level, true);
    this.expr(s.whereClause, level);
    this.out.noteWhere(restrictsRows(s.whereClause, target?.names ?? []));
    this.returning(s.returningClause, level, target);
    this.fields(s, "UpdateStmt", level, UPDATE_SPECIAL);
  }

  delete(s: AstObject, parent: Level): void {
    const level = new Level(parent);
    if (isObject(s.withClause)) this.withClause(s.withClause, level);
    const target = this.target(s.relation);
    if (target !== null) level.items.push(target);
    for (const item of list(s.usingClause)) this.fromItem(item, level);
    // WHERE CURRENT OF arrives as a CurrentOfExpr whereClause: it restricts to one row.
    this.expr(s.whereClause, level);
    this.out.noteWhere(restrictsRows(s.whereClause, target?.names ?? []));
    this.returning(s.returningClause, level, target);
    this.fields(s, "DeleteStmt", level, DELETE_SPECIAL);
  }

  merge(s: AstObject, parent: Level): void {
    const level = new Level(parent);
    if (isObject(s.withClause)) this.withClause(s.withClause, level);
    const target = this.target(s.relation);
    if (target !== null) level.items.push(target);
    this.fromItem(s.sourceRelation, level);
    this.expr(s.joinCondition, level);
    // WHEN MATCHED acts on the target rows the ON condition matched, WHEN NOT MATCHED BY SOURCE on those it
    // did NOT match: an UPDATE or DELETE is restricted by its own AND condition, or (WHEN MATCHED only) by
    // an ON that depends on the target row (see where-restricts.ts: `ON true` does not).
    const names = target?.names ?? [];
    const onRestricts = restrictsRows(s.joinCondition, names);
    let unrestricted = false;
    for (const clause of list(s.mergeWhenClauses)) {
      const w = unwrap(clause);
      if (w?.type !== "MergeWhenClause") {
        this.expr(clause, level);
        continue;
      }
      const c = w.node;
      this.expr(c.condition, level);
      for (const t of list(c.targetList)) this.assignTarget(t, target, level, true);
      this.expr(c.values, level);
      const bySource = c.matchKind === "MERGE_WHEN_NOT_MATCHED_BY_SOURCE";
      const modifies = c.commandType === "CMD_UPDATE" || c.commandType === "CMD_DELETE";
      const restricted = restrictsRows(c.condition, names) || (!bySource && onRestricts);
      if (modifies && !restricted) unrestricted = true;
    }
    this.out.noteWhere(!unrestricted);
    this.returning(s.returningClause, level, target);
    this.fields(s, "MergeStmt", level, MERGE_SPECIAL);
  }

  /** `SELECT … INTO t` / `CREATE TABLE t AS`: the new table is written. */
  into(ic: AstObject, level: Level): void {
    const rel = relationOf(ic.rel);
    if (rel !== null) this.record(rel, "write");
    this.fields(ic, "IntoClause", level, new Set(["rel"]));
  }

  // ---------------------------------------------------------------- clauses

  private withClause(w: AstObject, level: Level): void {
    const recursive = w.recursive === true;
    const ctes = list(w.ctes).map((c) => ({ raw: c, w: unwrap(c) }));
    if (recursive) {
      for (const c of ctes) {
        const name = c.w?.type === "CommonTableExpr" ? str(c.w.node.ctename) : undefined;
        if (name !== undefined) level.ctes.add(name);
      }
    }
    for (const c of ctes) {
      if (c.w?.type !== "CommonTableExpr") {
        this.expr(c.raw, level);
        continue;
      }
      const cte = c.w.node;
      // A CTE body sees outer levels and the CTEs before it (all of them, itself included, with RECURSIVE).
      const parent = recursive ? level.withoutItems() : new Level(level.parent, new Set(level.ctes));
      this.query(cte.ctequery, parent, false);
      const name = str(cte.ctename);
      if (!recursive && name !== undefined) level.ctes.add(name);
    }
  }

  /** The target table of INSERT/UPDATE/DELETE/MERGE (a bare RangeVar; CTE names never apply here). */
  private target(rv: unknown): RangeItem | null {
    if (!isObject(rv)) return null;
    const rel = relationOf(rv);
    if (rel === null) return null;
    this.record(rel, "write");
    return tableItem(rv, rel);
  }

  /** A ResTarget naming a target column (INSERT column list, UPDATE SET, ON CONFLICT/MERGE SET). */
  private assignTarget(t: unknown, target: RangeItem | null, level: Level, withValue: boolean): void {
    const w = unwrap(t);
    if (w?.type !== "ResTarget") {
      this.expr(t, level);
      return;
    }
    const name = str(w.node.name);
    if (name !== undefined && target?.relation) this.out.addRelationColumn(target.relation, name);
    this.expr(w.node.indirection, level);
    if (withValue) this.expr(w.node.val, level);
  }

  private returning(rc: unknown, level: Level, target: RangeItem | null): void {
    if (!isObject(rc)) return;
    let oldName = "old";
    let newName = "new";
    for (const opt of list(rc.options)) {
      const w = unwrap(opt);
      if (w?.type !== "ReturningOption") continue;
      const value = str(w.node.value);
      if (value === undefined) continue;
      if (w.node.option === "RETURNING_OPTION_OLD") oldName = value;
      else if (w.node.option === "RETURNING_OPTION_NEW") newName = value;
    }
    if (target !== null) {
      level.items.push({
        names: [oldName, newName],
        relation: target.relation,
        underlying: target.underlying,
        qualifiedOnly: true,
      });
    }
    this.targetList(rc.exprs, level, false);
  }

  private targetList(items: unknown, level: Level, output: boolean): void {
    for (const t of list(items)) {
      const w = unwrap(t);
      if (w?.type !== "ResTarget") {
        this.expr(t, level);
        continue;
      }
      const val = unwrap(w.node.val);
      if (output && val?.type === "ColumnRef") this.columnRef(val.node, level, "output");
      else this.expr(w.node.val, level);
      this.expr(w.node.indirection, level);
    }
  }

  /**
   * ORDER BY, GROUP BY and DISTINCT ON may name a select-list entry by its position or its output
   * name (`ORDER BY 2`, `ORDER BY x` for `salary AS x`); plain DISTINCT compares every entry. The
   * entry's value is then used beyond the output, so it is walked again as an expression. A position
   * at or after a `*` cannot be told: every FROM item counts as used whole.
   */
  private outputReferences(s: AstObject, level: Level): void {
    const targets = list(s.targetList).map((t) => unwrap(t));
    const keys: unknown[] = [];
    for (const sortBy of list(s.sortClause)) {
      const w = unwrap(sortBy);
      keys.push(w?.type === "SortBy" ? w.node.node : sortBy);
    }
    keys.push(...groupingKeys(list(s.groupClause), true));
    const distinct = list(s.distinctClause);
    if (distinct.some((d) => isObject(d) && Object.keys(d).length === 0)) {
      // plain DISTINCT
      for (const t of targets) this.expr(t?.type === "ResTarget" ? t.node.val : t?.node, level);
    } else keys.push(...distinct);
    const wholeRows = () => {
      for (const item of level.items) {
        if (item.qualifiedOnly !== true) this.out.addColumn(item.relation, "*", "expression");
      }
    };
    for (const key of keys) {
      const w = unwrap(key);
      if (w?.type === "A_Const" && isObject(w.node.ival)) {
        // an integer constant here names a select-list entry: the statement's meaning depends on the
        // literal's value, so statements differing only in it must not share one analysis
        this.out.notePositional();
        const position = w.node.ival.ival;
        if (typeof position !== "number" || position < 1) continue;
        const before = targets.slice(0, position);
        if (before.some((t) => t?.type === "ResTarget" && isStar(t.node.val))) wholeRows();
        else if (position > targets.length)
          continue; // no such entry: the server refuses it
        else {
          const t = targets[position - 1];
          this.expr(t?.type === "ResTarget" ? t.node.val : t?.node, level);
        }
      } else if (w?.type === "ColumnRef") {
        const fields = list(w.node.fields);
        const name = fields.length === 1 ? stringValue(fields[0]) : null;
        if (name === null) continue;
        for (const t of targets) {
          if (t?.type === "ResTarget" && str(t.node.name) === name) this.expr(t.node.val, level);
        }
      }
    }
  }

  private locking(clauses: unknown, level: Level): void {
    for (const clause of list(clauses)) {
      const w = unwrap(clause);
      if (w?.type !== "LockingClause") {
        this.expr(clause, level);
        continue;
      }
      const named = list(w.node.lockedRels);
      let items: RangeItem[];
      if (named.length === 0) {
        items = level.items;
      } else {
        // OF names FROM items of this level by their (unqualified) reference name, not new relations.
        items = [];
        for (const rv of named) {
          const n = relationOf(unwrap(rv)?.node);
          const item = n === null ? undefined : level.items.find((i) => i.names.includes(n.name));
          if (item !== undefined) items.push(item);
        }
      }
      for (const item of items) for (const rel of item.underlying) this.record(rel, "write");
    }
  }

  // ---------------------------------------------------------------- FROM items

  /** Adds one FROM item (and the items nested in it) to `level`; returns the items added. */
  private fromItem(value: unknown, level: Level): RangeItem[] {
    const before = level.items.length;
    const w = unwrap(value);
    if (w === null) {
      this.expr(value, level);
      return [];
    }
    const n = w.node;
    switch (w.type) {
      case "RangeVar": {
        const rel = relationOf(n);
        if (rel === null) break;
        if (rel.schema === null && level.isCte(rel.name)) {
          level.items.push({ names: [aliasName(n.alias) ?? rel.name], relation: null, underlying: [] });
        } else {
          this.record(rel, "read");
          level.items.push(tableItem(n, rel));
        }
        break;
      }
      case "RangeSubselect": {
        const parent = n.lateral === true ? level : level.withoutItems();
        const underlying = this.collectUnderlying(() => this.query(n.subquery, parent, false));
        const alias = aliasName(n.alias);
        level.items.push({ names: alias === null ? [] : [alias], relation: null, underlying });
        break;
      }
      case "RangeFunction": {
        // Functions in FROM may refer to earlier FROM items even without LATERAL.
        this.fields(n, "RangeFunction", level, ALIAS_ONLY);
        let name = aliasName(n.alias);
        if (name === null) {
          const first = listFirstFunction(n.functions);
          if (first !== null) name = first;
        }
        level.items.push({ names: name === null ? [] : [name], relation: null, underlying: [] });
        break;
      }
      case "JoinExpr": {
        const left = this.fromItem(n.larg, level);
        const right = this.fromItem(n.rarg, level);
        // NATURAL compares every same-named column; USING (c) compares c of both sides.
        if (n.isNatural === true)
          for (const item of [...left, ...right]) this.out.addColumn(item.relation, "*", "expression");
        for (const col of nameParts(n.usingClause) ?? []) {
          for (const side of [left, right]) {
            this.out.addColumn(side.length === 1 ? (side[0]?.relation ?? null) : null, col, "expression");
          }
        }
        this.expr(n.quals, level);
        const underlying = [...left, ...right].flatMap((i) => i.underlying);
        for (const a of [n.alias, n.join_using_alias]) {
          const alias = aliasName(a);
          if (alias === null) continue;
          const item: RangeItem = { names: [alias], relation: null, underlying, join: true };
          if (renamesColumns(a)) item.renamed = true;
          level.items.push(item);
        }
        break;
      }
      case "RangeTableSample": {
        this.fromItem(n.relation, level);
        this.fields(n, "RangeTableSample", level, new Set(["relation"]));
        break;
      }
      case "RangeTableFunc":
      case "JsonTable": {
        this.fields(n, w.type, level, ALIAS_ONLY);
        const alias = aliasName(n.alias);
        level.items.push({ names: alias === null ? [] : [alias], relation: null, underlying: [] });
        break;
      }
      default:
        this.expr(value, level);
    }
    return level.items.slice(before);
  }

  private collectUnderlying(fn: () => void): RelationName[] {
    const sink: RelationName[] = [];
    this.sinks.push(sink);
    try {
      fn();
    } finally {
      this.sinks.pop();
    }
    return sink;
  }

  private record(rel: RelationName, access: Access): void {
    this.out.addRelation(rel, access);
    for (const sink of this.sinks) sink.push(rel);
  }

  // ---------------------------------------------------------------- expressions

  /** Walks any value: wrapped nodes, bare structs (typed by their field), lists. */
  expr(value: unknown, level: Level, parentType: string | null = null, field = ""): void {
    if (Array.isArray(value)) {
      for (const v of value) this.expr(v, level, parentType, field);
      return;
    }
    if (!isObject(value)) return;
    const w = unwrap(value);
    if (w !== null) this.node(w.type, w.node, level, parentType, field);
    else this.node(bareFieldType(parentType, field), value, level, parentType, field);
  }

  /** Walks every field of `node` except `skip`. */
  fields(node: AstObject, type: string | null, level: Level, skip?: ReadonlySet<string>): void {
    for (const key in node) if (skip === undefined || !skip.has(key)) this.expr(node[key], level, type, key);
  }

  /** Visits one node whose type is known (wrapped, or bare in a typed field). */
  node(
    type: string | null,
    node: AstObject,
    level: Level,
    parentType: string | null = null,
    field = "",
  ): void {
    if (type !== null && QUERY_TYPES.has(type)) {
      this.queryNode(type, node, level, false);
      return;
    }
    switch (type) {
      case "ColumnRef":
        this.columnRef(node, level, "expression");
        return;
      case "FuncCall":
        this.funcCall(node, level);
        return;
      case "A_Indirection":
        // `(x).name` selects a field of a composite x, and on any other value calls the function name(x)
        // (`('SELECT …'::text).ts_stat` runs ts_stat): the name is reported as a call either way.
        for (const item of list(node.indirection)) {
          const name = stringValue(item);
          if (name !== null) this.out.addFunction(functionLabel([name]));
        }
        this.fields(node, type, level);
        return;
      case "SubLink":
        this.expr(node.testexpr, level);
        this.query(node.subselect, level, false);
        return;
      case "RangeVar": {
        const rel = relationOf(node);
        if (rel !== null)
          this.record(rel, READ_RANGEVAR_FIELDS.has(`${parentType}.${field}`) ? "read" : "write");
        return;
      }
      case "CreateTrigStmt":
      case "CreateEventTrigStmt": {
        // The trigger function runs on every triggering event.
        const fn = nameParts(node.funcname);
        if (fn !== null && fn.length > 0) this.out.addFunction(functionLabel(fn));
        this.fields(node, type, level, FUNC_SPECIAL);
        return;
      }
      default:
        this.fields(node, type, level);
    }
  }

  funcCall(fc: AstObject, level: Level): void {
    const parts = nameParts(fc.funcname);
    if (parts !== null && parts.length > 0) {
      this.out.addFunction(functionLabel(parts));
      if (parts[parts.length - 1] === "set_config") {
        const setting = setConfigSetting(list(fc.args));
        this.out.addSetting(setting);
        if (ROLE_PARAMETERS.has(setting.name) || setting.name === UNKNOWN_SETTING) this.out.noteRoleChange();
      }
    }
    this.fields(fc, "FuncCall", level, FUNC_SPECIAL);
  }

  columnRef(cr: AstObject, level: Level, context: ColumnUse["context"]): void {
    const fields = list(cr.fields);
    const star = fields.length > 0 && nodeType(fields[fields.length - 1]) === "A_Star";
    const parts: string[] = [];
    for (const f of star ? fields.slice(0, -1) : fields) {
      const s = stringValue(f);
      if (s === null) {
        // Not a plain name: cannot be traced, so treat it as touching whole rows.
        this.out.addColumn(null, "*", "expression");
        return;
      }
      parts.push(s);
    }
    if (star) {
      if (parts.length === 0) {
        const items = level.items.filter((i) => i.qualifiedOnly !== true);
        if (items.length === 0) this.out.addColumn(null, "*", context);
        for (const item of items) this.out.addColumn(item.relation, "*", context);
      } else {
        const item = level.findItem(qualifierKey(parts.slice(-2)));
        this.out.addColumn(item?.relation ?? null, "*", context);
      }
      return;
    }
    if (parts.length === 1) {
      const name = parts[0] as string;
      const whole = level.findItem(name);
      // A FROM item's name used as a value is its whole row: RowDescription cannot trace it.
      if (whole !== undefined) {
        this.out.addColumn(whole.relation, "*", "expression");
        return;
      }
      const only = level.onlyItem();
      if (only?.renamed === true) {
        this.out.addColumn(only.relation, "*", context);
        return;
      }
      this.out.addColumn(only?.relation ?? null, name, context);
      // with several items, the column may be a renamed one of any item whose columns are renamed
      if (only === undefined) {
        for (const item of level.visibleItems()) {
          if (item.renamed === true) this.out.addColumn(item.relation, "*", context);
        }
      }
      return;
    }
    const column = parts[parts.length - 1] as string;
    // a.b / schema.table.col / catalog.schema.table.col: the qualifier is at most schema.table.
    const item = level.findItem(qualifierKey(parts.slice(0, -1).slice(-2)));
    if (item === undefined && parts.length >= 3) {
      // t.col.field: a field of a composite column, or a function called on it (attribute notation)
      const owner = level.findItem(parts[0] as string);
      if (owner !== undefined) {
        this.qualifiedColumn(owner, parts[1] as string, "expression");
        return;
      }
    }
    if (item === undefined) {
      this.out.addColumn(null, column, context);
      return;
    }
    this.qualifiedColumn(item, column, context);
  }

  /**
   * `item.column`. The name may be no column at all but a function called on the item's whole row
   * (`e.to_jsonb`): the analyzer cannot tell without the catalog, so it reports the name against the
   * relation and the proxy checks it against the catalog. Through a join alias the name is reported
   * against every joined relation.
   */
  private qualifiedColumn(item: RangeItem, column: string, context: ColumnUse["context"]): void {
    if (item.renamed === true) {
      this.out.addColumn(item.relation, "*", context);
      return;
    }
    if (item.join === true && item.relation === null && item.underlying.length > 0) {
      // a join's columns reach RowDescription traced to their tables; which table is not known here
      this.out.addColumn(null, column, context);
      for (const rel of item.underlying) this.out.addColumn(relationDisplay(rel), column, context);
      return;
    }
    this.out.addColumn(item.relation, column, context);
  }
}

/**
 * GROUP BY items with ROLLUP, CUBE and GROUPING SETS flattened to the expressions they group by; a
 * row constructor inside a grouping set is a list of them (the server flattens it the same way).
 */
function groupingKeys(items: unknown[], top: boolean): unknown[] {
  const out: unknown[] = [];
  for (const item of items) {
    const w = unwrap(item);
    if (w?.type === "GroupingSet") out.push(...groupingKeys(list(w.node.content), false));
    else if (!top && w?.type === "RowExpr") out.push(...groupingKeys(list(w.node.args), false));
    else out.push(item);
  }
  return out;
}

/** A `*` or `t.*` select-list entry. */
function isStar(value: unknown): boolean {
  const w = unwrap(value);
  if (w?.type !== "ColumnRef") return false;
  const fields = list(w.node.fields);
  return fields.length > 0 && nodeType(fields[fields.length - 1]) === "A_Star";
}

/** The last name part of the first function of a RangeFunction (its default reference name). */
function listFirstFunction(functions: unknown): string | null {
  for (const entry of list(functions)) {
    const w = unwrap(entry);
    const items = w?.type === "List" ? list(w.node.items) : [];
    const fc = unwrap(items[0]);
    if (fc?.type === "FuncCall") {
      const parts = nameParts(fc.node.funcname);
      if (parts !== null && parts.length > 0) return parts[parts.length - 1] as string;
    }
    return null;
  }
  return null;
}
