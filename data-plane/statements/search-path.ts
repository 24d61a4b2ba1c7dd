import type { StatementInfo } from "../../proto/policy.js";
import { splitIdentifierList } from "../sql/settings.js";

/**
 * The session's effective search_path, as the server computes it: the role's default at login, then
 * every allowed SET / RESET / SET LOCAL / set_config('search_path', …). A change made inside a
 * transaction block is undone if the block rolls back; SET LOCAL lasts until the block ends. When the
 * value cannot be known (a non-literal set_config), the path is unknown and names resolve to nothing.
 */
export class SearchPath {
  /** The value for the session (null: unknown). */
  private session: string[] | null;
  /** The session value when the current transaction block began, to restore on rollback. */
  private atBlockStart: string[] | null | undefined;
  /** A SET LOCAL value, in force until the block ends. */
  private local: string[] | null | undefined;

  constructor(
    private readonly roleDefault: string[] | null,
    private readonly user: string,
  ) {
    this.session = roleDefault;
  }

  /** The schemas to search, in order, with `$user` expanded and pg_catalog first unless listed. */
  schemas(): string[] | null {
    const path = this.local !== undefined ? this.local : this.session;
    if (path === null) return null;
    const out: string[] = [];
    if (!path.includes("pg_catalog")) out.push("pg_catalog");
    for (const entry of path) out.push(entry === "$user" ? this.user : entry);
    return out;
  }

  /** Applies the settings of a statement that was forwarded to the server. */
  apply(statement: StatementInfo): void {
    // SHOW reports the setting it reads in `settings` too: it changes nothing
    if (statement.kind === "show") return;
    for (const setting of statement.settings ?? []) {
      if (setting.name === "all" && setting.reset) {
        // RESET ALL
        this.session = this.roleDefault;
        this.local = undefined;
        continue;
      }
      if (setting.name === "*unknown*") {
        this.session = null; // a set_config whose name we cannot read may have changed it
        continue;
      }
      if (setting.name !== "search_path") continue;
      const value = setting.reset
        ? this.roleDefault
        : setting.value === null
          ? null
          : splitIdentifierList(setting.value);
      if (setting.local) this.local = value;
      else this.session = value;
    }
  }

  /** The state, to put back if a speculative apply (deciding a multi-statement query) is abandoned. */
  save(): () => void {
    const { session, atBlockStart, local } = this;
    return () => {
      this.session = session;
      this.atBlockStart = atBlockStart;
      this.local = local;
    };
  }

  /** Track transaction blocks from ReadyForQuery status changes and the command tag that ended them. */
  blockStarted(): void {
    this.atBlockStart = this.session;
  }

  blockEnded(committed: boolean): void {
    if (!committed && this.atBlockStart !== undefined) this.session = this.atBlockStart;
    this.atBlockStart = undefined;
    this.local = undefined;
  }

  /** A key that changes whenever the effective path does (for decision caching). */
  key(): string {
    return JSON.stringify(this.schemas());
  }
}

/** Parses `SHOW search_path` output (the role's default at login). */
export function parseSearchPath(value: string): string[] | null {
  return splitIdentifierList(value);
}
