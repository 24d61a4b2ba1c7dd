/**
 * The policy contract: what the data plane passes to the Rego entrypoints and what it expects back.
 * DESIGN.md "Policy contract" is the prose version; this file is the typed one both planes import.
 */

export const ENTRYPOINTS = {
  connection: "portcullis/connection/decision",
  query: "portcullis/query/decision",
  queryCacheable: "portcullis/query/cacheable",
  /**
   * True when, besides being cacheable, the decision does not depend on the statement's literal
   * values or text: the proxy may then reuse it for every statement of the same shape (same text once
   * literals are replaced by placeholders), without parsing each one again.
   */
  queryCacheableByShape: "portcullis/query/cacheable_by_shape",
  admin: "portcullis/admin/decision",
} as const;
export type EntrypointName = (typeof ENTRYPOINTS)[keyof typeof ENTRYPOINTS];

/** Verified token claims. Every claim of the token is passed through. */
export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat?: number;
  nbf?: number;
  jti?: string;
  sid?: string;
  email?: string;
  groups?: string[];
  roles?: string[];
  [claim: string]: unknown;
}

export interface ConnectionInput {
  token: TokenClaims;
  startup: { user: string; database: string; application_name: string; options: string };
  client: { addr: string; port: number; tls: { version: string; cipher: string } | null };
  proxy: { id: string; region: string; labels: Record<string, string> };
  now_ns: number;
}

export interface ConnectionDecision {
  allow: boolean;
  reasons: string[];
  db_role?: string;
  max_session_seconds?: number;
}

export type StatementKind =
  | "select"
  | "insert"
  | "update"
  | "delete"
  | "merge"
  | "ddl"
  | "copy"
  | "set"
  | "show"
  | "transaction"
  | "prepare"
  | "execute"
  | "deallocate"
  | "explain"
  | "call"
  | "do"
  | "listen"
  | "notify"
  | "lock"
  | "grant"
  | "role"
  | "utility"
  | "unknown";

export interface RelationRef {
  /** The schema the name resolves to; for an unqualified name that could not be resolved, null. */
  schema: string | null;
  name: string;
  access: "read" | "write";
  /** False when the schema is a guess (unqualified name, search_path unknown). */
  resolved: boolean;
  /** Columns named explicitly against this relation (best effort, for masking guards). */
  columns?: string[];
  /** The statement named it without a schema: `schema` is what the proxy resolved it to. */
  unqualified?: boolean;
  /** What the catalog says the relation is, when it knows it: "table", "view", "foreign_table", … */
  relkind?: string;
  /**
   * The relations whose rows this one shows, by the catalog ("schema.name", transitively): what a view
   * or materialized view reads, the parents of an inheritance child or a partition, the children and
   * partitions of a parent (whose results hold their rows). Absent when the
   * catalog does not know the relation.
   */
  sources?: string[];
  /**
   * For an unqualified name: the relations of the same name in the schemas after `schema` on the path,
   * and the relations they show ("schema.name"): what the name means once the relation it resolved to
   * is dropped or renamed where this proxy's catalog does not see it yet.
   */
  hides?: string[];
}

export interface StatementInfo {
  kind: StatementKind;
  /**
   * Set by the proxy when DDL ran earlier in the open transaction (or the same query): unqualified
   * names are then left unresolved, because the proxy's catalog snapshot cannot see that DDL yet.
   */
  ddl_in_transaction?: boolean;
  /**
   * Set by the proxy when it does not know the session's search_path (a set_config it cannot take at its
   * word, a savepoint it did not see): unqualified names are then left unresolved.
   */
  search_path_unknown?: boolean;
  /** The libpg-query node name, e.g. "SelectStmt", "VariableSetStmt". */
  command: string;
  relations: RelationRef[];
  /**
   * Every function called, schema-qualified when written so, as the server reads the names (identifiers
   * folded and decoded), each part double-quoted when it is not a plain lower-case identifier:
   * "pg_catalog.set_config", "lower", "\"LOWER\"". A field selection `(x).name` counts as a call of name.
   */
  functions: string[];
  /**
   * For UPDATE/DELETE/MERGE: whether a WHERE (or ON for MERGE) restricts the rows. A condition that cannot
   * depend on the row (`WHERE true`, `WHERE 1 = 1`, `WHERE true OR id = 1`) does not.
   */
  has_where?: boolean;
  /** The role names the statement names (grants, grantees, role options, owners, SET ROLE), decoded. */
  roles?: string[];
  /** VACUUM/ANALYZE: whether it computes planner statistics (ANALYZE, VACUUM ANALYZE, VACUUM (ANALYZE)). */
  analyze?: boolean;
  /** COPY: direction and whether it runs a program. */
  copy?: { direction: "from" | "to"; program: boolean; file: boolean };
  /** SET/RESET/SHOW: the parameter (lower-case) and the value when literal; set_config calls too. */
  settings?: {
    name: string;
    value: string | null;
    local: boolean;
    /** True when the parameter goes back to its default (RESET x, RESET ALL, SET x TO DEFAULT); value is null. */
    reset?: boolean;
  }[];
  /** Column references, for the masking inference guard (SELECT, INSERT … SELECT, UPDATE, DELETE, COPY (query)). */
  columns?: ColumnUse[];
  /** The statement inside EXPLAIN (with analyze flag), PREPARE, CREATE TABLE AS, DO body language. */
  inner?: StatementInfo;
  explain_analyze?: boolean;
  /** PREPARE/EXECUTE/DEALLOCATE: the prepared statement name. */
  prepared_name?: string;
  /** Transaction control: "begin" | "commit" | "rollback" | "savepoint" | ... */
  transaction?: string;
  /** SAVEPOINT / RELEASE / ROLLBACK TO: the savepoint's name. */
  savepoint?: string;
  /** DO: the language of the code block, lower-case ("plpgsql" when not written). */
  do_language?: string;
  /**
   * An integer constant in the statement names a select-list entry (ORDER BY 2, GROUP BY ROLLUP (2),
   * DISTINCT ON (2)): the analysis depends on that literal's value (never decided by shape).
   */
  positional_references?: boolean;
  /** DISCARD: what it discards (DISCARD TEMPORARY is "temp"). */
  discard?: "all" | "plans" | "sequences" | "temp";
  /**
   * `SELECT set_config('search_path', '…', true|false)` with literal arguments and nothing else (no
   * FROM, WHERE, other columns…): the call runs exactly once, so the proxy knows the path it leaves.
   */
  sole_set_config?: boolean;
  /** LISTEN/NOTIFY/UNLISTEN: the channel name (absent for UNLISTEN *). */
  channel?: string;
  text: string;
  /** libpg-query fingerprint: equal for statements that differ only in literals. */
  fingerprint: string;
}

export interface QueryInput {
  session: {
    id: string;
    subject: string;
    claims: TokenClaims;
    db_role: string;
    database: string;
    region: string;
  };
  protocol: "simple" | "extended";
  statement: StatementInfo;
  statement_index: number;
  statement_count: number;
  now_ns: number;
}

export interface ColumnMask {
  /** "schema.table"; when absent the mask applies to the column in every relation. */
  relation?: string;
  column: string;
  with: "null" | "redact" | "hash";
}

export interface QueryDecision {
  allow: boolean;
  reasons: string[];
  mask?: ColumnMask[];
}

export interface AdminInput {
  token: TokenClaims;
  method: string;
  request: unknown;
}

export interface AdminDecision {
  allow: boolean;
  reasons: string[];
}

/**
 * One column reference in a statement, for the masking inference guard: a masked column may appear
 * only as a plain output column unless the policy explicitly allows otherwise.
 */
export interface ColumnUse {
  /** The relation the reference belongs to ("schema.name" or "name" as written, aliases resolved); null when it cannot be told. */
  relation: string | null;
  /** The column name, lower-case; "*" for a whole-row reference such as `row_to_json(e)` or `SELECT e`. */
  column: string;
  /** "output": a plain column (or `*`) in the top-level select list; "expression": anywhere else. */
  context: "output" | "expression";
}
