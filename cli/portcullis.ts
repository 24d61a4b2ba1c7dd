#!/usr/bin/env node
import { Command } from "commander";
import { registerAdminCommands } from "./admin.js";
import { registerBundleCommands } from "./bundle.js";
import { registerControlPlaneCommand } from "./control-plane.js";
import { registerDataPlaneCommand } from "./data-plane.js";
import { registerDemoCommands } from "./demo.js";
import { registerLoginCommands } from "./login.js";

const program = new Command()
  .name("portcullis")
  .description("Database access gateway: OIDC identity, Rego decisions on every connection and statement")
  .version("0.1.0");

registerDataPlaneCommand(program);
registerControlPlaneCommand(program);
registerAdminCommands(program);
registerBundleCommands(program);
registerDemoCommands(program);
registerLoginCommands(program);

program.parseAsync(process.argv).catch((err: Error & { exitCode?: number }) => {
  console.error(`portcullis: ${err.message}`);
  process.exit(typeof err.exitCode === "number" && err.exitCode > 0 ? err.exitCode : 1);
});
