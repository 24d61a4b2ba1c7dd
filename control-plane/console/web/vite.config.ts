import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The console's single-page app: everything bundled into dist/console-web, nothing from elsewhere.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../../../dist/console-web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
});
