/**
 * Generic helpers over the libpg-query JSON AST.
 *
 * The JSON has two shapes for a node. A field typed `Node` (or a list of them) holds a *wrapped* node, an
 * object with exactly one key naming its type: `{ "RangeVar": { "relname": "t" } }`. A field typed with a
 * concrete struct (for example `DeleteStmt.relation: RangeVar`, `SelectStmt.larg: SelectStmt`,
 * `CallStmt.funccall: FuncCall`) holds the struct *bare*: `{ "relname": "t" }`. Field names always start
 * with a lower-case letter and node type names with an upper-case one, so the two cannot be confused; the
 * type of a bare struct is only known from the field that holds it, which is what {@link BARE_FIELD_TYPES}
 * records (taken from the field types in `@pgsql/types` for PostgreSQL 18).
 */

export type AstObject = Record<string, unknown>;

export interface TypedNode {
  type: string;
  node: AstObject;
}

export function isObject(value: unknown): value is AstObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `{ "Type": {...} }` → `{ type, node }`; anything else (bare struct, scalar, array, `{}`) → null. */
export function unwrap(value: unknown): TypedNode | null {
  if (!isObject(value)) return null;
  let key: string | undefined;
  for (const k in value) {
    if (key !== undefined) return null;
    key = k;
  }
  if (key === undefined) return null;
  const first = key.charCodeAt(0);
  if (first < 65 || first > 90) return null;
  const node = value[key];
  return isObject(node) ? { type: key, node } : null;
}

/** The node type of a wrapped node, or null. */
export function nodeType(value: unknown): string | null {
  return unwrap(value)?.type ?? null;
}

/** The items of a list field (absent → empty). */
export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The `sval` of a wrapped String node, or null. */
export function stringValue(value: unknown): string | null {
  const w = unwrap(value);
  if (w?.type !== "String") return null;
  return typeof w.node.sval === "string" ? w.node.sval : "";
}

/** A list of wrapped String nodes (a qualified name) → its parts; null if any item is not a String. */
export function nameParts(value: unknown): string[] | null {
  const items = Array.isArray(value) ? value : listItems(value);
  if (items === null) return null;
  const out: string[] = [];
  for (const item of items) {
    const s = stringValue(item);
    if (s === null) return null;
    out.push(s);
  }
  return out;
}

/** `{ "List": { "items": [...] } }` → items, else null. */
export function listItems(value: unknown): unknown[] | null {
  const w = unwrap(value);
  if (w?.type !== "List") return null;
  return list(w.node.items);
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/**
 * Fields whose value is a bare struct, as "ParentType.field" → struct type. Only struct types matter here:
 * fields typed `Node`/`Node[]` hold wrapped nodes, scalars and enums hold no nodes.
 */
export const BARE_FIELD_TYPES: Readonly<Record<string, string>> = {
  "RangeVar.alias": "Alias",
  "IntoClause.rel": "RangeVar",
  "JoinExpr.join_using_alias": "Alias",
  "JoinExpr.alias": "Alias",
  "TypeCast.typeName": "TypeName",
  "FuncCall.over": "WindowDef",
  "RangeSubselect.alias": "Alias",
  "RangeFunction.alias": "Alias",
  "RangeTableFunc.alias": "Alias",
  "RangeTableFuncCol.typeName": "TypeName",
  "ColumnDef.typeName": "TypeName",
  "ColumnDef.identitySequence": "RangeVar",
  "ColumnDef.collClause": "CollateClause",
  "TableLikeClause.relation": "RangeVar",
  "XmlSerialize.typeName": "TypeName",
  "PartitionCmd.name": "RangeVar",
  "PartitionCmd.bound": "PartitionBoundSpec",
  "OnConflictClause.infer": "InferClause",
  "CommonTableExpr.search_clause": "CTESearchClause",
  "CommonTableExpr.cycle_clause": "CTECycleClause",
  "JsonValueExpr.format": "JsonFormat",
  "JsonOutput.typeName": "TypeName",
  "JsonOutput.returning": "JsonReturning",
  "JsonArgument.val": "JsonValueExpr",
  "JsonFuncExpr.context_item": "JsonValueExpr",
  "JsonFuncExpr.output": "JsonOutput",
  "JsonFuncExpr.on_empty": "JsonBehavior",
  "JsonFuncExpr.on_error": "JsonBehavior",
  "JsonTable.context_item": "JsonValueExpr",
  "JsonTable.pathspec": "JsonTablePathSpec",
  "JsonTable.on_error": "JsonBehavior",
  "JsonTable.alias": "Alias",
  "JsonTableColumn.typeName": "TypeName",
  "JsonTableColumn.pathspec": "JsonTablePathSpec",
  "JsonTableColumn.format": "JsonFormat",
  "JsonTableColumn.on_empty": "JsonBehavior",
  "JsonTableColumn.on_error": "JsonBehavior",
  "JsonKeyValue.value": "JsonValueExpr",
  "JsonParseExpr.expr": "JsonValueExpr",
  "JsonParseExpr.output": "JsonOutput",
  "JsonScalarExpr.output": "JsonOutput",
  "JsonSerializeExpr.expr": "JsonValueExpr",
  "JsonSerializeExpr.output": "JsonOutput",
  "JsonObjectConstructor.output": "JsonOutput",
  "JsonArrayConstructor.output": "JsonOutput",
  "JsonArrayQueryConstructor.output": "JsonOutput",
  "JsonArrayQueryConstructor.format": "JsonFormat",
  "JsonAggConstructor.output": "JsonOutput",
  "JsonAggConstructor.over": "WindowDef",
  "JsonObjectAgg.constructor": "JsonAggConstructor",
  "JsonObjectAgg.arg": "JsonKeyValue",
  "JsonArrayAgg.constructor": "JsonAggConstructor",
  "JsonArrayAgg.arg": "JsonValueExpr",
  "InsertStmt.relation": "RangeVar",
  "InsertStmt.onConflictClause": "OnConflictClause",
  "InsertStmt.returningClause": "ReturningClause",
  "InsertStmt.withClause": "WithClause",
  "DeleteStmt.relation": "RangeVar",
  "DeleteStmt.returningClause": "ReturningClause",
  "DeleteStmt.withClause": "WithClause",
  "UpdateStmt.relation": "RangeVar",
  "UpdateStmt.returningClause": "ReturningClause",
  "UpdateStmt.withClause": "WithClause",
  "MergeStmt.relation": "RangeVar",
  "MergeStmt.returningClause": "ReturningClause",
  "MergeStmt.withClause": "WithClause",
  "SelectStmt.intoClause": "IntoClause",
  "SelectStmt.withClause": "WithClause",
  "SelectStmt.larg": "SelectStmt",
  "SelectStmt.rarg": "SelectStmt",
  "PLAssignStmt.val": "SelectStmt",
  "CreateSchemaStmt.authrole": "RoleSpec",
  "AlterTableStmt.relation": "RangeVar",
  "AlterTableCmd.newowner": "RoleSpec",
  "GrantStmt.grantor": "RoleSpec",
  "GrantRoleStmt.grantor": "RoleSpec",
  "AlterDefaultPrivilegesStmt.action": "GrantStmt",
  "CopyStmt.relation": "RangeVar",
  "CreateStmt.relation": "RangeVar",
  "CreateStmt.partbound": "PartitionBoundSpec",
  "CreateStmt.partspec": "PartitionSpec",
  "CreateStmt.ofTypename": "TypeName",
  "Constraint.pktable": "RangeVar",
  "CreateTableSpaceStmt.owner": "RoleSpec",
  "CreateForeignTableStmt.base": "CreateStmt",
  "CreateUserMappingStmt.user": "RoleSpec",
  "AlterUserMappingStmt.user": "RoleSpec",
  "DropUserMappingStmt.user": "RoleSpec",
  "CreatePolicyStmt.table": "RangeVar",
  "AlterPolicyStmt.table": "RangeVar",
  "CreateTrigStmt.relation": "RangeVar",
  "CreateTrigStmt.constrrel": "RangeVar",
  "AlterRoleStmt.role": "RoleSpec",
  "AlterRoleSetStmt.role": "RoleSpec",
  "AlterRoleSetStmt.setstmt": "VariableSetStmt",
  "CreateSeqStmt.sequence": "RangeVar",
  "AlterSeqStmt.sequence": "RangeVar",
  "CreateDomainStmt.typeName": "TypeName",
  "CreateDomainStmt.collClause": "CollateClause",
  "CreateOpClassStmt.datatype": "TypeName",
  "CreateOpClassItem.name": "ObjectWithArgs",
  "CreateOpClassItem.storedtype": "TypeName",
  "IndexStmt.relation": "RangeVar",
  "CreateFunctionStmt.returnType": "TypeName",
  "FunctionParameter.argType": "TypeName",
  "AlterFunctionStmt.func": "ObjectWithArgs",
  "CallStmt.funccall": "FuncCall",
  "CallStmt.funcexpr": "FuncExpr",
  "RenameStmt.relation": "RangeVar",
  "AlterObjectDependsStmt.relation": "RangeVar",
  "AlterObjectSchemaStmt.relation": "RangeVar",
  "AlterOwnerStmt.relation": "RangeVar",
  "AlterOwnerStmt.newowner": "RoleSpec",
  "AlterOperatorStmt.opername": "ObjectWithArgs",
  "RuleStmt.relation": "RangeVar",
  "CompositeTypeStmt.typevar": "RangeVar",
  "ViewStmt.view": "RangeVar",
  "AlterDatabaseSetStmt.setstmt": "VariableSetStmt",
  "AlterSystemStmt.setstmt": "VariableSetStmt",
  "ClusterStmt.relation": "RangeVar",
  "VacuumRelation.relation": "RangeVar",
  "CreateTableAsStmt.into": "IntoClause",
  "RefreshMatViewStmt.relation": "RangeVar",
  "ReindexStmt.relation": "RangeVar",
  "CreateCastStmt.sourcetype": "TypeName",
  "CreateCastStmt.targettype": "TypeName",
  "CreateCastStmt.func": "ObjectWithArgs",
  "CreateTransformStmt.type_name": "TypeName",
  "CreateTransformStmt.fromsql": "ObjectWithArgs",
  "CreateTransformStmt.tosql": "ObjectWithArgs",
  "ReassignOwnedStmt.newrole": "RoleSpec",
  "PublicationTable.relation": "RangeVar",
  "PublicationObjSpec.pubtable": "PublicationTable",
};

/** The struct type held bare in `parentType.field`, if any. */
export function bareFieldType(parentType: string | null, field: string): string | null {
  if (parentType === null) return null;
  return BARE_FIELD_TYPES[`${parentType}.${field}`] ?? null;
}

/**
 * Calls `visit(type, node, parentType, field)` for every node in a subtree (wrapped or bare with a known
 * type), depth first, parents before children. Returning false from `visit` skips that node's children.
 */
export function walk(
  value: unknown,
  visit: (
    type: string | null,
    node: AstObject,
    parentType: string | null,
    field: string,
  ) => boolean | undefined,
  parentType: string | null = null,
  field = "",
): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit, parentType, field);
    return;
  }
  if (!isObject(value)) return;
  const wrapped = unwrap(value);
  const type = wrapped ? wrapped.type : bareFieldType(parentType, field);
  const node = wrapped ? wrapped.node : value;
  if (visit(type, node, parentType, field) === false) return;
  for (const key in node) walk(node[key], visit, type, key);
}
