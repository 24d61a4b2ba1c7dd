/**
 * A worker thread holding a share of a benchmark's client sessions (bench/lib/pg-session.ts), so
 * the clients' own work (TLS, socket events) runs on more than one core, as many separate clients
 * would. Messages in: `{type: "open", targets: [{port, count}], token, user, tls}`. Out:
 * `{type: "opened"}` once every session is logged in (or `{type: "error", message}`), then
 * `{type: "ended", ends}` once every socket has closed.
 */
import { parentPort } from "node:worker_threads";
import { type BenchSession, type BenchSessionEnd, openBenchSession } from "./pg-session.js";

export interface OpenRequest {
  type: "open";
  targets: { port: number; count: number }[];
  token: string;
  user: string;
  tls: boolean;
  /** Logins in flight at once. */
  parallel: number;
}

export type WorkerMessage =
  | { type: "opened" }
  | { type: "error"; message: string }
  | { type: "ended"; ends: BenchSessionEnd[] };

async function open(request: OpenRequest): Promise<BenchSession[]> {
  const tasks = request.targets.flatMap((t) =>
    Array.from(
      { length: t.count },
      () => () =>
        openBenchSession({
          host: "127.0.0.1",
          port: t.port,
          user: request.user,
          database: "app",
          password: request.token,
          tls: request.tls,
        }),
    ),
  );
  const sessions: BenchSession[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      sessions[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(request.parallel, tasks.length) }, worker));
  return sessions;
}

parentPort?.on("message", (request: OpenRequest) => {
  if (request.type !== "open") return;
  open(request).then(
    async (sessions) => {
      parentPort!.postMessage({ type: "opened" } satisfies WorkerMessage);
      const ends = await Promise.all(sessions.map((s) => s.ended));
      parentPort!.postMessage({ type: "ended", ends } satisfies WorkerMessage);
    },
    (err: Error) => parentPort!.postMessage({ type: "error", message: err.message } satisfies WorkerMessage),
  );
});
