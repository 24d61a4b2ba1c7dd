import type { ColumnUse, RelationRef, StatementInfo } from "../../proto/policy.js";
import type { CatalogRelation, CatalogSnapshot } from "./catalog.js";

/**
 * Fills in the schema of every unqualified relation the way the server resolves it: the first schema
 * on the effective search_path that has a relation of that name. Names that cannot be resolved (the
 * path is unknown, or no schema has the name: a table about to be created, a temporary table) keep
 * `schema: null, resolved: false`, and the policy decides what that means for the role.
 *
 * Column uses are checked against the catalog too: `e.to_jsonb`, `employees.row_to_json` or
 * `e.record_out` name no column of the relation, and the server reads such a name as a function called
 * on the whole row (attribute notation). A name that is not a column of its relation by the catalog —
 * or whose relation the catalog does not know — is therefore reported as a whole-row use (`*`, context
 * "expression"), which the inference guard treats as every column of the relation.
 */
export function resolveStatement(
  statement: StatementInfo,
  schemas: string[] | null,
  catalog: CatalogSnapshot | undefined,
): StatementInfo {
  const described = (ref: RelationRef, relation: CatalogRelation): RelationRef => {
    // a plain table (the common case) is left as the analysis made it
    if (
      relation.kind === "table" &&
      (relation.sources?.length ?? 0) === 0 &&
      (relation.children?.length ?? 0) === 0
    )
      return ref;
    return { ...ref, relkind: relation.kind, sources: catalog!.sources(relation) };
  };
  const resolveRef = (ref: RelationRef): RelationRef => {
    if (!catalog) return ref;
    if (ref.schema !== null) {
      const relation = catalog.find(ref.schema, ref.name);
      return relation ? described(ref, relation) : ref;
    }
    if (!schemas) return ref;
    for (let i = 0; i < schemas.length; i++) {
      const schema = schemas[i]!;
      const relation = catalog.find(schema, ref.name);
      if (!relation) continue;
      const found = described({ ...ref, schema, resolved: true, unqualified: true }, relation);
      const hides = hidden(ref.name, schemas.slice(i + 1));
      return hides.length > 0 ? { ...found, hides } : found;
    }
    return ref;
  };
  // what the name means once the relation it resolved to is gone (dropped or renamed elsewhere, before
  // this catalog knows): the same name later on the path, and what that relation shows
  const hidden = (name: string, later: string[]): string[] => {
    const out: string[] = [];
    for (const schema of later) {
      const relation = catalog!.find(schema, name);
      if (relation) out.push(`${schema}.${name}`, ...catalog!.sources(relation));
    }
    return out;
  };
  const lookup = (display: string): CatalogRelation | undefined => {
    if (!catalog) return undefined;
    // "schema.name" as the analyzer joins it; a quoted name may itself hold a dot, so try every split
    for (let dot = display.indexOf("."); dot > 0; dot = display.indexOf(".", dot + 1)) {
      const found = catalog.find(display.slice(0, dot), display.slice(dot + 1));
      if (found) return found;
    }
    for (const schema of schemas ?? []) {
      const found = catalog.find(schema, display);
      if (found) return found;
    }
    return undefined;
  };
  const isColumn = (relation: string, column: string): boolean => {
    if (column === "*" || SYSTEM_COLUMNS.has(column)) return true;
    const rel = lookup(relation);
    if (!rel) return false;
    for (const name of rel.columns.values()) if (name === column) return true;
    return false;
  };
  const checkUse = (c: ColumnUse): ColumnUse =>
    c.relation === null || isColumn(c.relation, c.column)
      ? c
      : { relation: c.relation, column: "*", context: "expression" };
  const checkRefColumns = (ref: RelationRef): RelationRef => {
    if (!ref.columns) return ref;
    const display = ref.schema === null ? ref.name : `${ref.schema}.${ref.name}`;
    if (ref.columns.every((c) => isColumn(display, c))) return ref;
    return { ...ref, columns: [...new Set(ref.columns.map((c) => (isColumn(display, c) ? c : "*")))] };
  };
  // the analysis may be a frozen cached one: returned as it is when nothing changes
  const walk = (s: StatementInfo): StatementInfo => {
    const relations = s.relations.map((r) => checkRefColumns(resolveRef(r)));
    const inner = s.inner ? walk(s.inner) : undefined;
    const columns = s.columns?.map(checkUse);
    const changed =
      relations.some((r, i) => r !== s.relations[i]) ||
      inner !== s.inner ||
      columns?.some((c, i) => c !== s.columns?.[i]);
    if (!changed) return s;
    const out: StatementInfo = { ...s, relations, ...(inner ? { inner } : {}) };
    if (columns) out.columns = dedupe(columns);
    return out;
  };
  return walk(statement);
}

/** System columns every table has (they never hold a user column's value). */
const SYSTEM_COLUMNS: ReadonlySet<string> = new Set(["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"]);

function dedupe(columns: ColumnUse[]): ColumnUse[] {
  const seen = new Set<string>();
  return columns.filter((c) => {
    const key = `${c.relation ?? ""}\u001f${c.relation === null ? 0 : 1}\u001f${c.column}\u001f${c.context}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
