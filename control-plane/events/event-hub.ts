/**
 * The events WatchEvents streams: session events and revocations as they are handled, fleet
 * reports, and bundle builds and activations. Sessions and revocations are pushed here by the code
 * that handles them; bundles and activations are noticed by reading the store once a second while
 * somebody watches (every path that builds or activates a bundle writes there, whoever called it).
 */
import type { Logger } from "../../common/logger.js";
import type { FleetView } from "../distribute/fleet.js";
import type { BundleRecord, ControlPlaneStore } from "../store/index.js";

export const EVENT_KINDS = [
  "bundle",
  "activation",
  "fleet",
  "session",
  "revocation",
  "canary",
  "grant",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface HubEvent {
  at: string;
  kind: EventKind;
  /** e.g. "session.started", "revocation.ack", "bundle.built". */
  type: string;
  payload: unknown;
}

export type EventListener = (event: HubEvent) => void;

export interface EventHubOptions {
  store: ControlPlaneStore;
  fleet?: FleetView;
  logger: Logger;
  /** How often the store is read for bundle and activation changes while somebody watches. */
  pollMs?: number;
}

function bundleSummary(b: BundleRecord): Record<string, unknown> {
  return {
    revision: b.revision,
    status: b.status,
    source: b.source,
    source_commit: b.sourceCommit ?? "",
    commit_message: b.commitMessage ?? "",
    requested_by: b.requestedBy ?? "",
    created_at: b.createdAt,
    finished_at: b.finishedAt ?? "",
    failed_stage: b.failedStage ?? "",
    errors: b.errors,
    tests_passed: b.testsPassed ?? 0,
  };
}

export class EventHub {
  readonly #options: EventHubOptions;
  readonly #listeners = new Map<EventListener, ReadonlySet<EventKind>>();
  #timer: NodeJS.Timeout | undefined;
  #lastActivationId = 0;
  #bundleStates = new Map<string, string>();
  #unwatchFleet: (() => void) | undefined;

  constructor(options: EventHubOptions) {
    this.#options = options;
  }

  /** Sends an event to every listener that wants its kind. */
  emit(kind: EventKind, type: string, payload: unknown): void {
    if (this.#listeners.size === 0) return;
    const event: HubEvent = { at: new Date().toISOString(), kind, type, payload };
    for (const [listener, kinds] of this.#listeners) {
      if (kinds.size > 0 && !kinds.has(kind)) continue;
      try {
        listener(event);
      } catch (err) {
        this.#options.logger.warn({ err }, "an event listener threw");
      }
    }
  }

  /** Listens to `kinds` (every kind when empty); returns the function that stops listening. */
  subscribe(kinds: readonly EventKind[], listener: EventListener): () => void {
    if (this.#listeners.size === 0) this.#startWatching();
    this.#listeners.set(listener, new Set(kinds));
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopWatching();
    };
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  stop(): void {
    this.#listeners.clear();
    this.#stopWatching();
  }

  #startWatching(): void {
    const { store, fleet } = this.#options;
    this.#lastActivationId = store.bundles.activations({ limit: 1 })[0]?.id ?? 0;
    this.#bundleStates = new Map(store.bundles.list({ limit: 50 }).map((b) => [b.revision, b.status]));
    this.#timer = setInterval(() => this.#poll(), this.#options.pollMs ?? 1_000);
    this.#timer.unref();
    this.#unwatchFleet = fleet?.onReport((record) => this.emit("fleet", "fleet.report", record));
  }

  #stopWatching(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unwatchFleet?.();
    this.#unwatchFleet = undefined;
  }

  #poll(): void {
    const { store } = this.#options;
    if (!store.open) return;
    try {
      const activations = store.bundles
        .activations({ limit: 50 })
        .filter((a) => a.id > this.#lastActivationId)
        .reverse();
      for (const a of activations) {
        this.#lastActivationId = Math.max(this.#lastActivationId, a.id);
        this.emit("activation", "activation", {
          revision: a.revision,
          previous_revision: a.previousRevision ?? "",
          activated_at: a.activatedAt,
          activated_by: a.activatedBy,
          reason: a.reason ?? "",
        });
      }
      for (const b of store.bundles.list({ limit: 50 }).reverse()) {
        const before = this.#bundleStates.get(b.revision);
        if (before === b.status) continue;
        this.#bundleStates.set(b.revision, b.status);
        if (b.status === "failed") this.emit("bundle", "bundle.failed", bundleSummary(b));
        else if (b.status === "ready" && before === undefined)
          this.emit("bundle", "bundle.built", bundleSummary(b));
        else if (b.status === "ready" && before === "building")
          this.emit("bundle", "bundle.built", bundleSummary(b));
        else if (b.status === "active" && (before === undefined || before === "building"))
          this.emit("bundle", "bundle.built", bundleSummary(b));
      }
    } catch (err) {
      this.#options.logger.warn(
        { err: (err as Error).message },
        "reading bundle events from the store failed",
      );
    }
  }
}
