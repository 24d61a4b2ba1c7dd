/**
 * PgBouncer as the benchmark's baseline pooler: found on the machine or installed from the system
 * packages, then run on a free port in session mode with client TLS and SCRAM, in front of the same
 * PostgreSQL the other targets use.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { generate } from "selfsigned";
import { freePort, portOpen } from "../../devstack/ports.js";
import type { LocalPostgres } from "../../devstack/postgres.js";
import { Service } from "../../devstack/process.js";

const run = promisify(execFile);

/** A failure the benchmark reports in one line and stops on. */
export class BenchError extends Error {}

function onPath(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin"]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function aptInstall(pkg: string): Promise<boolean> {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => run("apt-get", ["install", "-y", "-qq", pkg], { env, timeout: 300_000 });
  try {
    await install();
    return true;
  } catch {
    // the package lists may be missing or stale: refresh once and try again
    try {
      await run("apt-get", ["update", "-qq"], { env, timeout: 300_000 });
      await install();
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * The pgbouncer binary: PORTCULLIS_PGBOUNCER, then PATH (and sbin), else installed with apt-get when
 * running as root on a Debian-like machine. Throws BenchError with one line when it cannot be had.
 */
export async function ensurePgbouncer(
  say: (line: string) => void,
): Promise<{ path: string; version: string }> {
  let path = process.env.PORTCULLIS_PGBOUNCER ?? onPath("pgbouncer");
  if (path && !existsSync(path)) throw new BenchError(`PORTCULLIS_PGBOUNCER=${path} does not exist`);
  if (!path) {
    if (!isRoot() || !onPath("apt-get")) {
      throw new BenchError(
        "pgbouncer is missing: install it (Debian: apt-get install pgbouncer) or set PORTCULLIS_PGBOUNCER to its path",
      );
    }
    say("pgbouncer is missing: installing it from the system packages (apt-get install pgbouncer)…");
    path = (await aptInstall("pgbouncer")) ? onPath("pgbouncer") : undefined;
    if (!path) {
      throw new BenchError(
        "pgbouncer is missing and apt-get install pgbouncer failed: install pgbouncer and run the benchmark again",
      );
    }
  }
  const { stdout } = await run(path, ["--version"]);
  const version = /PgBouncer (\S+)/i.exec(stdout)?.[1] ?? stdout.trim().split("\n")[0] ?? "unknown";
  return { path, version };
}

/** Programs that refuse to run as root (postgres, pgbouncer) run as the `postgres` system user then. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (!isRoot()) return [command, args];
  return ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", command, ...args]];
}

export interface RunningPgbouncer {
  port: number;
  /** CPU time pgbouncer has used so far, in microseconds (from /proc), or null where unavailable. */
  cpuMicros(): number | null;
  /** How pgbouncer authenticates clients and reaches the server, for the report. */
  description: string;
  stop(): Promise<void>;
}

/**
 * Starts pgbouncer for `role` on database `pg.database`:
 * - session pooling (a client keeps its server connection, as with Portcullis);
 * - client TLS required, with a throwaway ECDSA P-256 certificate (what Portcullis makes for itself);
 * - clients authenticate with SCRAM-SHA-256 against the role's SCRAM secret read from pg_authid, and
 *   pgbouncer logs in to the server with the keys that exchange yields (no plain password anywhere);
 * - server side TLS required (`server_tls_sslmode = require`), like Portcullis's `upstream.tls: require`.
 */
export async function startPgbouncer(
  binary: string,
  pg: LocalPostgres,
  role: string,
): Promise<RunningPgbouncer> {
  const secret = await pg.psql(`SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = '${role}'`);
  if (!secret.startsWith("SCRAM-SHA-256$")) throw new BenchError(`role ${role} has no SCRAM secret`);
  const dir = await mkdtemp(join(tmpdir(), "portcullis-bench-pgbouncer-"));
  const port = await freePort();
  const cert = await generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    algorithm: "sha256",
    extensions: [
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
        ],
      },
    ],
  });
  await writeFile(join(dir, "server.crt"), cert.cert);
  await writeFile(join(dir, "server.key"), cert.private, { mode: 0o600 });
  await writeFile(join(dir, "userlist.txt"), `"${role}" "${secret}"\n`, { mode: 0o600 });
  const ini = [
    "[databases]",
    `${pg.database} = host=${pg.host} port=${pg.port} dbname=${pg.database}`,
    "",
    "[pgbouncer]",
    `listen_addr = ${pg.host}`,
    `listen_port = ${port}`,
    "unix_socket_dir =",
    "pool_mode = session",
    "max_client_conn = 200",
    "default_pool_size = 40",
    "auth_type = scram-sha-256",
    `auth_file = ${join(dir, "userlist.txt")}`,
    "client_tls_sslmode = require",
    `client_tls_cert_file = ${join(dir, "server.crt")}`,
    `client_tls_key_file = ${join(dir, "server.key")}`,
    "server_tls_sslmode = require",
    "ignore_startup_parameters = extra_float_digits",
    // Portcullis runs with a silent logger in the benchmark: no per-connection log lines here either
    "log_connections = 0",
    "log_disconnections = 0",
    "",
  ].join("\n");
  await writeFile(join(dir, "pgbouncer.ini"), ini);
  if (isRoot()) await run("chown", ["-R", "postgres:postgres", dir]);

  const [command, args] = asServerUser(binary, [join(dir, "pgbouncer.ini")]);
  const logFile = join(dir, "pgbouncer.log");
  let service: Service;
  try {
    service = await Service.start({
      name: "pgbouncer",
      command,
      args,
      logFile,
      readyTimeoutMs: 15_000,
      ready: () => portOpen(port, pg.host),
    });
  } catch (err) {
    const log = existsSync(logFile) ? readFileSync(logFile, "utf8").trim().split("\n").slice(-3) : [];
    await rm(dir, { recursive: true, force: true });
    throw new BenchError(`pgbouncer did not start: ${(err as Error).message} ${log.join(" | ")}`);
  }
  const pid = service.pid;
  return {
    port,
    cpuMicros: () => (pid === undefined ? null : processCpuMicros(pid)),
    description:
      "session pooling; client TLS required (ECDSA P-256); SCRAM-SHA-256 with the role's secret from pg_authid; server TLS required",
    async stop() {
      await service.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** utime + stime of a process from /proc/<pid>/stat, in microseconds (Linux; null elsewhere). */
export function processCpuMicros(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the command name (which may hold spaces) start at ") "; utime and stime are 14 and 15
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1_000_000) / CLOCK_TICKS : null;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every mainstream Linux. */
const CLOCK_TICKS = 100;
