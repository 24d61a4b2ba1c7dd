/**
 * A process of `make bench-fleet` holding a share of the fleet: several real data planes
 * (data-plane/main.ts `startDataPlane`, as `portcullis data-plane` runs it), each with its own
 * listener, NATS connection, bundle watcher, revocation consumer, session controls and opa-wasm
 * runtime; they share only this process's event loop. Started with child_process.fork.
 *
 * Messages in: `{type: "start", planes, common}` (may come again to grow the share), `{type: "stop"}`.
 * Out: `{type: "started", planes: [{id, port}]}`, `{type: "swap", id, revision, at}` each time a
 * data plane swaps to a revision (at: ms on the shared wall clock, performance.timeOrigin-based),
 * `{type: "error", message}`.
 */
import { join } from "node:path";
import { silentLogger } from "../../common/logger.js";
import { parseDataPlaneConfig } from "../../data-plane/config.js";
import { type RunningDataPlane, startDataPlane } from "../../data-plane/main.js";

export interface FleetCommon {
  natsUser: string;
  natsPasswordEnv: string;
  natsPassword: string;
  natsCaFile: string;
  publicKeyFile: string;
  pgHost: string;
  pgPort: number;
  rolePasswordFiles: Record<string, string>;
  oidcIssuer: string;
  oidcAudience: string;
  workDir: string;
  statusIntervalMs: number;
}

export type FleetWorkerIn =
  | { type: "start"; planes: { id: string; servers: string[] }[]; common: FleetCommon }
  | { type: "stop" };

export type FleetWorkerOut =
  | { type: "started"; planes: { id: string; port: number }[] }
  | { type: "swap"; id: string; revision: string; at: number }
  | { type: "error"; message: string };

const running: RunningDataPlane[] = [];
const send = (message: FleetWorkerOut) => process.send?.(message);
const now = () => performance.timeOrigin + performance.now();

async function startOne(
  id: string,
  servers: string[],
  common: FleetCommon,
): Promise<{ id: string; port: number }> {
  const roles = Object.fromEntries(
    Object.entries(common.rolePasswordFiles).map(([role, file]) => [role, { password_file: file }]),
  );
  const config = parseDataPlaneConfig(
    {
      proxy: { id, region: "eu" },
      listen: { host: "127.0.0.1", port: 0 },
      oidc: {
        issuers: [{ issuer: common.oidcIssuer, audience: common.oidcAudience }],
        allow_insecure_issuer: true,
      },
      policy: { public_key_file: common.publicKeyFile },
      bus: {
        servers,
        user: common.natsUser,
        password_env: common.natsPasswordEnv,
        tls: { ca_file: common.natsCaFile },
        state_dir: join(common.workDir, id),
        status_interval_ms: common.statusIntervalMs,
      },
      upstream: { host: common.pgHost, port: common.pgPort, tls: "require", roles },
    },
    common.workDir,
  );
  const plane = await startDataPlane(config, { logger: silentLogger });
  running.push(plane);
  plane.policy.onSwap((next) => send({ type: "swap", id, revision: next.revision, at: now() }));
  // the revision it started with (from disk or the first NATS read)
  if (plane.policy.revision) send({ type: "swap", id, revision: plane.policy.revision, at: now() });
  return { id, port: plane.port };
}

process.on("message", (message: FleetWorkerIn) => {
  if (message.type === "start") {
    process.env[message.common.natsPasswordEnv] = message.common.natsPassword;
    (async () => {
      const started: { id: string; port: number }[] = [];
      // a few at a time: each start replays the revocation stream and loads the bundle
      const queue = [...message.planes];
      const lane = async () => {
        for (let p = queue.shift(); p; p = queue.shift())
          started.push(await startOne(p.id, p.servers, message.common));
      };
      await Promise.all([lane(), lane(), lane()]);
      send({ type: "started", planes: started });
    })().catch((err: Error) => send({ type: "error", message: err.stack ?? err.message }));
  } else if (message.type === "stop") {
    Promise.allSettled(running.map((p) => p.stop())).finally(() => process.exit(0));
  }
});
process.on("disconnect", () => process.exit(0));
