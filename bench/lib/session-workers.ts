/** The benchmark side of the session-client workers (bench/lib/session-clients.ts). */
import type { Worker } from "node:worker_threads";
import type { WorkerMessage } from "./session-clients.js";

/**
 * Asks a worker for its report over every session it opened. An "ended" message of a batch whose
 * sessions all closed may come first: the report counts it.
 */
export function askReport(w: Worker): Promise<Extract<WorkerMessage, { type: "report" }>> {
  return new Promise((resolve) => {
    const onMessage = (m: WorkerMessage) => {
      if (m.type !== "report") return;
      w.off("message", onMessage);
      resolve(m);
    };
    w.on("message", onMessage);
    w.postMessage({ type: "report" });
  });
}
