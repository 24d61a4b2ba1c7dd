import { describe, expect, it } from "vitest";
import type { StatementInfo } from "../../proto/policy.js";
import { parseSearchPath, SearchPath } from "./search-path.js";

// Statements as the analysis reports them, reduced to what SearchPath reads.

type Setting = NonNullable<StatementInfo["settings"]>[number];

function statement(
  kind: StatementInfo["kind"],
  text: string,
  extra: Partial<StatementInfo> = {},
): StatementInfo {
  const command =
    kind === "set"
      ? "VariableSetStmt"
      : kind === "transaction"
        ? "TransactionStmt"
        : kind === "show"
          ? "VariableShowStmt"
          : "SelectStmt";
  return { kind, command, relations: [], functions: [], text, fingerprint: "", ...extra };
}

const path = (value: string, local = false): Setting => ({ name: "search_path", value, local });

const SET = (value: string) => statement("set", `SET search_path = ${value}`, { settings: [path(value)] });
const SET_LOCAL = (value: string) =>
  statement("set", `SET LOCAL search_path = ${value}`, { settings: [path(value, true)] });
const RESET = statement("set", "RESET search_path", {
  settings: [{ name: "search_path", value: null, local: false, reset: true }],
});
const RESET_ALL = statement("set", "RESET ALL", {
  settings: [{ name: "all", value: null, local: false, reset: true }],
});
const SHOW = statement("show", "SHOW search_path", {
  settings: [{ name: "search_path", value: null, local: false }],
});
const tx = (transaction: string, savepoint?: string) =>
  statement("transaction", transaction.toUpperCase(), {
    transaction,
    ...(savepoint === undefined ? {} : { savepoint }),
  });
const BEGIN = tx("begin");
const COMMIT = tx("commit");
const ROLLBACK = tx("rollback");
const setConfig = (text: string, value: string | null, extra: Partial<StatementInfo> = {}) =>
  statement("select", text, {
    functions: ["set_config"],
    settings: [{ name: "search_path", value, local: false }],
    ...extra,
  });
/** A DISCARD as the analyser reports it: `target` is what it discards (absent: one it cannot name). */
const discard = (text: string, target?: StatementInfo["discard"]) => ({
  ...statement("utility", text, target === undefined ? {} : { discard: target }),
  command: "DiscardStmt",
});

/** A session whose role default is `"$user", public` and whose user is analyst. */
function session(): SearchPath {
  return new SearchPath(["$user", "public"], "analyst");
}

/** Runs statements that all complete, then the ReadyForQuery that ends their cycle. */
function cycle(sp: SearchPath, statements: StatementInfo[], status: "I" | "T" | "E" = "I"): SearchPath {
  for (const s of statements) sp.completed(s);
  sp.cycleEnded(status);
  return sp;
}

const schemas = (sp: SearchPath) => sp.schemas()?.slice(1) ?? null; // without the implicit pg_catalog

describe("SearchPath: values", () => {
  it("starts from the role's default, expanding $user and searching pg_catalog first", () => {
    const sp = session();
    expect(sp.schemas()).toEqual(["pg_catalog", "analyst", "public"]);
    expect(new SearchPath(["sales", "pg_catalog", "public"], "x").schemas()).toEqual([
      "sales",
      "pg_catalog",
      "public",
    ]);
    expect(new SearchPath(null, "x").schemas()).toBeNull();
  });

  it("follows SET, RESET and RESET ALL as they complete, and ignores SHOW", () => {
    const sp = cycle(session(), [SET("sales")]);
    expect(schemas(sp)).toEqual(["sales"]);
    cycle(sp, [SHOW]);
    expect(schemas(sp)).toEqual(["sales"]);
    cycle(sp, [RESET]);
    expect(schemas(sp)).toEqual(["analyst", "public"]);
    cycle(sp, [SET('"Sales", hr'), RESET_ALL]);
    expect(schemas(sp)).toEqual(["analyst", "public"]);
    cycle(sp, [SET('"Sales", hr')]);
    expect(schemas(sp)).toEqual(["Sales", "hr"]);
  });

  it("gives a key that changes with the effective path", () => {
    const sp = session();
    const before = sp.key();
    cycle(sp, [SET("sales")]);
    expect(sp.key()).not.toBe(before);
    cycle(sp, [RESET]);
    expect(sp.key()).toBe(before);
  });

  it("parses SHOW output", () => {
    expect(parseSearchPath('"$user", public')).toEqual(["$user", "public"]);
    expect(parseSearchPath('sales, "My Schema"')).toEqual(["sales", "My Schema"]);
  });
});

describe("SearchPath: transactions, as the server keeps settings", () => {
  it("keeps a SET that committed (explicit block) and drops one rolled back", () => {
    expect(schemas(cycle(session(), [BEGIN, SET("sales"), COMMIT]))).toEqual(["sales"]);
    expect(schemas(cycle(session(), [BEGIN, SET("sales"), ROLLBACK]))).toEqual(["analyst", "public"]);
  });

  it("undoes a block's SET on ROLLBACK in a later cycle", () => {
    const sp = cycle(session(), [BEGIN, SET("sales")], "T");
    expect(schemas(sp)).toEqual(["sales"]);
    expect(sp.inTransactionBlock()).toBe(true);
    cycle(sp, [ROLLBACK]);
    expect(schemas(sp)).toEqual(["analyst", "public"]);
    expect(sp.inTransactionBlock()).toBe(false);
  });

  it("rolls a failed block back on COMMIT (which the server reports as ROLLBACK)", () => {
    const sp = session();
    sp.completed(BEGIN);
    sp.completed(SET("sales"));
    sp.failed();
    sp.cycleEnded("E");
    cycle(sp, [COMMIT]);
    expect(schemas(sp)).toEqual(["analyst", "public"]);
  });

  it("aborts an implicit transaction at once: a multi-statement Query with a failure keeps nothing", () => {
    const sp = session();
    sp.completed(SET("sales"));
    sp.failed(); // SELECT 1/0
    sp.cycleEnded("I");
    expect(schemas(sp)).toEqual(["analyst", "public"]);
  });

  it("keeps what a COMMIT in the middle of a Query committed before a later failure", () => {
    const sp = session();
    sp.completed(SET("sales"));
    sp.completed(COMMIT); // ends the implicit transaction
    sp.completed(SET("hr"));
    sp.failed();
    sp.cycleEnded("I");
    expect(schemas(sp)).toEqual(["sales"]);
  });

  it("counts a SET before BEGIN in the same Query as part of the block ROLLBACK undoes", () => {
    expect(schemas(cycle(session(), [SET("hr"), BEGIN, ROLLBACK]))).toEqual(["analyst", "public"]);
    // and a ROLLBACK of the implicit block itself
    expect(schemas(cycle(session(), [SET("hr"), ROLLBACK]))).toEqual(["analyst", "public"]);
  });

  it("keeps SET LOCAL until the transaction ends, and not past a single statement outside a block", () => {
    const sp = cycle(session(), [SET("sales"), BEGIN, SET_LOCAL("hr")], "T");
    expect(schemas(sp)).toEqual(["hr"]);
    cycle(sp, [COMMIT]);
    expect(schemas(sp)).toEqual(["sales"]);
    cycle(sp, [SET_LOCAL("hr")]);
    expect(schemas(sp)).toEqual(["sales"]);
  });

  it("restores what was in force at a savepoint on ROLLBACK TO, which keeps the savepoint", () => {
    const sp = cycle(session(), [BEGIN, SET("a"), tx("savepoint", "s1"), SET("b")], "T");
    cycle(sp, [tx("rollback_to", "s1")], "T");
    expect(schemas(sp)).toEqual(["a"]);
    cycle(sp, [SET_LOCAL("c"), tx("rollback_to", "s1")], "T");
    expect(schemas(sp)).toEqual(["a"]);
    cycle(sp, [COMMIT]);
    expect(schemas(sp)).toEqual(["a"]);
  });

  it("clears a failure with ROLLBACK TO: the block can commit again", () => {
    const sp = cycle(session(), [BEGIN, tx("savepoint", "s"), SET("b")], "T");
    sp.failed();
    sp.cycleEnded("E");
    cycle(sp, [tx("rollback_to", "s"), SET("c"), COMMIT]);
    expect(schemas(sp)).toEqual(["c"]);
  });

  it("uses the innermost savepoint of a repeated name; RELEASE keeps the changes for the block", () => {
    const sp = cycle(
      session(),
      [BEGIN, tx("savepoint", "s"), SET("x"), tx("savepoint", "s"), SET("y"), tx("rollback_to", "s")],
      "T",
    );
    expect(schemas(sp)).toEqual(["x"]);
    cycle(sp, [tx("release", "s"), tx("rollback_to", "s")], "T");
    expect(schemas(sp)).toEqual(["analyst", "public"]);
    cycle(sp, [SET("z"), tx("release", "s"), ROLLBACK]);
    expect(schemas(sp)).toEqual(["analyst", "public"]);
  });

  it("loses track (unknown path) on a savepoint it does not know", () => {
    const sp = cycle(session(), [BEGIN, tx("rollback_to", "nowhere")], "T");
    expect(sp.schemas()).toBeNull();
  });
});

describe("SearchPath: what it cannot know is unknown", () => {
  it("takes a plain SELECT set_config('search_path', …) at its word", () => {
    // the analyser says when the call is the whole statement (data-plane/sql: sole_set_config)
    const sole = { sole_set_config: true };
    const sp = cycle(session(), [
      setConfig("SELECT set_config('search_path', 'sales', false)", "sales", sole),
    ]);
    expect(schemas(sp)).toEqual(["sales"]);
    cycle(sp, [setConfig("select pg_catalog.set_config( 'search_path' , 'hr' , false ) AS x;", "hr", sole)]);
    expect(schemas(sp)).toEqual(["hr"]);
  });

  it.each([
    "SELECT set_config('search_path', 'sales', false) WHERE false",
    "SELECT CASE WHEN false THEN set_config('search_path', 'sales', false) END",
    "SELECT set_config('search_path', 'sales', false) FROM generate_series(1, 0)",
    "SELECT set_config('search_path', 'sales', false), set_config('search_path', 'hr', false)",
  ])("does not guess whether %s ran", (text) => {
    const functions = text.includes("generate_series") ? ["set_config", "generate_series"] : ["set_config"];
    const sp = cycle(session(), [setConfig(text, "sales", { functions })]);
    expect(sp.schemas()).toBeNull();
  });

  it("forgets the path on a set_config whose name is not a literal, or an unreadable value", () => {
    const unknownName = statement("role", "SELECT set_config(x, 'sales', false)", {
      functions: ["set_config"],
      settings: [{ name: "*unknown*", value: "sales", local: false }],
    });
    expect(cycle(session(), [unknownName]).schemas()).toBeNull();
    const computed = statement("set", "SET search_path FROM CURRENT", {
      settings: [{ name: "search_path", value: null, local: false }],
    });
    expect(cycle(session(), [computed]).schemas()).toBeNull();
  });

  it("runs nothing at PREPARE, and does not guess what an EXECUTE's set_config did", () => {
    const inner = setConfig("PREPARE p AS SELECT set_config('search_path', 'sales', false)", "sales");
    const prepare = statement("prepare", inner.text, { settings: inner.settings, inner });
    const sp = cycle(session(), [prepare]);
    expect(schemas(sp)).toEqual(["analyst", "public"]);
    cycle(sp, [statement("execute", "EXECUTE p", { inner })]);
    expect(sp.schemas()).toBeNull();
  });

  it("resets on DISCARD ALL, keeps the path on other DISCARDs, forgets it on one it cannot read", () => {
    const sp = cycle(session(), [SET("sales"), discard("DISCARD PLANS", "plans")]);
    expect(schemas(sp)).toEqual(["sales"]);
    cycle(sp, [discard("discard all;", "all")]);
    expect(schemas(sp)).toEqual(["analyst", "public"]);
    cycle(sp, [SET("sales"), discard("DISCARD SOMETHING_NEW")]);
    expect(sp.schemas()).toBeNull();
  });

  it("forgets the path after PREPARE TRANSACTION", () => {
    expect(cycle(session(), [BEGIN, SET("sales"), tx("prepare")]).schemas()).toBeNull();
  });

  it("corrects itself from ReadyForQuery when it disagrees with the server", () => {
    // a block it did not see begin: what a rollback restores is unknown
    const sp = cycle(session(), [SET("sales")]);
    sp.cycleEnded("T");
    expect(schemas(sp)).toEqual(["sales"]);
    expect(sp.inTransactionBlock()).toBe(true);
    sp.completed(ROLLBACK);
    expect(sp.schemas()).toBeNull();
    // a block it thinks open, the server says idle
    const other = cycle(session(), [BEGIN, SET("sales")], "I");
    expect(other.schemas()).toBeNull();
    expect(other.inTransactionBlock()).toBe(false);
  });
});

describe("SearchPath: clones for deciding ahead", () => {
  it("are independent of the original, savepoints included", () => {
    const sp = cycle(session(), [BEGIN, tx("savepoint", "s"), SET("a")], "T");
    const copy = sp.clone();
    copy.completed(tx("rollback_to", "s"));
    copy.completed(tx("release", "s"));
    copy.completed(SET("b"));
    expect(schemas(copy)).toEqual(["b"]);
    expect(schemas(sp)).toEqual(["a"]);
    cycle(sp, [tx("rollback_to", "s")], "T");
    expect(schemas(sp)).toEqual(["analyst", "public"]);
  });
});
