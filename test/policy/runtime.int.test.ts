/**
 * The default policies compiled to wasm and evaluated by opa-wasm: every case of
 * policies/testdata/cases.json (the table `opa test` also runs) gives the same answer here;
 * plus fail-closed behaviour, the atomic swap, and evaluation cost.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { verifyBundle } from "../../common/policy/bundle-verify.js";
import {
  type EvalSample,
  PolicyHolder,
  PolicyLoadError,
  PolicyRuntime,
} from "../../common/policy/runtime.js";
import { projectRoot } from "../../common/toolchain.js";
import { signBundle } from "../../control-plane/bundle/sign.js";
import type {
  AdminInput,
  ConnectionDecision,
  ConnectionInput,
  QueryDecision,
  QueryInput,
  StatementInfo,
} from "../../proto/policy.js";
import { compileFolder, loadRuntime, throwawaySigningKey, withPolicyFolder } from "../harness/opa.js";

const POLICIES = join(projectRoot(), "policies");

interface Expect {
  allow: boolean;
  reason?: string;
  masked?: string[];
  db_role?: string;
  max_session_seconds?: number;
}
interface Cases {
  sessions: Record<string, QueryInput["session"]>;
  query: { name: string; session: string; statement: StatementInfo; expect: Expect }[];
  connection: { name: string; input: ConnectionInput; expect: Expect }[];
  admin: { name: string; input: AdminInput; expect: Expect }[];
}
const cases: Cases = JSON.parse(
  readFileSync(join(POLICIES, "testdata", "cases.json"), "utf8"),
).portcullis_cases;

function queryInput(c: Cases["query"][number]): QueryInput {
  return {
    session: cases.sessions[c.session]!,
    protocol: "simple",
    statement: c.statement,
    statement_index: 0,
    statement_count: 1,
    now_ns: 1_700_000_000_000_000_000,
  };
}

/** The same test as cases_test.rego's `meets`. */
function check(d: QueryDecision | ConnectionDecision, e: Expect): void {
  expect(d.allow).toBe(e.allow);
  expect(Array.isArray(d.reasons)).toBe(true);
  if (e.reason !== undefined) expect(d.reasons.some((r) => r.includes(e.reason!))).toBe(true);
  else if (e.allow) expect(d.reasons).toEqual([]);
  else expect(d.reasons.length).toBeGreaterThan(0);
  if (e.masked)
    expect(((d as QueryDecision).mask ?? []).map((m) => m.column).sort()).toEqual([...e.masked].sort());
  if (e.db_role) expect((d as ConnectionDecision).db_role).toBe(e.db_role);
  if (e.max_session_seconds)
    expect((d as ConnectionDecision).max_session_seconds).toBe(e.max_session_seconds);
}

let runtime: PolicyRuntime;
const samples: EvalSample[] = [];

beforeAll(async () => {
  runtime = await loadRuntime(POLICIES, { revision: "cases", observer: (s) => samples.push(s) });
});

describe("the default policies in opa-wasm agree with opa test", () => {
  it("has the cases", () => {
    expect(cases.query.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases.query.map((c) => [c.name, c] as const))("query: %s", (_name, c) => {
    check(runtime.evaluateQuery(queryInput(c)), c.expect);
    expect(runtime.isCacheable(queryInput(c))).toBe(true);
  });

  it.each(cases.connection.map((c) => [c.name, c] as const))("connection: %s", (_name, c) => {
    check(runtime.evaluateConnection(c.input), c.expect);
  });

  it.each(cases.admin.map((c) => [c.name, c] as const))("admin: %s", (_name, c) => {
    check(runtime.evaluateAdmin(c.input), c.expect);
  });

  it("returns the masks with their methods", () => {
    const c = cases.query.find((q) => q.name === "admin selects ssn plainly")!;
    expect(runtime.evaluateQuery(queryInput(c)).mask).toEqual([
      { relation: "hr.employees", column: "email", with: "hash" },
      { relation: "hr.employees", column: "salary", with: "null" },
      { relation: "hr.employees", column: "ssn", with: "redact" },
    ]);
  });

  it("fails closed on inputs the policy does not expect", () => {
    expect(runtime.evaluateQuery({} as QueryInput).allow).toBe(false);
    expect(runtime.evaluateConnection({} as ConnectionInput)).toMatchObject({ allow: false });
    expect(runtime.evaluateAdmin({} as AdminInput).allow).toBe(false);
  });

  it("reports evaluation cost", () => {
    const c = cases.query.find((q) => q.name === "admin filters on ssn")!;
    const input = queryInput(c);
    const simple = queryInput(cases.query[0]!);
    const n = 2000;
    const time = (fn: () => void): number[] => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = process.hrtime.bigint();
        fn();
        out.push(Number(process.hrtime.bigint() - t) / 1000);
      }
      return out.sort((a, b) => a - b);
    };
    for (let i = 0; i < 200; i++) runtime.evaluateQuery(input); // warm up
    const q = time(() => runtime.evaluateQuery(input));
    const s = time(() => runtime.evaluateQuery(simple));
    const cc = time(() => runtime.isCacheable(simple));
    const conn = time(() => runtime.evaluateConnection(cases.connection[0]!.input));
    const pct = (xs: number[], p: number) =>
      xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!.toFixed(0);
    console.log(
      `opa-wasm eval µs (p50/p99 of ${n}): query(masked guard) ${pct(q, 0.5)}/${pct(q, 0.99)}, ` +
        `query(simple select) ${pct(s, 0.5)}/${pct(s, 0.99)}, cacheable ${pct(cc, 0.5)}/${pct(cc, 0.99)}, ` +
        `connection ${pct(conn, 0.5)}/${pct(conn, 0.99)}`,
    );
    const stats = runtime.stats()["portcullis/query/decision"]!;
    expect(stats.count).toBeGreaterThanOrEqual(2 * n);
    expect(stats.failures).toBe(0); // the default policy answers even `{}` itself
    expect(samples.some((x) => x.entrypoint === "portcullis/query/decision" && x.outcome === "ok")).toBe(
      true,
    );
  });
});

const ALL_ENTRYPOINTS = `
package portcullis.connection

default decision := {"allow": false, "reasons": ["default"]}

decision := {"allow": true, "reasons": [], "db_role": "analyst"} if input.token.sub == "alice"
`;

/** The required entrypoints only: these small policies have no `cacheable` rule. */
const REQUIRED = ["portcullis/connection/decision", "portcullis/query/decision", "portcullis/admin/decision"];

/** Minimal complete policies; `query` and `admin` bodies vary per test. */
function policyFiles(query: string, admin = 'default decision := {"allow": false, "reasons": ["no"]}') {
  return {
    "connection.rego": ALL_ENTRYPOINTS,
    "query.rego": `package portcullis.query\n\n${query}\n`,
    "admin.rego": `package portcullis.admin\n\n${admin}\n`,
  };
}

const statement: StatementInfo = {
  kind: "select",
  command: "SelectStmt",
  relations: [],
  functions: [],
  text: "SELECT 1",
  fingerprint: "x",
};
const someQuery: QueryInput = {
  session: {
    id: "s",
    subject: "alice",
    claims: { iss: "i", sub: "alice", aud: "a", exp: 1 },
    db_role: "analyst",
    database: "app",
    region: "eu",
  },
  protocol: "simple",
  statement,
  statement_index: 0,
  statement_count: 1,
  now_ns: 0,
};

describe("fail closed", () => {
  it("an undefined decision is a denial", async () => {
    await withPolicyFolder(
      policyFiles('decision := {"allow": true, "reasons": []} if input.never'),
      async (dir) => {
        const rt = await loadRuntime(dir, { entrypoints: REQUIRED });
        expect(rt.evaluateQuery(someQuery)).toEqual({
          allow: false,
          reasons: ["policy error: portcullis/query/decision is undefined for this input"],
        });
        expect(rt.isCacheable(someQuery)).toBe(false); // no cacheable rule: never cache
        expect(rt.hasCacheable).toBe(false);
      },
    );
  });

  it("a decision of the wrong shape is a denial", async () => {
    await withPolicyFolder(
      policyFiles(
        'decision := {"allow": "yes", "reasons": []}\n\ncacheable := "true"',
        'decision := {"allow": true, "reasons": "fine"}',
      ),
      async (dir) => {
        const rt = await loadRuntime(dir, {
          entrypoints: [
            "portcullis/connection/decision",
            "portcullis/query/decision",
            "portcullis/query/cacheable",
            "portcullis/admin/decision",
          ],
        });
        const d = rt.evaluateQuery(someQuery);
        expect(d.allow).toBe(false);
        expect(d.reasons[0]).toMatch(
          /^policy error: portcullis\/query\/decision returned an invalid result \(allow: /,
        );
        expect(rt.isCacheable(someQuery)).toBe(false);
        expect(
          rt.evaluateAdmin({ token: someQuery.session.claims, method: "X", request: {} }).reasons[0],
        ).toMatch(/invalid result \(reasons: /);
      },
    );
  });

  it("a mask the proxy cannot apply is a denial", async () => {
    await withPolicyFolder(
      policyFiles(
        'decision := {"allow": true, "reasons": [], "mask": [{"column": "ssn", "with": "scramble"}]}',
      ),
      async (dir) => {
        const d = (await loadRuntime(dir, { entrypoints: REQUIRED })).evaluateQuery(someQuery);
        expect(d.allow).toBe(false);
        expect(d.reasons[0]).toMatch(/mask\.0\.with/);
      },
    );
  });

  it("an allowed connection without a db_role is a denial", async () => {
    await withPolicyFolder(
      {
        ...policyFiles('default decision := {"allow": true, "reasons": []}'),
        "connection.rego": 'package portcullis.connection\n\ndecision := {"allow": true, "reasons": []}\n',
      },
      async (dir) => {
        const rt = await loadRuntime(dir, { entrypoints: REQUIRED });
        const d = rt.evaluateConnection({} as ConnectionInput);
        expect(d).toEqual({
          allow: false,
          reasons: [
            "policy error: portcullis/connection/decision returned an invalid result (db_role: an allowed connection needs a db_role)",
          ],
        });
      },
    );
  });

  it("an evaluation error is a denial and the runtime keeps working", async () => {
    await withPolicyFolder(
      policyFiles(
        [
          'decision := {"allow": true, "reasons": []} if input.statement.text == "SELECT 1"',
          "",
          'decision := {"allow": false, "reasons": ["x"]} if input.statement.text == "SELECT 1"',
        ].join("\n"),
      ),
      async (dir) => {
        const rt = await loadRuntime(dir, { entrypoints: REQUIRED });
        const d = rt.evaluateQuery(someQuery);
        expect(d.allow).toBe(false);
        expect(d.reasons[0]).toMatch(/^policy error: portcullis\/query\/decision failed: /);
        expect(
          rt.evaluateQuery({ ...someQuery, statement: { ...statement, text: "SELECT 2" } }).reasons[0],
        ).toMatch(/is undefined/);
        expect(rt.stats()["portcullis/query/decision"]).toMatchObject({ count: 2, failures: 2 });
      },
    );
  });

  it("a builtin opa-wasm does not provide is a denial", async () => {
    await withPolicyFolder(
      policyFiles(
        'decision := {"allow": true, "reasons": []} if http.send({"method": "get", "url": "http://127.0.0.1:9"}).status_code == 200',
      ),
      async (dir) => {
        const rt = await loadRuntime(dir, { entrypoints: REQUIRED });
        const d = rt.evaluateQuery(someQuery);
        expect(d.allow).toBe(false);
        expect(d.reasons[0]).toMatch(
          /^policy error: portcullis\/query\/decision failed: not implemented: built-in function \d+: http\.send$/,
        );
        expect(rt.evaluateAdmin({ token: someQuery.session.claims, method: "X", request: {} })).toEqual({
          allow: false,
          reasons: ["no"],
        });
      },
    );
  });

  it("a bundle without the required entrypoints does not load", async () => {
    await withPolicyFolder(
      policyFiles('default decision := {"allow": false, "reasons": []}'),
      async (dir) => {
        await expect(loadRuntime(dir, { entrypoints: ["portcullis/connection/decision"] })).rejects.toThrow(
          /lacks entrypoints portcullis\/query\/decision, portcullis\/admin\/decision/,
        );
      },
    );
  });

  it("refuses a bundle that did not go through verifyBundle", async () => {
    const compiled = await compileFolder(POLICIES, { revision: "x" });
    const fake = {
      manifest: {},
      revision: "x",
      policyWasm: compiled.policyWasm,
      dataJson: compiled.dataJson,
    };
    await expect(PolicyRuntime.load(fake as never)).rejects.toThrow(PolicyLoadError);
  });
});

describe("PolicyHolder", () => {
  it("swaps atomically: work that took the old runtime finishes on it", async () => {
    const allowAll = policyFiles('default decision := {"allow": true, "reasons": []}');
    const denyAll = policyFiles('default decision := {"allow": false, "reasons": ["v2 denies"]}');
    const [v1, v2] = await Promise.all([
      withPolicyFolder(allowAll, (dir) => loadRuntime(dir, { revision: "v1", entrypoints: REQUIRED })),
      withPolicyFolder(denyAll, (dir) => loadRuntime(dir, { revision: "v2", entrypoints: REQUIRED })),
    ]);
    const holder = new PolicyHolder();
    expect(holder.current()).toBeUndefined();
    expect(() => holder.require()).toThrow(/no policy bundle is loaded/);
    const seen: string[] = [];
    holder.onSwap((next, prev) => seen.push(`${prev?.revision ?? "-"}→${next.revision}`));
    expect(holder.swap(v1)).toBeUndefined();

    const inFlight = holder.require(); // a statement starts
    const previous = holder.swap(v2); // a new bundle arrives mid-statement
    expect(previous).toBe(v1);
    expect(inFlight.evaluateQuery(someQuery)).toEqual({ allow: true, reasons: [] }); // finishes on v1
    expect(holder.require().evaluateQuery(someQuery)).toEqual({ allow: false, reasons: ["v2 denies"] });
    expect(holder.revision).toBe("v2");
    expect(seen).toEqual(["-→v1", "v1→v2"]);
  });

  it("loads a second bundle signed by the same key next to the first", async () => {
    const key = await throwawaySigningKey();
    const compiled = await compileFolder(POLICIES, { revision: "same-key" });
    const signed = await signBundle(
      {
        policyWasm: compiled.policyWasm,
        dataJson: compiled.dataJson,
        revision: compiled.revision,
        entrypoints: compiled.entrypoints,
        opaVersion: compiled.opaVersion,
      },
      key,
    );
    const a = await PolicyRuntime.load(await verifyBundle(signed, key.publicKey));
    const b = await PolicyRuntime.load(await verifyBundle(signed, key.publicKey));
    const holder = new PolicyHolder(a);
    holder.swap(b);
    const c = cases.query[0]!;
    check(holder.require().evaluateQuery(queryInput(c)), c.expect);
    check(a.evaluateQuery(queryInput(c)), c.expect);
  });
});
