/**
 * UUIDv7 (RFC 9562 §5.7): 48 bits of Unix time in milliseconds, then random bits, in the usual
 * 8-4-4-4-12 form. Ids made one after another sort by time, so a unique index over them (the control
 * plane's decision record ids) grows at its end instead of at random pages.
 */
import { randomFillSync } from "node:crypto";

const bytes = Buffer.alloc(16);

export function uuid7(now: number = Date.now()): string {
  randomFillSync(bytes, 6);
  bytes.writeUIntBE(Math.max(0, Math.floor(now)) % 2 ** 48, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant 10
  const h = bytes.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
