/**
 * A real driver's own integration tests through Portcullis: node-postgres (`packages/pg`, its
 * `test/integration/**\/*-tests.js`) run once directly against a throwaway PostgreSQL and once through a
 * data plane with the permissive bench policy (`POLICY_DIR`: the token of a user in group `admins` maps
 * to role `admin`, every statement is allowed, nothing is masked). Both sides log in as the same database role. A test file is the unit: node-postgres stops a
 * file at its first failing test, so a file passes when it exits 0; the name of the failing test is
 * reported for every file that fails on one side only.
 *
 * Usage: node dist/bench/driver-suite.js --suite=<node-postgres checkout> (or PORTCULLIS_DRIVER_SUITE).
 * The driver's dependencies are installed inside that checkout (never in this package) when missing.
 * Prints a table and writes bench/results/driver-suite.json.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join, relative } from "node:path";
import { parseArgs } from "node:util";
import { projectRoot, toolchain } from "../common/toolchain.js";
import { startPostgres } from "../devstack/postgres.js";
import { startOidcProvider } from "../test/harness/oidc.js";
import { startProxyStack, USERS } from "../test/harness/proxy-stack.js";

/**
 * Tests excluded from both sides, each with the reason. Every entry is a path relative to
 * `packages/pg`. Keep this list explicit: nothing is skipped silently.
 */
export const EXCLUDED: Record<string, string> = {
  "test/integration/client/error-handling-tests.js":
    "expects an unknown PGUSER to be refused; through the proxy the identity is the token, the user name is not checked",
};

/**
 * The policy the proxy side runs: everything allowed, nothing masked (`bench/policies/permissive/`,
 * compiled, tested and signed by the same pipeline as any bundle). The suite measures what the proxy
 * does to a driver, not the default policy's refusals (DELETE without WHERE, DO, signalling backends,
 * other databases), which its own tests cover.
 */
export const POLICY_DIR = join("bench", "policies", "permissive");

const FILE_TIMEOUT_MS = 120_000;

interface FileResult {
  file: string;
  passed: boolean;
  /** Sub-tests the file reported as passing (its `✔` lines). */
  subtestsPassed: number;
  /** The test the file stopped at, when it failed. */
  failedTest?: string;
  exitCode: number;
  tail?: string;
}

interface SideResult {
  run: number;
  passed: number;
  failed: number;
  subtestsPassed: number;
  files: FileResult[];
}

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (entry.endsWith("-tests.js")) out.push(full);
  }
  return out;
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeout: number },
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...opts, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** The line a failing node-postgres test file stopped at: `  <name> FAILED!`. */
function failedTestName(output: string): string | undefined {
  for (const line of output.split("\n")) {
    const at = line.indexOf(" FAILED!");
    if (at >= 0) return line.slice(0, at).trim();
  }
  const timeout = output.match(/test: (.*) did not complete/);
  return timeout?.[1];
}

async function runSide(
  pgDir: string,
  files: string[],
  env: () => Promise<NodeJS.ProcessEnv>,
): Promise<SideResult> {
  const results: FileResult[] = [];
  for (const file of files) {
    const rel = relative(pgDir, file);
    const { code, output } = await run(process.execPath, [file], {
      cwd: pgDir,
      env: await env(),
      timeout: FILE_TIMEOUT_MS,
    });
    const subtestsPassed = output.split("\n").filter((l) => l.trimEnd().endsWith("✔")).length;
    const result: FileResult = { file: rel, passed: code === 0, subtestsPassed, exitCode: code };
    if (code !== 0) {
      const name = failedTestName(output);
      if (name) result.failedTest = name;
      result.tail = output.split("\n").slice(-25).join("\n");
    }
    results.push(result);
    process.stdout.write(`  ${code === 0 ? "ok  " : "FAIL"} ${rel}\n`);
  }
  const passed = results.filter((r) => r.passed).length;
  return {
    run: results.length,
    passed,
    failed: results.length - passed,
    subtestsPassed: results.reduce((n, r) => n + r.subtestsPassed, 0),
    files: results,
  };
}

async function ensureDriverDependencies(pgDir: string): Promise<void> {
  if (
    existsSync(join(pgDir, "node_modules", "async")) &&
    existsSync(join(pgDir, "node_modules", "pg-protocol"))
  ) {
    return;
  }
  console.log("installing the driver's dependencies inside the checkout");
  // The workspace siblings (pg-protocol is TypeScript and needs a build) come from the registry at the
  // versions packages/pg asks for; nothing is written outside the checkout.
  const { code, output } = await run(
    "npm",
    [
      "install",
      "--no-save",
      "--no-package-lock",
      "--workspaces=false",
      "--ignore-scripts",
      "async@2.6.4",
      "bluebird@3.7.2",
      "co@4.6.0",
      "pg-copy-streams@0.3.0",
      "pg-types@2.2.0",
      "pgpass@1.0.5",
      "pg-protocol@1.16.0",
      "pg-pool@3.14.0",
      "pg-connection-string@2.14.0",
    ],
    { cwd: pgDir, env: process.env, timeout: 600_000 },
  );
  if (code !== 0) throw new Error(`npm install in ${pgDir} failed:\n${output}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { suite: { type: "string" } } });
  const suite = values.suite ?? process.env.PORTCULLIS_DRIVER_SUITE;
  if (!suite) {
    console.error("give --suite=<node-postgres checkout> or PORTCULLIS_DRIVER_SUITE");
    process.exit(2);
  }
  const pgDir = join(suite, "packages", "pg");
  if (!existsSync(join(pgDir, "test", "integration"))) {
    console.error(`${pgDir}/test/integration not found: is ${suite} a node-postgres checkout?`);
    process.exit(2);
  }
  await ensureDriverDependencies(pgDir);
  const all = findTests(join(pgDir, "test", "integration"));
  const files = all.filter((f) => !(relative(pgDir, f) in EXCLUDED));

  const pgServer = await startPostgres();
  const oidc = await startOidcProvider();
  const stack = await startProxyStack({
    pg: pgServer,
    oidc,
    policyDir: join(projectRoot(), POLICY_DIR),
    config: { tls: { allow_plaintext_loopback: true } },
  });
  const base = {
    ...process.env,
    // gh-issues/130 runs psql itself
    PATH: `${dirname(toolchain().psql)}${delimiter}${process.env.PATH ?? ""}`,
    PGDATABASE: "app",
    PGSSLMODE: "disable",
    TEST_TIMEOUT: "20000",
  };
  try {
    console.log(`direct: PostgreSQL ${pgServer.host}:${pgServer.port} as admin (${files.length} files)`);
    const direct = await runSide(pgDir, files, async () => ({
      ...base,
      PGHOST: pgServer.host,
      PGPORT: String(pgServer.port),
      PGUSER: "admin",
      PGPASSWORD: pgServer.passwords.admin,
    }));
    console.log(`proxy: Portcullis 127.0.0.1:${stack.port} (token for carol, mapped to admin)`);
    const proxy = await runSide(pgDir, files, async () => ({
      ...base,
      PGHOST: "127.0.0.1",
      PGPORT: String(stack.port),
      PGUSER: USERS.carol.email,
      PGPASSWORD: await stack.token(USERS.carol),
    }));

    const differing = direct.files
      .map((d, i) => ({ d, p: proxy.files[i] as FileResult }))
      .filter(({ d, p }) => d.passed !== p.passed)
      .map(({ d, p }) => ({
        file: d.file,
        direct: d.passed ? "pass" : `fail${d.failedTest ? `: ${d.failedTest}` : ""}`,
        proxy: p.passed ? "pass" : `fail${p.failedTest ? `: ${p.failedTest}` : ""}`,
        proxyOutput: p.passed ? undefined : p.tail,
        directOutput: d.passed ? undefined : d.tail,
      }));

    console.log("");
    console.log("| side   | files run | passed | failed | sub-tests passed |");
    console.log("|--------|-----------|--------|--------|------------------|");
    for (const [name, s] of [
      ["direct", direct],
      ["proxy", proxy],
    ] as const) {
      console.log(
        `| ${name.padEnd(6)} | ${String(s.run).padStart(9)} | ${String(s.passed).padStart(6)} | ${String(s.failed).padStart(6)} | ${String(s.subtestsPassed).padStart(16)} |`,
      );
    }
    console.log(`excluded from both sides: ${Object.keys(EXCLUDED).length}`);
    for (const [f, why] of Object.entries(EXCLUDED)) console.log(`  ${f}: ${why}`);
    console.log(`differing: ${differing.length}`);
    for (const d of differing) console.log(`  ${d.file}: direct ${d.direct}; proxy ${d.proxy}`);

    const dir = join(projectRoot(), "bench", "results");
    mkdirSync(dir, { recursive: true });
    const out = join(dir, "driver-suite.json");
    const strip = (s: SideResult) => ({ ...s, files: s.files.map(({ tail: _tail, ...rest }) => rest) });
    writeFileSync(
      `${out}.tmp`,
      `${JSON.stringify(
        {
          driver: "node-postgres packages/pg test/integration",
          unit: "test file (node-postgres stops a file at its first failing test)",
          generatedAt: new Date().toISOString(),
          policy: POLICY_DIR,
          excluded: EXCLUDED,
          direct: strip(direct),
          proxy: strip(proxy),
          differing,
          allFailuresOutput: Object.fromEntries(
            [
              ...direct.files.map((f) => ["direct", f] as const),
              ...proxy.files.map((f) => ["proxy", f] as const),
            ]
              .filter(([, f]) => !f.passed)
              .map(([side, f]) => [`${side} ${f.file}`, f.tail]),
          ),
        },
        null,
        2,
      )}\n`,
    );
    renameSync(`${out}.tmp`, out);
    console.log(`wrote ${relative(projectRoot(), out)}`);
  } finally {
    await stack.stop();
    await oidc.stop();
    await pgServer.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
