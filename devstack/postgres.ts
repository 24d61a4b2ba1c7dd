import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generate } from "selfsigned";
import { projectRoot, toolchain } from "../common/toolchain.js";
import { freePort } from "./ports.js";
import { Service } from "./process.js";

const run = promisify(execFile);

/** The roles the sample schema creates, with their passwords (generated per template). */
export interface SampleRoles {
  postgres: string;
  analyst: string;
  app_rw: string;
  admin: string;
  legacy_md5: string;
}

export interface LocalPostgres {
  host: string;
  port: number;
  database: string;
  passwords: SampleRoles;
  dataDir: string;
  /** PEM of the server's self-signed certificate (ssl=on). */
  serverCert: string;
  /** A libpq-style URL for a role (default the superuser). */
  url(role?: keyof SampleRoles, database?: string): string;
  /** Runs SQL through the real `psql` as a role over TCP (SCRAM). Returns stdout (unaligned, tuples only). */
  psql(sql: string, role?: keyof SampleRoles): Promise<string>;
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /**
   * Stops the server (fast shutdown: sessions get 57P01; `crash`: every process SIGKILLed) and starts
   * it again on the same port and data directory.
   */
  restart(options?: { crash?: boolean }): Promise<void>;
}

export interface StartPostgresOptions {
  maxConnections?: number;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  /** Parent folder for the cluster (default: the OS temp dir). */
  baseDir?: string;
}

/** Postgres refuses to run as root: run its programs as the `postgres` system user then. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", command, ...args]];
}

function serverUserIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line)
    throw new Error("running as root needs a `postgres` system user to run the server (install postgresql)");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

async function chownRecursive(path: string): Promise<void> {
  if (!serverUserIds()) return;
  await run("chown", ["-R", "postgres:postgres", path]);
}

function bin(name: string): string {
  return join(toolchain().pgBinDir, name);
}

function serverArgs(dataDir: string, port: number, options: StartPostgresOptions): string[] {
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: dataDir,
    max_connections: String(options.maxConnections ?? 200),
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    ssl: "on",
    ssl_cert_file: join(dataDir, "server.crt"),
    ssl_key_file: join(dataDir, "server.key"),
    password_encryption: "scram-sha-256",
    log_min_messages: "warning",
    ...options.settings,
  };
  const args = ["-D", dataDir, "-p", String(port)];
  for (const [k, v] of Object.entries(settings)) args.push("-c", `${k}=${v}`);
  return args;
}

async function psqlAsSuperuserSocket(dataDir: string, port: number, args: string[]): Promise<string> {
  const [cmd, full] = asServerUser(toolchain().psql, [
    "-X",
    "-q",
    "-h",
    dataDir,
    "-p",
    String(port),
    "-U",
    "postgres",
    ...args,
  ]);
  const { stdout } = await run(cmd, full, { env: { ...process.env, PGCONNECT_TIMEOUT: "5" } });
  return stdout;
}

/**
 * A cluster initialized and seeded once per (server version, sample schema), then copied for each
 * instance: initdb + seeding costs seconds, a copy costs milliseconds.
 */
async function template(): Promise<string> {
  const schema = readFileSync(join(projectRoot(), "deploy", "sample", "schema.sql"), "utf8");
  const { stdout: version } = await run(bin("postgres"), ["--version"]);
  const key = createHash("sha256").update(version).update(schema).update("v1").digest("hex").slice(0, 12);
  const dir = join(tmpdir(), `portcullis-pg-template-${key}-${userInfo().uid}`);
  if (existsSync(join(dir, "READY"))) return dir;

  const work = await mkdtemp(join(tmpdir(), "portcullis-pg-init-"));
  const dataDir = join(work, "data");
  const passwords: SampleRoles = {
    postgres: randomBytes(12).toString("hex"),
    analyst: randomBytes(12).toString("hex"),
    app_rw: randomBytes(12).toString("hex"),
    admin: randomBytes(12).toString("hex"),
    legacy_md5: randomBytes(12).toString("hex"),
  };
  writeFileSync(join(work, "pwfile"), passwords.postgres);
  await chownRecursive(work);
  const [initCmd, initArgs] = asServerUser(bin("initdb"), [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--pwfile",
    join(work, "pwfile"),
    "-E",
    "UTF8",
    "--locale=C",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--no-sync",
  ]);
  await run(initCmd, initArgs);
  writeFileSync(
    join(dataDir, "pg_hba.conf"),
    [
      "# local socket: trust, only the harness itself uses it (the folder is private to the cluster)",
      "local all all trust",
      "host all legacy_md5 127.0.0.1/32 md5",
      "host all all 127.0.0.1/32 scram-sha-256",
      "host all all ::1/128 scram-sha-256",
      "",
    ].join("\n"),
  );
  const cert = await generate([{ name: "commonName", value: "localhost" }], {
    keySize: 2048,
    algorithm: "sha256",
    extensions: [
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
        ],
      },
    ],
  });
  writeFileSync(join(dataDir, "server.crt"), cert.cert);
  writeFileSync(join(dataDir, "server.key"), cert.private, { mode: 0o600 });
  writeFileSync(join(dataDir, "portcullis-passwords.json"), JSON.stringify(passwords));

  const schemaCopy = join(work, "schema.sql");
  writeFileSync(schemaCopy, schema);
  await chownRecursive(work);

  const port = await freePort();
  const service = await startServer(dataDir, port, {}, join(work, "init.log"));
  try {
    const vars = Object.entries(passwords).flatMap(([role, pw]) => ["-v", `${role}_password=${pw}`]);
    await psqlAsSuperuserSocket(dataDir, port, ["-d", "postgres", ...vars, "-f", schemaCopy]);
  } finally {
    await service.stop();
  }
  writeFileSync(join(dataDir, "READY"), "");
  try {
    renameSync(dataDir, dir);
  } catch (err) {
    // another worker made the same template first: use theirs
    if (!existsSync(join(dir, "READY"))) throw err;
  }
  rmSync(work, { recursive: true, force: true });
  return dir;
}

async function startServer(dataDir: string, port: number, options: StartPostgresOptions, logFile: string) {
  const [cmd, args] = asServerUser(bin("postgres"), serverArgs(dataDir, port, options));
  return Service.start({
    name: "postgres",
    command: cmd,
    args,
    logFile,
    stopSignal: "SIGINT",
    readyTimeoutMs: 30_000,
    ready: async () => {
      const [c, a] = asServerUser(bin("pg_isready"), ["-q", "-h", dataDir, "-p", String(port)]);
      return run(c, a).then(
        () => true,
        () => false,
      );
    },
  });
}

/** Starts a throwaway PostgreSQL cluster with the sample schema on a free port (SCRAM over TCP, ssl=on). */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<LocalPostgres> {
  const templateDir = await template();
  const base = await mkdtemp(join(options.baseDir ?? tmpdir(), "portcullis-pg-"));
  const dataDir = join(base, "data");
  mkdirSync(dataDir);
  await run("cp", ["-a", `${templateDir}/.`, dataDir]);
  rmSync(join(dataDir, "postmaster.pid"), { force: true });
  await chownRecursive(base);
  const port = await freePort();
  let service = await startServer(dataDir, port, options, join(base, "postgres.log"));
  const passwords = JSON.parse(
    await readFile(join(dataDir, "portcullis-passwords.json"), "utf8"),
  ) as SampleRoles;
  const serverCert = await readFile(join(dataDir, "server.crt"), "utf8");
  const url = (role: keyof SampleRoles = "postgres", database = "app") =>
    `postgresql://${role}:${encodeURIComponent(passwords[role])}@127.0.0.1:${port}/${database}`;
  const cleanup = () => rmSync(base, { recursive: true, force: true });
  return {
    host: "127.0.0.1",
    port,
    database: "app",
    passwords,
    dataDir,
    serverCert,
    url,
    async psql(sql, role = "postgres") {
      const { stdout } = await run(
        toolchain().psql,
        ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url(role), "-c", sql],
        { env: { ...process.env, PGSSLMODE: "disable", PGCONNECT_TIMEOUT: "5" } },
      );
      return stdout.trim();
    },
    async stop() {
      await service.stop();
      cleanup();
    },
    async kill() {
      await service.kill();
      cleanup();
    },
    async restart(how = {}) {
      if (how.crash) await service.kill();
      else await service.stop();
      service = await startServer(dataDir, port, options, join(base, "postgres.log"));
    },
  };
}
