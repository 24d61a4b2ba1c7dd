/**
 * Table-driven statement tests through a real data plane: a row says who sends what (psql in the simple
 * protocol, node-postgres in the extended protocol with parameters) and what must come back (rows, a
 * denial with its reason, a syntax error). For every refused row a superuser fingerprint of the
 * database, taken directly on PostgreSQL before and after, proves nothing changed, and every row checks
 * that the session still answers. The same rules as data-plane/statements/statement-policy.int.test.ts,
 * as a module other suites can use.
 */
import type pg from "pg";
import { expect } from "vitest";
import type { LocalPostgres } from "../../devstack/postgres.js";
import type { ProxyStack } from "./proxy-stack.js";

export type User = "alice" | "bob" | "carol" | "dave";

export type Expect =
  /** Allowed: exactly these output lines (psql -A -t; pg rows joined with "|", null as ""). */
  | { rows: string[] }
  /** Allowed: output lines matching these patterns, one each, in order. */
  | { match: RegExp[] }
  /** Refused by the policy: 42501 with this text in the message. */
  | { denied: string };

export interface Row {
  user: User;
  via: "psql" | "pg";
  sql: string;
  /** pg: parameters ($1, …), sent in the extended protocol. */
  params?: unknown[];
  /**
   * Statements the same session runs first, each as its own Query; a `{ name, text }` one prepares (and
   * runs) a named statement: pg parses it under that name, psql runs `PREPARE name AS text`.
   */
  before?: (string | Named)[];
  /** Statements the same session runs after the row (and its ROLLBACK): to undo what `before` made. */
  after?: string[];
  /** pg: the row's statement is sent under this prepared-statement name (prepared by `before`: Bind only). */
  named?: string;
  /** Errors expected from `before` (they do not stop the row). */
  beforeErrors?: number;
  expect: Expect;
  /** For an allowed write: a superuser query on PostgreSQL and what it must print afterwards. */
  check?: [sql: string, equals: string];
}

/** A named prepared statement a row's session makes first. */
export interface Named {
  name: string;
  text: string;
}

interface Outcome {
  /** Everything the client received: rows, notices, errors. */
  all: string;
  lines: string[];
  sqlstate: string;
  message: string;
  beforeErrors: number;
  alive: boolean;
}

/** A fingerprint of what a statement could change: sample data, schema objects, grants, roles, large objects, sequences. */
export const FINGERPRINT = `
SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT 'o' || t::text FROM sales.orders t UNION ALL
  SELECT 'c' || t::text FROM sales.customers t UNION ALL
  SELECT 'e' || t::text FROM hr.employees t UNION ALL
  SELECT 'r' || c.oid::regclass::text || c.relnatts || coalesce(c.relacl::text, '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('sales', 'hr', 'public') OR n.nspname LIKE 'pg_temp%' UNION ALL
  SELECT 'f' || p.oid::regprocedure::text
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('sales', 'hr', 'public') UNION ALL
  SELECT 'a' || r.rolname || r.rolsuper || r.rolcreaterole || coalesce((
    SELECT string_agg(b.rolname, ',' ORDER BY b.rolname)
    FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid), '')
    FROM pg_roles r WHERE r.rolname IN ('analyst', 'app_rw', 'admin') UNION ALL
  SELECT 'l' || count(*) FROM pg_largeobject_metadata UNION ALL
  SELECT 'q' || last_value || is_called FROM sales.orders_id_seq
) s(x)`;

const ERROR_LINE = /^(?:psql:[^:]*:\d+: )?ERROR: {2}([0-9A-Z]{5}): (.*)$/;

export function rowLabel(row: Row): string {
  const sql = row.sql.replace(/\s+/g, " ");
  return `${row.user} ${row.via}${row.before ? ` (after ${row.before.length})` : ""}: ${sql.length > 90 ? `${sql.slice(0, 87)}...` : sql}`;
}

/** The one user exempt from the default policy's masks (the hr group). */
const UNMASKED_USER: User = "dave";

export class StatementRows {
  constructor(
    private readonly stack: ProxyStack,
    private readonly postgres: LocalPostgres,
    private readonly tokens: Record<User, string>,
    /**
     * Real values of masked columns: no row of a masked user may show any of them to the client, in
     * its rows or in any error or notice text.
     */
    private readonly maskedValues: readonly string[] = [],
  ) {}

  /** Runs one row and checks everything it promises. */
  async check(row: Row): Promise<void> {
    const refused = "denied" in row.expect;
    const before = refused ? await this.postgres.psql(FINGERPRINT) : "";
    const outcome = row.via === "psql" ? await this.psql(row) : await this.pg(row);
    expect(outcome.beforeErrors, "errors from the statements run first").toBe(row.beforeErrors ?? 0);
    const e = row.expect;
    if ("denied" in e) {
      expect(outcome.sqlstate, outcome.message).toBe("42501");
      expect(outcome.message).toContain("permission denied by Portcullis policy");
      expect(outcome.message).toContain(e.denied);
      expect(outcome.lines, "nothing of a refused query runs").toEqual([]);
    } else {
      expect(outcome.sqlstate, outcome.message).toBe("00000");
      if ("rows" in e) expect(outcome.lines).toEqual(e.rows);
      else {
        expect(outcome.lines).toHaveLength(e.match.length);
        for (const [i, pattern] of e.match.entries()) expect(outcome.lines[i]).toMatch(pattern);
      }
    }
    expect(outcome.alive, "the session answers after the statement").toBe(true);
    if (row.user !== UNMASKED_USER) {
      for (const value of this.maskedValues)
        expect(outcome.all.includes(value), `a masked value reached ${row.user}: ${value}`).toBe(false);
    }
    if (refused) expect(await this.postgres.psql(FINGERPRINT), "the database is unchanged").toBe(before);
    if (row.check) expect(await this.postgres.psql(row.check[0])).toBe(row.check[1]);
  }

  private async psql(row: Row): Promise<Outcome> {
    const args = ["-A", "-t", "-v", "ON_ERROR_STOP=0", "-v", "VERBOSITY=verbose"];
    for (const b of row.before ?? [])
      args.push("-c", typeof b === "string" ? b : `PREPARE ${b.name} AS ${b.text}`);
    // a ROLLBACK first: a row may leave a transaction block open (and aborted by its denial)
    args.push("-c", "\\echo <<<", "-c", row.sql, "-c", "\\echo >>> :SQLSTATE", "-c", "ROLLBACK");
    for (const a of row.after ?? []) args.push("-c", a);
    args.push("-c", "SELECT 'alive'");
    const result = await this.stack.psql(this.tokens[row.user], args);
    const out = result.stdout.split("\n");
    const start = out.indexOf("<<<");
    const end = out.findIndex((l) => l.startsWith(">>> "));
    expect(start, `psql output: ${result.stdout}\n${result.stderr}`).toBeGreaterThanOrEqual(0);
    expect(end, `psql output: ${result.stdout}\n${result.stderr}`).toBeGreaterThan(start);
    const errors = result.stderr
      .split("\n")
      .map((l) => ERROR_LINE.exec(l))
      .filter((m) => m !== null);
    const sqlstate = (out[end] ?? "").slice(4);
    const failed = sqlstate !== "00000";
    return {
      all: `${result.stdout}\n${result.stderr}`,
      lines: out.slice(start + 1, end),
      sqlstate,
      message: failed ? (errors[errors.length - 1]?.[2] ?? "") : "",
      beforeErrors: errors.length - (failed ? 1 : 0),
      alive: out.slice(end + 1).includes("alive"),
    };
  }

  private async pg(row: Row): Promise<Outcome> {
    const client = await this.stack.client(this.tokens[row.user]);
    const seen: string[] = [];
    client.on("notice", (n) => seen.push(JSON.stringify(n)));
    try {
      let beforeErrors = 0;
      for (const b of row.before ?? [])
        await client.query(typeof b === "string" ? b : { name: b.name, text: b.text }).then(
          (r) => seen.push(JSON.stringify(r.rows)),
          (err: Error) => {
            beforeErrors++;
            seen.push(JSON.stringify({ ...err, message: err.message }));
          },
        );
      let outcome: Omit<Outcome, "alive" | "beforeErrors" | "all">;
      try {
        const result = await client.query({
          ...(row.named !== undefined ? { name: row.named } : {}),
          text: row.sql,
          values: row.params ?? [],
          rowMode: "array",
          queryMode: "extended",
        } as pg.QueryArrayConfig);
        const lines = result.rows.map((r: unknown[]) =>
          r.map((v) => (v === null ? "" : String(v))).join("|"),
        );
        outcome = { lines, sqlstate: "00000", message: "" };
      } catch (err) {
        const e = err as { code?: string; message: string };
        seen.push(JSON.stringify({ ...e, message: e.message }));
        outcome = { lines: [], sqlstate: e.code ?? "?????", message: e.message };
      }
      await client.query("ROLLBACK").catch(() => {});
      for (const a of row.after ?? []) await client.query(a);
      const alive = await client.query("SELECT 'alive' AS a").then(
        (r) => r.rows[0]?.a === "alive",
        () => false,
      );
      return { ...outcome, all: [...outcome.lines, ...seen].join("\n"), beforeErrors, alive };
    } finally {
      await client.end().catch(() => {});
    }
  }
}
