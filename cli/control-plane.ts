import type { Command } from "commander";
import { createLogger } from "../common/logger.js";
import { ControlPlaneConfigError, loadControlPlaneConfig } from "../control-plane/config.js";
import { startControlPlane } from "../control-plane/control-plane.js";

/**
 * `portcullis control-plane --config FILE`: the control plane (policy source → checked, tested,
 * compiled, signed bundles → SQLite → NATS; admin gRPC API), until SIGINT/SIGTERM.
 */
export function registerControlPlaneCommand(program: Command): Command {
  return program
    .command("control-plane")
    .description(
      "run the control plane: build signed bundles from the policy repository and distribute them over NATS",
    )
    .requiredOption("-c, --config <file>", "control-plane YAML configuration")
    .action(async (opts: { config: string }) => {
      let config: ReturnType<typeof loadControlPlaneConfig>;
      try {
        config = loadControlPlaneConfig(opts.config);
      } catch (err) {
        if (err instanceof ControlPlaneConfigError) {
          console.error(err.message);
          process.exit(2);
        }
        throw err;
      }
      const logger = createLogger("portcullis-control-plane");
      const running = await startControlPlane(config, { logger });
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, "stopping the control plane");
        await running.stop();
        process.exit(0);
      };
      process.on("SIGINT", () => void stop("SIGINT"));
      process.on("SIGTERM", () => void stop("SIGTERM"));
    });
}
