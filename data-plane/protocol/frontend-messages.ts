import { ProtocolError, QuietClose } from "./errors.js";

/**
 * Messages a client sends to a PostgreSQL server (protocol 3.0), parsed by the proxy.
 * pg-protocol parses only the backend side, so the frontend side lives here: one streaming framer
 * for typed messages, one parser for the untyped start-up packets, and small decoders for the
 * messages the proxy looks inside. Every length is checked before anything is buffered for it.
 */

export const STARTUP_CODES = {
  protocol30: 196608,
  sslRequest: 80877103,
  gssEncRequest: 80877104,
  cancelRequest: 80877102,
} as const;

/** PostgreSQL's own limits: start-up packets and password/auth messages are small. */
export const MAX_STARTUP_PACKET = 10_000;
export const MAX_AUTH_MESSAGE = 65_535;
const MAX_LARGE_MESSAGE = 0x3fff_ffff; // 1 GiB - 1, as PQ_LARGE_MESSAGE_LIMIT
const MAX_SMALL_MESSAGE = 10_000;
/** Messages that may carry user data; every other type must be small. */
const LARGE_TYPES = new Set(["Q", "P", "B", "d", "F", "p"]);

export type StartupPacket =
  | { kind: "ssl" }
  | { kind: "gssenc" }
  | { kind: "cancel"; processId: number; secretKey: number }
  | { kind: "startup"; major: number; minor: number; parameters: Record<string, string> };

export interface FrontendMessage {
  /** The type byte as a character: "Q", "P", "B", "E", "D", "C", "S", "H", "X", "d", "c", "f", "p", "F". */
  type: string;
  /** The whole message, type byte and length included: forwarded as is when allowed. */
  raw: Buffer;
  /** The body after the length word. */
  body: Buffer;
}

/** A framed client message; its body view is made only when a stage reads it. */
class Message implements FrontendMessage {
  constructor(
    readonly type: string,
    readonly raw: Buffer,
  ) {}
  get body(): Buffer {
    return this.raw.subarray(5);
  }
}

/**
 * Accumulates bytes and hands out complete messages. Before login completes a message may be at most
 * `maxMessage` bytes (the password packet cap); afterwards PostgreSQL's limits per message type apply.
 */
export class FrontendFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Set while waiting for a message whose header said it is this long. */
  private pendingLength = -1;

  constructor(private maxMessage = MAX_LARGE_MESSAGE) {}

  setMaxMessage(limit: number): void {
    this.maxMessage = limit;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete message, or undefined when more bytes are needed. Throws ProtocolError on bad framing. */
  next(): FrontendMessage | undefined {
    if (this.buffered < 5) return undefined;
    const head = this.peek(5);
    const type = String.fromCharCode(head[0]!);
    const length = head.readInt32BE(1);
    if (this.pendingLength < 0) {
      if (length < 4) throw new ProtocolError(`invalid message length ${length} for message type "${type}"`);
      const limit = Math.min(this.maxMessage, LARGE_TYPES.has(type) ? MAX_LARGE_MESSAGE : MAX_SMALL_MESSAGE);
      if (length > limit) {
        throw new ProtocolError(`message of type "${type}" is too large (${length} bytes, limit ${limit})`);
      }
      this.pendingLength = length;
    }
    const total = this.pendingLength + 1;
    if (this.buffered < total) return undefined;
    const raw = this.take(total);
    this.pendingLength = -1;
    return new Message(type, raw);
  }

  /** Removes and returns whatever is buffered (used when handing the stream to TLS). */
  drain(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return all;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    const merged = Buffer.concat(this.chunks);
    this.chunks = [merged];
    return merged;
  }

  private take(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < n) {
      first = Buffer.concat(this.chunks);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

/**
 * Reads one untyped start-up packet (length word + code) from `buffer`. Returns the packet and the
 * bytes consumed, or undefined when more bytes are needed.
 */
export function parseStartupPacket(buffer: Buffer): { packet: StartupPacket; consumed: number } | undefined {
  if (buffer.length < 4) return undefined;
  const length = buffer.readInt32BE(0);
  if (length < 8 || length > MAX_STARTUP_PACKET) {
    // A Terminate in place of the start-up packet (a driver ending a client still connecting): the
    // client is leaving, so it is let go without an answer, as PostgreSQL does. Other bad lengths get
    // a FATAL that says what was wrong.
    if (buffer[0] === 0x58 /* X */) {
      if (buffer.length < 5) return undefined;
      if (length === 0x5800_0000 && buffer[4] === 4)
        throw new QuietClose("Terminate before the start-up packet");
    }
    throw new ProtocolError(`invalid length of startup packet (${length})`);
  }
  if (buffer.length < length) return undefined;
  const code = buffer.readInt32BE(4);
  const consumed = length;
  switch (code) {
    case STARTUP_CODES.sslRequest:
      if (length !== 8) throw new ProtocolError("invalid SSLRequest length");
      return { packet: { kind: "ssl" }, consumed };
    case STARTUP_CODES.gssEncRequest:
      if (length !== 8) throw new ProtocolError("invalid GSSENCRequest length");
      return { packet: { kind: "gssenc" }, consumed };
    case STARTUP_CODES.cancelRequest:
      if (length !== 16) throw new ProtocolError("invalid CancelRequest length");
      return {
        packet: { kind: "cancel", processId: buffer.readInt32BE(8), secretKey: buffer.readInt32BE(12) },
        consumed,
      };
    default: {
      const major = code >>> 16;
      const minor = code & 0xffff;
      const parameters: Record<string, string> = {};
      const body = buffer.subarray(8, length);
      let offset = 0;
      for (;;) {
        const keyEnd = body.indexOf(0, offset);
        if (keyEnd < 0) throw new ProtocolError("startup packet is not terminated");
        if (keyEnd === offset) {
          if (keyEnd !== body.length - 1)
            throw new ProtocolError("unexpected bytes after startup packet terminator");
          break;
        }
        const valueEnd = body.indexOf(0, keyEnd + 1);
        if (valueEnd < 0) throw new ProtocolError("startup packet parameter has no value");
        const key = body.toString("utf8", offset, keyEnd);
        parameters[key] = body.toString("utf8", keyEnd + 1, valueEnd);
        offset = valueEnd + 1;
      }
      return { packet: { kind: "startup", major, minor, parameters }, consumed };
    }
  }
}

/** Reads C strings and integers from a message body, failing with a protocol error past its end. */
export class BodyReader {
  private offset = 0;
  constructor(
    private readonly body: Buffer,
    private readonly what: string,
  ) {}

  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) throw new ProtocolError(`${this.what}: unterminated string`);
    const value = this.body.toString("utf8", this.offset, end);
    this.offset = end + 1;
    return value;
  }

  int16(): number {
    this.need(2);
    const v = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.body.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  byte(): string {
    this.need(1);
    return String.fromCharCode(this.body[this.offset++]!);
  }

  end(): void {
    if (this.offset !== this.body.length) throw new ProtocolError(`${this.what}: unexpected trailing bytes`);
  }

  private need(n: number): void {
    if (n < 0 || this.offset + n > this.body.length)
      throw new ProtocolError(`${this.what}: message too short`);
  }
}

export function decodeQuery(body: Buffer): string {
  const reader = new BodyReader(body, "Query");
  const text = reader.cstring();
  reader.end();
  return text;
}

export interface ParseMessage {
  name: string;
  text: string;
  parameterTypes: number[];
}

export function decodeParse(body: Buffer): ParseMessage {
  const reader = new BodyReader(body, "Parse");
  const name = reader.cstring();
  const text = reader.cstring();
  const count = reader.int16();
  if (count < 0) throw new ProtocolError("Parse: negative parameter count");
  const parameterTypes: number[] = [];
  for (let i = 0; i < count; i++) parameterTypes.push(reader.int32());
  reader.end();
  return { name, text, parameterTypes };
}

export interface BindMessage {
  portal: string;
  statement: string;
}

/** Only the names: the parameter values are forwarded untouched. The rest is length-checked. */
export function decodeBind(body: Buffer): BindMessage {
  const reader = new BodyReader(body, "Bind");
  const portal = reader.cstring();
  const statement = reader.cstring();
  const formats = reader.int16();
  if (formats < 0) throw new ProtocolError("Bind: negative format count");
  reader.bytes(formats * 2);
  const values = reader.int16();
  if (values < 0) throw new ProtocolError("Bind: negative parameter count");
  for (let i = 0; i < values; i++) {
    const len = reader.int32();
    if (len < -1) throw new ProtocolError("Bind: invalid parameter length");
    if (len > 0) reader.bytes(len);
  }
  const resultFormats = reader.int16();
  if (resultFormats < 0) throw new ProtocolError("Bind: negative result format count");
  reader.bytes(resultFormats * 2);
  reader.end();
  return { portal, statement };
}

export function decodeExecute(body: Buffer): { portal: string; maxRows: number } {
  const reader = new BodyReader(body, "Execute");
  const portal = reader.cstring();
  const maxRows = reader.int32();
  reader.end();
  return { portal, maxRows };
}

/** Describe and Close share a shape: 'S' statement or 'P' portal, then a name. */
export function decodeTarget(body: Buffer, what: string): { target: "S" | "P"; name: string } {
  const reader = new BodyReader(body, what);
  const target = reader.byte();
  if (target !== "S" && target !== "P") throw new ProtocolError(`${what}: invalid target "${target}"`);
  const name = reader.cstring();
  reader.end();
  return { target, name };
}

export function decodePassword(body: Buffer): string {
  const reader = new BodyReader(body, "PasswordMessage");
  const password = reader.cstring();
  reader.end();
  return password;
}
