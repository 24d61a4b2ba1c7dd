/**
 * Revocations and session events on the bus (proto/bus.proto, proto/bus.ts): the subjects both
 * planes use, the decoders of what is received, and the canonical form a revocation's signature
 * covers.
 *
 * A revocation is signed by the control plane with the same Ed25519 key as bundles: a compact JWS
 * (alg EdDSA, typ `portcullis-revocation+jws`, kid = the key's JWK thumbprint) whose payload is
 * `canonicalRevocation(fields)`: the JSON of every field but `signature`, object keys sorted, no
 * whitespace, `created_by` left out when absent. A data plane recomputes that payload from the
 * message it received and requires it to equal the verified JWS payload byte for byte, so no field
 * can be changed or added without the key. The distinct `typ` keeps a bundle signature from ever
 * passing as a revocation signature and the other way round.
 */
import { createHash } from "node:crypto";
import {
  BUS,
  decodeBusMessage,
  REVOCATION_KINDS,
  type Revocation,
  type RevocationAck,
  revocationAckSchema,
  revocationSchema,
  revocationSubject,
  type SessionEnded,
  type SessionHeartbeat,
  type SessionStarted,
  sessionEndedSchema,
  sessionHeartbeatSchema,
  sessionStartedSchema,
} from "./bus.js";

export const REVOCATION_JWS_ALG = "EdDSA";
export const REVOCATION_JWS_TYPE = "portcullis-revocation+jws";

/**
 * The subjects of stream PORTCULLIS_REVOCATIONS: one per kind. Not `portcullis.revocations.>`,
 * which would also capture the acknowledgements (`portcullis.revocations.ack.<id>`, core NATS).
 */
export const REVOCATION_STREAM_SUBJECTS: readonly string[] = REVOCATION_KINDS.map(revocationSubject);

/** What the control plane subscribes to for every data plane's acknowledgements. */
export const REVOCATION_ACK_WILDCARD = `${BUS.revocationsPrefix}.ack.>`;

/** Every session event subject (starts and ends on the stream, heartbeats on core NATS). */
export const SESSIONS_WILDCARD = `${BUS.sessionsPrefix}.>`;

/** The subjects of stream PORTCULLIS_SESSIONS: every data plane's session starts and ends. */
export const SESSION_STREAM_SUBJECTS: readonly string[] = [
  `${BUS.sessionsPrefix}.started.*`,
  `${BUS.sessionsPrefix}.ended.*`,
];

/** What the control plane subscribes to on core NATS for every data plane's session heartbeats. */
export const SESSION_HEARTBEAT_WILDCARD = `${BUS.sessionsPrefix}.heartbeat.*`;

/**
 * Core subject (no payload) the control plane publishes on each (re)connection: every data plane
 * answers with a SessionStarted for each of its live sessions and a heartbeat, so the control
 * plane's view is complete again after it was down or cut off.
 */
export const SESSIONS_RESYNC_SUBJECT = `${BUS.sessionsPrefix}.resync`;

/** The fields a revocation's signature covers. */
export type RevocationFields = Omit<Revocation, "signature">;

/** The signed payload of a revocation: its fields but `signature`, keys sorted, no whitespace. */
export function canonicalRevocation(revocation: RevocationFields): string {
  const fields: Record<string, string> = {
    created_at: revocation.created_at,
    expires_at: revocation.expires_at,
    id: revocation.id,
    kind: revocation.kind,
    reason: revocation.reason,
    value: revocation.value,
  };
  if (revocation.created_by !== undefined) fields.created_by = revocation.created_by;
  const sorted = Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify(sorted);
}

export function canonicalRevocationBytes(revocation: RevocationFields): Uint8Array {
  return new TextEncoder().encode(canonicalRevocation(revocation));
}

/** The JSON of `value` with object keys sorted at every level and no whitespace. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(v as object).sort()) out[key] = sort((v as Record<string, unknown>)[key]);
      return out;
    }
    return v;
  };
  return JSON.stringify(sort(value));
}

/** SessionStarted.claims_digest: SHA-256 (hex) of the claims' canonical JSON. */
export function claimsDigest(claims: object): string {
  return createHash("sha256").update(canonicalJson(claims)).digest("hex");
}

export const decodeRevocation = (bytes: Uint8Array): Revocation =>
  decodeBusMessage(revocationSchema, bytes, "revocation");

export const decodeRevocationAck = (bytes: Uint8Array): RevocationAck =>
  decodeBusMessage(revocationAckSchema, bytes, "revocation ack");

export const decodeSessionStarted = (bytes: Uint8Array): SessionStarted =>
  decodeBusMessage(sessionStartedSchema, bytes, "session started");

export const decodeSessionEnded = (bytes: Uint8Array): SessionEnded =>
  decodeBusMessage(sessionEndedSchema, bytes, "session ended");

export const decodeSessionHeartbeat = (bytes: Uint8Array): SessionHeartbeat =>
  decodeBusMessage(sessionHeartbeatSchema, bytes, "session heartbeat");

/** Which session event a subject `portcullis.sessions.<event>.<id>` carries, if any. */
export function sessionEventOf(subject: string): "started" | "ended" | "heartbeat" | undefined {
  const prefix = `${BUS.sessionsPrefix}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const event = subject.slice(prefix.length).split(".")[0];
  return event === "started" || event === "ended" || event === "heartbeat" ? event : undefined;
}
