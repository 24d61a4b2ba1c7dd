/**
 * A fleet for canary rollouts, on real components only: PostgreSQL, an OIDC provider, nats-server
 * with JetStream, a git policy repository, a control plane (auto-activation off: tests and benches
 * choose how each revision goes out) and two data planes, `dp-eu` in region eu and `dp-us` in us.
 *
 * `traffic()` keeps alice (an analyst) reading sales.customers through both data planes, so the
 * decision stream carries what the canary is judged on; it records every outcome per data plane.
 * Each data plane's loaded revisions are recorded as they change (`loaded`).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createLogger, silentLogger } from "../../common/logger.js";
import { type LocalNats, startNats } from "../../devstack/nats.js";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type AdminClient, createAdminClient, type EventMessage } from "../../proto/load.js";
import { startTestControlPlane, type TestControlPlane } from "./control-plane.js";
import { TempGitRepo } from "./git-repo.js";
import { type OidcHarness, startOidcProvider } from "./oidc.js";
import { type ProxyStack, startProxyStack, USERS } from "./proxy-stack.js";

export const CUSTOMERS = "SELECT count(*) AS n FROM sales.customers";

export interface CanaryPlane {
  id: string;
  region: string;
  stack: ProxyStack;
  /** Every revision this data plane loaded, in order. */
  loaded: string[];
  /** Every revision its watcher was told to want, in order. */
  wanted: string[];
}

export interface CanaryFleet {
  pg: LocalPostgres;
  oidc: OidcHarness;
  nats: LocalNats;
  repo: TempGitRepo;
  cp: TestControlPlane;
  admin: AdminClient;
  eu: CanaryPlane;
  us: CanaryPlane;
  /** Alice's statements through both data planes until the returned stop() is called. */
  traffic(): Traffic;
  /**
   * Stops the control plane and starts it again on the same data dir (store, signing key) and NATS;
   * `cp` and `admin` then point at the new one.
   */
  restartControlPlane(): Promise<void>;
  /** Admin events of the given kinds as they come (stop with `cancel`). */
  watchEvents(kinds: string[]): Promise<{ events: EventMessage[]; cancel(): void }>;
  stop(): Promise<void>;
}

export interface Traffic {
  /** Outcomes per data plane id: "ok" or the SQLSTATE. */
  outcomes: Record<string, string[]>;
  stop(): Promise<void>;
}

export interface CanaryFleetOptions {
  canary: {
    bake_seconds: number;
    max_deny_rate_increase?: number;
    max_errors?: number;
    min_decisions?: number;
    check_interval_ms?: number;
  };
}

export async function startCanaryFleet(options: CanaryFleetOptions): Promise<CanaryFleet> {
  const scratch = await mkdtemp(join(tmpdir(), "portcullis-canary-"));
  const [pgServer, oidc, nats] = await Promise.all([
    startPostgres(),
    startOidcProvider({ defaultLifetimeSeconds: 1800 }),
    startNats(),
  ]);
  const repo = await TempGitRepo.withDefaultPolicies();
  const startCp = (dataDir?: string) =>
    startTestControlPlane({
      natsUrl: nats.url,
      repo: repo.dir,
      ...(dataDir ? { dataDir } : {}),
      logger: process.env.PORTCULLIS_CANARY_LOG ? createLogger("control-plane") : silentLogger,
      config: {
        pipeline: { auto_activate: false },
        rollout: { canary: { check_interval_ms: 100, min_decisions: 5, ...options.canary } },
        decisions: { batch_size: 16 },
      },
    });
  let cp = await startCp();
  let admin = createAdminClient(cp.admin.address);
  await admin.waitForReady(10_000);
  await cp.sync();
  await admin.ActivateBundle({ revision: await repo.head(), reason: "first", canary: "" });

  const startPlane = async (id: string, region: string): Promise<CanaryPlane> => {
    const stack = await startProxyStack({
      pg: pgServer,
      oidc,
      config: {
        proxy: { id, region },
        listen: { host: "127.0.0.1", port: 0 },
        policy: { public_key_file: cp.publicKeyFile },
        bus: { servers: [nats.url], state_dir: join(scratch, id), status_interval_ms: 200 },
      },
    });
    const plane: CanaryPlane = { id, region, stack, loaded: [], wanted: [] };
    stack.proxy.watcher?.onChange((state) => {
      if (state.revision && plane.loaded.at(-1) !== state.revision) plane.loaded.push(state.revision);
      if (state.wantedRevision && plane.wanted.at(-1) !== state.wantedRevision)
        plane.wanted.push(state.wantedRevision);
    });
    return plane;
  };
  const eu = await startPlane("dp-eu", "eu");
  const us = await startPlane("dp-us", "us");
  const token = await oidc.token(USERS.alice, { lifetimeSeconds: 1800 });

  const traffic = (): Traffic => {
    const outcomes: Record<string, string[]> = { [eu.id]: [], [us.id]: [] };
    let running = true;
    const loops = [eu, us].map(async (plane) => {
      const client = new pg.Client({
        host: "127.0.0.1",
        port: plane.stack.port,
        user: USERS.alice.email as string,
        password: token,
        database: "app",
        ssl: { rejectUnauthorized: false },
      });
      client.on("error", () => {});
      await client.connect();
      try {
        while (running) {
          try {
            await client.query(CUSTOMERS);
            outcomes[plane.id]!.push("ok");
          } catch (err) {
            outcomes[plane.id]!.push((err as { code?: string }).code ?? "error");
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await client.end().catch(() => {});
      }
    });
    return {
      outcomes,
      async stop() {
        running = false;
        await Promise.all(loops);
      },
    };
  };

  const watchEvents = async (kinds: string[]) => {
    const events: EventMessage[] = [];
    const stream = admin.watchEvents({ kinds });
    await new Promise<void>((resolve, reject) => {
      stream.once("metadata", () => resolve());
      stream.once("error", reject);
    });
    stream.on("data", (e: EventMessage) => events.push(e));
    stream.on("error", () => {});
    return { events, cancel: () => stream.cancel() };
  };

  const fleet: CanaryFleet = {
    pg: pgServer,
    oidc,
    nats,
    repo,
    cp,
    admin,
    eu,
    us,
    traffic,
    watchEvents,
    async restartControlPlane() {
      admin.close();
      await cp.stop();
      cp = await startCp(cp.dataDir);
      admin = createAdminClient(cp.admin.address);
      await admin.waitForReady(10_000);
      fleet.cp = cp;
      fleet.admin = admin;
    },
    async stop() {
      admin.close();
      for (const plane of [eu, us]) await plane.stack.stop().catch(() => {});
      await cp.destroy().catch(() => {});
      await repo.destroy().catch(() => {});
      await nats.destroy().catch(() => {});
      await oidc.stop().catch(() => {});
      await pgServer.stop().catch(() => {});
      await rm(scratch, { recursive: true, force: true });
    },
  };
  return fleet;
}
