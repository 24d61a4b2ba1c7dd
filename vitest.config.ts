import { defineConfig } from "vitest/config";

// Unit tests (`*.test.ts`) sit beside the code they prove and touch no outside process.
// Integration tests (`*.int.test.ts`) start real PostgreSQL, NATS, OIDC and OPA through test/harness.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          sequence: { groupOrder: 0 },
          include: ["{cli,common,devstack,proto,control-plane,data-plane,test,bench}/**/*.test.ts"],
          exclude: ["**/*.int.test.ts", "node_modules/**", "dist/**"],
        },
      },
      {
        test: {
          name: "integration",
          sequence: { groupOrder: 1 },
          include: ["{cli,common,devstack,proto,control-plane,data-plane,test,bench}/**/*.int.test.ts"],
          exclude: ["node_modules/**", "dist/**"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: "forks",
          maxWorkers: 2,
        },
      },
    ],
  },
});
