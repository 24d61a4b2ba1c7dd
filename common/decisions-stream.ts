/**
 * The JetStream stream of decision records (proto/bus.ts BUS.decisionsStream, subjects
 * `portcullis.decisions.>`), as both planes need it: a data plane creates it when it is missing (so
 * its records are kept even before any control plane has run), the control plane owns its limits
 * and updates them to its configuration.
 *
 * The stream is the buffer between the planes: records stay in it until they are older than
 * `maxAgeMs` (or it holds more than `maxBytes`), whether or not the control plane has read them, so
 * a control plane that is down for less than that loses nothing.
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import { BUS, DECISIONS_WILDCARD } from "../proto/bus.js";

export interface DecisionsStreamLimits {
  /** How long a record is kept in the stream (default 7 days). */
  maxAgeMs?: number;
  /** Largest stream size in bytes; -1 for no limit (default 1 GiB). */
  maxBytes?: number;
  /** JetStream replicas (3 on a cluster). */
  replicas?: number;
  /** The JetStream cluster the stream is created in (a region's cluster in a supercluster). */
  placementCluster?: string;
}

export const DECISIONS_STREAM_DEFAULTS = {
  maxAgeMs: 7 * 24 * 3600 * 1000,
  maxBytes: 1024 * 1024 * 1024,
  replicas: 1,
  /** Publishes retried within this window with the same record id are stored once. */
  duplicateWindowMs: 2 * 60 * 1000,
} as const;

/** JetStream API error code: stream not found. */
const STREAM_NOT_FOUND = 10059;
/** JetStream API error code: stream name already in use (a concurrent create). */
const STREAM_NAME_IN_USE = 10058;

function streamConfig(limits: DecisionsStreamLimits): Partial<StreamConfig> & { name: string } {
  return {
    name: BUS.decisionsStream,
    description: "Portcullis decision records (audit trail), read by the control plane",
    subjects: [DECISIONS_WILDCARD],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(limits.maxAgeMs ?? DECISIONS_STREAM_DEFAULTS.maxAgeMs),
    max_bytes: limits.maxBytes ?? DECISIONS_STREAM_DEFAULTS.maxBytes,
    num_replicas: limits.replicas ?? DECISIONS_STREAM_DEFAULTS.replicas,
    ...(limits.placementCluster ? { placement: { cluster: limits.placementCluster, tags: [] } } : {}),
    duplicate_window: nanos(DECISIONS_STREAM_DEFAULTS.duplicateWindowMs),
  };
}

function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

/**
 * Makes sure the stream exists. With `update`, an existing stream gets `limits` (the control
 * plane's configuration); without, an existing stream is left as it is. Returns what was done.
 */
export async function ensureDecisionsStream(
  nc: NatsConnection,
  limits: DecisionsStreamLimits = {},
  options: { update?: boolean; jsm?: JetStreamManager } = {},
): Promise<"created" | "updated" | "unchanged"> {
  const jsm = options.jsm ?? (await jetstreamManager(nc));
  const wanted = streamConfig(limits);
  let existing: StreamConfig | undefined;
  try {
    existing = (await jsm.streams.info(BUS.decisionsStream)).config;
  } catch (err) {
    if (apiCode(err) !== STREAM_NOT_FOUND) throw err;
  }
  if (!existing) {
    try {
      await jsm.streams.add(wanted);
      return "created";
    } catch (err) {
      // another plane created it at the same moment
      if (apiCode(err) !== STREAM_NAME_IN_USE) throw err;
      existing = (await jsm.streams.info(BUS.decisionsStream)).config;
    }
  }
  if (!options.update) return "unchanged";
  const same =
    existing.max_age === wanted.max_age &&
    existing.max_bytes === wanted.max_bytes &&
    existing.num_replicas === wanted.num_replicas &&
    existing.duplicate_window === wanted.duplicate_window &&
    existing.subjects.length === 1 &&
    existing.subjects[0] === DECISIONS_WILDCARD;
  if (same) return "unchanged";
  await jsm.streams.update(BUS.decisionsStream, {
    subjects: [DECISIONS_WILDCARD],
    max_age: wanted.max_age,
    max_bytes: wanted.max_bytes,
    num_replicas: wanted.num_replicas,
    duplicate_window: wanted.duplicate_window,
  });
  return "updated";
}
