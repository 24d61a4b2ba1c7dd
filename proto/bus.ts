/**
 * The NATS bus contract in TypeScript: names (buckets, keys, subjects) and the messages of
 * proto/bus.proto, which travel as UTF-8 JSON of those messages (field names as in the .proto).
 * Both planes import this file; what is received is validated with the zod schemas here, and a
 * message that does not match is dropped by the receiver with a log line, never trusted.
 */
import { z } from "zod";

export const BUS = {
  /** JetStream KV bucket holding the active bundle pointer. */
  bundleKv: "portcullis_bundles",
  /** The key of the active pointer in `bundleKv`. */
  activeKey: "active",
  /**
   * KV key of the canary pointer (proto/canary.ts): a revision for a subset of the fleet, which the
   * data planes it selects prefer over `active` while it exists.
   */
  canaryKey: "canary",
  /**
   * The key of the shadow pointer in `bundleKv`: a revision data planes evaluate beside the active
   * one and never enforce (absent or deleted: no shadow). Its activation is signed with
   * SHADOW_ACTIVATION_JWS_TYPE (proto/activation.ts), so it can never pass for an active one.
   */
  shadowKey: "shadow",
  /** JetStream Object Store bucket holding the bundle bytes (single-file form). */
  bundleObjects: "portcullis_bundle_objects",
  /** Data planes publish StatusReport on `portcullis.status.<id>`. */
  statusPrefix: "portcullis.status",
  /** Session events: `portcullis.sessions.{started,ended,heartbeat}.<id>`. */
  sessionsPrefix: "portcullis.sessions",
  /** Stream of session starts and ends (heartbeats stay on core NATS). */
  sessionsStream: "PORTCULLIS_SESSIONS",
  /** Stream and subjects of revocations. */
  revocationsStream: "PORTCULLIS_REVOCATIONS",
  revocationsPrefix: "portcullis.revocations",
  /**
   * Core NATS subject carrying each new revocation (the same signed message) just before the
   * stream stores it: the fast path for connected data planes; the stream is the durable one
   * (replay on boot and reconnection). Receivers deduplicate by revocation id.
   */
  revocationsLiveSubject: "portcullis.revocations.live",
  /**
   * Core NATS subject carrying each new activation with its bundle bytes (`encodeLiveBundle`), just
   * after the KV pointer is stored: the fast path that spares every connected data plane an Object
   * Store fetch. KV + Object Store stay the durable path (start-up, reconnection, missed messages).
   */
  bundlesLiveSubject: "portcullis.bundles.live",
  /** Stream of decision records (audit). */
  decisionsStream: "PORTCULLIS_DECISIONS",
  decisionsPrefix: "portcullis.decisions",
} as const;

/**
 * A NATS subject token for an id: characters other than letters, digits, `-` and `_` become `_`
 * (`.`, `*`, `>` and spaces would change the subject's meaning). Receivers use the id inside the
 * message, never the subject.
 */
export function subjectToken(id: string): string {
  const token = id.replace(/[^A-Za-z0-9_-]/g, "_");
  return token === "" ? "_" : token;
}

export function statusSubject(dataPlaneId: string): string {
  return `${BUS.statusPrefix}.${subjectToken(dataPlaneId)}`;
}

/** What the control plane subscribes to for every data plane's reports. */
export const STATUS_WILDCARD = `${BUS.statusPrefix}.>`;

export function sessionSubject(event: "started" | "ended" | "heartbeat", dataPlaneId: string): string {
  return `${BUS.sessionsPrefix}.${event}.${subjectToken(dataPlaneId)}`;
}

export function revocationSubject(kind: RevocationKind): string {
  return `${BUS.revocationsPrefix}.${kind}`;
}

export function revocationAckSubject(dataPlaneId: string): string {
  return `${BUS.revocationsPrefix}.ack.${subjectToken(dataPlaneId)}`;
}

/** Decision records: `portcullis.decisions.<kind>.<data plane id>` on stream PORTCULLIS_DECISIONS. */
export function decisionSubject(kind: DecisionKind, dataPlaneId: string): string {
  return `${BUS.decisionsPrefix}.${kind}.${subjectToken(dataPlaneId)}`;
}

/**
 * Data planes publish decision records in batches (`DecisionBatch`: up to DECISION_BATCH_MAX_RECORDS
 * records, one JetStream message) on `portcullis.decisions.batch.<data plane id>`; a single record
 * on `portcullis.decisions.<kind>.<id>` is still read.
 */
export function decisionBatchSubject(dataPlaneId: string): string {
  return `${BUS.decisionsPrefix}.batch.${subjectToken(dataPlaneId)}`;
}

export const DECISION_BATCH_MAX_RECORDS = 64;
/** Encoded size a batch stays under (below MAX_BUS_MESSAGE_BYTES and the default max_payload). */
export const DECISION_BATCH_MAX_BYTES = 512 * 1024;

/** The subjects of stream PORTCULLIS_DECISIONS. */
export const DECISIONS_WILDCARD = `${BUS.decisionsPrefix}.>`;

const timestamp = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "a lower-case hex SHA-256");
const count = z.number().int().min(0);

export const bundlePointerSchema = z.object({
  revision: z.string().min(1).max(200),
  sha256: sha256Hex,
  object: z.string().min(1).max(300),
  signature: z.string().min(1),
  activated_at: timestamp,
  size: count,
  bucket: z.string().min(1),
  /**
   * The signed activation (proto/activation.ts): what makes a data plane switch. A pointer without
   * one is refused by data planes; the field is optional here only so that such a pointer decodes
   * and is reported as refused.
   */
  activation: z.string().min(1).max(8192).optional(),
});
export type BundlePointer = z.infer<typeof bundlePointerSchema>;

export const statusReportSchema = z.object({
  id: z.string().min(1).max(200),
  region: z.string().max(100),
  version: z.string().max(100),
  revision: z.string().max(200),
  load_error: z.string().max(4000).optional(),
  sessions: count,
  at: timestamp,
  wanted_revision: z.string().max(200).optional(),
  started_at: timestamp.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  nats_server: z.string().max(200).optional(),
  nats_cluster: z.string().max(200).optional(),
});
export type StatusReport = z.infer<typeof statusReportSchema>;

export const sessionStartedSchema = z.object({
  session_id: z.string().min(1),
  data_plane_id: z.string().min(1),
  region: z.string(),
  subject: z.string(),
  issuer: z.string(),
  jti: z.string().optional(),
  sid: z.string().optional(),
  db_role: z.string(),
  database: z.string(),
  client_addr: z.string(),
  application_name: z.string(),
  revision: z.string(),
  at: timestamp,
  /** Lower-case hex SHA-256 of the token's claims as canonical JSON (keys sorted). */
  claims_digest: sha256Hex.optional(),
  /** The token's `exp`. */
  token_expires_at: timestamp.optional(),
  /** The cap the connection policy put on the session (`max_session_seconds`). */
  max_session_seconds: z.number().positive().optional(),
});
export type SessionStarted = z.infer<typeof sessionStartedSchema>;

export const sessionEndedSchema = z.object({
  session_id: z.string().min(1),
  data_plane_id: z.string().min(1),
  reason: z.string(),
  statements: count,
  denied: count,
  at: timestamp,
});
export type SessionEnded = z.infer<typeof sessionEndedSchema>;

export const sessionHeartbeatSchema = z.object({
  data_plane_id: z.string().min(1),
  session_ids: z.array(z.string()),
  at: timestamp,
  region: z.string().optional(),
});
export type SessionHeartbeat = z.infer<typeof sessionHeartbeatSchema>;

export const REVOCATION_KINDS = ["session", "subject", "token"] as const;
export type RevocationKind = (typeof REVOCATION_KINDS)[number];

export const revocationSchema = z.object({
  id: z.string().min(1).max(100),
  kind: z.enum(REVOCATION_KINDS),
  value: z.string().min(1).max(1000),
  reason: z.string().max(1000),
  created_at: timestamp,
  expires_at: timestamp,
  /** The admin who revoked (the token subject of the admin call). */
  created_by: z.string().max(1000).optional(),
  signature: z.string().min(1).max(4000),
});
export type Revocation = z.infer<typeof revocationSchema>;

export const revocationAckSchema = z.object({
  revocation_id: z.string().min(1),
  data_plane_id: z.string().min(1),
  sessions_cut: count,
  at: timestamp,
});
export type RevocationAck = z.infer<typeof revocationAckSchema>;

export const DECISION_KINDS = ["connection", "query"] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** Longest `sql` a decision record carries; longer statements are cut and marked `sql_truncated`. */
export const MAX_DECISION_SQL_CHARS = 16 * 1024;
/** Longest `input_json` a decision record carries; a longer input is left out (not replayable). */
export const MAX_DECISION_INPUT_CHARS = 128 * 1024;

export const decisionRelationSchema = z.object({
  /** null when an unqualified name could not be resolved. */
  schema: z.string().max(200).nullable(),
  name: z.string().max(200),
  access: z.enum(["read", "write"]),
});
export type DecisionRelation = z.infer<typeof decisionRelationSchema>;

/** One connection or statement decision a data plane made, allowed or denied (the audit trail). */
export const decisionRecordSchema = z.object({
  id: z.string().min(1).max(100),
  at: timestamp,
  kind: z.enum(DECISION_KINDS),
  data_plane_id: z.string().min(1).max(200),
  region: z.string().max(100),
  session_id: z.string().max(100),
  subject: z.string().max(1000),
  issuer: z.string().max(1000),
  db_role: z.string().max(200),
  database: z.string().max(200),
  revision: z.string().max(200),
  allow: z.boolean(),
  reasons: z.array(z.string().max(4000)).max(100),
  eval_micros: z.number().min(0),
  cached: z.boolean(),
  protocol: z.enum(["simple", "extended", ""]),
  statement_kind: z.string().max(50),
  statement_command: z.string().max(100),
  relations: z.array(decisionRelationSchema).max(500),
  sql: z.string().max(MAX_DECISION_SQL_CHARS),
  sql_truncated: z.boolean().optional(),
  fingerprint: z.string().max(100),
  client_addr: z.string().max(200),
  application_name: z.string().max(200),
  /**
   * The policy input the decision was made on, as JSON, with the statement text (and any inner
   * statement's) replaced by its normalized form and setting values by placeholders: what impact
   * replay re-evaluates. Absent when the decision was not made by the policy (no bundle, invariant).
   */
  input_json: z.string().max(MAX_DECISION_INPUT_CHARS).optional(),
  /** Query decisions: the decision's masks as JSON (absent when none). */
  mask_json: z
    .string()
    .max(64 * 1024)
    .optional(),
  /** Set when a shadow revision was loaded and decided otherwise (never enforced). */
  shadow: z
    .object({
      revision: z.string().max(200),
      allow: z.boolean(),
      reasons: z.array(z.string().max(4000)).max(100),
    })
    .optional(),
});
export type DecisionRecordMessage = z.infer<typeof decisionRecordSchema>;

/** Largest bus message accepted by the decoders (a NATS payload is at most 1 MiB by default). */
export const MAX_BUS_MESSAGE_BYTES = 1024 * 1024;

export class BusMessageError extends Error {
  override name = "BusMessageError";
}

/** The wire form of a message: its UTF-8 JSON. */
export function encodeBusMessage<T>(message: T): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message));
}

/** Decodes and validates a message; throws BusMessageError saying what is wrong. */
export function decodeBusMessage<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  if (bytes.byteLength > MAX_BUS_MESSAGE_BYTES) {
    throw new BusMessageError(`${what} is ${bytes.byteLength} bytes, over ${MAX_BUS_MESSAGE_BYTES}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new BusMessageError(`${what} is not UTF-8 JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "message";
    throw new BusMessageError(`${what} is invalid: ${where}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

export const decodeBundlePointer = (bytes: Uint8Array): BundlePointer =>
  decodeBusMessage(bundlePointerSchema, bytes, "bundle pointer");

export const decodeStatusReport = (bytes: Uint8Array): StatusReport =>
  decodeBusMessage(statusReportSchema, bytes, "status report");

export const decodeDecisionRecord = (bytes: Uint8Array): DecisionRecordMessage =>
  decodeBusMessage(decisionRecordSchema, bytes, "decision record");

const decisionBatchSchema = z.object({
  records: z.array(z.unknown()).min(1).max(DECISION_BATCH_MAX_RECORDS),
});

/** Encodes records already encoded one by one (the JSON of each DecisionRecord) as one batch. */
export function encodeDecisionBatch(records: readonly string[]): Uint8Array {
  return new TextEncoder().encode(`{"records":[${records.join(",")}]}`);
}

/**
 * A batch's records, each checked on its own: an invalid one is reported in `invalid` (with why)
 * and does not cost the others. Throws BusMessageError when the message is not a batch at all.
 */
export function decodeDecisionBatch(bytes: Uint8Array): {
  records: DecisionRecordMessage[];
  invalid: string[];
} {
  const batch = decodeBusMessage(decisionBatchSchema, bytes, "decision batch");
  const records: DecisionRecordMessage[] = [];
  const invalid: string[] = [];
  batch.records.forEach((value, i) => {
    const parsed = decisionRecordSchema.safeParse(value);
    if (parsed.success) records.push(parsed.data);
    else {
      const issue = parsed.error.issues[0];
      invalid.push(`record ${i}: ${issue?.path.join(".") || "record"}: ${issue?.message ?? "invalid"}`);
    }
  });
  return { records, invalid };
}

/**
 * The live bundle message: a 4-byte big-endian length, the pointer's JSON, then the bundle bytes the
 * pointer describes. Receivers check the bytes against the pointer's size and SHA-256 and then treat
 * it exactly as the KV pointer (signature, activation and rollback checks), so it carries no trust
 * of its own.
 */
export function encodeLiveBundle(pointer: BundlePointer, bytes: Uint8Array): Uint8Array {
  const head = encodeBusMessage(pointer);
  const out = new Uint8Array(4 + head.byteLength + bytes.byteLength);
  new DataView(out.buffer).setUint32(0, head.byteLength);
  out.set(head, 4);
  out.set(bytes, 4 + head.byteLength);
  return out;
}

/** Splits a live bundle message; throws BusMessageError when it is not one. */
export function decodeLiveBundle(message: Uint8Array): { pointer: BundlePointer; bytes: Uint8Array } {
  if (message.byteLength < 4) throw new BusMessageError("live bundle message is shorter than its header");
  const headLength = new DataView(message.buffer, message.byteOffset, message.byteLength).getUint32(0);
  if (headLength > MAX_BUS_MESSAGE_BYTES || 4 + headLength > message.byteLength) {
    throw new BusMessageError(`live bundle message: pointer length ${headLength} overruns the message`);
  }
  const pointer = decodeBundlePointer(message.subarray(4, 4 + headLength));
  const bytes = message.subarray(4 + headLength);
  if (bytes.byteLength !== pointer.size) {
    throw new BusMessageError(
      `live bundle message: ${bytes.byteLength} bundle bytes, the pointer says ${pointer.size}`,
    );
  }
  return { pointer, bytes };
}
