import type { ColumnMask, StatementInfo } from "../../proto/policy.js";
import type { CatalogSnapshot } from "./catalog.js";
import type { SearchPath } from "./search-path.js";
import { changesState } from "./statement-traits.js";

/**
 * The upstream session as the statement gate tracks it: the search_path, the prepared statements,
 * whether DDL ran in the open transaction, and what each statement does to them when it completes.
 */

/** A prepared statement: Parse and SQL PREPARE share one namespace on the server (Bind runs either). */
export interface Prepared {
  /** The statement as analysed, names unresolved: the server resolves them again when search_path changes. */
  raw: StatementInfo;
  /** As resolved and decided. */
  info: StatementInfo;
  masks: ColumnMask[];
  /**
   * What it was resolved with ({@link SessionResolver.resolutionKey}): the search_path and the schemas
   * of it the role could use. The server plans it again when either changes (a REVOKE of USAGE too).
   */
  pathKey: string;
  /**
   * The catalog snapshot it was resolved with. The server analyses it again when a relation it names
   * changes (a DROP of the table a name meant, a rename), and the name may then mean another relation
   * on the same path: a statement resolved on another snapshot is resolved and decided again.
   */
  catalog: CatalogSnapshot | undefined;
  /**
   * The policy generation it was decided under (PolicyHolder.generation): a Bind after a bundle
   * swap or a grant change decides it again.
   */
  policyGeneration: number;
}

export interface Portal {
  /** The cycle it was bound in: a portal ends with its transaction (see TransactionCycles.readyForQuery). */
  cycle: number;
  info: StatementInfo;
  masks: ColumnMask[];
  /** What running it does to the tracked session state. */
  effect: Effect;
  /** The policy generation it was decided under: an Execute under another one is refused. */
  policyGeneration: number;
  /** An Execute of it was sent (a later one of a SELECT only reads on: it runs no call again). */
  executed?: boolean;
}

/**
 * What decisions depend on in the upstream session: the effective search_path and the prepared
 * statements. The gate keeps two copies: `confirmed` changes only as the upstream reports statements
 * done; `spec` also assumes that everything forwarded and not yet answered succeeds. Deciding on `spec`
 * is exact within one Query or one Sync-ended sequence, because after a failure there the server runs
 * nothing more of it; a new one waits for the earlier ones' answers when they could change the state.
 */
export class SessionState {
  /**
   * DDL ran (or was sent) in the transaction now open: the catalog snapshot, read by another session,
   * cannot see what it changed until the transaction ends, so unqualified names are left unresolved.
   */
  ddl = false;

  constructor(
    readonly path: SearchPath,
    readonly prepared: Map<string, Prepared> = new Map(),
  ) {}

  clone(): SessionState {
    const copy = new SessionState(this.path.clone(), new Map(this.prepared));
    copy.ddl = this.ddl;
    return copy;
  }

  /** What name resolution depends on: the search_path, and whether DDL ran in this transaction. */
  key(): string {
    return this.ddl ? `${this.path.key()}\u0000ddl` : this.path.key();
  }

  /** The schemas unqualified names resolve in; null (unknown) after DDL in this transaction. */
  schemas(): string[] | null {
    return this.ddl ? null : this.path.schemas();
  }
}

export type Effect = (state: SessionState) => void;

export const NO_EFFECT: Effect = () => {};

/** What a statement does to the tracked state when it completes (`raw`: its unresolved analysis). */
export function effectOf(
  raw: StatementInfo,
  info: StatementInfo,
  masks: ColumnMask[],
  pathKey: string,
  catalog: CatalogSnapshot | undefined,
  policyGeneration: number,
): Effect {
  if (!changesState(info)) return NO_EFFECT;
  let prepared: Prepared | undefined;
  if (info.kind === "prepare" && info.prepared_name !== undefined && info.inner && raw.inner) {
    prepared = { raw: raw.inner, info: info.inner, masks, pathKey, catalog, policyGeneration };
  }
  return (state) => {
    state.path.completed(info);
    if (info.kind === "prepare" && info.prepared_name !== undefined) {
      if (prepared) state.prepared.set(info.prepared_name, prepared);
      else state.prepared.delete(info.prepared_name);
    } else if (info.kind === "deallocate") {
      if (info.prepared_name !== undefined) state.prepared.delete(info.prepared_name);
      else state.prepared.clear();
    } else if (
      info.command === "DiscardStmt" &&
      info.discard !== "plans" &&
      info.discard !== "sequences" &&
      info.discard !== "temp"
    ) {
      // DISCARD ALL deallocates every prepared statement (and a DISCARD the proxy cannot name may)
      state.prepared.clear();
    }
  };
}
