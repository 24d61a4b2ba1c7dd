/**
 * A search_path given at start-up (psql's PGOPTIONS, node-postgres's `options`) through a real session:
 * forwarded as given, decided by the policy as the SET it equals, checked against what the server
 * searches, and the gate resolving names from it exactly as the server does: masks still apply and the
 * inference guard still sees a masked table behind an unqualified name, also when a schema earlier on the
 * path that the role may not use holds a table of the same name.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot, toolchain } from "../common/toolchain.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { type OidcHarness, type OidcUser, startOidcProvider } from "../test/harness/oidc.js";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";

type Outcome = { ok: true; rows: Record<string, unknown>[] } | { ok: false; code?: string; message: string };

async function outcome(client: pg.Client, sql: string, extended = false): Promise<Outcome> {
  try {
    const config = { text: sql, ...(extended ? { queryMode: "extended" } : {}) } as pg.QueryConfig;
    const result = await client.query(config);
    return { ok: true, rows: result.rows as Record<string, unknown>[] };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { ok: false, code: e.code, message: e.message };
  }
}

let postgres: LocalPostgres;
let oidc: OidcHarness;
let stack: ProxyStack;
/** The default policy without search_path among the harmless settings: restricted roles may not set it. */
let strict: ProxyStack;
/** The default policy where group analysts may also read schema `reports`. */
let reports: ProxyStack;
const policyCopies: string[] = [];

type PolicyData = {
  portcullis: { harmless_settings: string[]; group_schemas: Record<string, { read: string[] }> };
};

/** The default policies (without their tests, which pin the default data) with `change` made to data. */
async function policyCopy(change: (data: PolicyData) => void): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-policy-copy-"));
  policyCopies.push(dir);
  const source = join(projectRoot(), "policies");
  for (const file of await readdir(source)) {
    if (file.endsWith(".rego") && !file.endsWith("_test.rego")) {
      await writeFile(join(dir, file), await readFile(join(source, file)));
    }
  }
  const data = JSON.parse(await readFile(join(source, "data.json"), "utf8")) as PolicyData;
  change(data);
  await writeFile(join(dir, "data.json"), JSON.stringify(data));
  return dir;
}

beforeAll(async () => {
  postgres = await startPostgres();
  // Made before the proxies read the catalog. `decoy` holds an `employees` the admin role may not use
  // (no USAGE): the server skips it. `mirror` holds one it may use: the server finds that one.
  // `reports` holds one the policy lets analysts read, but the analyst role has no USAGE on it: the
  // server reads hr.employees instead, which the policy does not let analysts read.
  await postgres.psql(`
    CREATE SCHEMA decoy;
    CREATE TABLE decoy.employees (id int, name text, ssn text);
    INSERT INTO decoy.employees VALUES (1, 'decoy', 'decoy-ssn');
    CREATE SCHEMA mirror;
    CREATE TABLE mirror.employees (id int, name text, ssn text);
    INSERT INTO mirror.employees VALUES (1, 'mirror', 'mirror-ssn');
    GRANT USAGE ON SCHEMA mirror TO admin;
    GRANT SELECT ON mirror.employees TO admin;
    CREATE SCHEMA reports;
    CREATE TABLE reports.employees (id int, name text, ssn text);
    GRANT SELECT ON reports.employees TO analyst;
    CREATE SCHEMA "My Schema";
    GRANT USAGE ON SCHEMA "My Schema" TO admin;`);
  oidc = await startOidcProvider();
  stack = await startProxyStack({ pg: postgres, oidc });
  strict = await startProxyStack({
    pg: postgres,
    oidc,
    policyDir: await policyCopy((data) => {
      data.portcullis.harmless_settings = data.portcullis.harmless_settings.filter(
        (s) => s !== "search_path",
      );
    }),
  });
  reports = await startProxyStack({
    pg: postgres,
    oidc,
    policyDir: await policyCopy((data) => {
      data.portcullis.group_schemas.analysts = { read: ["reports"] };
    }),
  });
});

afterAll(async () => {
  await reports?.stop();
  await strict?.stop();
  await stack?.stop();
  await oidc?.stop();
  await postgres?.stop();
  for (const dir of policyCopies) await rm(dir, { recursive: true, force: true });
});

async function connect(
  on: ProxyStack,
  user: OidcUser,
  options: string | undefined,
): Promise<{ client?: pg.Client; error?: { code?: string; message: string } }> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port: on.port,
    user: user.email,
    password: await on.token(user),
    database: "app",
    ssl: { rejectUnauthorized: false },
    ...(options !== undefined ? { options } : {}),
  });
  try {
    await client.connect();
    return { client };
  } catch (err) {
    await client.end().catch(() => {});
    return { error: err as { code?: string; message: string } };
  }
}

async function session<T>(
  options: string,
  fn: (client: pg.Client) => Promise<T>,
  user: OidcUser = USERS.carol,
  on: ProxyStack = stack,
): Promise<T> {
  const { client, error } = await connect(on, user, options);
  expect(error).toBeUndefined();
  try {
    return await fn(client!);
  } finally {
    await client!.end();
  }
}

function psql(
  on: ProxyStack,
  token: string,
  pgoptions: string,
  sql: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      toolchain().psql,
      ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", on.url(token), "-c", sql],
      { env: { ...process.env, PGOPTIONS: pgoptions, PGCONNECT_TIMEOUT: "10" }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("a start-up search_path through the proxy", () => {
  it("psql's PGOPTIONS: forwarded as given, names resolve by it, masks apply", async () => {
    const token = await stack.token(USERS.carol);
    const shown = await psql(stack, token, "-c search_path=hr,public", "SHOW search_path");
    expect(shown.stderr).toBe("");
    expect(shown.stdout.trim()).toBe("hr,public");
    // carol (admin) reads hr.employees with ssn redacted and salary nulled, through the unqualified name
    const rows = await psql(
      stack,
      token,
      "-c search_path=hr,public",
      "SELECT ssn, salary FROM employees LIMIT 1",
    );
    expect(rows.stderr).toBe("");
    expect(rows.stdout.trim()).toBe("***|");
    // the inference guard knows `employees` is hr.employees
    const guarded = await psql(
      stack,
      token,
      "-c search_path=hr,public",
      "SELECT count(*) FROM employees WHERE ssn LIKE '1%'",
    );
    expect(guarded.code).not.toBe(0);
    expect(guarded.stderr).toContain("permission denied by Portcullis policy");
  });

  it("node-postgres's options: both protocols, RESET returns to the start-up value, as on the server", async () => {
    await session("--search_path=hr", async (client) => {
      expect(await outcome(client, "SHOW search_path")).toEqual({ ok: true, rows: [{ search_path: "hr" }] });
      for (const extended of [false, true]) {
        expect(
          await outcome(client, "SELECT name, ssn FROM employees ORDER BY id LIMIT 1", extended),
        ).toEqual({
          ok: true,
          rows: [{ name: "Alice Analyst", ssn: "***" }],
        });
        expect(
          await outcome(client, "SELECT id FROM employees WHERE ssn = '123-45-6789'", extended),
        ).toMatchObject({
          ok: false,
          code: "42501",
        });
      }
      expect(await outcome(client, "SET search_path = sales")).toMatchObject({ ok: true });
      expect(await outcome(client, "SELECT count(*)::int AS n FROM orders WHERE id < 0")).toEqual({
        ok: true,
        rows: [{ n: 0 }],
      });
      expect(await outcome(client, "RESET search_path")).toMatchObject({ ok: true });
      expect(await outcome(client, "SHOW search_path")).toEqual({ ok: true, rows: [{ search_path: "hr" }] });
      expect(await outcome(client, "SELECT id FROM employees WHERE ssn = 'x'")).toMatchObject({
        ok: false,
        code: "42501",
      });
      expect(await outcome(client, "DISCARD ALL")).toMatchObject({ ok: true });
      expect(await outcome(client, "SELECT ssn FROM employees LIMIT 1")).toEqual({
        ok: true,
        rows: [{ ssn: "***" }],
      });
    });
  });

  it("sessions one after another (a pooled upstream is reset and keyed by it) each have their own", async () => {
    for (const value of ["hr", "sales", "hr", "public, hr", "sales"]) {
      await session(`-c search_path=${value.replaceAll(" ", "\\ ")}`, async (client) => {
        expect(await outcome(client, "SHOW search_path")).toEqual({
          ok: true,
          rows: [{ search_path: value }],
        });
        const got = await outcome(client, "SELECT ssn FROM employees ORDER BY id LIMIT 1", true);
        if (value.includes("hr")) expect(got).toEqual({ ok: true, rows: [{ ssn: "***" }] });
        else expect(got).toMatchObject({ ok: false });
      });
    }
  });

  it("quoted names, $user and a schema with a space are read as the server reads them", async () => {
    await session('-c search_path="My\\ Schema",\\ "$user",\\ HR', async (client) => {
      expect(await outcome(client, "SHOW search_path")).toEqual({
        ok: true,
        rows: [{ search_path: '"My Schema", "$user", HR' }],
      });
      expect(await outcome(client, "SELECT pg_catalog.current_schemas(false)::text[] AS s")).toEqual({
        ok: true,
        rows: [{ s: ["My Schema", "hr"] }],
      });
      expect(await outcome(client, "SELECT ssn FROM employees LIMIT 1")).toEqual({
        ok: true,
        rows: [{ ssn: "***" }],
      });
    });
  });

  it("a schema earlier on the path whose `employees` the role may not use is skipped, as the server skips it", async () => {
    await session("-c search_path=decoy,hr", async (client) => {
      expect(await outcome(client, "SELECT pg_catalog.current_schemas(false)::text[] AS s")).toEqual({
        ok: true,
        rows: [{ s: ["hr"] }],
      });
      // the server reads hr.employees: masked, and a masked column in WHERE is refused
      expect(await outcome(client, "SELECT name, ssn FROM employees ORDER BY id LIMIT 1")).toEqual({
        ok: true,
        rows: [{ name: "Alice Analyst", ssn: "***" }],
      });
      for (const extended of [false, true]) {
        expect(
          await outcome(client, "SELECT count(*) FROM employees WHERE ssn LIKE '1%'", extended),
        ).toMatchObject({ ok: false, code: "42501" });
      }
    });
    // the same path set after connecting is resolved the same way
    await session("-c application_name=x", async (client) => {
      expect(await outcome(client, "SET search_path = decoy, hr")).toMatchObject({ ok: true });
      expect(await outcome(client, "SELECT count(*) FROM employees WHERE ssn LIKE '1%'")).toMatchObject({
        ok: false,
        code: "42501",
      });
    });
  });

  it("attack: a readable schema the role may not use cannot stand in for the masked table the server reads", async () => {
    // alice (analysts) may read `reports` by this policy, but her role has no USAGE on it: the server
    // reads hr.employees, so the proxy must decide hr.employees (which analysts may not read)
    await session(
      "-c search_path=reports,hr",
      async (client) => {
        expect(await outcome(client, "SELECT pg_catalog.current_schemas(false)::text[] AS s")).toEqual({
          ok: true,
          rows: [{ s: ["hr"] }],
        });
        for (const extended of [false, true]) {
          const got = await outcome(client, "SELECT name, ssn FROM employees", extended);
          expect(got).toMatchObject({ ok: false, code: "42501" });
          expect(got.ok ? "" : got.message).toContain("hr.employees");
        }
      },
      USERS.alice,
      reports,
    );
  });

  it("a schema earlier on the path the role may use is found first, by the proxy as by the server", async () => {
    await session("-c search_path=mirror,hr", async (client) => {
      // the proxy resolves the bare name as the server does (mirror first); a session with masks must
      // still qualify a name that a masked relation also has (another session could drop mirror's)
      const bare = await outcome(client, "SELECT ssn FROM employees");
      expect(bare).toMatchObject({ ok: false, code: "42501" });
      expect((bare as { message: string }).message).toContain(
        "relation employees (resolved to mirror.employees) has the name of masked relation hr.employees",
      );
      // mirror.employees is no masked table: its values come back as they are
      expect(await outcome(client, "SELECT ssn FROM mirror.employees WHERE ssn LIKE 'm%'")).toEqual({
        ok: true,
        rows: [{ ssn: "mirror-ssn" }],
      });
      // hr.employees by its qualified name is still masked
      expect(await outcome(client, "SELECT ssn FROM hr.employees ORDER BY id LIMIT 1")).toEqual({
        ok: true,
        rows: [{ ssn: "***" }],
      });
    });
  });

  it("a session's own statement_timeout of 1 ms does not refuse its login, and stays its own", async () => {
    // The proxy's set-up query on a new upstream runs under what the session starts with: a client's
    // (here), a role's or a database's statement_timeout. It lifts it for itself alone (a login refused
    // with 57P03 under load otherwise), and that must not outlive the set-up query.
    for (let i = 0; i < 3; i++) {
      const shown = await session("-c statement_timeout=1 -c search_path=hr,public", async (c) => {
        const r = await c.query("SHOW statement_timeout");
        return r.rows[0]?.statement_timeout as string;
      });
      expect(shown).toBe("1ms");
    }
    for (let i = 0; i < 3; i++) {
      const shown = await session("-c statement_timeout=1", async (c) => {
        const r = await c.query("SHOW statement_timeout");
        return r.rows[0]?.statement_timeout as string;
      });
      expect(shown).toBe("1ms");
    }
  });

  it("refuses at login: a list the server would refuse (22023), what it cannot represent (0A000), a policy denial (42501)", async () => {
    for (const [options, code] of [
      ["-c search_path=a,,b", "22023"],
      ['-c search_path="unterminated', "22023"],
      ["-c search_path=", "0A000"],
      [`-c search_path=${"x".repeat(64)}`, "0A000"],
    ] as const) {
      const { client, error } = await connect(stack, USERS.carol, options);
      await client?.end();
      expect(error?.code, options).toBe(code);
    }
    // the policy decides it as `SET search_path TO 'sales'`: restricted roles may not set it there
    const denied = await connect(strict, USERS.alice, "-c search_path=sales");
    await denied.client?.end();
    expect(denied.error?.code).toBe("42501");
    expect(denied.error?.message).toContain("start-up search_path");
    expect(denied.error?.message).toContain("the setting search_path may only be changed by admin");
    // the same role without it logs in; the admin may set it
    const plain = await connect(strict, USERS.alice, undefined);
    expect(plain.error).toBeUndefined();
    await plain.client?.end();
    const admin = await connect(strict, USERS.carol, "-c search_path=sales");
    expect(admin.error).toBeUndefined();
    expect(await outcome(admin.client!, "SHOW search_path")).toEqual({
      ok: true,
      rows: [{ search_path: "sales" }],
    });
    await admin.client?.end();
  });

  it("attack: a REVOKE of USAGE committed after the catalog was read during its transaction is not missed", async () => {
    // analyst may use `reports` (which this policy lets analysts read); admin owns it
    // payroll: a name no masked relation has (a session with masks must qualify one that does, which
    // would refuse the statement before the question here is asked); the server lets analyst read
    // hr.payroll, the policy does not (analysts may not read hr)
    await postgres.psql(`
      GRANT USAGE ON SCHEMA reports TO analyst;
      CREATE TABLE IF NOT EXISTS reports.payroll (id int, name text);
      CREATE TABLE IF NOT EXISTS hr.payroll (id int, name text);
      GRANT SELECT ON reports.payroll, hr.payroll TO analyst;
      INSERT INTO reports.payroll VALUES (1, 'report-row');
      INSERT INTO hr.payroll VALUES (1, 'hr-row');
      ALTER TABLE reports.payroll OWNER TO admin;
      ALTER SCHEMA reports OWNER TO admin;`);
    const carol = await connect(reports, USERS.carol, undefined);
    const alice = await connect(reports, USERS.alice, "-c search_path=reports,hr");
    expect(carol.error).toBeUndefined();
    expect(alice.error).toBeUndefined();
    try {
      // a GRANT the proxy sees: the snapshot is read again, now with analyst's USAGE on `reports`
      expect(await outcome(carol.client!, "GRANT USAGE ON SCHEMA reports TO analyst")).toMatchObject({
        ok: true,
      });
      expect(await outcome(alice.client!, "SELECT name FROM payroll")).toEqual({
        ok: true,
        rows: [{ name: "report-row" }],
      });
      // the REVOKE's transaction is still open when the snapshot is read again
      expect(await outcome(carol.client!, "BEGIN")).toMatchObject({ ok: true });
      expect(await outcome(carol.client!, "REVOKE USAGE ON SCHEMA reports FROM analyst")).toMatchObject({
        ok: true,
      });
      expect(await outcome(alice.client!, "SELECT name FROM payroll")).toEqual({
        ok: true,
        rows: [{ name: "report-row" }],
      });
      expect(await outcome(carol.client!, "COMMIT")).toMatchObject({ ok: true });
      // the server now skips `reports` for analyst and reads hr.payroll, which analysts may not read
      for (const extended of [false, true]) {
        const got = await outcome(alice.client!, "SELECT name FROM payroll", extended);
        expect(got).toMatchObject({ ok: false, code: "42501" });
        expect((got as { message: string }).message).toContain("Portcullis");
      }
    } finally {
      await carol.client?.end();
      await alice.client?.end();
    }
  });

  it("attack: a statement prepared before a REVOKE of USAGE is decided again when it runs after it", async () => {
    // analyst may use `reports` again (admin owns it since the test before)
    await postgres.psql(`
      GRANT USAGE ON SCHEMA reports TO analyst;
      ALTER SCHEMA reports OWNER TO admin;
      INSERT INTO reports.payroll SELECT 1, 'report-row' WHERE NOT EXISTS (SELECT FROM reports.payroll);`);
    const carol = await connect(reports, USERS.carol, undefined);
    const alice = await connect(reports, USERS.alice, "-c search_path=reports,hr");
    expect(carol.error).toBeUndefined();
    expect(alice.error).toBeUndefined();
    const prepared = async (name: string) => {
      try {
        const result = await alice.client!.query({ name, text: "SELECT name FROM payroll" });
        return { ok: true, rows: result.rows };
      } catch (err) {
        return { ok: false, code: (err as { code?: string }).code };
      }
    };
    try {
      expect(await outcome(carol.client!, "GRANT USAGE ON SCHEMA reports TO analyst")).toMatchObject({
        ok: true,
      });
      expect(await prepared("p1")).toEqual({ ok: true, rows: [{ name: "report-row" }] });
      expect(await outcome(alice.client!, "PREPARE p2 AS SELECT name FROM payroll")).toMatchObject({
        ok: true,
      });
      expect(await outcome(carol.client!, "REVOKE USAGE ON SCHEMA reports FROM analyst")).toMatchObject({
        ok: true,
      });
      // the server plans them again with what the role may search now: hr.payroll
      const again = await prepared("p1");
      expect(again).toMatchObject({ ok: false, code: "42501" });
      const executed = await outcome(alice.client!, "EXECUTE p2");
      expect(executed).toMatchObject({ ok: false, code: "42501" });
    } finally {
      await carol.client?.end();
      await alice.client?.end();
    }
  });
});
