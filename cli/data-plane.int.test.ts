import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../common/toolchain.js";
import { type OidcHarness, startOidcProvider } from "../devstack/oidc.js";
import { freePort, portOpen } from "../devstack/ports.js";
import { type LocalPostgres, startPostgres } from "../devstack/postgres.js";
import { buildBundle, USERS } from "../test/harness/proxy-stack.js";

const cli = join(projectRoot(), "dist", "cli", "portcullis.js");

describe("portcullis data-plane --config FILE (the real process)", () => {
  let dir: string;
  let pgServer: LocalPostgres;
  let oidc: OidcHarness;
  let proxy: ChildProcess;
  let port: number;
  let output = "";

  beforeAll(async () => {
    if (!existsSync(cli)) throw new Error("dist/ is missing: `make test` builds it before the suite");
    dir = await mkdtemp(join(tmpdir(), "portcullis-cli-dp-"));
    [pgServer, oidc] = await Promise.all([startPostgres(), startOidcProvider()]);
    await buildBundle(join(projectRoot(), "policies"), dir); // bundle.tar + bundle-public.pem
    await writeFile(join(dir, "analyst.password"), pgServer.passwords.analyst, { mode: 0o600 });
    port = await freePort();
    await writeFile(
      join(dir, "data-plane.yaml"),
      [
        "proxy: { id: cli-test, region: test }",
        "listen: { host: 127.0.0.1, port: 1 }  # overridden from the environment below",
        "oidc:",
        `  issuers: [{ issuer: "${oidc.issuer}", audience: ${oidc.clientId} }]`,
        "  allow_insecure_issuer: true",
        `policy: { bundle: bundle.tar, public_key_file: bundle-public.pem }`,
        "upstream:",
        `  host: 127.0.0.1`,
        `  port: ${pgServer.port}`,
        "  roles:",
        "    analyst: { password_file: analyst.password }",
        "    app_rw: { password_env: TEST_APP_RW_PASSWORD }",
        "",
      ].join("\n"),
    );
    proxy = spawn(process.execPath, [cli, "data-plane", "--config", join(dir, "data-plane.yaml")], {
      env: {
        ...process.env,
        PORTCULLIS_LISTEN__PORT: String(port),
        TEST_APP_RW_PASSWORD: pgServer.passwords.app_rw,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    proxy.stdout?.on("data", (c: Buffer) => {
      output += c.toString();
    });
    proxy.stderr?.on("data", (c: Buffer) => {
      output += c.toString();
    });
    const deadline = Date.now() + 30_000;
    while (!(await portOpen(port))) {
      if (proxy.exitCode !== null || Date.now() > deadline)
        throw new Error(`data plane did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (proxy && proxy.exitCode === null) proxy.kill("SIGKILL");
    await Promise.all([pgServer?.stop(), oidc?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("logs structured JSON and serves token logins mapped by the policy", async () => {
    const client = new pg.Client({
      host: "127.0.0.1",
      port,
      user: "bob",
      password: await oidc.token(USERS.bob),
      database: "app",
      ssl: { rejectUnauthorized: false },
    });
    await client.connect();
    const { rows } = await client.query("SELECT current_user AS role");
    expect(rows[0].role).toBe("app_rw"); // its password came from the environment
    await client.end();
    const ready = output.split("\n").find((line) => line.includes('"data plane ready"'));
    expect(JSON.parse(ready!)).toMatchObject({ level: 30, proxy: "cli-test", port });
    expect(output).not.toContain(pgServer.passwords.app_rw);
  });

  it("ends live sessions with 57P01 on SIGTERM and exits 0", async () => {
    const client = new pg.Client({
      host: "127.0.0.1",
      port,
      user: "alice",
      password: await oidc.token(USERS.alice),
      database: "app",
      ssl: { rejectUnauthorized: false },
    });
    const ended = new Promise<Error>((resolve) => client.on("error", resolve));
    await client.connect();
    proxy.kill("SIGTERM");
    const err = (await ended) as Error & { code?: string };
    expect(err.code).toBe("57P01");
    const code = await new Promise<number | null>((resolve) =>
      proxy.exitCode !== null ? resolve(proxy.exitCode) : proxy.once("exit", (c) => resolve(c)),
    );
    expect(code).toBe(0);
  });

  it("rejects an invalid configuration with a clear message and exit code 2", async () => {
    await writeFile(join(dir, "bad.yaml"), "listen: { port: 99999 }\n");
    const child = spawn(process.execPath, [cli, "data-plane", "--config", join(dir, "bad.yaml")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr?.on("data", (c: Buffer) => {
      err += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/invalid data-plane config/);
    expect(err).toMatch(/listen\.port/);
    expect(err).toMatch(/oidc/);
  });
});
