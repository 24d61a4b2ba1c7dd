/**
 * A worker thread holding a share of a benchmark's client sessions (bench/lib/pg-session.ts), so
 * the clients' own work (TLS, socket events) runs on more than one core, as many separate clients
 * would. Messages in: `{type: "open", targets: [{port, count}], token, user, tls}`. Out:
 * `{type: "opened"}` once every session is logged in (or `{type: "error", message}`), then
 * `{type: "ended", ends}` once every socket has closed. `{type: "report"}` asks for
 * `{type: "report", open, ended, queries, errors}` over every session this worker opened.
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
  /** The sessions run `SELECT 1` this often (default: idle). */
  queryEveryMs?: number;
}

export interface ReportRequest {
  type: "report";
}

export type WorkerMessage =
  | { type: "opened" }
  | { type: "error"; message: string }
  | { type: "ended"; ends: BenchSessionEnd[] }
  | { type: "report"; open: number; ended: number; queries: number; errors: number };

const held: { session: BenchSession; ended: boolean }[] = [];

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
          ...(request.queryEveryMs !== undefined ? { queryEveryMs: request.queryEveryMs } : {}),
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

parentPort?.on("message", (request: OpenRequest | ReportRequest) => {
  if (request.type === "report") {
    let queries = 0;
    let errors = 0;
    for (const h of held) {
      const s = h.session.stats();
      queries += s.queries;
      errors += s.errors;
    }
    const ended = held.filter((h) => h.ended).length;
    parentPort!.postMessage({
      type: "report",
      open: held.length - ended,
      ended,
      queries,
      errors,
    } satisfies WorkerMessage);
    return;
  }
  if (request.type !== "open") return;
  open(request).then(
    async (sessions) => {
      for (const session of sessions) {
        const entry = { session, ended: false };
        held.push(entry);
        void session.ended.then(() => {
          entry.ended = true;
        });
      }
      parentPort!.postMessage({ type: "opened" } satisfies WorkerMessage);
      const ends = await Promise.all(sessions.map((s) => s.ended));
      parentPort!.postMessage({ type: "ended", ends } satisfies WorkerMessage);
    },
    (err: Error) => parentPort!.postMessage({ type: "error", message: err.message } satisfies WorkerMessage),
  );
});
