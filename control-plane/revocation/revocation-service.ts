/**
 * Revoking a session, a subject or a token: the revocation gets an id, an expiry
 * (`revocation.retention` from now: by then every token it could concern has expired), the admin
 * who made it, and the control plane's Ed25519 signature; it is stored in SQLite, then published
 * on stream PORTCULLIS_REVOCATIONS. By default the call then waits, up to a timeout, until every
 * live data plane (the fleet view) has acknowledged it, and says how many sessions each cut.
 *
 * Acknowledgements arriving later (a data plane that was cut off and caught up) are stored too:
 * ListRevocations shows how many data planes acknowledged each revocation.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "../../common/logger.js";
import type { Revocation, RevocationAck, RevocationKind } from "../../proto/bus.js";
import type { SigningKey } from "../bundle/signing-key.js";
import type { RevocationBus } from "../distribute/revocation-bus.js";
import type { EventHub } from "../events/event-hub.js";
import {
  type RevocationAckRecord,
  type RevocationRecord,
  type RevocationRepository,
  revocationMessage,
} from "../store/index.js";
import { signRevocation } from "./sign.js";

export class RevocationRequestError extends Error {
  override name = "RevocationRequestError";
}

export interface RevokeRequest {
  kind: RevocationKind;
  value: string;
  reason?: string;
  /** The admin subject. */
  by: string;
  /** Return as soon as it is stored and published. */
  noWait?: boolean;
  /** Default: the service's ackTimeoutMs. */
  waitTimeoutMs?: number;
}

export interface RevokeOutcome {
  revocation: RevocationRecord;
  published: boolean;
  publishError?: string;
  waited: boolean;
  acks: RevocationAckRecord[];
  /** Live data planes that did not acknowledge within the wait. */
  missing: string[];
}

export interface RevocationServiceOptions {
  repository: RevocationRepository;
  signingKey: SigningKey;
  bus: Pick<RevocationBus, "publish" | "publishFast">;
  /** Ids of the data planes live now (expected to acknowledge). */
  liveDataPlanes: () => string[];
  retentionMs: number;
  ackTimeoutMs: number;
  logger: Logger;
  events?: EventHub;
  now?: () => number;
}

interface Waiter {
  expected: Set<string>;
  acked: Map<string, RevocationAckRecord>;
  done: () => void;
}

const MAX_WAIT_MS = 120_000;

export class RevocationService {
  readonly #options: RevocationServiceOptions;
  readonly #now: () => number;
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** The latest revocation, for the lag metric: when it was made, who must acknowledge, who did. */
  #latest:
    | { id: string; createdMs: number; expected: Set<string>; acked: Set<string>; doneMs?: number }
    | undefined;

  constructor(options: RevocationServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  async revoke(request: RevokeRequest): Promise<RevokeOutcome> {
    const value = request.value.trim();
    if (value === "")
      throw new RevocationRequestError(
        `give the ${request.kind === "token" ? "token jti" : request.kind} to revoke`,
      );
    if (value.length > 1000)
      throw new RevocationRequestError(`the ${request.kind} to revoke is over 1000 characters`);
    const reason = (request.reason ?? "").trim();
    if (reason.length > 1000) throw new RevocationRequestError("the reason is over 1000 characters");
    const now = this.#now();
    const fields = {
      id: randomUUID(),
      kind: request.kind,
      value,
      reason,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + this.#options.retentionMs).toISOString(),
      created_by: request.by,
    };
    const signed = await signRevocation(fields, this.#options.signingKey);
    // From here to the store nothing awaits: the waiter exists before anything is published (acks
    // can come back within a millisecond), the fast path goes out first (data planes cut while
    // this stores it), and an ack cannot be handled before the revocation is in SQLite, since the
    // handler runs on this same event loop after this synchronous block.
    const expected = new Set(this.#options.liveDataPlanes());
    this.#latest = { id: signed.id, createdMs: now, expected: new Set(expected), acked: new Set() };
    if (expected.size === 0) this.#latest.doneMs = now;
    const waiter: Waiter = { expected, acked: new Map(), done: () => {} };
    const wait = request.noWait
      ? undefined
      : new Promise<void>((resolve) => {
          waiter.done = resolve;
        });
    this.#addWaiter(signed.id, waiter);
    this.#options.bus.publishFast(signed);
    try {
      this.#options.repository.insert(signed);
    } catch (err) {
      this.#removeWaiter(signed.id, waiter);
      throw err;
    }
    this.#options.logger.info(
      { id: signed.id, kind: signed.kind, value: signed.value, by: request.by, reason },
      "revocation created",
    );
    this.#options.events?.emit("revocation", "revocation.created", publicView(signed));

    try {
      const publish = await this.#options.bus.publish(signed);
      if (publish.published)
        this.#options.events?.emit("revocation", "revocation.published", { id: signed.id });
      if (!publish.published || !wait) {
        return this.#outcome(signed.id, waiter, publish.published, publish.error, false);
      }
      if (expected.size > 0 && waiter.acked.size < expected.size) {
        const timeout = Math.min(request.waitTimeoutMs || this.#options.ackTimeoutMs, MAX_WAIT_MS);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([wait, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)))]);
        clearTimeout(timer);
      }
      return this.#outcome(signed.id, waiter, true, undefined, true);
    } finally {
      this.#removeWaiter(signed.id, waiter);
    }
  }

  /** Stores a data plane's acknowledgement and tells whoever waits for it. */
  recordAck(ack: RevocationAck): void {
    const record: RevocationAckRecord = {
      revocationId: ack.revocation_id,
      dataPlaneId: ack.data_plane_id,
      sessionsCut: ack.sessions_cut,
      ackedAt: ack.at,
    };
    const known = this.#options.repository.recordAck(record);
    if (!known) {
      this.#options.logger.debug(
        { id: ack.revocation_id },
        "acknowledgement of an unknown revocation ignored",
      );
      return;
    }
    this.#options.events?.emit("revocation", "revocation.ack", ack);
    const latest = this.#latest;
    if (latest?.id === ack.revocation_id && latest.doneMs === undefined) {
      latest.acked.add(ack.data_plane_id);
      if ([...latest.expected].every((id) => latest.acked.has(id))) latest.doneMs = this.#now();
    }
    for (const waiter of this.#waiters.get(ack.revocation_id) ?? []) {
      const previous = waiter.acked.get(ack.data_plane_id);
      waiter.acked.set(ack.data_plane_id, {
        ...record,
        sessionsCut: (previous?.sessionsCut ?? 0) + record.sessionsCut,
      });
      if ([...waiter.expected].every((id) => waiter.acked.has(id))) waiter.done();
    }
  }

  /**
   * Seconds from the latest revocation to its acknowledgement by every data plane live when it was
   * made; while some have not acknowledged, how long it has been waiting. 0 before any revocation.
   */
  lagSeconds(): number {
    const latest = this.#latest;
    if (!latest) return 0;
    return ((latest.doneMs ?? this.#now()) - latest.createdMs) / 1000;
  }

  list(options: { includeExpired?: boolean; limit?: number } = {}): RevocationRecord[] {
    return this.#options.repository.list({ ...options, now: new Date(this.#now()).toISOString() });
  }

  /** What the stream must carry: every revocation in force. */
  live(): { revocation: Revocation; streamSeq?: number }[] {
    return this.#options.repository.live(new Date(this.#now()).toISOString()).map((r) => ({
      revocation: revocationMessage(r),
      ...(r.streamSeq !== undefined ? { streamSeq: r.streamSeq } : {}),
    }));
  }

  #outcome(
    id: string,
    waiter: Waiter,
    published: boolean,
    publishError: string | undefined,
    waited: boolean,
  ): RevokeOutcome {
    const revocation = this.#options.repository.get(id)!;
    const acks = [...waiter.acked.values()].sort((a, b) => a.dataPlaneId.localeCompare(b.dataPlaneId));
    const missing = [...waiter.expected].filter((dp) => !waiter.acked.has(dp)).sort();
    const outcome: RevokeOutcome = { revocation, published, waited, acks, missing };
    if (publishError !== undefined) outcome.publishError = publishError;
    return outcome;
  }

  #addWaiter(id: string, waiter: Waiter): void {
    const set = this.#waiters.get(id) ?? new Set();
    set.add(waiter);
    this.#waiters.set(id, set);
  }

  #removeWaiter(id: string, waiter: Waiter): void {
    const set = this.#waiters.get(id);
    set?.delete(waiter);
    if (set?.size === 0) this.#waiters.delete(id);
  }
}

/** A revocation as events show it (the signature is public, but noise). */
function publicView(r: Revocation): Omit<Revocation, "signature"> {
  const { signature: _signature, ...rest } = r;
  return rest;
}
