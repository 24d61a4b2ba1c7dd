import type { Command } from "commander";
import { createLogger } from "../common/logger.js";
import { ConfigError, loadDataPlaneConfig } from "../data-plane/config.js";
import { startDataPlane } from "../data-plane/main.js";

/** `portcullis data-plane --config FILE`: one proxy, until SIGINT/SIGTERM (then a graceful stop). */
export function registerDataPlaneCommand(program: Command): void {
  program
    .command("data-plane")
    .description("run a data-plane proxy (PostgreSQL wire protocol, OIDC login, Rego on every statement)")
    .requiredOption("-c, --config <file>", "data-plane YAML configuration")
    .option("--bundle <file>", "a signed policy bundle on local disk (overrides policy.bundle)")
    .action(async (opts: { config: string; bundle?: string }) => {
      let config: ReturnType<typeof loadDataPlaneConfig>;
      try {
        config = loadDataPlaneConfig(opts.config);
        if (opts.bundle) config.policy.bundle = opts.bundle;
      } catch (err) {
        if (err instanceof ConfigError) {
          console.error(err.message);
          process.exit(2);
        }
        throw err;
      }
      const logger = createLogger("portcullis-data-plane").child({ proxy: config.proxy.id });
      const running = await startDataPlane(config, { logger });
      logger.info(
        { port: running.port, metricsPort: running.metricsPort, revision: running.policy.revision },
        "data plane ready",
      );
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, "stopping: ending sessions with 57P01");
        await running.stop();
        process.exit(0);
      };
      process.on("SIGINT", () => void stop("SIGINT"));
      process.on("SIGTERM", () => void stop("SIGTERM"));
    });
}
