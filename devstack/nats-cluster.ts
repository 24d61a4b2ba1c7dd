/**
 * NATS clusters started from the shipped server configs (deploy/nats/server.conf, and
 * supercluster.conf when gateways are wanted): each region a 3-node JetStream cluster on free
 * loopback ports, with TLS from a throw-away CA (openssl) and the shipped accounts. Everything the
 * configs leave to the environment (names, ports, routes, gateways, paths, passwords) is filled in
 * here, exactly as an operator's unit file or pod spec would.
 */
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot, toolchain } from "../common/toolchain.js";
import { freePort, portOpen } from "./ports.js";
import { RestartableService, Service } from "./process.js";

// from the repository root, so it works from the sources (tests) and from dist/ (benchmarks) alike
const NATS_CONFIG_DIR = join(projectRoot(), "deploy", "nats");

/** The passwords of the shipped accounts' users (accounts.conf), for tests. */
export const CLUSTER_USERS = {
  "control-plane": "cp-secret",
  "data-plane": "dp-secret",
  operator: "op-secret",
  apps: "apps-secret",
  admin: "admin-secret",
} as const;

export type ClusterUser = keyof typeof CLUSTER_USERS;

export interface ClusterNode {
  name: string;
  region: string;
  clientPort: number;
  url: string;
  /** The server's log (appended across restarts). */
  logFile: string;
  readonly running: boolean;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** Starts it again with the same ports and store. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface LocalSupercluster {
  /** The CA that signed every server certificate (clients' `tls.ca_file`). */
  caFile: string;
  nodes: ClusterNode[];
  region(name: string): ClusterNode[];
  /** The client URLs of a region's nodes. */
  urls(region: string): string[];
  /** A NATS section for a plane's config: servers, the user's password and TLS. */
  access(user: ClusterUser, servers: string[]): Record<string, unknown>;
  destroy(): Promise<void>;
}

function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  writeFileSync(
    join(dir, "ext.cnf"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca-key.pem",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=test-nats-ca",
  ]);
  run(["req", ...ec, "-keyout", "server-key.pem", "-out", "server.csr", "-subj", "/CN=localhost"]);
  run([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca-key.pem",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ]);
  return { ca: join(dir, "ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server-key.pem") };
}

/**
 * Starts `regions` (3 nodes each by default); with more than one region, the regions are joined
 * by gateways (supercluster.conf). Resolves when every node accepts clients and the JetStream
 * meta group of every region has a leader.
 */
export async function startSupercluster(
  options: { regions?: string[]; nodesPerRegion?: number } = {},
): Promise<LocalSupercluster> {
  const regions = options.regions ?? ["eu"];
  const perRegion = options.nodesPerRegion ?? 3;
  const base = await mkdtemp(join(tmpdir(), "portcullis-nats-cluster-"));
  const tls = makeCertificates(base);
  const routeUser = "route";
  const routePassword = "route-secret";
  interface Plan {
    name: string;
    region: string;
    client: number;
    cluster: number;
    monitor: number;
    gateway: number;
  }
  const plans: Plan[] = [];
  for (const region of regions) {
    for (let i = 1; i <= perRegion; i++) {
      plans.push({
        name: `${region}-${i}`,
        region,
        client: await freePort(),
        cluster: await freePort(),
        monitor: await freePort(),
        gateway: await freePort(),
      });
    }
  }
  const routes = (region: string) =>
    `[${plans
      .filter((p) => p.region === region)
      .map((p) => `nats-route://${routeUser}:${routePassword}@127.0.0.1:${p.cluster}`)
      .join(", ")}]`;
  const gateways = `[${regions
    .map(
      (r) =>
        `{name: ${r}, urls: [${plans
          .filter((p) => p.region === r)
          .map((p) => `nats://${routeUser}:${routePassword}@127.0.0.1:${p.gateway}`)
          .join(", ")}]}`,
    )
    .join(", ")}]`;
  const config = join(NATS_CONFIG_DIR, regions.length > 1 ? "supercluster.conf" : "server.conf");
  const nodes: ClusterNode[] = plans.map((plan) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NATS_SERVER_NAME: plan.name,
      NATS_REGION: plan.region,
      NATS_HOST: "127.0.0.1",
      NATS_CLIENT_PORT: String(plan.client),
      NATS_CLUSTER_PORT: String(plan.cluster),
      NATS_MONITOR_PORT: String(plan.monitor),
      NATS_GATEWAY_PORT: String(plan.gateway),
      NATS_ROUTES: routes(plan.region),
      NATS_GATEWAYS: gateways,
      NATS_STORE_DIR: join(base, plan.name, "jetstream"),
      NATS_TLS_CERT: tls.cert,
      NATS_TLS_KEY: tls.key,
      NATS_TLS_CA: tls.ca,
      NATS_ROUTE_USER: routeUser,
      NATS_ROUTE_PASSWORD: routePassword,
      PORTCULLIS_NATS_CONTROL_PLANE_PASSWORD: CLUSTER_USERS["control-plane"],
      PORTCULLIS_NATS_DATA_PLANE_PASSWORD: CLUSTER_USERS["data-plane"],
      PORTCULLIS_NATS_OPERATOR_PASSWORD: CLUSTER_USERS.operator,
      PORTCULLIS_NATS_APPS_PASSWORD: CLUSTER_USERS.apps,
      PORTCULLIS_NATS_ADMIN_PASSWORD: CLUSTER_USERS.admin,
    };
    const launch = () =>
      Service.start({
        name: `nats-server ${plan.name}`,
        command: toolchain().natsServer,
        args: ["-c", config],
        env,
        logFile: join(base, `${plan.name}.log`),
        readyTimeoutMs: 20_000,
        ready: () => portOpen(plan.client),
      });
    const service = new RestartableService(launch);
    return {
      name: plan.name,
      region: plan.region,
      clientPort: plan.client,
      url: `tls://127.0.0.1:${plan.client}`,
      logFile: join(base, `${plan.name}.log`),
      get running() {
        return service.running;
      },
      kill: () => service.kill(),
      restart: () => service.restart(),
      stop: () => service.stop(),
      start: () => service.start(),
    } as ClusterNode & { start(): Promise<void> };
  });
  try {
    await Promise.all(nodes.map((n) => (n as ClusterNode & { start(): Promise<void> }).start()));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    throw err;
  }
  return {
    caFile: tls.ca,
    nodes,
    region: (name) => nodes.filter((n) => n.region === name),
    urls: (region) => nodes.filter((n) => n.region === region).map((n) => n.url),
    access(user, servers) {
      const env = `PORTCULLIS_TEST_NATS_${user.toUpperCase().replace(/-/g, "_")}_PASSWORD`;
      process.env[env] = CLUSTER_USERS[user];
      return { servers, user, password_env: env, tls: { ca_file: tls.ca } };
    },
    async destroy() {
      await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
      rmSync(base, { recursive: true, force: true });
    },
  };
}
