import type { RelationRef, StatementInfo } from "../../proto/policy.js";
import type { CatalogSnapshot } from "./catalog.js";

/**
 * Fills in the schema of every unqualified relation the way the server resolves it: the first schema
 * on the effective search_path that has a relation of that name. Names that cannot be resolved (the
 * path is unknown, or no schema has the name: a table about to be created, a temporary table) keep
 * `schema: null, resolved: false`, and the policy decides what that means for the role.
 */
export function resolveStatement(
  statement: StatementInfo,
  schemas: string[] | null,
  catalog: CatalogSnapshot | undefined,
): StatementInfo {
  const needs = (s: StatementInfo): boolean =>
    s.relations.some((r) => r.schema === null) || (s.inner !== undefined && needs(s.inner));
  if (!needs(statement)) return statement;
  const resolveRef = (ref: RelationRef): RelationRef => {
    if (ref.schema !== null || !schemas || !catalog) return ref;
    for (const schema of schemas) {
      if (catalog.find(schema, ref.name)) return { ...ref, schema, resolved: true };
    }
    return ref;
  };
  const walk = (s: StatementInfo): StatementInfo => ({
    ...s,
    relations: s.relations.map(resolveRef),
    ...(s.inner ? { inner: walk(s.inner) } : {}),
  });
  return walk(statement);
}
