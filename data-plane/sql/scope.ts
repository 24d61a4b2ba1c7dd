/**
 * Name scopes of one query level: the FROM items (for resolving column qualifiers) and the CTE names
 * (which hide unqualified table names). Levels chain outwards for correlated subqueries.
 */

/** A relation as the statement names it. */
export interface RelationName {
  schema: string | null;
  name: string;
}

/** One FROM item (table, CTE reference, subquery, function, join alias). */
export interface RangeItem {
  /** The names the item answers to: its alias, or its table name and "schema.table". */
  names: string[];
  /** "schema.name" / "name" as written for a real relation; null for a CTE, subquery, function or join. */
  relation: string | null;
  /** The real relations whose rows the item yields (a table itself; those read inside a subquery). */
  underlying: RelationName[];
  /**
   * Reachable only through a qualifier (`excluded.x`, `old.x`/`new.x` in RETURNING): never the implicit owner
   * of an unqualified column and not expanded by a bare `*`.
   */
  qualifiedOnly?: boolean;
  /**
   * Its columns are renamed by a column alias list (`hr.employees AS e(a, b, c)`): a column name used
   * through it cannot be told apart from any other of its columns, so it stands for the whole row.
   */
  renamed?: boolean;
  /**
   * A join alias (`(a JOIN b ON …) AS j`): `j.x` is a column of one of the joined relations, and
   * `j.f` where f is no column is a function called on the join's whole row.
   */
  join?: boolean;
}

/** Key used to match a qualifier (possibly "schema.table") against item names. */
export function qualifierKey(parts: readonly string[]): string {
  return parts.join("\u001f");
}

export function relationDisplay(r: RelationName): string {
  return r.schema === null ? r.name : `${r.schema}.${r.name}`;
}

export class Level {
  readonly items: RangeItem[] = [];

  constructor(
    readonly parent: Level | null,
    /** CTE names defined at this level (mutable while a WITH list is being read). */
    readonly ctes: Set<string> = new Set(),
  ) {}

  /** A level that sees what this one sees except its own FROM items (non-LATERAL subqueries, CTE bodies). */
  withoutItems(): Level {
    return new Level(this.parent, this.ctes);
  }

  isCte(name: string): boolean {
    for (let l: Level | null = this; l !== null; l = l.parent) if (l.ctes.has(name)) return true;
    return false;
  }

  /** The innermost item answering to a qualifier ("e", or "hr\u001femployees"). */
  findItem(key: string): RangeItem | undefined {
    for (let l: Level | null = this; l !== null; l = l.parent) {
      for (const item of l.items) if (item.names.includes(key)) return item;
    }
    return undefined;
  }

  /** Every item visible from here (all levels) that an unqualified column may belong to. */
  visibleItems(): RangeItem[] {
    const out: RangeItem[] = [];
    for (let l: Level | null = this; l !== null; l = l.parent) {
      for (const item of l.items) if (item.qualifiedOnly !== true) out.push(item);
    }
    return out;
  }

  /** The only item visible from here (all levels), if there is exactly one. */
  onlyItem(): RangeItem | undefined {
    let found: RangeItem | undefined;
    for (let l: Level | null = this; l !== null; l = l.parent) {
      for (const item of l.items) {
        if (item.qualifiedOnly === true) continue;
        if (found !== undefined) return undefined;
        found = item;
      }
    }
    return found;
  }
}
