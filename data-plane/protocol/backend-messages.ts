import type { SqlState } from "./errors.js";

/**
 * Messages the proxy itself sends to clients (as a server would), and the framing of the upstream's
 * backend stream. pg-protocol parses backend messages into objects; the relay instead needs message
 * boundaries and raw bytes, so it uses the small scanner here and pg-protocol only during login.
 */

function message(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out.write(type, 0, "latin1");
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}

function cstring(value: string): Buffer {
  return Buffer.concat([Buffer.from(value, "utf8"), Buffer.from([0])]);
}

export type Severity = "ERROR" | "FATAL" | "WARNING" | "NOTICE";

export interface ErrorFields {
  severity: Severity;
  code: SqlState | string;
  message: string;
  detail?: string;
  hint?: string;
}

/** ErrorResponse ('E') or NoticeResponse ('N') with the S, V, C, M (and D, H) fields. */
export function errorResponse(fields: ErrorFields, type: "E" | "N" = "E"): Buffer {
  const parts = [
    Buffer.from("S"),
    cstring(fields.severity),
    Buffer.from("V"),
    cstring(fields.severity),
    Buffer.from("C"),
    cstring(fields.code),
    Buffer.from("M"),
    cstring(fields.message),
  ];
  if (fields.detail) parts.push(Buffer.from("D"), cstring(fields.detail));
  if (fields.hint) parts.push(Buffer.from("H"), cstring(fields.hint));
  parts.push(Buffer.from([0]));
  return message(type, Buffer.concat(parts));
}

function int32s(...values: number[]): Buffer {
  const body = Buffer.allocUnsafe(4 * values.length);
  for (let i = 0; i < values.length; i++) body.writeInt32BE(values[i]!, i * 4);
  return body;
}

export const authenticationOk = (): Buffer => message("R", int32s(0));
export const authenticationCleartextPassword = (): Buffer => message("R", int32s(3));
export const backendKeyData = (processId: number, secretKey: number): Buffer =>
  message("K", int32s(processId, secretKey));
export const parameterStatus = (name: string, value: string): Buffer =>
  message("S", Buffer.concat([cstring(name), cstring(value)]));
export const readyForQuery = (status: TransactionStatus): Buffer =>
  message("Z", Buffer.from(status, "latin1"));
export const emptyQueryResponse = (): Buffer => message("I", Buffer.alloc(0));
export const parseComplete = (): Buffer => message("1", Buffer.alloc(0));

/** NegotiateProtocolVersion: the newest minor version supported and the options not recognized. */
export function negotiateProtocolVersion(newestMinor: number, unsupported: string[]): Buffer {
  return message("v", Buffer.concat([int32s(newestMinor, unsupported.length), ...unsupported.map(cstring)]));
}

/** ReadyForQuery status: idle, in a transaction block, in a failed transaction block. */
export type TransactionStatus = "I" | "T" | "E";

export interface BackendMessage {
  type: string;
  raw: Buffer;
}

/**
 * Splits the upstream's byte stream into messages without copying payloads. A message split across
 * reads is kept until complete. Upstream is trusted more than clients, but lengths are still checked.
 */
const EMPTY = Buffer.alloc(0);

/** PostgreSQL's own limit on a message (1 GiB - 1): no server sends a longer one. */
export const MAX_BACKEND_MESSAGE = 0x3fff_ffff;

export class BackendFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Total length of the partial message at the head of `pending`, once its header is known. */
  private needed = 0;

  /** `maxMessage`: the longest message (length word included) kept before it is forwarded whole. */
  constructor(private readonly maxMessage = MAX_BACKEND_MESSAGE) {}

  /**
   * Calls `onMessage` for each complete message in `chunk` (plus leftovers from before) and returns
   * the bytes of all of them as one contiguous buffer, ready to forward in one write. A trailing
   * partial message is kept for the next call.
   */
  push(chunk: Buffer, onMessage: (type: number, raw: Buffer) => void): Buffer {
    let buf = chunk;
    if (this.pending.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.needed > 0 && this.pendingBytes < this.needed) return EMPTY; // a large message still arriving
      buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.needed = 0;
    }
    let offset = 0;
    while (buf.length - offset >= 5) {
      const length = buf.readInt32BE(offset + 1);
      if (length < 4) throw new Error(`upstream sent an invalid message length ${length}`);
      if (length > this.maxMessage) {
        throw new Error(
          `upstream sent a message of ${length} bytes (type "${String.fromCharCode(buf[offset]!)}"), over the limit of ${this.maxMessage} (upstream.max_message_bytes)`,
        );
      }
      const end = offset + 1 + length;
      if (end > buf.length) break;
      onMessage(buf[offset]!, buf.subarray(offset, end));
      offset = end;
    }
    if (offset < buf.length) {
      // keep only the partial message (copied, so the large chunk it came from can be freed)
      const rest = Buffer.from(buf.subarray(offset));
      this.pending = [rest];
      this.pendingBytes = rest.length;
      this.needed = rest.length >= 5 ? 1 + rest.readInt32BE(1) : 0;
    }
    return offset === buf.length ? buf : buf.subarray(0, offset);
  }

  /** Bytes of a partial message held for the next push. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /** Hands back the bytes of a partial message (used when the stream changes owner). */
  takePending(): Buffer {
    const out = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.needed = 0;
    return out;
  }
}
