import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot, toolchain } from "../common/toolchain.js";
import type { DemoEnvironment } from "../devstack/demo.js";

const run = promisify(execFile);
const cli = join(projectRoot(), "dist", "cli", "portcullis.js");

describe("portcullis demo", () => {
  let dir: string;
  let demo: ChildProcess;
  let output = "";
  let env: DemoEnvironment;

  beforeAll(async () => {
    if (!existsSync(cli)) throw new Error("dist/ is missing: `make test` builds it before the suite");
    dir = await mkdtemp(join(tmpdir(), "portcullis-demo-test-"));
    await chmod(dir, 0o755); // the cluster runs as the postgres user when tests run as root
    demo = spawn(process.execPath, [cli, "demo"], {
      env: { ...process.env, PORTCULLIS_DEMO_DIR: join(dir, "demo") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    demo.stdout?.on("data", (c: Buffer) => {
      output += c.toString();
    });
    demo.stderr?.on("data", (c: Buffer) => {
      output += c.toString();
    });
    const deadline = Date.now() + 90_000;
    while (!/ready in/.test(output)) {
      if (demo.exitCode !== null) throw new Error(`demo exited early:\n${output}`);
      if (Date.now() > deadline) throw new Error(`demo not ready after 90 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    env = JSON.parse(readFileSync(join(dir, "demo", "env.json"), "utf8")) as DemoEnvironment;
  });

  afterAll(async () => {
    if (demo && demo.exitCode === null) demo.kill("SIGKILL");
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("shows progress, psql commands and writes env.json", () => {
    expect(output).toMatch(/\[1\/6\] PostgreSQL/);
    expect(output).toMatch(
      /PGPASSWORD=\$\(\.\/portcullis demo token alice\) psql "host=127\.0\.0\.1 port=\d+/,
    );
    expect(env.proxies.map((p) => p.region)).toEqual(["eu", "us"]);
    expect(env.users).toEqual(["alice", "bob", "carol"]);
    expect(env.admin).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(env.console).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    expect(output).toContain(`# the console: ${env.console}`);
    // nothing is wrong at start: no error-level log lines (the data planes' first replay is no staleness)
    expect(output).not.toMatch(/"level":(50|60)/);
  });

  it("prints one line of admin exports that works when pasted as it is", async () => {
    const exports = output
      .split("\n")
      .find((line) => line.trim().startsWith("export PORTCULLIS_ADMIN_SERVER="));
    expect(exports).toBeDefined();
    const pasted = await run("bash", ["-c", `${exports!.trim()}\n./portcullis admin fleet`], {
      cwd: projectRoot(),
      env: { ...process.env, PORTCULLIS_DEMO_DIR: join(dir, "demo") },
    });
    expect(pasted.stdout).toMatch(/2\/2 live data planes converged/);
    expect(pasted.stderr).toBe(""); // no DEP0123 (an IP as TLS server name) or any other warning
  });

  it("lets alice SELECT and denies her DELETE through a scripted psql session", async () => {
    const { stdout: token } = await run(process.execPath, [cli, "demo", "token", "alice"], {
      env: { ...process.env, PORTCULLIS_DEMO_DIR: join(dir, "demo") },
    });
    const proxy = env.proxies[0]!;
    const result = await run(
      toolchain().psql,
      [
        "-X",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=0",
        `host=${proxy.host} port=${proxy.port} user=alice dbname=app sslmode=require`,
        "-c",
        "SELECT count(*) FROM sales.orders",
        "-c",
        "DELETE FROM sales.orders WHERE id = 1",
      ],
      { env: { ...process.env, PGPASSWORD: token.trim() } },
    ).catch((err: { code: number; stdout: string; stderr: string }) => err);
    expect((result as { code?: number }).code).toBe(1); // psql's exit status after a failed last command
    expect(result.stdout.trim()).toBe("500");
    expect(result.stderr).toMatch(/ERROR: {2}permission denied by Portcullis policy/);
  });

  it("serves the admin API over TLS to carol's demo token, and refuses alice's", async () => {
    const demoEnv = { ...process.env, PORTCULLIS_DEMO_DIR: join(dir, "demo") };
    const token = async (user: string) =>
      (await run(process.execPath, [cli, "demo", "token", user], { env: demoEnv })).stdout.trim();
    const adminEnv = (user: string) =>
      token(user).then((t) => ({
        ...demoEnv,
        PORTCULLIS_ADMIN_SERVER: env.admin,
        PORTCULLIS_ADMIN_CA: env.admin_ca,
        PORTCULLIS_TOKEN: t,
      }));
    expect(existsSync(env.admin_ca)).toBe(true);
    const fleet = await run(process.execPath, [cli, "admin", "fleet"], { env: await adminEnv("carol") });
    expect(fleet.stdout).toMatch(/2\/2 live data planes converged/);
    expect(fleet.stderr).not.toMatch(/DEP0123/);
    const sessions = await run(process.execPath, [cli, "admin", "sessions", "--json"], {
      env: await adminEnv("carol"),
    });
    expect(JSON.parse(sessions.stdout)).toHaveProperty("sessions");
    const refused = await run(process.execPath, [cli, "admin", "revoke-subject", "bob"], {
      env: await adminEnv("alice"),
    }).catch((err: { code: number; stderr: string }) => err);
    expect((refused as { code?: number }).code).toBe(1);
    expect(refused.stderr).toMatch(/alice may not call RevokeSubject.*\(PERMISSION_DENIED\)/);
  });

  it("stops everything on Ctrl-C", async () => {
    const pidFile = postgresPidFile(join(dir, "demo"));
    expect(pidFile).toBeDefined();
    const postgresPid = Number(readFileSync(pidFile!, "utf8").split("\n")[0]);
    expect(() => process.kill(postgresPid, 0)).not.toThrow();
    demo.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => demo.once("exit", (c) => resolve(c)));
    expect(code).toBe(0);
    expect(() => process.kill(postgresPid, 0)).toThrow(); // the demo's PostgreSQL is gone
  });
});

/** The postmaster.pid of the demo's PostgreSQL. */
function postgresPidFile(demoDir: string): string | undefined {
  for (const entry of readdirSync(demoDir)) {
    const candidate = join(demoDir, entry, "data", "postmaster.pid");
    if (entry.startsWith("portcullis-pg-") && existsSync(candidate)) return candidate;
  }
  return undefined;
}
