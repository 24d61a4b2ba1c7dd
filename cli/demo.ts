import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { projectRoot } from "../common/toolchain.js";
import type { DemoEnvironment } from "../devstack/demo.js";

/** `.portcullis/demo` in the checkout, or PORTCULLIS_DEMO_DIR. */
const demoDir = () => process.env.PORTCULLIS_DEMO_DIR ?? join(projectRoot(), ".portcullis", "demo");

function readEnv(): DemoEnvironment {
  try {
    return JSON.parse(readFileSync(join(demoDir(), "env.json"), "utf8")) as DemoEnvironment;
  } catch {
    throw new Error("no demo is running here: start one with `make demo`");
  }
}

function banner(env: DemoEnvironment): string {
  const [eu, us] = env.proxies;
  const psql = (user: string, p = eu!) =>
    `PGPASSWORD=$(./portcullis demo token ${user}) psql "host=${p.host} port=${p.port} user=${user} dbname=app sslmode=require"`;
  return [
    "",
    "Portcullis demo is up. In another terminal, from this folder:",
    "",
    "  # alice (analysts → role analyst): reads sales, cannot write",
    `  ${psql("alice")}`,
    "      SELECT count(*) FROM sales.orders;            -- allowed",
    "      DELETE FROM sales.orders WHERE id = 1;        -- denied: 42501",
    "",
    "  # bob (engineers → role app_rw), through the us region",
    `  ${psql("bob", us)}`,
    "",
    "  # carol (admins → role admin): hr.employees with ssn/salary/email masked",
    `  ${psql("carol")}`,
    "      SELECT name, ssn, salary, email FROM hr.employees;",
    "",
    ...(env.console
      ? [
          `  # the console: ${env.console}  (sign in as ${env.admin_user}; the certificate is self-signed: ${env.admin_ca})`,
          "",
        ]
      : []),
    `  # the admin API (TLS, OIDC): ${env.admin_user} is the demo admin; run this line first in the same shell`,
    `  export PORTCULLIS_ADMIN_SERVER=${env.admin} PORTCULLIS_ADMIN_CA=${env.admin_ca} PORTCULLIS_TOKEN=$(./portcullis demo token ${env.admin_user})`,
    "  ./portcullis admin bundles",
    "  ./portcullis admin fleet",
    "  ./portcullis admin sessions                          # who is connected, where",
    "  ./portcullis admin revoke-subject alice --reason demo # cuts alice everywhere, now",
    "  ./portcullis admin revocations",
    "  ./portcullis admin watch                             # events as they happen",
    "",
    "  # metrics",
    ...env.proxies.map((p) => `  curl -s ${p.metrics} | grep portcullis_   # ${p.region}`),
    ...(env.control_plane_metrics ? [`  curl -s ${env.control_plane_metrics}   # control plane`] : []),
    "",
    `Endpoints are in ${join(demoDir(), "env.json")}. Ctrl-C stops everything.`,
    "",
  ].join("\n");
}

export function registerDemoCommands(program: Command): void {
  const demo = program
    .command("demo")
    .description(
      "run the whole stack locally: PostgreSQL, NATS, an OIDC issuer, the control plane, two data planes",
    );
  demo.action(async () => {
    const started = Date.now();
    // loaded here, not at the top: the demo pulls in the OIDC provider, which the rest of the CLI does not need
    const { startDemo } = await import("../devstack/demo.js");
    let n = 0;
    const running = await startDemo({
      dir: demoDir(),
      progress: (step) => {
        n++;
        console.log(`[${n}/6] ${step} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      },
    });
    console.log(banner(running.env));
    console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      console.log("\nstopping the demo…");
      await running.stop();
      process.exit(0);
    };
    process.on("SIGINT", () => void stop());
    process.on("SIGTERM", () => void stop());
  });
  demo
    .command("token <user>")
    .description("print a fresh OIDC token for a demo user (alice, bob, carol) while the demo runs")
    .action(async (user: string) => {
      const env = readEnv();
      const res = await fetch(`${env.token_endpoint}${encodeURIComponent(user)}`).catch(() => {
        throw new Error("the demo is not answering: is `make demo` still running?");
      });
      const body = await res.text();
      if (!res.ok) throw new Error(body.trim());
      process.stdout.write(body);
    });
}
