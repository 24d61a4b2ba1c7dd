/**
 * Creating a JetStream stream the control plane owns, or bringing it to the configured limits, on
 * every (re)connection: revocations (revocation-bus.ts) and grants (grant-bus.ts).
 */
import { JetStreamApiError, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { Logger } from "../../common/logger.js";

/** JetStream API error code: stream not found. */
const STREAM_NOT_FOUND = 10059;
/** JetStream API error code: stream name already in use (a concurrent create). */
const STREAM_NAME_IN_USE = 10058;

function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

/** The limits compared (and updated when they differ) on an existing stream. */
const COMPARED = ["max_age", "num_replicas", "max_msgs_per_subject"] as const;

export async function ensureStream(
  jsm: JetStreamManager,
  wanted: Partial<StreamConfig> & { name: string },
  logger: Logger,
): Promise<void> {
  let existing: StreamConfig | undefined;
  try {
    existing = (await jsm.streams.info(wanted.name)).config;
  } catch (err) {
    if (apiCode(err) !== STREAM_NOT_FOUND) throw err;
  }
  if (!existing) {
    try {
      await jsm.streams.add(wanted);
      logger.info({ stream: wanted.name }, "stream created");
      return;
    } catch (err) {
      if (apiCode(err) !== STREAM_NAME_IN_USE) throw err;
      existing = (await jsm.streams.info(wanted.name)).config;
    }
  }
  const sameSubjects =
    [...existing.subjects].sort().join(",") === [...(wanted.subjects ?? [])].sort().join(",");
  const differs = COMPARED.some((key) => wanted[key] !== undefined && existing[key] !== wanted[key]);
  if (!sameSubjects || differs) {
    const update: Partial<StreamConfig> = { subjects: wanted.subjects };
    for (const key of [...COMPARED, "duplicate_window"] as const) {
      if (wanted[key] !== undefined) Object.assign(update, { [key]: wanted[key] });
    }
    await jsm.streams.update(wanted.name, update);
    logger.info({ stream: wanted.name }, "stream updated");
  }
}
