import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolchain } from "../../common/toolchain.js";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";

const run = promisify(execFile);

describe("throwaway PostgreSQL cluster", () => {
  let pgServer: LocalPostgres;
  beforeAll(async () => {
    pgServer = await startPostgres();
  });
  afterAll(async () => {
    await pgServer?.stop();
  });

  it("accepts a SCRAM login from the pg driver and reports its version", async () => {
    const client = new pg.Client({ connectionString: pgServer.url("analyst") });
    await client.connect();
    const { rows } = await client.query(
      "SELECT current_user, version() AS v, count(*)::int AS n FROM sales.orders",
    );
    await client.end();
    expect(rows[0].current_user).toBe("analyst");
    expect(rows[0].n).toBe(500);
    console.log(`postgres: ${rows[0].v}`);
  });

  it("stores passwords as SCRAM verifiers, except the md5 legacy role", async () => {
    const out = await pgServer.psql(
      "SELECT rolname || '=' || split_part(rolpassword, '$', 1) FROM pg_authid WHERE rolname IN ('analyst','legacy_md5') ORDER BY 1",
    );
    expect(out.split("\n")).toEqual(["analyst=SCRAM-SHA-256", expect.stringMatching(/^legacy_md5=md5/)]);
  });

  it("accepts a SCRAM login from real psql over TLS and refuses a wrong password", async () => {
    const env = { ...process.env, PGSSLMODE: "require", PGCONNECT_TIMEOUT: "5" };
    const { stdout } = await run(
      toolchain().psql,
      [
        "-X",
        "-A",
        "-t",
        "-d",
        pgServer.url("app_rw"),
        "-c",
        "SELECT current_user || ' ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
      ],
      { env },
    );
    expect(stdout.trim()).toBe("app_rw true");
    const bad = `postgresql://app_rw:wrong@127.0.0.1:${pgServer.port}/app`;
    await expect(run(toolchain().psql, ["-X", "-d", bad, "-c", "SELECT 1"], { env })).rejects.toThrow(
      /password authentication failed/,
    );
  });
});
