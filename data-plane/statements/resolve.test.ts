import { describe, expect, it } from "vitest";
import type { RelationRef, StatementInfo } from "../../proto/policy.js";
import { type CatalogRelation, CatalogSnapshot } from "./catalog.js";
import { resolveStatement } from "./resolve.js";

let oid = 20_000;
function table(schema: string, name: string): CatalogRelation {
  return { oid: oid++, schema, name, kind: "table", columns: new Map([[1, "id"]]) };
}

const catalog = new CatalogSnapshot(1, [
  table("sales", "orders"),
  table("sales", "customers"),
  table("secret", "orders"),
  table("public", "notes"),
  table("analyst", "scratch"),
  table("Sales", "Orders"),
  table("pg_catalog", "pg_class"),
]);

function ref(schema: string | null, name: string, access: "read" | "write" = "read"): RelationRef {
  return { schema, name, access, resolved: schema !== null };
}

function select(...relations: RelationRef[]): StatementInfo {
  return deepFreeze({
    kind: "select",
    command: "SelectStmt",
    relations,
    functions: [],
    text: "SELECT …",
    fingerprint: "",
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const path = (...schemas: string[]) => ["pg_catalog", ...schemas];

describe("resolveStatement", () => {
  it("gives an unqualified name the first schema on the path that has it", () => {
    const out = resolveStatement(select(ref(null, "orders")), path("sales", "secret"), catalog);
    expect(out.relations).toEqual([
      {
        schema: "sales",
        name: "orders",
        access: "read",
        resolved: true,
        unqualified: true,
        hides: ["secret.orders"],
      },
    ]);
    const other = resolveStatement(select(ref(null, "orders")), path("secret", "sales"), catalog);
    expect(other.relations[0]).toMatchObject({ schema: "secret", resolved: true, hides: ["sales.orders"] });
  });

  it("names what an unqualified name hides later on the path, with what that shows, and nothing else", () => {
    const view: CatalogRelation = { ...table("hr", "staff"), kind: "view" };
    const masked = table("hr", "employees");
    view.sources = [masked.oid];
    const withView = new CatalogSnapshot(2, [table("public", "staff"), view, masked]);
    const out = resolveStatement(select(ref(null, "staff")), path("public", "hr"), withView);
    expect(out.relations[0]).toMatchObject({ schema: "public", hides: ["hr.staff", "hr.employees"] });
    const first = resolveStatement(select(ref(null, "staff")), path("hr", "public"), withView);
    expect(first.relations[0]).toMatchObject({ schema: "hr", hides: ["public.staff"] });
    const alone = resolveStatement(select(ref(null, "staff")), path("public"), withView);
    expect(alone.relations[0]).not.toHaveProperty("hides");
    const qualified = resolveStatement(select(ref("public", "staff")), path("public", "hr"), withView);
    expect(qualified.relations[0]).not.toHaveProperty("hides");
  });

  it("skips schemas without the name, and resolves catalog tables through pg_catalog first", () => {
    const out = resolveStatement(
      select(ref(null, "notes"), ref(null, "pg_class"), ref(null, "scratch", "write")),
      path("sales", "public", "analyst"),
      catalog,
    );
    expect(out.relations.map((r) => `${r.schema}.${r.name}:${r.access}`)).toEqual([
      "public.notes:read",
      "pg_catalog.pg_class:read",
      "analyst.scratch:write",
    ]);
  });

  it("matches names exactly: quoted mixed case is another relation", () => {
    const out = resolveStatement(
      select(ref(null, "Orders"), ref(null, "ORDERS")),
      path("Sales", "sales"),
      catalog,
    );
    expect(out.relations[0]).toMatchObject({ schema: "Sales", name: "Orders", resolved: true });
    expect(out.relations[1]).toEqual(ref(null, "ORDERS"));
  });

  it("leaves a name no schema on the path has unresolved (a table to be created, a temp table)", () => {
    const out = resolveStatement(select(ref(null, "missing")), path("sales"), catalog);
    expect(out.relations).toEqual([{ schema: null, name: "missing", access: "read", resolved: false }]);
  });

  it("resolves nothing when the path or the catalog is unknown", () => {
    expect(resolveStatement(select(ref(null, "orders")), null, catalog).relations[0]!.resolved).toBe(false);
    expect(resolveStatement(select(ref(null, "orders")), path("sales"), undefined).relations[0]!.schema).toBe(
      null,
    );
  });

  it("never changes a qualified name, even to a schema earlier on the path", () => {
    const out = resolveStatement(select(ref("secret", "orders")), path("sales"), catalog);
    expect(out.relations).toEqual([ref("secret", "orders")]);
  });

  it("resolves nested statements (EXPLAIN, PREPARE, CREATE TABLE AS) too", () => {
    const outer: StatementInfo = deepFreeze({
      kind: "explain",
      command: "ExplainStmt",
      relations: [ref(null, "customers")],
      functions: [],
      text: "",
      fingerprint: "",
      inner: { ...select(ref(null, "customers")), inner: select(ref(null, "notes")) },
    });
    const out = resolveStatement(outer, path("sales", "public"), catalog);
    expect(out.relations[0]!.schema).toBe("sales");
    expect(out.inner!.relations[0]!.schema).toBe("sales");
    expect(out.inner!.inner!.relations[0]!.schema).toBe("public");
  });

  it("returns the frozen (cached) analysis itself when nothing needs resolving, and never mutates it", () => {
    const qualified = select(ref("sales", "orders"));
    expect(resolveStatement(qualified, path("sales"), catalog)).toBe(qualified);
    const unqualified = select(ref(null, "orders"));
    const out = resolveStatement(unqualified, path("sales"), catalog);
    expect(out).not.toBe(unqualified);
    expect(unqualified.relations[0]!.schema).toBeNull();
  });

  it("reports a qualified name that is no column of its relation as a whole-row use (attribute notation)", () => {
    const employees: CatalogRelation = {
      oid: 30_000,
      schema: "hr",
      name: "employees",
      kind: "table",
      columns: new Map([
        [1, "id"],
        [2, "name"],
        [5, "ssn"],
      ]),
    };
    const snapshot = new CatalogSnapshot(1, [employees]);
    const s = deepFreeze({
      ...select({ ...ref("hr", "employees"), columns: ["name", "to_jsonb"] }),
      columns: [
        { relation: "hr.employees", column: "name", context: "output" as const },
        { relation: "hr.employees", column: "to_jsonb", context: "output" as const },
        { relation: "employees", column: "record_out", context: "output" as const },
        { relation: "hr.employees", column: "ctid", context: "output" as const },
        { relation: null, column: "to_jsonb", context: "output" as const },
      ],
    });
    const out = resolveStatement(s, path("hr"), snapshot);
    expect(out.columns).toEqual([
      { relation: "hr.employees", column: "name", context: "output" },
      { relation: "hr.employees", column: "*", context: "expression" },
      { relation: "employees", column: "*", context: "expression" },
      { relation: "hr.employees", column: "ctid", context: "output" },
      { relation: null, column: "to_jsonb", context: "output" },
    ]);
    expect(out.relations[0]!.columns).toEqual(["name", "*"]);
    // without a catalog nothing can be told: every named column is a whole-row use
    const blind = resolveStatement(s, path("hr"), undefined);
    expect(blind.columns?.filter((c) => c.column === "*")).toHaveLength(2);
    // a plain column use needs no change: the cached analysis itself comes back
    const plain = deepFreeze({
      ...select(ref("hr", "employees")),
      columns: [{ relation: "hr.employees", column: "ssn", context: "output" as const }],
    });
    expect(resolveStatement(plain, path("hr"), snapshot)).toBe(plain);
  });

  describe("sources: what a relation shows rows of", () => {
    const rel = (
      o: number,
      schema: string,
      name: string,
      extra: Partial<CatalogRelation> = {},
    ): CatalogRelation => ({
      oid: o,
      schema,
      name,
      kind: "table",
      columns: new Map([[1, "ssn"]]),
      ...extra,
    });
    // hr.employees inherits public.people; hr.archive inherits hr.employees; public.other inherits
    // public.people too (a sibling); hr.staff is a view over hr.employees, public.names one over hr.staff,
    // public.everyone one over public.people
    const snapshot = new CatalogSnapshot(1, [
      rel(1, "public", "people", { children: [2, 5] }),
      rel(2, "hr", "employees", { sources: [1], children: [3] }),
      rel(3, "hr", "archive", { sources: [2] }),
      rel(4, "hr", "staff", { kind: "view", sources: [2], reads: [2] }),
      rel(5, "public", "other", { sources: [1] }),
      rel(6, "public", "names", { kind: "view", sources: [4], reads: [4] }),
      rel(7, "public", "everyone", { kind: "view", sources: [1], reads: [1] }),
      rel(8, "sales", "plain"),
    ]);
    const sourcesOf = (schema: string, name: string) =>
      resolveStatement(select(ref(schema, name)), path(), snapshot).relations[0]?.sources;

    it("follows views, parents and children transitively", () => {
      // a view over a child counts the child's parents too, as the child itself does
      expect(sourcesOf("hr", "staff")).toEqual(["hr.archive", "hr.employees", "public.people"]);
      expect(sourcesOf("public", "names")).toEqual([
        "hr.archive",
        "hr.employees",
        "hr.staff",
        "public.people",
      ]);
      expect(sourcesOf("hr", "archive")).toEqual(["hr.employees", "public.people"]);
      expect(sourcesOf("public", "people")).toEqual(["hr.archive", "hr.employees", "public.other"]);
      expect(sourcesOf("public", "everyone")).toEqual([
        "hr.archive",
        "hr.employees",
        "public.other",
        "public.people",
      ]);
    });

    it("does not go up and then down: a sibling shows none of the other child's rows", () => {
      expect(sourcesOf("public", "other")).toEqual(["public.people"]);
    });

    it("leaves a plain table as the analysis made it", () => {
      const statement = select(ref("sales", "plain"));
      expect(resolveStatement(statement, path(), snapshot)).toBe(statement);
    });
  });
});

describe("schemas the session's role has no USAGE on", () => {
  const usage = new Map([
    ["analyst", new Set(["pg_catalog", "sales", "public"])],
    ["admin", new Set(["pg_catalog", "sales", "secret", "public"])],
  ]);
  const snapshot = new CatalogSnapshot(1, [table("secret", "orders"), table("sales", "orders")], usage);

  it("are left out of the path, as the server skips them: a name only there stays unresolved", () => {
    expect(snapshot.searchable("analyst", path("secret", "sales"))).toEqual(["pg_catalog", "sales"]);
    expect(snapshot.searchable("admin", path("secret", "sales"))).toEqual(["pg_catalog", "secret", "sales"]);
    const asAnalyst = resolveStatement(
      select(ref(null, "orders")),
      snapshot.searchable("analyst", path("secret", "sales")),
      snapshot,
    );
    expect(asAnalyst.relations[0]).toMatchObject({ schema: "sales", resolved: true });
    const onlyThere = resolveStatement(
      select(ref(null, "orders")),
      snapshot.searchable("analyst", path("secret")),
      snapshot,
    );
    expect(onlyThere.relations[0]).toMatchObject({ schema: null, resolved: false });
  });

  it("a role the snapshot does not know searches nothing; an unknown path stays unknown", () => {
    expect(snapshot.searchable("someone", path("sales"))).toEqual([]);
    expect(snapshot.searchable("admin", null)).toBeNull();
  });
});
