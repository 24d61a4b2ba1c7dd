/**
 * fast-check arbitraries of frontend sequences for the differential harness: pipelines of every shape
 * (Parse/Bind/Describe/Execute/Close/Flush/Sync in any order, named and unnamed statements and
 * portals, row limits, failures at each step, several Syncs per write), simple Queries between
 * pipelines, COPY in both directions and rows larger than a socket read.
 *
 * Kept out on purpose (the proxy differs there by design, README "How a denial behaves"): a simple
 * Query inside an open pipeline (the proxy ends the connection), a backslash in a statement text,
 * a denied statement inside a multi-statement Query (the whole Query is denied), SQL cursors (their
 * rows are read with FETCH, an Execute of one is refused).
 */
import fc from "fast-check";
import { DENIED, type FrontendMsg, type Sql, type Writes } from "./frontend.js";

interface Statement {
  sql: Sql;
  params: number;
  /** Not in a Parse: see KNOWN_DIFFERENCES in listed.ts. */
  simpleOnly?: boolean;
}

/** Statements valid on both sides, statements failing at Parse, Bind or Execute, and a denial. */
export const STATEMENTS: readonly Statement[] = [
  { sql: "SELECT 1 AS one", params: 0 },
  { sql: "SELECT generate_series(1, 5) AS g", params: 0 },
  { sql: "SELECT $1::int + 1 AS v", params: 1 },
  { sql: "SELECT 1/0 AS boom", params: 0 }, // fails at Execute (22012)
  { sql: "SELECT * FROM no_such_table", params: 0 }, // fails at Parse (42P01)
  { sql: "SELEC 1", params: 0 }, // syntax error (42601)
  { sql: DENIED, params: 0 }, // 42501 at Parse on both sides
  { sql: "BEGIN", params: 0 },
  { sql: "COMMIT", params: 0 },
  { sql: "ROLLBACK", params: 0 },
  { sql: "SAVEPOINT sp", params: 0 },
  { sql: "ROLLBACK TO SAVEPOINT sp", params: 0 },
  { sql: "SELECT id, amount, status FROM sales.orders ORDER BY id LIMIT 7", params: 0 },
  { sql: "", params: 0 },
  { sql: "SELECT repeat('x', 70000) AS big", params: 0 }, // a DataRow larger than one socket read
  { sql: "SET search_path TO sales, public", params: 0 },
  { sql: "RESET search_path", params: 0 },
  { sql: "SELECT count(*) AS n FROM orders", params: 0 }, // resolves only with sales on the path
  { sql: "INSERT INTO wire_copy VALUES (1, 'a')", params: 0 },
  { sql: "SHOW search_path", params: 0 },
  // SQL prepared statements share the protocol's namespace
  { sql: "PREPARE s1 AS SELECT 11 AS eleven", params: 0 },
  { sql: "EXECUTE s1", params: 0, simpleOnly: true },
  { sql: "DEALLOCATE s1", params: 0 },
  { sql: "DEALLOCATE ALL", params: 0 },
  { sql: "DISCARD ALL", params: 0 },
  { sql: "CLOSE ALL", params: 0 },
];

/** Texts for simple Queries: the statements above plus multi-statement ones (never with the denial). */
const SIMPLE_ONLY: readonly Sql[] = [
  "SELECT 1 AS a; SELECT 2 AS b",
  "SELECT 1 AS a; SELECT 1/0",
  "BEGIN; SELECT 1 AS a; COMMIT",
  "COPY (SELECT g, 'v' || g FROM generate_series(1, 3) g) TO STDOUT",
];

const STATEMENT_NAMES = ["", "s1", "s2"] as const;
const PORTAL_NAMES = ["", "p1", "p2"] as const;

const statement = fc.constantFrom(...STATEMENTS);
const parseable = fc.constantFrom(...STATEMENTS.filter((s) => !s.simpleOnly));
const stmtName = fc.constantFrom(...STATEMENT_NAMES);
const portalName = fc.constantFrom(...PORTAL_NAMES);
const bindValues = fc.constantFrom<(string | null)[][]>([], ["7"], ["x"], [null]);

/** One step: a pipeline message, or a simple-protocol unit (a Query, a whole COPY FROM STDIN). */
type Step = { ext: FrontendMsg } | { simple: FrontendMsg[] };

const extStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ name: stmtName, s: parseable }).map(({ name, s }) => ({
      ext: { type: "Parse", name, sql: s.sql } as FrontendMsg,
    })),
  },
  {
    weight: 4,
    arbitrary: fc
      .record({ portal: portalName, statement: stmtName, values: bindValues, binary: fc.boolean() })
      .map((b) => ({
        ext: { type: "Bind", ...b } as FrontendMsg,
      })),
  },
  {
    weight: 4,
    arbitrary: fc
      .record({ portal: portalName, rows: fc.constantFrom(0, 0, 1, 2, 3) })
      .map((e) => ({ ext: { type: "Execute", ...e } as FrontendMsg })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.record({ target: fc.constant<"S">("S"), name: stmtName }),
        fc.record({ target: fc.constant<"P">("P"), name: portalName }),
      )
      .map((d) => ({ ext: { type: "Describe", ...d } as FrontendMsg })),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.record({ target: fc.constant<"S">("S"), name: stmtName }),
        fc.record({ target: fc.constant<"P">("P"), name: portalName }),
      )
      .map((c) => ({ ext: { type: "Close", ...c } as FrontendMsg })),
  },
  { weight: 1, arbitrary: fc.constant<Step>({ ext: { type: "Flush" } }) },
  { weight: 3, arbitrary: fc.constant<Step>({ ext: { type: "Sync" } }) },
);

const copyIn: fc.Arbitrary<Step> = fc
  .record({
    rows: fc.array(fc.tuple(fc.integer({ min: -5, max: 5 }), fc.constantFrom("a", "b c", "")), {
      maxLength: 3,
    }),
    fail: fc.boolean(),
    split: fc.boolean(),
  })
  .map(({ rows, fail, split }) => {
    const lines = rows.map(([x, t]) => `${x}\t${t}\n`).join("");
    const data: FrontendMsg[] = split
      ? [...lines].map((ch) => ({ type: "CopyData", data: ch }) as FrontendMsg)
      : lines.length > 0
        ? [{ type: "CopyData", data: lines }]
        : [];
    return {
      simple: [
        { type: "Query", sql: "COPY wire_copy FROM STDIN" },
        ...data,
        fail ? { type: "CopyFail", message: "client gave up" } : { type: "CopyDone" },
      ] as FrontendMsg[],
    };
  });

const simpleStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: statement.map((s) => ({ simple: [{ type: "Query", sql: s.sql } as FrontendMsg] })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(...SIMPLE_ONLY)
      .map((sql) => ({ simple: [{ type: "Query", sql } as FrontendMsg] })),
  },
  { weight: 1, arbitrary: copyIn },
);

/** Steps assembled into messages: a Sync closes an open pipeline before any simple unit and at the end. */
function assemble(steps: Step[]): FrontendMsg[] {
  const out: FrontendMsg[] = [];
  let open = false;
  for (const step of steps) {
    if ("ext" in step) {
      out.push(step.ext);
      open = step.ext.type !== "Sync";
    } else {
      if (open) out.push({ type: "Sync" });
      open = false;
      out.push(...step.simple);
    }
  }
  if (open) out.push({ type: "Sync" });
  return out;
}

/** Cuts the messages into writes where `cuts` says so (several Syncs per write, messages split across writes). */
function split(messages: FrontendMsg[], cuts: boolean[]): Writes {
  const writes: Writes = [[]];
  messages.forEach((m, i) => {
    writes[writes.length - 1]!.push(m);
    if (cuts[i % Math.max(1, cuts.length)] && i < messages.length - 1) writes.push([]);
  });
  return writes;
}

export const sequence: fc.Arbitrary<Writes> = fc
  .record({
    steps: fc.array(fc.oneof({ weight: 5, arbitrary: extStep }, { weight: 1, arbitrary: simpleStep }), {
      minLength: 1,
      maxLength: 18,
    }),
    cuts: fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
  })
  .map(({ steps, cuts }) => split(assemble(steps), cuts));

/**
 * Reads no row of a masked table but gives the proxy session its masks (carol's policy masks
 * hr.employees.ssn): from then on the proxy sends its own Describe before every Execute, which the
 * client must never see.
 */
export const MASKING_PRELUDE: FrontendMsg = { type: "Query", sql: "SELECT ssn FROM hr.employees LIMIT 0" };

/** A sequence, half the time in a session that has masks. */
export const sessionSequence: fc.Arbitrary<Writes> = fc
  .tuple(fc.boolean(), sequence)
  .map(([masked, writes]) => (masked ? [[MASKING_PRELUDE], ...writes] : writes));
