/**
 * Just-in-time grants and access requests on the control plane:
 *
 * - `grant()`: a time-boxed role or schema for a subject, at most `grants.max_seconds` long. Its
 *   state gets the next monotonic sequence and the issue time, is signed (sign.ts), sent on the
 *   fast path, stored with its audit entry, then stored in stream PORTCULLIS_GRANTS. Nothing
 *   between the signature and the fast path awaits anything but the signature: the data planes
 *   apply it while this stores it.
 * - `revoke()`: the grant's next state (`revoked`), signed and sent the same way.
 * - `request()`: a subject asks for access for itself; `approve()` (which issues the grant) and
 *   `deny()` are for another person: the requester can never decide their own request, whatever
 *   the admin policy says.
 *
 * Every request, approval, denial, grant and revocation goes in the audit trail (table
 * `grant_audit`) and to WatchEvents (kind "grant").
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "../../common/logger.js";
import { GRANT_TARGET, type Grant, type GrantFields, type GrantKind } from "../../proto/grant.js";
import type { SigningKey } from "../bundle/signing-key.js";
import type { GrantBus } from "../distribute/grant-bus.js";
import type { EventHub } from "../events/event-hub.js";
import type {
  AccessRequestRecord,
  AccessRequestStatus,
  GrantRecord,
  GrantRepository,
} from "../store/index.js";
import { signGrant } from "./sign.js";

export type GrantErrorCode = "invalid_argument" | "not_found" | "permission_denied" | "failed_precondition";

export class GrantRequestError extends Error {
  override name = "GrantRequestError";
  constructor(
    readonly code: GrantErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface GrantTarget {
  kind: GrantKind;
  value: string;
}

export interface GrantOutcome {
  grant: GrantRecord;
  published: boolean;
  publishError?: string;
}

export interface GrantServiceOptions {
  repository: GrantRepository;
  signingKey: SigningKey;
  bus: Pick<GrantBus, "publish" | "publishFast">;
  /** `grants.max_seconds`: the longest grant or request. */
  maxSeconds: number;
  logger: Logger;
  events?: EventHub;
  now?: () => number;
}

const MAX_TEXT = 1000;

/** Checks a target, a duration and a reason; throws GrantRequestError (invalid_argument). */
export function checkGrantRequest(
  target: { kind?: string; value?: string },
  seconds: number,
  reason: string,
  maxSeconds: number,
): GrantTarget {
  if (target.kind !== "role" && target.kind !== "schema")
    throw new GrantRequestError("invalid_argument", "give a role or a schema to grant");
  const value = (target.value ?? "").trim();
  if (!GRANT_TARGET.test(value))
    throw new GrantRequestError(
      "invalid_argument",
      `${JSON.stringify(value)} is not a ${target.kind} name (letters, digits, _ and $, at most 63, not starting with a digit)`,
    );
  if (!Number.isInteger(seconds) || seconds <= 0)
    throw new GrantRequestError("invalid_argument", "give how long the access lasts (--for, e.g. 30m)");
  if (seconds > maxSeconds)
    throw new GrantRequestError(
      "invalid_argument",
      `${seconds} s is longer than the ${maxSeconds} s a grant may last (grants.max_seconds)`,
    );
  if (reason === "")
    throw new GrantRequestError("invalid_argument", "give a reason (it goes in the audit trail)");
  if (reason.length > MAX_TEXT)
    throw new GrantRequestError("invalid_argument", `the reason is over ${MAX_TEXT} characters`);
  return { kind: target.kind, value };
}

export class GrantService {
  readonly #options: GrantServiceOptions;
  readonly #now: () => number;

  constructor(options: GrantServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get maxSeconds(): number {
    return this.#options.maxSeconds;
  }

  async grant(request: {
    subject: string;
    target: { kind?: string; value?: string };
    seconds: number;
    reason: string;
    by: string;
    requestId?: string;
    /** The grant's id (default: a new UUID). */
    id?: string;
  }): Promise<GrantOutcome> {
    const subject = request.subject.trim();
    if (subject === "" || subject.length > MAX_TEXT)
      throw new GrantRequestError(
        "invalid_argument",
        "give the subject (the token's sub) to grant access to",
      );
    const reason = request.reason.trim();
    const target = checkGrantRequest(request.target, request.seconds, reason, this.#options.maxSeconds);
    const now = this.#now();
    const fields: GrantFields = {
      id: request.id ?? randomUUID(),
      sequence: this.#options.repository.nextSequence(),
      issued_at: new Date(now).toISOString(),
      subject,
      kind: target.kind,
      value: target.value,
      starts_at: new Date(now).toISOString(),
      expires_at: new Date(now + request.seconds * 1000).toISOString(),
      reason,
      created_by: request.by,
      status: "active",
      ...(request.requestId ? { request_id: request.requestId } : {}),
    };
    const signed = await signGrant(fields, this.#options.signingKey);
    return this.#issue(signed, {
      action: "granted",
      by: request.by,
      detail: { subject, [target.kind]: target.value, seconds: request.seconds, reason },
    });
  }

  async revoke(request: { id: string; by: string; reason?: string }): Promise<GrantOutcome> {
    const record = this.#options.repository.get(request.id.trim());
    if (!record) throw new GrantRequestError("not_found", `no grant ${request.id}`);
    const held = record.grant;
    if (held.status === "revoked")
      throw new GrantRequestError("failed_precondition", `grant ${held.id} is already revoked`);
    const now = this.#now();
    if (Date.parse(held.expires_at) <= now)
      throw new GrantRequestError("failed_precondition", `grant ${held.id} has already expired`);
    const { signature: _signature, ...rest } = held;
    const fields: GrantFields = {
      ...rest,
      sequence: this.#options.repository.nextSequence(),
      issued_at: new Date(now).toISOString(),
      status: "revoked",
      revoked_by: request.by,
    };
    const signed = await signGrant(fields, this.#options.signingKey);
    return this.#issue(signed, {
      action: "revoked",
      by: request.by,
      detail: { reason: (request.reason ?? "").trim() },
    });
  }

  request(request: {
    subject: string;
    target: { kind?: string; value?: string };
    seconds: number;
    reason: string;
  }): AccessRequestRecord {
    // The grant an approval issues names this subject exactly as given (grant() trims what an admin
    // types): a subject it would change is refused, so a grant never lands on a look-alike.
    if (
      request.subject === "" ||
      request.subject.trim() !== request.subject ||
      request.subject.length > MAX_TEXT
    )
      throw new GrantRequestError(
        "invalid_argument",
        `the caller's subject ${JSON.stringify(request.subject)} cannot be named by a grant (empty, over ${MAX_TEXT} characters, or with leading or trailing whitespace)`,
      );
    const reason = request.reason.trim();
    const target = checkGrantRequest(request.target, request.seconds, reason, this.#options.maxSeconds);
    const record: AccessRequestRecord = {
      id: randomUUID(),
      subject: request.subject,
      kind: target.kind,
      value: target.value,
      seconds: request.seconds,
      reason,
      createdAt: new Date(this.#now()).toISOString(),
      status: "pending",
    };
    this.#options.repository.insertRequest(record);
    this.#options.logger.info(
      { request: record.id, subject: record.subject, [record.kind]: record.value, seconds: record.seconds },
      "access requested",
    );
    this.#options.events?.emit("grant", "request.created", record);
    return record;
  }

  /** Approves a pending request made by somebody else and issues its grant. */
  async approve(request: { id: string; by: string; note?: string }): Promise<{
    request: AccessRequestRecord;
    outcome: GrantOutcome;
  }> {
    const pending = this.#pending(request.id, request.by, "approve");
    // Decided before the grant is issued: of two approvals at once, one issues it.
    const grantId = randomUUID();
    const decided = this.#decide(pending, request.by, "approved", request.note, grantId);
    const outcome = await this.grant({
      subject: pending.subject,
      target: { kind: pending.kind, value: pending.value },
      seconds: Math.min(pending.seconds, this.#options.maxSeconds),
      reason: pending.reason,
      by: request.by,
      requestId: pending.id,
      id: grantId,
    });
    return { request: decided, outcome };
  }

  deny(request: { id: string; by: string; note?: string }): AccessRequestRecord {
    return this.#decide(this.#pending(request.id, request.by, "deny"), request.by, "denied", request.note);
  }

  list(options: { includeEnded?: boolean; subject?: string; limit?: number } = {}): GrantRecord[] {
    return this.#options.repository.list({ ...options, now: new Date(this.#now()).toISOString() });
  }

  listRequests(options: { status?: AccessRequestStatus; subject?: string; limit?: number } = {}) {
    return this.#options.repository.listRequests(options);
  }

  /** What the stream must carry. */
  unended(): Grant[] {
    return this.#options.repository.unended(new Date(this.#now()).toISOString()).map((r) => r.grant);
  }

  #pending(id: string, by: string, verb: "approve" | "deny"): AccessRequestRecord {
    const record = this.#options.repository.getRequest(id.trim());
    if (!record) throw new GrantRequestError("not_found", `no access request ${id}`);
    // Whatever the admin policy says: four eyes, never two.
    if (record.subject === by)
      throw new GrantRequestError(
        "permission_denied",
        `${by} may not ${verb} their own access request ${record.id}: another person must decide it`,
      );
    if (record.status !== "pending")
      throw new GrantRequestError(
        "failed_precondition",
        `access request ${record.id} is already ${record.status}${record.decidedBy ? ` by ${record.decidedBy}` : ""}`,
      );
    return record;
  }

  #decide(
    pending: AccessRequestRecord,
    by: string,
    status: "approved" | "denied",
    note: string | undefined,
    grantId?: string,
  ): AccessRequestRecord {
    const at = new Date(this.#now()).toISOString();
    const text = (note ?? "").trim().slice(0, MAX_TEXT);
    const repository = this.#options.repository;
    if (
      !repository.decideRequest(pending.id, { status, by, at, note: text, ...(grantId ? { grantId } : {}) })
    )
      throw new GrantRequestError(
        "failed_precondition",
        `access request ${pending.id} was decided meanwhile`,
      );
    repository.audit({
      at,
      action: status,
      by,
      requestId: pending.id,
      ...(grantId ? { grantId } : {}),
      detail: { subject: pending.subject, note: text },
    });
    const decided = repository.getRequest(pending.id)!;
    this.#options.logger.info(
      { request: pending.id, by, status, grant: grantId },
      `access request ${status}`,
    );
    this.#options.events?.emit("grant", `request.${status}`, decided);
    return decided;
  }

  async #issue(
    signed: Grant,
    audit: { action: "granted" | "revoked"; by: string; detail: Record<string, unknown> },
  ): Promise<GrantOutcome> {
    // Fast path first (data planes apply it while this stores it), then SQLite, in one step.
    this.#options.bus.publishFast(signed);
    this.#options.repository.save(signed, {
      at: signed.issued_at,
      action: audit.action,
      by: audit.by,
      grantId: signed.id,
      ...(signed.request_id ? { requestId: signed.request_id } : {}),
      detail: audit.detail,
    });
    this.#options.logger.info(
      {
        id: signed.id,
        sequence: signed.sequence,
        subject: signed.subject,
        [signed.kind]: signed.value,
        by: audit.by,
      },
      audit.action === "granted" ? "grant issued" : "grant revoked",
    );
    const { signature: _signature, ...view } = signed;
    this.#options.events?.emit("grant", audit.action === "granted" ? "grant.created" : "grant.revoked", view);
    const publish = await this.#options.bus.publish(signed);
    const outcome: GrantOutcome = {
      grant: this.#options.repository.get(signed.id)!,
      published: publish.published,
    };
    if (publish.error !== undefined) outcome.publishError = publish.error;
    return outcome;
  }
}
