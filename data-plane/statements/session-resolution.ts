import type { Logger } from "../../common/logger.js";
import type { StatementInfo } from "../../proto/policy.js";
import type { Catalog, CatalogSnapshot } from "./catalog.js";
import { DENIAL_STATEMENT } from "./denial.js";
import { resolveStatement } from "./resolve.js";
import type { SessionState } from "./session-state.js";
import { containsExecute, needsNames } from "./statement-traits.js";

/**
 * Name resolution for one session: the catalog a statement is decided on (read first when it is not
 * fresh, the relay waiting), and a statement's names resolved with a session state's search_path and
 * the schemas of it the role may use, EXECUTEs folded in with what they run.
 */

const NO_REASONS: string[] = [];

/** Whether a statement, or one it nests, names the proxy's own prepared statement. */
function namesDenialStatement(info: StatementInfo): boolean {
  for (let s: StatementInfo | undefined = info; s !== undefined; s = s.inner)
    if (s.prepared_name === DENIAL_STATEMENT) return true;
  return false;
}

/** Resolutions of analyses without EXECUTE, by the analysis object (see `SessionResolver.resolve`). */
const RESOLVED = new WeakMap<
  StatementInfo,
  {
    pathKey: string;
    /** The session's role: which schemas of the path are searched depends on its USAGE. */
    role: string;
    catalog: CatalogSnapshot | undefined;
    result: { info: StatementInfo; reasons: string[] };
  }
>();

export interface ResolverDependencies {
  session: { database: string; dbRole: string };
  catalog: Catalog;
  catalogLogin: { role: string; password: string };
  logger: Logger;
}

export class SessionResolver {
  /** While deciding after a catalog read: the snapshot it read. */
  private loaded: CatalogSnapshot | undefined;
  /** While deciding after a failed catalog read: why it failed. */
  private catalogError: string | undefined;
  private resolutionMemo:
    | { stateKey: string; catalog: CatalogSnapshot | undefined; value: string }
    | undefined;

  constructor(private readonly deps: ResolverDependencies) {}

  /** The catalog a statement is decided on: the fresh snapshot, or the one just read for it. */
  decisionCatalog(): CatalogSnapshot | undefined {
    return this.deps.catalog.fresh(this.deps.session.database) ?? this.loaded;
  }

  needsCatalog(statements: readonly StatementInfo[]): boolean {
    if (this.deps.catalog.fresh(this.deps.session.database)) return false;
    for (const s of statements) if (needsNames(s)) return true;
    return false;
  }

  /** Runs `decide` after loading the catalog (the relay waits); `needsCatalog` said it is not fresh. */
  withCatalog(decide: () => void): Promise<boolean> {
    const { role, password } = this.deps.catalogLogin;
    return this.deps.catalog.get(this.deps.session.database, role, password).then(
      (snapshot) => {
        // the snapshot just read, even if DDL elsewhere made it stale meanwhile: deciding with none
        // would resolve nothing and trace no view to what it reads
        this.loaded = snapshot;
        try {
          decide();
        } finally {
          this.loaded = undefined;
        }
        return true;
      },
      (err: Error) => {
        // Without the catalog names cannot be resolved, views cannot be traced to what they read, and
        // attribute notation cannot be told from columns: statements that need it are refused
        // (see resolve) until it can be read again. Anyone able to make it unreadable (a setting of
        // the database or of a role, a lock) would otherwise choose how names are decided.
        this.deps.logger.warn(
          { err: err.message },
          "catalog unavailable: statements naming relations are refused",
        );
        this.catalogError = err.message;
        try {
          decide();
        } finally {
          this.catalogError = undefined;
        }
        return true;
      },
    );
  }

  /**
   * Resolves a statement's names with `state`'s search_path. An EXECUTE, at the top or nested at any
   * depth (`CREATE TABLE … AS EXECUTE`, `EXPLAIN [ANALYZE] EXECUTE`), is decided on what `state` says
   * was prepared under that name, resolved again if the search_path changed since, as the server does;
   * what it runs is folded into every statement that encloses it.
   */
  resolve(
    raw: StatementInfo,
    state: SessionState,
    catalog: CatalogSnapshot | undefined,
  ): { info: StatementInfo; reasons: string[] } {
    if (this.catalogError !== undefined && needsNames(raw))
      return {
        info: raw,
        reasons: [
          `the database catalog cannot be read (${this.catalogError}): statements naming relations are refused until it can`,
        ],
      };
    if (namesDenialStatement(raw))
      return {
        info: raw,
        reasons: [`the prepared statement name "${DENIAL_STATEMENT}" is reserved by Portcullis`],
      };
    if (containsExecute(raw)) {
      const resolved = this.resolveExecutes(
        resolveStatement(raw, this.searched(state, catalog), catalog),
        state,
        catalog,
      );
      return { info: this.marked(resolved.info, state), reasons: resolved.reasons };
    }
    // Without an EXECUTE the resolution depends only on the analysis, the path, the role and the catalog: an
    // analysis the caches hand out again (the same object) is resolved once per path and snapshot.
    const pathKey = state.key();
    const memo = RESOLVED.get(raw);
    const role = this.deps.session.dbRole;
    if (memo && memo.pathKey === pathKey && memo.role === role && memo.catalog === catalog)
      return memo.result;
    const result = {
      info: this.marked(resolveStatement(raw, this.searched(state, catalog), catalog), state),
      reasons: NO_REASONS,
    };
    RESOLVED.set(raw, { pathKey, role, catalog, result });
    return result;
  }

  /**
   * The schemas the server searches for this session's role: the path without the schemas the role
   * has no USAGE on, which the server skips (a name only there is not found; the next schema's is);
   * null (unknown) after DDL in this transaction.
   */
  private searched(state: SessionState, catalog: CatalogSnapshot | undefined): string[] | null {
    const schemas = state.schemas();
    return catalog ? catalog.searchable(this.deps.session.dbRole, schemas) : schemas;
  }

  /**
   * A resolved statement decided after DDL in the open transaction, or on a search_path the proxy does
   * not know, says so (the policy reads it: its unqualified names are unresolved, whatever they mean).
   */
  private marked(info: StatementInfo, state: SessionState): StatementInfo {
    const unknownPath = state.path.schemas() === null;
    if (!state.ddl && !unknownPath) return info;
    return {
      ...info,
      ...(state.ddl ? { ddl_in_transaction: true } : {}),
      ...(unknownPath ? { search_path_unknown: true } : {}),
    };
  }

  /**
   * What resolving a statement's names depends on besides the catalog's relations: the search_path
   * (and whether DDL ran in the open transaction), and the schemas of the path the role may use (a
   * prepared statement is decided again when this changes).
   */
  resolutionKey(state: SessionState, catalog: CatalogSnapshot | undefined): string {
    const stateKey = state.key();
    const memo = this.resolutionMemo;
    // the hot path (a Bind per statement) asks with the same path and snapshot: no JSON work then
    if (memo && memo.stateKey === stateKey && memo.catalog === catalog) return memo.value;
    // without a snapshot nothing says which schemas the role may use: never the key of one made with it
    const value = `${stateKey}\u0000${catalog ? JSON.stringify(this.searched(state, catalog)) : "?"}`;
    this.resolutionMemo = { stateKey, catalog, value };
    return value;
  }

  /** `resolve` of a statement made from the shape cache's `template` (the same analysis, its own text). */
  resolveShaped(
    template: StatementInfo,
    raw: StatementInfo,
    state: SessionState,
    catalog: CatalogSnapshot | undefined,
  ): { info: StatementInfo; reasons: string[] } {
    const { info } = this.resolve(template, state, catalog);
    // resolution never reads the text: the template's, with this statement's text
    return { info: info === template ? raw : { ...info, text: raw.text }, reasons: NO_REASONS };
  }

  private resolveExecutes(
    info: StatementInfo,
    state: SessionState,
    catalog: CatalogSnapshot | undefined,
  ): { info: StatementInfo; reasons: string[] } {
    let inner: StatementInfo | undefined;
    if (info.kind === "execute") {
      if (info.prepared_name === undefined) return { info, reasons: ["EXECUTE without a statement name"] };
      const prepared = state.prepared.get(info.prepared_name);
      if (!prepared) {
        return {
          info,
          reasons: [
            `prepared statement "${info.prepared_name}" does not exist (Portcullis saw no Parse or PREPARE of it in this session)`,
          ],
        };
      }
      inner = prepared.info;
      if (prepared.pathKey !== this.resolutionKey(state, catalog) || prepared.catalog !== catalog) {
        const again = this.resolve(prepared.raw, state, catalog);
        if (again.reasons.length > 0) return { info, reasons: again.reasons };
        inner = again.info;
      }
    } else if (info.inner !== undefined && containsExecute(info.inner)) {
      const nested = this.resolveExecutes(info.inner, state, catalog);
      if (nested.reasons.length > 0) return { info, reasons: nested.reasons };
      inner = nested.info;
    }
    if (inner === undefined) return { info, reasons: [] };
    // a plain EXPLAIN (no ANALYZE) runs nothing: what it would write, it only reads
    const readsOnly = info.kind === "explain" && info.explain_analyze !== true;
    return {
      info: {
        ...info,
        inner,
        relations: [
          ...info.relations,
          ...inner.relations.map((r) => (readsOnly ? { ...r, access: "read" as const } : r)),
        ],
        functions: [...new Set([...info.functions, ...inner.functions])],
        columns: [
          ...(info.columns ?? []),
          // rows a CREATE TABLE AS stores go into a table, not through a RowDescription
          ...(inner.columns ?? []).map((c) =>
            info.kind === "ddl" ? { ...c, context: "expression" as const } : c,
          ),
        ],
      },
      reasons: [],
    };
  }
}
