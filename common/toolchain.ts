import { existsSync, readFileSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Where the outside programs Portcullis drives live: recorded by `make setup`, overridable by env. */
export interface Toolchain {
  opa: string;
  natsServer: string;
  pgBinDir: string;
  psql: string;
  pgbench: string;
  /** Headless browser for the console's tests (Debian's chromium). */
  chromium: string;
  /** Renders deploy/kubernetes (built by `make setup` with go install). */
  kustomize: string;
  /** Validates the rendered manifests against `k8sSchemas`. */
  kubeconform: string;
  /** kubeconform's schema folder, made offline from the Kubernetes OpenAPI document. */
  k8sSchemas: string;
}

export class ToolchainError extends Error {}

/** The repository root (the folder holding package.json), from source or from dist/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new ToolchainError("cannot find the Portcullis project root");
    dir = parent;
  }
  return dir;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

let recordedCache: Partial<Toolchain> | undefined;

function recorded(): Partial<Toolchain> {
  if (!recordedCache) {
    const file = join(projectRoot(), ".portcullis", "toolchain.json");
    recordedCache = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  }
  return recordedCache!;
}

function pick(env: string, key: keyof Toolchain, fallback?: () => string | undefined): string {
  const value = process.env[env] ?? recorded()[key] ?? fallback?.();
  if (!value || !existsSync(value)) {
    throw new ToolchainError(
      `${key} not found (${value ?? "not recorded"}): run \`make setup\`, or set ${env} to its path`,
    );
  }
  return resolve(value);
}

/**
 * Reads `.portcullis/toolchain.json` written by `make setup`; each entry can be overridden with
 * PORTCULLIS_OPA, PORTCULLIS_NATS_SERVER, PORTCULLIS_PG_BINDIR, PORTCULLIS_PSQL, PORTCULLIS_PGBENCH, PORTCULLIS_CHROMIUM,
 * PORTCULLIS_KUSTOMIZE, PORTCULLIS_KUBECONFORM, PORTCULLIS_K8S_SCHEMAS.
 * Each tool is looked up only when asked for, and a missing one fails with one clear line.
 */
export function toolchain(): Toolchain {
  return {
    get opa() {
      return pick("PORTCULLIS_OPA", "opa", () => onPath("opa"));
    },
    get natsServer() {
      return pick("PORTCULLIS_NATS_SERVER", "natsServer", () => onPath("nats-server"));
    },
    get pgBinDir() {
      return pick("PORTCULLIS_PG_BINDIR", "pgBinDir");
    },
    get psql() {
      return pick("PORTCULLIS_PSQL", "psql", () => onPath("psql"));
    },
    get pgbench() {
      return pick("PORTCULLIS_PGBENCH", "pgbench", () => onPath("pgbench"));
    },
    get chromium() {
      return pick("PORTCULLIS_CHROMIUM", "chromium", () => onPath("chromium") ?? onPath("chromium-browser"));
    },
    get kustomize() {
      return pick("PORTCULLIS_KUSTOMIZE", "kustomize");
    },
    get kubeconform() {
      return pick("PORTCULLIS_KUBECONFORM", "kubeconform");
    },
    get k8sSchemas() {
      return pick("PORTCULLIS_K8S_SCHEMAS", "k8sSchemas");
    },
  };
}
