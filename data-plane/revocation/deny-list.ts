/**
 * The data plane's deny-list: every revocation it knows that has not expired, indexed by what it
 * names (a session id, a token subject, a token jti). Revocations only ever add entries; an entry
 * goes away when the revocation's `expires_at` has passed (several revocations of the same value
 * keep the latest expiry). Pure data: verification, cutting sessions and staleness live in
 * enforcer.ts.
 *
 * A subject revocation matches the token's `sub` whatever its issuer: with several issuers, a
 * subject naming one person in one and another in the other is revoked in both.
 */
import type { Revocation, RevocationKind } from "../../proto/bus.js";

export interface DenyEntry {
  /** The revocation (the latest-expiring one for this value). */
  id: string;
  reason: string;
  expiresAtMs: number;
}

/** What a login or a session is matched against. */
export interface Revocable {
  sessionId?: string;
  subject?: string;
  jti?: string;
}

export interface DenyMatch {
  kind: RevocationKind;
  entry: DenyEntry;
}

export class DenyList {
  readonly #byKind: Record<RevocationKind, Map<string, DenyEntry>> = {
    session: new Map(),
    subject: new Map(),
    token: new Map(),
  };
  /** Every revocation applied, by id (until it expires). */
  readonly #revocations = new Map<string, Revocation>();

  /**
   * Adds a revocation. Returns false when it was already known or has expired at `nowMs` (nothing
   * changes then).
   */
  add(revocation: Revocation, nowMs: number = Date.now()): boolean {
    if (this.#revocations.has(revocation.id)) return false;
    const expiresAtMs = Date.parse(revocation.expires_at);
    if (!(expiresAtMs > nowMs)) return false;
    this.#revocations.set(revocation.id, revocation);
    const map = this.#byKind[revocation.kind];
    const existing = map.get(revocation.value);
    if (!existing || existing.expiresAtMs < expiresAtMs) {
      map.set(revocation.value, { id: revocation.id, reason: revocation.reason, expiresAtMs });
    }
    return true;
  }

  has(id: string): boolean {
    return this.#revocations.has(id);
  }

  /**
   * Whether exactly this message (every field and the signature) is already held: a second delivery
   * of a verified revocation (the live copy, then the stream's) needs no second verification.
   */
  holdsSame(revocation: Revocation): boolean {
    const held = this.#revocations.get(revocation.id);
    if (!held) return false;
    return (
      (Object.keys(held) as (keyof Revocation)[]).length === Object.keys(revocation).length &&
      (Object.keys(held) as (keyof Revocation)[]).every((k) => held[k] === revocation[k])
    );
  }

  /** The first entry (token, then subject, then session) that revokes `who` at `nowMs`. */
  match(who: Revocable, nowMs: number = Date.now()): DenyMatch | undefined {
    const probe = (kind: RevocationKind, value: string | undefined): DenyMatch | undefined => {
      if (value === undefined || value === "") return undefined;
      const entry = this.#byKind[kind].get(value);
      return entry && entry.expiresAtMs > nowMs ? { kind, entry } : undefined;
    };
    return probe("token", who.jti) ?? probe("subject", who.subject) ?? probe("session", who.sessionId);
  }

  /** Whether a revocation applies to `who` (same kind and value). */
  static applies(revocation: Revocation, who: Revocable): boolean {
    switch (revocation.kind) {
      case "session":
        return who.sessionId === revocation.value;
      case "subject":
        return who.subject === revocation.value;
      case "token":
        return who.jti !== undefined && who.jti === revocation.value;
    }
  }

  /** Drops what expired before `nowMs`; returns how many revocations went. */
  prune(nowMs: number = Date.now()): number {
    let dropped = 0;
    for (const [id, revocation] of this.#revocations) {
      if (Date.parse(revocation.expires_at) <= nowMs) {
        this.#revocations.delete(id);
        dropped += 1;
      }
    }
    for (const map of Object.values(this.#byKind)) {
      for (const [value, entry] of map) if (entry.expiresAtMs <= nowMs) map.delete(value);
    }
    return dropped;
  }

  /** The revocations in force (for the copy kept on disk), oldest first. */
  revocations(): Revocation[] {
    return [...this.#revocations.values()];
  }

  get size(): number {
    return this.#revocations.size;
  }
}
