/**
 * The fleet view: the latest status report of every data plane (from `portcullis.status.>`), in
 * memory for reads and in SQLite so it survives a restart. A data plane is `live` when heard from
 * within the staleness window, and `converged` when it runs the active revision.
 */
import type { StatusReport } from "../../proto/bus.js";
import type { DataPlaneRecord, FleetRepository } from "../store/index.js";

export interface DataPlaneView extends DataPlaneRecord {
  live: boolean;
  converged: boolean;
}

export interface FleetSummary {
  activeRevision: string | undefined;
  dataPlanes: DataPlaneView[];
  live: number;
  converged: number;
  /** Every live data plane runs the active revision, and there is at least one. */
  allConverged: boolean;
}

export interface FleetViewOptions {
  repository: FleetRepository;
  /** A data plane not heard from for this long is not live. */
  staleAfterMs: number;
  now?: () => number;
}

export class FleetView {
  readonly #repository: FleetRepository;
  readonly #staleAfterMs: number;
  readonly #now: () => number;
  readonly #planes = new Map<string, DataPlaneRecord>();
  readonly #listeners = new Set<(record: DataPlaneRecord) => void>();

  constructor(options: FleetViewOptions) {
    this.#repository = options.repository;
    this.#staleAfterMs = options.staleAfterMs;
    this.#now = options.now ?? Date.now;
    for (const record of this.#repository.list()) this.#planes.set(record.id, record);
  }

  /** Records a report as received now. */
  record(report: StatusReport): DataPlaneRecord {
    const record = this.#repository.upsert(report, new Date(this.#now()).toISOString());
    this.#planes.set(record.id, record);
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch {
        // listeners are told, they do not get a say
      }
    }
    return record;
  }

  /** Called after every report; returns a function removing the listener. */
  onReport(listener: (record: DataPlaneRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get(id: string): DataPlaneRecord | undefined {
    return this.#planes.get(id);
  }

  summary(activeRevision: string | undefined, options: { includeStale?: boolean } = {}): FleetSummary {
    const now = this.#now();
    const views: DataPlaneView[] = [...this.#planes.values()]
      .map((record) => ({
        ...record,
        live: now - Date.parse(record.lastSeenAt) <= this.#staleAfterMs,
        converged: activeRevision !== undefined && record.revision === activeRevision,
      }))
      .filter((v) => options.includeStale || v.live)
      .sort((a, b) => a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
    const live = views.filter((v) => v.live);
    const converged = live.filter((v) => v.converged).length;
    return {
      activeRevision,
      dataPlanes: views,
      live: live.length,
      converged,
      allConverged: live.length > 0 && converged === live.length,
    };
  }
}
