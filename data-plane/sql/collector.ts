/** Accumulates what one statement touches, deduplicated, in first-seen order. */
import type { ColumnUse, RelationRef, StatementInfo } from "../../proto/policy.js";
import { type RelationName, relationDisplay } from "./scope.js";
import type { Setting } from "./settings.js";

export type Access = RelationRef["access"];

export interface Collected {
  relations: RelationRef[];
  functions: string[];
  columns: ColumnUse[];
  settings: Setting[];
  /** Present when the statement runs an UPDATE, DELETE or MERGE anywhere (top level or in a CTE). */
  has_where?: boolean;
  /** A set_config() call may switch the session's role (role / session_authorization / a computed name). */
  changesRole: boolean;
  /** An integer constant is a positional reference (ORDER BY 2, GROUP BY ROLLUP (2), DISTINCT ON (2)). */
  positional: boolean;
}

export class Collector {
  private readonly relations = new Map<string, RelationRef>();
  /** Columns named against a relation, keyed by its display name ("schema.name" / "name"). */
  private readonly relationColumns = new Map<string, Set<string>>();
  private readonly functions = new Set<string>();
  private readonly columns = new Map<string, ColumnUse>();
  private readonly settings = new Map<string, Setting>();
  private whereSeen = false;
  private whereAll = true;
  private changesRole = false;
  private positional = false;

  addRelation(rel: RelationName, access: Access): void {
    const key = `${rel.schema ?? ""}\u001f${rel.name}\u001f${access}`;
    if (this.relations.has(key)) return;
    this.relations.set(key, { schema: rel.schema, name: rel.name, access, resolved: rel.schema !== null });
  }

  addRelationColumn(relation: string, column: string): void {
    let set = this.relationColumns.get(relation);
    if (set === undefined) {
      set = new Set();
      this.relationColumns.set(relation, set);
    }
    set.add(column);
  }

  addFunction(name: string): void {
    this.functions.add(name);
  }

  addColumn(relation: string | null, column: string, context: ColumnUse["context"]): void {
    const key = `${relation ?? ""}\u001f${relation === null ? 0 : 1}\u001f${column}\u001f${context}`;
    if (!this.columns.has(key)) this.columns.set(key, { relation, column, context });
    if (relation !== null) this.addRelationColumn(relation, column);
  }

  addSetting(s: Setting): void {
    const key = `${s.name}\u001f${s.value ?? "\u0000"}\u001f${s.local}\u001f${s.reset === true}`;
    if (!this.settings.has(key)) this.settings.set(key, s);
  }

  /** Records a set_config() call that may switch the session's role. */
  noteRoleChange(): void {
    this.changesRole = true;
  }

  /** Records an integer constant that names a select-list entry by its position. */
  notePositional(): void {
    this.positional = true;
  }

  /** Records one UPDATE/DELETE/MERGE and whether it is restricted. */
  noteWhere(restricted: boolean): void {
    this.whereSeen = true;
    if (!restricted) this.whereAll = false;
  }

  /**
   * Copies an inner statement's findings (EXPLAIN, PREPARE, CREATE TABLE AS) into this one.
   * `writesAsReads`: the inner statement does not run (plain EXPLAIN), so its writes are reported as reads.
   * `keepWhere`: carry has_where over (the inner statement runs now or later).
   */
  absorb(inner: StatementInfo, opts: { writesAsReads: boolean; keepWhere: boolean }): void {
    for (const r of inner.relations) {
      this.addRelation(r, opts.writesAsReads ? "read" : r.access);
      for (const c of r.columns ?? []) this.addRelationColumn(relationDisplay(r), c);
    }
    for (const f of inner.functions) this.addFunction(f);
    for (const c of inner.columns ?? []) this.addColumn(c.relation, c.column, c.context);
    for (const s of inner.settings ?? []) this.addSetting(s);
    if (opts.keepWhere && inner.has_where !== undefined) this.noteWhere(inner.has_where);
    if (inner.kind === "role") this.changesRole = true;
    if (inner.positional_references === true) this.positional = true;
  }

  finish(): Collected {
    const relations = [...this.relations.values()].map((r) => {
      const cols = this.relationColumns.get(relationDisplay(r));
      return cols !== undefined && cols.size > 0 ? { ...r, columns: [...cols] } : r;
    });
    const out: Collected = {
      relations,
      functions: [...this.functions],
      columns: [...this.columns.values()],
      settings: [...this.settings.values()],
      changesRole: this.changesRole,
      positional: this.positional,
    };
    if (this.whereSeen) out.has_where = this.whereAll;
    return out;
  }
}
