/**
 * The canary contract: a revision sent to a subset of the fleet before the rest.
 *
 * The control plane puts a CanaryPointer under the KV key `canary` of the bundle bucket (beside
 * `active`). A data plane the selector picks enforces the canary's pointer instead of the active one
 * while the key exists; every other data plane ignores it. The pointer inside is an ordinary bundle
 * pointer with its own signed activation (proto/activation.ts), so the selector carries no trust:
 * a data plane still refuses an unsigned, foreign or replayed activation exactly as it does for
 * `active`. Ending a canary always signs a new activation on `active` (the canary revision when
 * promoted, the previous revision with `rollback: true` when rolled back) before the key is deleted.
 *
 * Selectors: `region=eu` (the data planes of that region) or `percent=10` (the data planes whose id
 * hashes below 10 of 100: stable, so the same data planes stay in a canary and a restart keeps them).
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { bundlePointerSchema, decodeBusMessage } from "./bus.js";

export const canarySelectorSchema = z.union([
  z.strictObject({ region: z.string().min(1).max(100) }),
  z.strictObject({ percent: z.number().int().min(1).max(100) }),
]);
export type CanarySelector = z.infer<typeof canarySelectorSchema>;

export const canaryPointerSchema = z.strictObject({
  selector: canarySelectorSchema,
  pointer: bundlePointerSchema,
  /** The revision the rest of the fleet runs (what a rollback goes back to). */
  previous_revision: z.string().max(200),
  started_at: z.iso.datetime({ offset: true }),
});
export type CanaryPointer = z.infer<typeof canaryPointerSchema>;

export function decodeCanaryPointer(bytes: Uint8Array): CanaryPointer {
  return decodeBusMessage(canaryPointerSchema, bytes, "canary pointer");
}

export class CanarySelectorError extends Error {
  override name = "CanarySelectorError";
}

/** Parses `region=eu` or `percent=10`; throws CanarySelectorError saying what is wrong. */
export function parseCanarySelector(text: string): CanarySelector {
  const match = /^\s*([a-z]+)\s*=\s*(\S+)\s*$/.exec(text);
  if (!match) throw new CanarySelectorError(`canary "${text}" is not region=NAME or percent=N`);
  const [, key, value] = match as unknown as [string, string, string];
  if (key === "region") return { region: value };
  if (key === "percent") {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 100)
      throw new CanarySelectorError(`canary percent must be a whole number from 1 to 100, not "${value}"`);
    return { percent: n };
  }
  throw new CanarySelectorError(`canary selector "${key}" is unknown: use region=NAME or percent=N`);
}

export function formatCanarySelector(selector: CanarySelector): string {
  return "region" in selector ? `region=${selector.region}` : `percent=${selector.percent}`;
}

/** The stable bucket (0–99) of a data plane id. */
export function canaryBucket(dataPlaneId: string): number {
  return createHash("sha256").update(dataPlaneId).digest().readUInt32BE(0) % 100;
}

/** Whether the selector picks the data plane with this id and region. */
export function canarySelects(selector: CanarySelector, dataPlane: { id: string; region: string }): boolean {
  if ("region" in selector) return dataPlane.region === selector.region;
  return canaryBucket(dataPlane.id) < selector.percent;
}
