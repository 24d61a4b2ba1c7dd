import type { ColumnMask, StatementInfo } from "../../proto/policy.js";
import type { Catalog } from "./catalog.js";
import { type ColumnPlan, MaskPins, maskDataRow, planFromRowDescription } from "./masking.js";
import { containsExecute } from "./statement-traits.js";

/**
 * The masks of one session and the rewriting of its results: which statements may return a masked
 * column, the column plan a RowDescription gives, and DataRows with masked columns rewritten.
 */
export class ResultRewriter {
  /**
   * Every mask any decision of this session has returned, kept for the rest of the session: results
   * reached indirectly (FETCH from a cursor, EXECUTE, a portal) are masked too. Masking more, never less.
   */
  masks: ColumnMask[] = [];
  private readonly maskKeys = new Set<string>();
  /** The masks pinned to the table OIDs and attribute numbers they named when the session got them. */
  private readonly pins = new MaskPins();
  /** Mask lists (decisions' `mask`, shared by every hit of a cached decision) already added. */
  private readonly addedMaskLists = new WeakSet<readonly ColumnMask[]>();
  /** A simple-protocol query that may return masked columns is in flight. */
  simpleMasking = false;
  /** The column plan for the result being received (simple protocol: from its RowDescription). */
  plan: ColumnPlan | undefined;

  constructor(
    private readonly catalog: Catalog,
    private readonly database: string,
    private readonly hashKey: Buffer,
  ) {}

  add(masks: readonly ColumnMask[] | undefined): void {
    if (masks === undefined || masks.length === 0 || this.addedMaskLists.has(masks)) return;
    this.addedMaskLists.add(masks);
    const added: ColumnMask[] = [];
    for (const mask of masks ?? []) {
      const key = `${mask.relation ?? ""}\u0000${mask.column}\u0000${mask.with}`;
      if (this.maskKeys.has(key)) continue;
      this.maskKeys.add(key);
      this.masks.push(mask);
      added.push(mask);
    }
    // from now on a mask follows its column, not its name (the statement has not run yet)
    if (added.length > 0) this.pins.pin(added, this.catalog.fresh(this.database));
  }

  /**
   * Whether a statement's result can carry a masked column: RowDescription names a table only when the
   * query reads it directly, so that is a masked relation among its relations (by the name a mask gives
   * it, or by the table OID a mask was pinned to: a masked table renamed since), or a cursor FETCH or an
   * EXECUTE whose rows come from elsewhere. Only then are upstream messages inspected.
   */
  mayReturnMasked(info: StatementInfo): boolean {
    if (this.masks.length === 0) return false;
    if (containsExecute(info) || info.command === "FetchStmt") return true;
    const catalog = this.catalog.fresh(this.database);
    return info.relations.some(
      (r) =>
        this.masks.some(
          (m) =>
            m.relation === undefined ||
            m.relation === `${r.schema}.${r.name}` ||
            (r.schema === null && m.relation.slice(m.relation.lastIndexOf(".") + 1) === r.name),
        ) ||
        (r.schema !== null && this.pins.has(catalog?.find(r.schema, r.name)?.oid)),
    );
  }

  /** The column plan of the rows a RowDescription announces (the catalog is read again if it names unknown tables). */
  planOf(rowDescription: Buffer): ColumnPlan {
    const plan = planFromRowDescription(
      rowDescription,
      this.masks,
      this.catalog.fresh(this.database),
      this.pins,
    );
    if (plan.unknownTables) this.catalog.invalidate(this.database);
    return plan;
  }

  /** A DataRow as the client gets it: masked columns rewritten by the current plan. */
  row(raw: Buffer): Buffer {
    return this.plan?.any ? maskDataRow(raw, this.plan, this.hashKey) : raw;
  }

  /** Nothing is in flight: no result is being received. */
  reset(): void {
    this.simpleMasking = false;
    this.plan = undefined;
  }
}
