import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toolchain } from "../common/toolchain.js";
import { freePort, portOpen } from "./ports.js";
import { RestartableService, Service } from "./process.js";

export interface LocalNats {
  port: number;
  url: string;
  storeDir: string;
  /** Stops the server (its JetStream store stays, so a restart keeps streams, KV and objects). */
  stop(): Promise<void>;
  /** SIGKILL, as a crash or a network cut would look to clients. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same store. */
  restart(): Promise<void>;
  readonly running: boolean;
  /** Stops it and deletes its store. */
  destroy(): Promise<void>;
}

/** Starts a real nats-server with JetStream on a free loopback port and a temp store. */
export async function startNats(options: { baseDir?: string; port?: number } = {}): Promise<LocalNats> {
  const base = await mkdtemp(join(options.baseDir ?? tmpdir(), "portcullis-nats-"));
  const storeDir = join(base, "jetstream");
  const port = options.port ?? (await freePort());
  const launch = () =>
    Service.start({
      name: "nats-server",
      command: toolchain().natsServer,
      args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir, "-n", `portcullis-test-${port}`],
      logFile: join(base, "nats.log"),
      readyTimeoutMs: 15_000,
      ready: () => portOpen(port),
    });
  const service = new RestartableService(launch);
  await service.start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    get running() {
      return service.running;
    },
    stop: () => service.stop(),
    kill: () => service.kill(),
    restart: () => service.restart(),
    async destroy() {
      await service.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}
