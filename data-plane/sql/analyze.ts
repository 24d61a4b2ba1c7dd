/**
 * One parsed statement → {@link StatementInfo}, the `statement` of the query policy input.
 *
 * Shapes chosen where the contract leaves room (see also settings.ts for `settings`):
 * - `relations`: schema and name as the parser gives them (unquoted names folded to lower case, quoted
 *   names kept as written); unqualified → `schema: null, resolved: false`. One entry per
 *   (schema, name, access). `columns` on a relation lists the columns named against it anywhere in the
 *   statement (read, assigned, COPY column list), "*" for whole-row or star use.
 * - `functions`: names as the server reads them (identifier folding, quotes and U&"…" escapes decoded),
 *   joined with ".", a part double-quoted when it is not a plain lower-case identifier (function-label.ts:
 *   `pg_catalog.set_config`, `"LOWER"`). Trigger functions named by CREATE (EVENT) TRIGGER, the procedure of
 *   CALL and the name of a field selection `(x).name` (a call of name(x) when x is not composite) count.
 * - `roles`: the role names the statement names (role-names.ts), decoded like identifiers; absent when none.
 * - `analyze` (VacuumStmt): whether it computes planner statistics (ANALYZE, VACUUM ANALYZE).
 * - `columns`: always present (possibly empty); see query-walker.ts for the context rules.
 * - `has_where`: present when the statement runs an UPDATE, DELETE or MERGE anywhere, including in a
 *   data-modifying CTE or the inner statement of PREPARE / EXPLAIN ANALYZE / CREATE TABLE AS; true only when
 *   every one of them is restricted (WHERE, WHERE CURRENT OF, MERGE's ON — but a MERGE with an unconditioned
 *   `WHEN NOT MATCHED BY SOURCE THEN UPDATE/DELETE` is unrestricted).
 * - `inner` (EXPLAIN, PREPARE, CREATE TABLE AS / MATERIALIZED VIEW): the full analysis of the inner
 *   statement; its `text` and `fingerprint` are the enclosing statement's (the parser gives no offsets for
 *   it). Its relations, functions, columns and settings are also copied into the outer statement; for a
 *   plain EXPLAIN (no ANALYZE) the copied writes become reads, since nothing runs.
 * - The inner statement of PREPARE, EXPLAIN and DECLARE CURSOR is analysed as a top-level statement (its
 *   plain select-list columns are "output": EXECUTE/FETCH send a traceable RowDescription); the query of
 *   CREATE TABLE AS / VIEW / COPY and of SELECT … INTO is not (all its columns are "expression").
 * - `transaction`: begin (BEGIN and START TRANSACTION), commit, rollback, savepoint, release, rollback_to,
 *   prepare (PREPARE TRANSACTION), commit_prepared, rollback_prepared. BEGIN's isolation/read-only options
 *   are also reported as transaction-local settings. `savepoint`: the name SAVEPOINT, RELEASE and
 *   ROLLBACK TO act on.
 * - `prepared_name`: absent for DEALLOCATE ALL.
 * - `discard`: DISCARD's target ("temp" for TEMP and TEMPORARY). `sole_set_config`: a SELECT that is one
 *   `set_config('search_path', '…', true|false)` call with literal arguments and nothing else, which runs
 *   exactly once (session-state and search-path tracking take it at its word; any other call they do not).
 * - `positional_references`: true when an integer constant names a select-list entry (ORDER BY 2,
 *   GROUP BY 2 and inside ROLLUP/CUBE/GROUPING SETS, DISTINCT ON (2)), anywhere in the statement: its
 *   analysis then depends on a literal's value, so it may not be shared by statements of the same shape.
 * - SET ROLE / SET SESSION AUTHORIZATION / RESET ROLE / RESET SESSION AUTHORIZATION: kind "role" with the
 *   setting (`{ name: "role", value: "admin" }`). RESET ALL does not touch them (PostgreSQL excludes them) and
 *   stays kind "set". ALTER ROLE … SET is kind "role"; ALTER SYSTEM / ALTER DATABASE … SET are "ddl"; none
 *   of these three report `settings` (they do not change the current session).
 * - Any statement calling `set_config()` on role or session_authorization, or with a parameter name that is
 *   not a literal ("*unknown*"), is kind "role" whatever its command (`SELECT set_config('role', 'admin',
 *   false)` is SET ROLE in disguise); `command` still says what it is.
 */
import type { StatementInfo, StatementKind } from "../../proto/policy.js";
import { Collector } from "./collector.js";
import { baseKind, ROLE_PARAMETERS } from "./kinds.js";
import { constBoolean } from "./literals.js";
import { fingerprint, type RawStatement } from "./parser.js";
import { QueryWalker, relationOf, tableItem } from "./query-walker.js";
import { roleNames } from "./role-names.js";
import { Level, relationDisplay } from "./scope.js";
import { isSoleSearchPathSetConfig, transactionStartSettings, variableSetSettings } from "./settings.js";
import { type AstObject, isObject, list, listItems, nameParts, str, unwrap } from "./walk.js";

/** Analyses one statement produced by {@link parseStatements}. */
export function analyzeStatement(stmt: RawStatement): StatementInfo {
  return analyzeNode(stmt.type, stmt.node, stmt.text, fingerprint(stmt.text), true);
}

type Extras = Partial<
  Pick<
    StatementInfo,
    | "copy"
    | "inner"
    | "explain_analyze"
    | "prepared_name"
    | "transaction"
    | "savepoint"
    | "do_language"
    | "channel"
    | "analyze"
    | "discard"
    | "sole_set_config"
  >
>;

const DISCARD_TARGETS: Readonly<Record<string, NonNullable<StatementInfo["discard"]>>> = {
  DISCARD_ALL: "all",
  DISCARD_PLANS: "plans",
  DISCARD_SEQUENCES: "sequences",
  DISCARD_TEMP: "temp",
};

const TRANSACTION_NAMES: Readonly<Record<string, string>> = {
  TRANS_STMT_BEGIN: "begin",
  TRANS_STMT_START: "begin",
  TRANS_STMT_COMMIT: "commit",
  TRANS_STMT_ROLLBACK: "rollback",
  TRANS_STMT_SAVEPOINT: "savepoint",
  TRANS_STMT_RELEASE: "release",
  TRANS_STMT_ROLLBACK_TO: "rollback_to",
  TRANS_STMT_PREPARE: "prepare",
  TRANS_STMT_COMMIT_PREPARED: "commit_prepared",
  TRANS_STMT_ROLLBACK_PREPARED: "rollback_prepared",
};

/** Object types whose name list is a relation name. */
const RELATION_OBJECTS: ReadonlySet<string> = new Set([
  "OBJECT_TABLE",
  "OBJECT_VIEW",
  "OBJECT_MATVIEW",
  "OBJECT_INDEX",
  "OBJECT_SEQUENCE",
  "OBJECT_FOREIGN_TABLE",
]);

/** Object types whose name list is a relation name followed by the object's own name. */
const RELATION_CHILD_OBJECTS: ReadonlySet<string> = new Set([
  "OBJECT_COLUMN",
  "OBJECT_TRIGGER",
  "OBJECT_RULE",
  "OBJECT_POLICY",
  "OBJECT_TABCONSTRAINT",
]);

/** DDL whose expressions (CHECK, index expressions, policy USING, trigger WHEN) refer to this table. */
const DDL_TABLE_FIELD: Readonly<Record<string, string>> = {
  CreateStmt: "relation",
  AlterTableStmt: "relation",
  IndexStmt: "relation",
  CreatePolicyStmt: "table",
  AlterPolicyStmt: "table",
  CreateTrigStmt: "relation",
  RuleStmt: "relation",
};

function explainAnalyze(options: unknown): boolean {
  let analyze = false;
  for (const opt of list(options)) {
    const w = unwrap(opt);
    if (w?.type !== "DefElem" || str(w.node.defname)?.toLowerCase() !== "analyze") continue;
    // defGetBoolean: no argument means true; only a clear false/off/0 turns it off.
    const arg = unwrap(w.node.arg);
    let value = true;
    if (arg?.type === "String") {
      const s = (str(arg.node.sval) ?? "").toLowerCase();
      value = !(s === "false" || s === "off");
    } else if (arg?.type === "Integer") {
      value = (typeof arg.node.ival === "number" ? arg.node.ival : 0) !== 0;
    } else if (arg?.type === "Boolean") {
      value = arg.node.boolval === true;
    } else if (arg?.type === "A_Const") {
      value = constBoolean(w.node.arg) !== false;
    }
    if (value) analyze = true;
  }
  return analyze;
}

function partsToRelation(parts: string[]): { schema: string | null; name: string } | null {
  if (parts.length === 1) return { schema: null, name: parts[0] as string };
  if (parts.length === 2 || parts.length === 3) {
    return { schema: parts[parts.length - 2] as string, name: parts[parts.length - 1] as string };
  }
  return null;
}

/** DROP / COMMENT / SECURITY LABEL name a relation by a name list: report it written. */
function objectRelation(out: Collector, objtype: string | undefined, object: unknown): void {
  if (objtype === undefined) return;
  const parts = nameParts(listItems(object) ?? object);
  if (parts === null) return;
  if (RELATION_OBJECTS.has(objtype)) {
    const rel = partsToRelation(parts);
    if (rel !== null) out.addRelation(rel, "write");
  } else if (RELATION_CHILD_OBJECTS.has(objtype) && parts.length >= 2) {
    const rel = partsToRelation(parts.slice(0, -1));
    if (rel === null) return;
    out.addRelation(rel, "write");
    if (objtype === "OBJECT_COLUMN")
      out.addRelationColumn(relationDisplay(rel), parts[parts.length - 1] as string);
  }
}

/**
 * Analyses a statement node. `output`: whether its plain select-list columns reach the client as traceable
 * columns (a top-level SELECT, PREPARE/EXPLAIN/DECLARE inner statements).
 */
export function analyzeNode(
  type: string,
  node: AstObject,
  text: string,
  fp: string,
  output: boolean,
): StatementInfo {
  const out = new Collector();
  const walker = new QueryWalker(out);
  const root = new Level(null);
  const extras: Extras = {};
  let kind: StatementKind = baseKind(type);

  const analyzeInner = (value: unknown, innerOutput: boolean): StatementInfo | null => {
    const w = unwrap(value);
    return w === null ? null : analyzeNode(w.type, w.node, text, fp, innerOutput);
  };

  switch (type) {
    case "SelectStmt":
      walker.select(node, root, output);
      if (isSoleSearchPathSetConfig(node)) extras.sole_set_config = true;
      break;
    case "DiscardStmt": {
      const target = DISCARD_TARGETS[str(node.target) ?? ""];
      if (target !== undefined) extras.discard = target;
      break;
    }
    case "DeclareCursorStmt":
      walker.query(node.query, root, output);
      break;
    case "InsertStmt":
    case "UpdateStmt":
    case "DeleteStmt":
    case "MergeStmt":
      walker.queryNode(type, node, root, false);
      break;

    case "CopyStmt": {
      const from = node.is_from === true;
      const program = node.is_program === true;
      extras.copy = {
        direction: from ? "from" : "to",
        program,
        file: !program && typeof node.filename === "string",
      };
      const rel = relationOf(node.relation);
      if (rel !== null && isObject(node.relation)) {
        out.addRelation(rel, from ? "write" : "read");
        const display = relationDisplay(rel);
        const cols = nameParts(node.attlist) ?? [];
        for (const c of cols) out.addRelationColumn(display, c);
        // COPY TO sends column values without a traceable RowDescription.
        if (!from) {
          if (cols.length === 0) out.addColumn(display, "*", "expression");
          for (const c of cols) out.addColumn(display, c, "expression");
        }
        const level = new Level(root);
        level.items.push(tableItem(node.relation, rel));
        walker.expr(node.whereClause, level);
      }
      walker.query(node.query, root, false);
      walker.fields(node, "CopyStmt", root, new Set(["relation", "query", "attlist", "whereClause"]));
      break;
    }

    case "CreateTableAsStmt": {
      if (isObject(node.into)) walker.into(node.into, root);
      const inner = analyzeInner(node.query, false);
      if (inner === null) {
        kind = "unknown";
        break;
      }
      out.absorb(inner, { writesAsReads: false, keepWhere: true });
      extras.inner = inner;
      break;
    }

    case "ExplainStmt": {
      const analyze = explainAnalyze(node.options);
      const inner = analyzeInner(node.query, true);
      if (inner === null) {
        kind = "unknown";
        break;
      }
      out.absorb(inner, { writesAsReads: !analyze, keepWhere: analyze });
      extras.explain_analyze = analyze;
      extras.inner = inner;
      break;
    }

    case "PrepareStmt": {
      const name = str(node.name);
      if (name !== undefined) extras.prepared_name = name;
      const inner = analyzeInner(node.query, true);
      if (inner === null) {
        kind = "unknown";
        break;
      }
      out.absorb(inner, { writesAsReads: false, keepWhere: true });
      extras.inner = inner;
      break;
    }

    case "ExecuteStmt": {
      const name = str(node.name);
      if (name !== undefined) extras.prepared_name = name;
      walker.expr(node.params, root);
      break;
    }

    case "DeallocateStmt": {
      const name = str(node.name);
      if (name !== undefined && node.isall !== true) extras.prepared_name = name;
      break;
    }

    case "VariableSetStmt": {
      const settings = variableSetSettings(node);
      for (const s of settings) out.addSetting(s);
      if (settings.some((s) => ROLE_PARAMETERS.has(s.name))) kind = "role";
      break;
    }

    case "VariableShowStmt":
      out.addSetting({ name: (str(node.name) ?? "").toLowerCase(), value: null, local: false });
      break;

    case "TransactionStmt": {
      const name = TRANSACTION_NAMES[str(node.kind) ?? ""];
      if (name === undefined) {
        kind = "unknown";
        break;
      }
      extras.transaction = name;
      const savepoint = str(node.savepoint_name);
      if (savepoint !== undefined) extras.savepoint = savepoint;
      for (const s of transactionStartSettings(list(node.options))) out.addSetting(s);
      break;
    }

    case "CallStmt":
      walker.expr(node.funccall, root, "CallStmt", "funccall");
      break;

    case "DoStmt": {
      let language = "plpgsql";
      for (const arg of list(node.args)) {
        const w = unwrap(arg);
        if (w?.type !== "DefElem" || w.node.defname !== "language") continue;
        const lang = unwrap(w.node.arg);
        if (lang?.type === "String") language = (str(lang.node.sval) ?? "").toLowerCase();
      }
      extras.do_language = language;
      break;
    }

    case "ListenStmt":
    case "UnlistenStmt":
    case "NotifyStmt": {
      const channel = str(node.conditionname);
      if (channel !== undefined) extras.channel = channel;
      break;
    }

    case "DropStmt":
      for (const obj of list(node.objects)) objectRelation(out, str(node.removeType), obj);
      walker.fields(node, type, root, new Set(["objects"]));
      break;

    case "CommentStmt":
    case "SecLabelStmt":
      objectRelation(out, str(node.objtype), node.object);
      walker.fields(node, type, root, new Set(["object"]));
      break;

    case "RenameStmt":
      if (node.renameType === "OBJECT_ROLE") kind = "role";
      walker.fields(node, type, root);
      break;

    case "VacuumStmt":
      // ANALYZE, VACUUM ANALYZE and VACUUM (ANALYZE) compute planner statistics (pg_stats shows their values).
      extras.analyze = node.is_vacuumcmd !== true || explainAnalyze(node.options);
      walker.node(type, node, root);
      break;

    default: {
      // DDL, GRANT, role, utility, LOCK and unknown statements: walk everything. Table references outside a
      // query are acted upon (written); queries inside (CREATE VIEW, rule actions, SQL function bodies) are
      // analysed as queries; expressions (defaults, CHECK, index expressions, policies) resolve their
      // columns against the statement's table.
      const field = DDL_TABLE_FIELD[type];
      const rv = field === undefined ? undefined : node[field];
      const rel = relationOf(rv);
      if (rel !== null && isObject(rv)) {
        const oldNew = type === "RuleStmt" || type === "CreateTrigStmt" ? ["old", "new"] : [];
        root.items.push(tableItem(rv, rel, oldNew));
      }
      walker.node(type, node, root);
    }
  }

  const c = out.finish();
  // set_config('role', …) switches privileges exactly as SET ROLE does; a computed parameter name might.
  if (c.changesRole) kind = "role";
  const info: StatementInfo = {
    kind,
    command: type,
    relations: c.relations,
    functions: c.functions,
    columns: c.columns,
    text,
    fingerprint: fp,
  };
  if (c.has_where !== undefined) info.has_where = c.has_where;
  if (c.settings.length > 0) info.settings = c.settings;
  if (c.positional) info.positional_references = true;
  const roles = roleNames(type, node, c.settings);
  // Reported (even empty) for every statement that can name a role, so the policy decides on the
  // parsed names and never falls back to the text (where a string literal could name one).
  if (roles.length > 0 || kind === "grant" || kind === "role" || kind === "ddl") info.roles = roles;
  return Object.assign(info, extras);
}
