/**
 * `portcullis demo`: the whole stack on one machine with embedded defaults: a throwaway PostgreSQL
 * with the sample schema, nats-server with JetStream, a local OIDC issuer with demo users, a git
 * repository seeded from policies/, the control plane (SQLite) and two data planes tagged as two
 * regions. Everything runs under this process and stops with it.
 *
 * The control plane's admin API is served as in production: TLS (a self-signed certificate kept in
 * the control plane's data dir, `admin_ca` in env.json) and OIDC bearer tokens from the demo issuer,
 * authorized by the policy's portcullis/admin/decision: carol (group admins) is the demo admin, so
 * `PORTCULLIS_TOKEN=$(portcullis demo token carol)` is an admin token.
 */
import { execFile } from "node:child_process";
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { createLogger, type Logger } from "../common/logger.js";
import { projectRoot } from "../common/toolchain.js";
import { parseControlPlaneConfig } from "../control-plane/config.js";
import { type RunningControlPlane, startControlPlane } from "../control-plane/control-plane.js";
import { parseDataPlaneConfig } from "../data-plane/config.js";
import { type RunningDataPlane, startDataPlane } from "../data-plane/main.js";
import { type LocalNats, startNats } from "./nats.js";
import { type OidcHarness, type OidcUser, startOidcProvider } from "./oidc.js";
import { type LocalPostgres, startPostgres } from "./postgres.js";

const run = promisify(execFile);

export const DEMO_USERS: Record<string, OidcUser> = {
  alice: { sub: "alice", email: "alice@example.com", groups: ["analysts"], name: "Alice Analyst" },
  bob: { sub: "bob", email: "bob@example.com", groups: ["engineers"], name: "Bob Engineer" },
  carol: { sub: "carol", email: "carol@example.com", groups: ["admins"], name: "Carol Admin" },
};

/** The console's OIDC client at the demo issuer (public, PKCE, redirect = the console). */
export const DEMO_CONSOLE_CLIENT = "portcullis-console";

export interface DemoEnvironment {
  proxies: { region: string; host: string; port: number; metrics: string }[];
  admin: string;
  /** The admin API's certificate (self-signed): `portcullis admin --ca <this>`. */
  admin_ca: string;
  /** The demo user whose token the admin API accepts for every call. */
  admin_user: string;
  /** The web console (HTTPS, the admin API's certificate): log in as admin_user. */
  console: string;
  users: string[];
  issuer: string;
  client_id: string;
  token_endpoint: string;
  control_plane_metrics: string | undefined;
  nats: string;
  postgres: { host: string; port: number };
}

export interface RunningDemo {
  env: DemoEnvironment;
  envFile: string;
  stop(): Promise<void>;
}

export interface DemoOptions {
  dir: string;
  progress?: (step: string) => void;
  logger?: Logger;
  /** The console's port (default: any free one). */
  consolePort?: number;
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("git", args, {
    cwd,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Portcullis demo",
      GIT_AUTHOR_EMAIL: "demo@example.com",
      GIT_COMMITTER_NAME: "Portcullis demo",
      GIT_COMMITTER_EMAIL: "demo@example.com",
    },
  });
  return stdout.trim();
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const step = options.progress ?? (() => {});
  const logger = options.logger ?? createLogger("portcullis-demo", { level: "error" });
  const dir = options.dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    stops.length = 0;
  };
  try {
    step("PostgreSQL: throwaway cluster with the sample schema");
    const pg: LocalPostgres = await startPostgres({ baseDir: dir });
    stops.push(() => pg.stop());

    step("NATS: nats-server with JetStream");
    const nats: LocalNats = await startNats({ baseDir: dir });
    stops.push(() => nats.destroy());

    step("OIDC issuer with demo users alice, bob, carol");
    const oidc: OidcHarness = await startOidcProvider({ defaultLifetimeSeconds: 3600 });
    stops.push(() => oidc.stop());

    step("policy repository: git, seeded from policies/");
    const repo = join(dir, "policy-repo");
    await mkdir(repo, { recursive: true });
    await git(repo, "init", "-q", "-b", "main");
    await cp(join(projectRoot(), "policies"), join(repo, "policies"), { recursive: true });
    await git(repo, "add", "-A");
    await git(repo, "commit", "-q", "-m", "Default Portcullis policies");

    step("control plane: check, test, compile, sign, publish (SQLite store)");
    const publicKey = join(dir, "bundle-signing.pub");
    const controlConfig = parseControlPlaneConfig(
      {
        data_dir: join(dir, "control-plane"),
        signing: { public_key_out: publicKey },
        source: { git: { url: repo, branch: "main", folder: "policies", poll_interval_ms: 2_000 } },
        nats: { servers: [nats.url] },
        admin: {
          host: "127.0.0.1",
          port: 0,
          auth: "oidc",
          oidc: {
            issuers: [{ issuer: oidc.issuer, audience: [oidc.clientId, DEMO_CONSOLE_CLIENT] }],
            allow_insecure_issuer: true,
          },
          // until the first bundle is built, the demo admin may call; then the policy decides
          bootstrap: { groups: ["admins"] },
        },
        metrics: { host: "127.0.0.1", port: 0 },
        console: {
          listen: `127.0.0.1:${options.consolePort ?? 0}`,
          oidc: { client_id: DEMO_CONSOLE_CLIENT },
        },
      },
      dir,
    );
    const control: RunningControlPlane = await startControlPlane(controlConfig, {
      logger: logger.child({ plane: "control" }),
    });
    stops.push(() => control.stop());
    // The console logs in with the demo issuer: a public browser client whose redirect is the console.
    const consoleUrl = control.console?.url ?? "";
    if (consoleUrl) oidc.registerWebClient(DEMO_CONSOLE_CLIENT, [`${consoleUrl}callback`]);
    oidc.addUsers(Object.values(DEMO_USERS));
    await control.sync();

    step("data planes: eu and us");
    const secrets = join(dir, "secrets");
    await mkdir(secrets, { recursive: true, mode: 0o700 });
    const roles: Record<string, { password_file: string }> = {};
    for (const role of ["analyst", "app_rw", "admin"] as const) {
      const file = join(secrets, `${role}.password`);
      await writeFile(file, pg.passwords[role], { mode: 0o600 });
      roles[role] = { password_file: file };
    }
    const proxies: (RunningDataPlane & { region: string })[] = [];
    for (const region of ["eu", "us"]) {
      const config = parseDataPlaneConfig(
        {
          proxy: { id: `demo-${region}`, region, labels: { demo: "true" } },
          listen: { host: "127.0.0.1", port: 0 },
          oidc: { issuers: [{ issuer: oidc.issuer, audience: oidc.clientId }], allow_insecure_issuer: true },
          policy: { public_key_file: publicKey },
          bus: {
            servers: [nats.url],
            state_dir: join(dir, `data-plane-${region}`),
            status_interval_ms: 2_000,
          },
          upstream: { host: pg.host, port: pg.port, tls: "require", roles },
          metrics: { host: "127.0.0.1", port: 0 },
        },
        dir,
      );
      const proxy = await startDataPlane(config, { logger: logger.child({ plane: "data", region }) });
      stops.push(() => proxy.stop());
      proxies.push(Object.assign(proxy, { region }));
    }
    await until(
      "both data planes to load the policy",
      () => proxies.every((p) => p.policy.current()),
      30_000,
    );

    const tokenServer: Server = createServer((req, res) => {
      const user = /^\/token\/([a-z]+)$/.exec(req.url ?? "")?.[1];
      const claims = user ? DEMO_USERS[user] : undefined;
      if (!claims) {
        res
          .writeHead(404, { "content-type": "text/plain" })
          .end(`unknown demo user; try ${Object.keys(DEMO_USERS).join(", ")}\n`);
        return;
      }
      oidc.token(claims).then(
        (token) => res.writeHead(200, { "content-type": "text/plain" }).end(`${token}\n`),
        (err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${err.message}\n`),
      );
    });
    await new Promise<void>((resolve) => tokenServer.listen(0, "127.0.0.1", () => resolve()));
    stops.push(() => new Promise<void>((resolve) => tokenServer.close(() => resolve())));
    const tokenPort = (tokenServer.address() as { port: number }).port;

    const env: DemoEnvironment = {
      proxies: proxies.map((p) => ({
        region: p.region,
        host: p.host,
        port: p.port,
        metrics: `http://127.0.0.1:${p.metricsPort}/metrics`,
      })),
      admin: control.admin.address,
      admin_ca: control.adminTls.certFile ?? "",
      admin_user: "carol",
      console: consoleUrl,
      users: Object.keys(DEMO_USERS),
      issuer: oidc.issuer,
      client_id: oidc.clientId,
      token_endpoint: `http://127.0.0.1:${tokenPort}/token/`,
      control_plane_metrics: control.metricsPort
        ? `http://127.0.0.1:${control.metricsPort}/metrics`
        : undefined,
      nats: nats.url,
      postgres: { host: pg.host, port: pg.port },
    };
    const envFile = join(dir, "env.json");
    await writeFile(envFile, `${JSON.stringify(env, null, 2)}\n`);
    return { env, envFile, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
