/**
 * Just-in-time access grants on the bus: the message, its signed form, the subjects, and the shape
 * the policies read (`data.portcullis.grants`).
 *
 * A grant is signed by the control plane with the bundle key: a compact JWS (alg EdDSA, typ
 * `portcullis-grant+jws`) whose payload is `canonicalGrant(fields)`, the JSON of every field but
 * `signature` with keys sorted and no whitespace. Each state of a grant (issued, revoked) is a new
 * message with a higher `sequence` (monotonic across every grant the control plane signs) and its
 * `issued_at`, both inside the signature: a data plane refuses a message whose sequence is not
 * above the one it holds for that grant, so an old "active" copy can never undo a revocation.
 *
 * Stream PORTCULLIS_GRANTS keeps one message per grant (`portcullis.grants.state.<id>`,
 * max_msgs_per_subject 1): the latest state of every grant is what a booting data plane replays.
 * New states also go out on core subject `portcullis.grants.live` (the fast path), deduplicated by
 * id and sequence on the data plane.
 */
import { z } from "zod";
import { BusMessageError, decodeBusMessage, subjectToken } from "./bus.js";
import { canonicalJson } from "./revocation.js";

export const GRANT_JWS_TYPE = "portcullis-grant+jws";

export const GRANTS_STREAM = "PORTCULLIS_GRANTS";
export const GRANTS_PREFIX = "portcullis.grants";
export const GRANTS_LIVE_SUBJECT = `${GRANTS_PREFIX}.live`;
/** The stream's one subject pattern: a grant's latest state. */
export const GRANT_STATE_WILDCARD = `${GRANTS_PREFIX}.state.*`;

export function grantSubject(id: string): string {
  return `${GRANTS_PREFIX}.state.${subjectToken(id)}`;
}

export const GRANT_KINDS = ["role", "schema"] as const;
export type GrantKind = (typeof GRANT_KINDS)[number];
export const GRANT_STATUSES = ["active", "revoked"] as const;
export type GrantStatus = (typeof GRANT_STATUSES)[number];

const timestamp = z.iso.datetime({ offset: true });
/** A role or schema name: what PostgreSQL accepts unquoted, and nothing a policy could misread. */
export const GRANT_TARGET = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

export const grantSchema = z.object({
  id: z.string().min(1).max(100),
  /** Monotonic across every grant message the control plane signs. */
  sequence: z.number().int().positive(),
  issued_at: timestamp,
  subject: z.string().min(1).max(1000),
  kind: z.enum(GRANT_KINDS),
  value: z.string().regex(GRANT_TARGET),
  starts_at: timestamp,
  expires_at: timestamp,
  reason: z.string().max(1000),
  /** Who granted (the admin, or the approver of a request). */
  created_by: z.string().min(1).max(1000),
  /** The access request it answers, when it came from one. */
  request_id: z.string().max(100).optional(),
  status: z.enum(GRANT_STATUSES),
  revoked_by: z.string().max(1000).optional(),
  signature: z.string().min(1).max(4000),
});
export type Grant = z.infer<typeof grantSchema>;
export type GrantFields = Omit<Grant, "signature">;

/** The signed payload of a grant: its fields but `signature`, keys sorted, no whitespace. */
export function canonicalGrantBytes(grant: GrantFields): Uint8Array {
  const { signature: _signature, ...fields } = grant as Grant;
  return new TextEncoder().encode(canonicalJson(fields));
}

export function decodeGrant(bytes: Uint8Array): Grant {
  const grant = decodeBusMessage(grantSchema, bytes, "grant");
  if (Date.parse(grant.expires_at) <= Date.parse(grant.starts_at))
    throw new BusMessageError("grant: expires_at is not after starts_at");
  return grant;
}

/** One entry of `data.portcullis.grants[subject]`, as the policies read it. */
export interface PolicyGrant {
  id: string;
  role?: string;
  schema?: string;
  expires_at: string;
}

/**
 * The policy data of the grants in force at `nowMs`: `{ <subject>: [{id, role | schema,
 * expires_at}, …] }`, each subject's list sorted by id. Revoked, expired and not yet started
 * grants are left out.
 */
export function policyGrants(grants: Iterable<Grant>, nowMs: number): Record<string, PolicyGrant[]> {
  // no prototype: a subject named __proto__ is a key like any other
  const out: Record<string, PolicyGrant[]> = Object.create(null);
  for (const g of grants) {
    if (!grantInForce(g, nowMs)) continue;
    const entry: PolicyGrant = { id: g.id, [g.kind]: g.value, expires_at: g.expires_at };
    const list = Object.hasOwn(out, g.subject) ? out[g.subject]! : [];
    list.push(entry);
    out[g.subject] = list;
  }
  for (const list of Object.values(out)) list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}

export function grantInForce(g: Grant, nowMs: number): boolean {
  return g.status === "active" && Date.parse(g.starts_at) <= nowMs && nowMs < Date.parse(g.expires_at);
}
