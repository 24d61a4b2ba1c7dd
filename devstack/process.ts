import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";

/**
 * A supervised child process for local stacks and tests: its own process group, its output kept in a
 * log file, and a watchdog that kills the whole group if this process dies without stopping it
 * (a crashed or interrupted test run leaves nothing behind).
 */
export interface ServiceOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** Resolves when the service is ready; polled until it resolves true or the timeout passes. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Signal for a graceful stop (postgres: SIGINT is "fast shutdown"). */
  stopSignal?: NodeJS.Signals;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) killGroup(child, "SIGKILL");
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Kills the process group `pgid` once `parentPid` has exited. Detached, so it outlives us. */
function startWatchdog(parentPid: number, pgid: number): void {
  const script =
    'while kill -0 "$0" 2>/dev/null; do sleep 0.5; done; kill -TERM -"$1" 2>/dev/null; sleep 3; kill -KILL -"$1" 2>/dev/null';
  const dog = spawn("sh", ["-c", script, String(parentPid), String(pgid)], {
    detached: true,
    stdio: "ignore",
  });
  dog.unref();
}

export class Service {
  private exited: Promise<void>;
  private log: WriteStream;

  private constructor(
    readonly options: ServiceOptions,
    readonly child: ChildProcess,
  ) {
    this.log = createWriteStream(options.logFile, { flags: "a" });
    // A log line lost at shutdown is no reason to crash whoever started the service.
    this.log.on("error", () => undefined);
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.exited = once(child, "exit").then(() => {
      live.delete(child);
    });
  }

  static async start(options: ServiceOptions): Promise<Service> {
    installExitHook();
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const spawnError = once(child, "error").then(([err]) => err as Error);
    live.add(child);
    if (child.pid !== undefined) startWatchdog(process.pid, child.pid);
    const service = new Service(options, child);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    let exitedEarly = false;
    void service.exited.then(() => {
      exitedEarly = true;
    });
    while (Date.now() < deadline) {
      const failed = await Promise.race([
        spawnError,
        new Promise<null>((r) => setTimeout(() => r(null), 50)),
      ]);
      if (failed) throw new Error(`${options.name}: cannot start ${options.command}: ${failed.message}`);
      if (exitedEarly) {
        throw new Error(
          `${options.name} exited during start-up (code ${child.exitCode}); see ${options.logFile}`,
        );
      }
      if (await options.ready().catch(() => false)) return service;
    }
    await service.stop();
    throw new Error(
      `${options.name} not ready after ${options.readyTimeoutMs ?? 30_000} ms; see ${options.logFile}`,
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Graceful stop, then SIGKILL after `graceMs`. Resolves when the process has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.running) {
      killGroup(this.child, this.options.stopSignal ?? "SIGTERM");
      const timer = setTimeout(() => killGroup(this.child, "SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await this.exited;
    this.closeLog();
  }

  /**
   * The child's pipes can still hold output after its exit (and its own children may keep them
   * open): they are detached from the log before it ends, so nothing is written after the end.
   */
  private closeLog(): void {
    for (const out of [this.child.stdout, this.child.stderr]) {
      if (!out) continue;
      out.unpipe(this.log);
      out.resume(); // whatever still comes is dropped, never left to fill the pipe
    }
    this.log.end();
  }

  /** Hard kill, as a crash would (fault tests). */
  async kill(): Promise<void> {
    killGroup(this.child, "SIGKILL");
    await this.exited;
    this.closeLog();
  }
}

/**
 * A service that can be stopped, killed and started again with the same options (the same port, the
 * same store): what the fault tests do to NATS nodes. `launch` starts one process of it.
 */
export class RestartableService {
  private service: Service | undefined;

  constructor(private readonly launch: () => Promise<Service>) {}

  get running(): boolean {
    return this.service?.running ?? false;
  }

  async start(): Promise<void> {
    this.service = await this.launch();
  }

  async stop(): Promise<void> {
    await this.service?.stop();
    this.service = undefined;
  }

  /** SIGKILL, as a crash or a network cut would look to clients. */
  async kill(): Promise<void> {
    await this.service?.kill();
    this.service = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
