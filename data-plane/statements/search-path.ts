import type { StatementInfo } from "../../proto/policy.js";
import type { TransactionStatus } from "../protocol/backend-messages.js";
import { splitIdentifierList, UNKNOWN_SETTING } from "../sql/settings.js";

/**
 * The session's effective search_path, as the server computes it: the role's default at login, then
 * every SET / RESET / SET LOCAL / set_config('search_path', …) / RESET ALL / DISCARD ALL that the server
 * ran to completion. Like every setting it is transactional, and this model follows the server's rules:
 *
 * - every statement runs in a transaction: an explicit block (BEGIN … COMMIT/ROLLBACK), or an implicit
 *   one (a single statement; all the statements of a multi-statement Query; the extended-protocol
 *   messages up to Sync). A COMMIT or ROLLBACK ends either kind, even in the middle of a Query;
 * - an error aborts an implicit transaction at once (its changes are undone) and marks an explicit one
 *   failed: its changes are undone by ROLLBACK, by COMMIT (which then rolls back), or back to a savepoint
 *   by ROLLBACK TO;
 * - SET LOCAL lasts until the transaction ends; ROLLBACK TO restores what was in force at the savepoint.
 *
 * The gate feeds it statements as the server reports them complete, errors as they arrive and the status
 * of every ReadyForQuery (which also corrects it if it ever disagrees). When the value cannot be known (a
 * set_config whose name or value is not a literal, PREPARE TRANSACTION, a disagreement), the path is
 * unknown and names resolve to nothing.
 */

type Path = string[] | null;

interface Snapshot {
  session: Path;
  /** A SET LOCAL value, in force until the transaction ends (undefined: none). */
  local: Path | undefined;
}

interface Transaction {
  /** The session value when the transaction began: what a rollback restores. */
  start: Path;
  explicit: boolean;
  /** An explicit block in which a statement failed: COMMIT rolls it back. */
  aborted: boolean;
  savepoints: { name: string; at: Snapshot }[];
}

export class SearchPath {
  private session: Path;
  private local: Path | undefined = undefined;
  private tx: Transaction | undefined = undefined;
  /**
   * A cursor was declared whose query calls set_config on the path (or on a setting it cannot name):
   * the call runs when rows are fetched or moved over, or when a WITH HOLD cursor is materialized at
   * COMMIT, none of which the proxy can tell; the path is unknown for the rest of the session.
   */
  private cursorSetsPath = false;

  constructor(
    private readonly roleDefault: Path,
    private readonly user: string,
  ) {
    this.session = roleDefault;
  }

  clone(): SearchPath {
    const copy = new SearchPath(this.roleDefault, this.user);
    copy.session = this.session;
    copy.local = this.local;
    copy.memo = this.memo;
    copy.cursorSetsPath = this.cursorSetsPath;
    if (this.tx) copy.tx = { ...this.tx, savepoints: [...this.tx.savepoints] };
    return copy;
  }

  /** The schemas to search, in order, with `$user` expanded and pg_catalog first unless listed. */
  schemas(): string[] | null {
    if (this.cursorSetsPath) return null;
    const path = this.local !== undefined ? this.local : this.session;
    if (path === null) return null;
    const out: string[] = [];
    if (!path.includes("pg_catalog")) out.push("pg_catalog");
    for (const entry of path) out.push(entry === "$user" ? this.user : entry);
    return out;
  }

  /**
   * The last key and the path it was computed from (paths are replaced, never changed in place),
   * shared with clones: the key depends only on the path and the user, which clones share.
   */
  private memo: { path: Path | undefined; key: string } = { path: undefined, key: "" };

  /** A key that changes whenever the effective path does (decision caching, prepared statements). */
  key(): string {
    if (this.cursorSetsPath) return "null";
    const path = this.local !== undefined ? this.local : this.session;
    const memo = this.memo;
    if (path !== memo.path || memo.path === undefined) {
      memo.key = JSON.stringify(this.schemas());
      memo.path = path;
    }
    return memo.key;
  }

  /** Inside an explicit transaction block (BEGIN … COMMIT/ROLLBACK). */
  inTransactionBlock(): boolean {
    return this.tx?.explicit === true;
  }

  /** A statement the server ran to completion (or, when deciding later ones, is assumed to). */
  completed(statement: StatementInfo): void {
    this.tx ??= { start: this.session, explicit: false, aborted: false, savepoints: [] };
    if (statement.kind === "transaction") this.transaction(statement);
    if (statement.command === "DiscardStmt") this.discard(statement.discard);
    // SET/RESET change what they name when they complete. A set_config() call runs only if and when
    // the expression holding it is evaluated (maybe never: WHERE false, a CASE branch, an empty FROM, a
    // plain EXPLAIN, PREPARE until EXECUTE, a cursor until FETCH), so only the plain
    // `SELECT set_config('search_path', '…', …)` is taken at its word; any other leaves the path unknown.
    const exact = statement.kind === "set" || statement.sole_set_config === true;
    const settings =
      statement.kind === "show" || statement.kind === "prepare"
        ? [] // SHOW reports the setting it reads; PREPARE runs nothing
        : statement.kind === "execute"
          ? (statement.inner?.settings ?? [])
          : (statement.settings ?? []);
    if (
      statement.command === "DeclareCursorStmt" &&
      settings.some((s) => s.name === "search_path" || s.name === UNKNOWN_SETTING)
    )
      this.cursorSetsPath = true;
    for (const setting of settings) {
      if (setting.name === "all" && setting.reset) {
        // RESET ALL
        this.session = this.roleDefault;
        this.local = undefined;
      } else if (setting.name === UNKNOWN_SETTING) {
        // a set_config whose name we cannot read may have changed it
        if (setting.local) this.local = null;
        else this.session = null;
      } else if (setting.name === "search_path") {
        const value = !exact
          ? null
          : setting.reset
            ? this.roleDefault
            : setting.value === null
              ? null
              : splitIdentifierList(setting.value);
        if (setting.local) this.local = value;
        else this.session = value;
      }
    }
  }

  private transaction(statement: StatementInfo): void {
    const tx = this.tx!;
    const name = statement.savepoint;
    switch (statement.transaction) {
      case "begin":
        tx.explicit = true;
        return;
      case "commit":
        this.end(!tx.aborted); // COMMIT of a failed block rolls back
        return;
      case "rollback":
        this.end(false);
        return;
      case "prepare":
        // PREPARE TRANSACTION: not followed here
        this.end(false);
        this.session = null;
        return;
      case "savepoint":
        if (name === undefined) this.session = null;
        else tx.savepoints.push({ name, at: { session: this.session, local: this.local } });
        return;
      case "release":
      case "rollback_to": {
        const at = name === undefined ? -1 : tx.savepoints.map((s) => s.name).lastIndexOf(name);
        if (at < 0) {
          this.session = null;
          this.local = null;
          return;
        }
        if (statement.transaction === "release") {
          tx.savepoints.length = at;
          return;
        }
        const saved = tx.savepoints[at]!.at;
        tx.savepoints.length = at + 1; // ROLLBACK TO keeps the savepoint itself
        this.session = saved.session;
        this.local = saved.local;
        tx.aborted = false;
        return;
      }
      default:
        // COMMIT PREPARED / ROLLBACK PREPARED act on another transaction
        return;
    }
  }

  /** DISCARD ALL resets every setting; the other forms leave them alone; anything unclear: unknown. */
  private discard(target: StatementInfo["discard"]): void {
    if (target === "all") {
      this.session = this.roleDefault;
      this.local = undefined;
    } else if (target === undefined) {
      this.session = null; // a DISCARD the proxy cannot name: the path is unknown
    }
  }

  private end(commit: boolean): void {
    if (!commit && this.tx) this.session = this.tx.start;
    this.tx = undefined;
    this.local = undefined;
  }

  /** The server reported an error: the statement it was running did nothing, and its transaction failed. */
  failed(): void {
    if (!this.tx) return;
    if (this.tx.explicit) this.tx.aborted = true;
    else this.end(false);
  }

  /** A ReadyForQuery: an implicit transaction has committed; the status corrects any disagreement. */
  cycleEnded(status: TransactionStatus): void {
    if (status === "I") {
      if (this.tx?.explicit) this.session = null; // we thought a block was open: we lost track
      if (this.tx) this.end(true);
      return;
    }
    if (!this.tx) {
      // the server is in a block we did not see begin: what a rollback restores is unknown
      this.tx = { start: null, explicit: true, aborted: false, savepoints: [] };
    }
    this.tx.explicit = true;
    if (status === "E") this.tx.aborted = true;
  }
}

/** Parses `SHOW search_path` output (the role's default at login). */
export function parseSearchPath(value: string): string[] | null {
  return splitIdentifierList(value);
}
