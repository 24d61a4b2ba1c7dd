import { describe, expect, it } from "vitest";
import { parsePgbenchOutput } from "./pgbench-output.js";

const STEADY = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 10
query mode: prepared
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 181234
number of failed transactions: 0 (0.000%)
latency average = 0.662 ms
initial connection time = 41.310 ms
tps = 12082.270513 (without initial connection time)
`;

const RECONNECTING = `transaction type: <builtin: select only>
scaling factor: 10
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 3120
number of failed transactions: 2 (0.064%)
latency average = 12.821 ms
average connection time = 12.011 ms
tps = 311.981 (including reconnection times)
`;

const OLD = `transaction type: <builtin: select only>
number of transactions actually processed: 1000
latency average = 1.000 ms
tps = 8000.000000 (excluding connections establishing)
`;

describe("parsePgbenchOutput", () => {
  it("reads tps, latency, count and failures of a steady run", () => {
    expect(parsePgbenchOutput(STEADY)).toEqual({
      tps: 12082.270513,
      latencyMs: 0.662,
      transactions: 181234,
      failed: 0,
      connectionMs: null,
    });
  });

  it("reads the connection time of a -C run", () => {
    const summary = parsePgbenchOutput(RECONNECTING);
    expect(summary.tps).toBe(311.981);
    expect(summary.failed).toBe(2);
    expect(summary.connectionMs).toBe(12.011);
  });

  it("reports failures as unknown when pgbench does not print them", () => {
    expect(parsePgbenchOutput(OLD).failed).toBeNull();
  });

  it("refuses output without a tps line", () => {
    expect(() => parsePgbenchOutput("pgbench: error: connection to server failed\n")).toThrow(/tps/);
  });
});
