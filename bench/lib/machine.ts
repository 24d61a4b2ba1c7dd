import { availableParallelism, cpus } from "node:os";

/** The machine block every bench result carries: cores, CPU model, Node version and what else ran on it. */
export interface BenchMachine {
  cores: number;
  cpu: string;
  node: string;
  note?: string;
}

export function benchMachine(note?: string): BenchMachine {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    node: process.version,
    ...(note !== undefined ? { note } : {}),
  };
}
