/**
 * Reading what pgbench prints at the end of a run. Only the lines the benchmark relies on are parsed;
 * anything missing is reported as missing rather than guessed.
 */

export interface PgbenchSummary {
  /** Transactions per second; with -C pgbench counts the reconnections in (that is the point of -C). */
  tps: number;
  /** Average latency per transaction in milliseconds. */
  latencyMs: number;
  /** Transactions actually processed. */
  transactions: number;
  /** "number of failed transactions" (pgbench 15+); null when this pgbench does not print it. */
  failed: number | null;
  /** "average connection time" (printed with -C), in milliseconds. */
  connectionMs: number | null;
}

function numberAfter(output: string, pattern: RegExp): number | null {
  const match = pattern.exec(output);
  if (!match?.[1]) return null;
  const value = Number(match[1]);
  return Number.isFinite(value) ? value : null;
}

/** Parses pgbench's closing report; throws with the reason when a required number is missing. */
export function parsePgbenchOutput(output: string): PgbenchSummary {
  const tps = numberAfter(output, /^tps = ([\d.]+)/m);
  const latencyMs = numberAfter(output, /^latency average = ([\d.]+) ms/m);
  const transactions = numberAfter(output, /^number of transactions actually processed: (\d+)/m);
  if (tps === null) throw new Error("pgbench printed no tps line");
  if (latencyMs === null) throw new Error("pgbench printed no latency average line");
  if (transactions === null) throw new Error("pgbench printed no transaction count");
  return {
    tps,
    latencyMs,
    transactions,
    failed: numberAfter(output, /^number of failed transactions: (\d+)/m),
    connectionMs: numberAfter(output, /^average connection time = ([\d.]+) ms/m),
  };
}
