/**
 * Every bundle the control plane built or tried to build, and the history of activations.
 *
 * A bundle goes building → failed | ready; activation makes one ready bundle `active` (the one
 * before goes back to `ready`) and records who/when/from→to. The bytes stay in SQLite, so any ready
 * revision can be activated again (a rollback) without rebuilding it.
 */
import type { SqliteDatabase } from "./database.js";
import { StoreError } from "./database.js";
import {
  SIGNED_BUNDLE_COLUMNS,
  type SignedBundle,
  type SignedBundleRow,
  signedBundle,
} from "./signed-bundle.js";

export type BundleStatus = "building" | "failed" | "ready" | "active";
export const BUNDLE_STATUSES: readonly BundleStatus[] = ["building", "failed", "ready", "active"];
export type BundleSource = "git" | "publish";

/** The stages a bundle goes through; `internal` marks infrastructure failures (opa missing, …). */
export type BuildStage = "export" | "check" | "test" | "build" | "sign" | "store" | "publish" | "internal";

export interface StoredPolicyError {
  stage: string;
  file?: string;
  row?: number;
  col?: number;
  code?: string;
  message: string;
}

export interface BundleRecord {
  revision: string;
  status: BundleStatus;
  source: BundleSource;
  sourceCommit?: string;
  sourceRef?: string;
  commitMessage?: string;
  commitAuthor?: string;
  committedAt?: string;
  requestedBy?: string;
  createdAt: string;
  finishedAt?: string;
  failedStage?: string;
  /** Milliseconds per stage (export, check, test, build, sign, store, publish) and total. */
  durations: Record<string, number>;
  testsPassed?: number;
  testsSkipped?: number;
  testOutput?: string;
  errors: StoredPolicyError[];
  manifestJson?: string;
  signature?: string;
  sha256?: string;
  sizeBytes?: number;
  opaVersion?: string;
  entrypoints?: string[];
  /** The latest activation of this revision. */
  activatedAt?: string;
}

export interface NewBuild {
  revision: string;
  source: BundleSource;
  sourceCommit?: string;
  sourceRef?: string;
  commitMessage?: string;
  commitAuthor?: string;
  committedAt?: string;
  requestedBy?: string;
  createdAt?: string;
}

export interface FailedBuild {
  stage: string;
  errors: StoredPolicyError[];
  durations: Record<string, number>;
  testOutput?: string;
  testsPassed?: number;
  testsSkipped?: number;
  finishedAt?: string;
}

export interface ReadyBuild {
  manifestJson: string;
  signature: string;
  sha256: string;
  bytes: Uint8Array;
  opaVersion: string;
  entrypoints: readonly string[];
  durations: Record<string, number>;
  testsPassed: number;
  testsSkipped: number;
  testOutput?: string;
  finishedAt?: string;
}

export interface ActivationRecord {
  id: number;
  revision: string;
  previousRevision?: string;
  activatedAt: string;
  activatedBy: string;
  reason?: string;
  publishedAt?: string;
}

export interface ActivationResult {
  activation: ActivationRecord;
  /** False when the revision was already active (nothing recorded). */
  changed: boolean;
}

/** A bundle's bytes and the activation a distributor publishes them with. */
export interface ActiveBundle extends SignedBundle {
  activatedAt: string;
  activationId: number;
  /** The activation's monotonic sequence (proto/activation.ts). */
  activationSequence: number;
  /** Whether this activation went back to a bundle older than one activated before. */
  rollback: boolean;
}

export class BundleNotFoundError extends StoreError {
  override name = "BundleNotFoundError";
  constructor(readonly revision: string) {
    super(`no bundle with revision ${revision}`);
  }
}

export class BundleStateError extends StoreError {
  override name = "BundleStateError";
}

interface BundleRow {
  revision: string;
  status: BundleStatus;
  source: BundleSource;
  source_commit: string | null;
  source_ref: string | null;
  commit_message: string | null;
  commit_author: string | null;
  committed_at: string | null;
  requested_by: string | null;
  created_at: string;
  finished_at: string | null;
  failed_stage: string | null;
  durations_json: string;
  tests_passed: number | null;
  tests_skipped: number | null;
  test_output: string | null;
  errors_json: string;
  manifest_json: string | null;
  signature: string | null;
  sha256: string | null;
  size_bytes: number | null;
  opa_version: string | null;
  entrypoints_json: string | null;
  activated_at: string | null;
}

interface ActivationRow {
  id: number;
  revision: string;
  previous_revision: string | null;
  activated_at: string;
  activated_by: string;
  reason: string | null;
  published_at: string | null;
}

const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

function toRecord(row: BundleRow): BundleRecord {
  const record: BundleRecord = {
    revision: row.revision,
    status: row.status,
    source: row.source,
    createdAt: row.created_at,
    durations: JSON.parse(row.durations_json) as Record<string, number>,
    errors: JSON.parse(row.errors_json) as StoredPolicyError[],
  };
  const optional: Partial<BundleRecord> = {
    sourceCommit: opt(row.source_commit),
    sourceRef: opt(row.source_ref),
    commitMessage: opt(row.commit_message),
    commitAuthor: opt(row.commit_author),
    committedAt: opt(row.committed_at),
    requestedBy: opt(row.requested_by),
    finishedAt: opt(row.finished_at),
    failedStage: opt(row.failed_stage),
    testsPassed: opt(row.tests_passed),
    testsSkipped: opt(row.tests_skipped),
    testOutput: opt(row.test_output),
    manifestJson: opt(row.manifest_json),
    signature: opt(row.signature),
    sha256: opt(row.sha256),
    sizeBytes: opt(row.size_bytes),
    opaVersion: opt(row.opa_version),
    entrypoints: row.entrypoints_json ? (JSON.parse(row.entrypoints_json) as string[]) : undefined,
    activatedAt: opt(row.activated_at),
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (record as unknown as Record<string, unknown>)[key] = value;
  }
  return record;
}

function toActivation(row: ActivationRow): ActivationRecord {
  const record: ActivationRecord = {
    id: row.id,
    revision: row.revision,
    activatedAt: row.activated_at,
    activatedBy: row.activated_by,
  };
  if (row.previous_revision !== null) record.previousRevision = row.previous_revision;
  if (row.reason !== null) record.reason = row.reason;
  if (row.published_at !== null) record.publishedAt = row.published_at;
  return record;
}

const SELECT_BUNDLE = `
  SELECT b.revision, b.status, b.source, b.source_commit, b.source_ref, b.commit_message, b.commit_author,
         b.committed_at, b.requested_by, b.created_at, b.finished_at, b.failed_stage, b.durations_json,
         b.tests_passed, b.tests_skipped, b.test_output, b.errors_json, b.manifest_json, b.signature,
         b.sha256, b.size_bytes, b.opa_version, b.entrypoints_json,
         (SELECT max(a.activated_at) FROM activations a WHERE a.revision = b.revision) AS activated_at
  FROM bundles b`;

const now = () => new Date().toISOString();

export class BundleRepository {
  constructor(private readonly db: SqliteDatabase) {}

  /**
   * Records that `revision` is being built. A revision that exists already is refused, except a
   * failure of the `internal` stage (opa missing, a timeout, a restart mid-build), which may be
   * retried: its row is reset.
   */
  startBuild(build: NewBuild): BundleRecord {
    const createdAt = build.createdAt ?? now();
    this.db.transaction(() => {
      const existing = this.get(build.revision);
      if (existing) {
        if (existing.status !== "failed" || existing.failedStage !== "internal") {
          throw new BundleStateError(`bundle ${build.revision} exists already (${existing.status})`);
        }
        this.db.prepare("DELETE FROM bundles WHERE revision = ?").run(build.revision);
      }
      this.db
        .prepare(
          `INSERT INTO bundles (revision, status, source, source_commit, source_ref, commit_message,
             commit_author, committed_at, requested_by, created_at)
           VALUES (?, 'building', ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          build.revision,
          build.source,
          build.sourceCommit ?? null,
          build.sourceRef ?? null,
          build.commitMessage ?? null,
          build.commitAuthor ?? null,
          build.committedAt ?? null,
          build.requestedBy ?? null,
          createdAt,
        );
    })();
    return this.require(build.revision);
  }

  markFailed(revision: string, failure: FailedBuild): BundleRecord {
    const result = this.db
      .prepare(
        `UPDATE bundles SET status = 'failed', failed_stage = ?, errors_json = ?, durations_json = ?,
           test_output = ?, tests_passed = ?, tests_skipped = ?, finished_at = ?
         WHERE revision = ? AND status = 'building'`,
      )
      .run(
        failure.stage,
        JSON.stringify(failure.errors),
        JSON.stringify(failure.durations),
        failure.testOutput ?? null,
        failure.testsPassed ?? null,
        failure.testsSkipped ?? null,
        failure.finishedAt ?? now(),
        revision,
      );
    if (result.changes !== 1) throw this.notBuilding(revision);
    return this.require(revision);
  }

  /**
   * The sequence for the next bundle manifest: above every one signed before, and at least the
   * time in milliseconds, so it stays monotonic even for a control plane that lost its database.
   */
  nextBundleSequence(nowMs: number = Date.now()): number {
    const row = this.db.prepare("SELECT max(sequence) AS max FROM bundles").get() as { max: number | null };
    return Math.max((row.max ?? 0) + 1, nowMs);
  }

  markReady(revision: string, ready: ReadyBuild): BundleRecord {
    const result = this.db
      .prepare(
        `UPDATE bundles SET status = 'ready', manifest_json = ?, signature = ?, sha256 = ?, size_bytes = ?,
           bundle = ?, opa_version = ?, entrypoints_json = ?, durations_json = ?, tests_passed = ?,
           tests_skipped = ?, test_output = ?, errors_json = '[]', failed_stage = NULL, finished_at = ?
         WHERE revision = ? AND status = 'building'`,
      )
      .run(
        ready.manifestJson,
        ready.signature,
        ready.sha256,
        ready.bytes.byteLength,
        Buffer.from(ready.bytes.buffer, ready.bytes.byteOffset, ready.bytes.byteLength),
        ready.opaVersion,
        JSON.stringify(ready.entrypoints),
        JSON.stringify(ready.durations),
        ready.testsPassed,
        ready.testsSkipped,
        ready.testOutput ?? null,
        ready.finishedAt ?? now(),
        revision,
      );
    if (result.changes !== 1) throw this.notBuilding(revision);
    const sequence = (JSON.parse(ready.manifestJson) as { sequence?: unknown }).sequence;
    if (typeof sequence === "number") {
      this.db.prepare("UPDATE bundles SET sequence = ? WHERE revision = ?").run(sequence, revision);
    }
    return this.require(revision);
  }

  /** Merges stage durations into a bundle's record (e.g. the publish time, known after activation). */
  addDurations(revision: string, durations: Record<string, number>): void {
    this.db.transaction(() => {
      const row = this.db.prepare("SELECT durations_json FROM bundles WHERE revision = ?").get(revision) as
        | { durations_json: string }
        | undefined;
      if (!row) throw new BundleNotFoundError(revision);
      const merged = { ...(JSON.parse(row.durations_json) as Record<string, number>), ...durations };
      this.db
        .prepare("UPDATE bundles SET durations_json = ? WHERE revision = ?")
        .run(JSON.stringify(merged), revision);
    })();
  }

  /**
   * Marks every bundle left `building` (by a process that stopped mid-build) as failed at the
   * `internal` stage, so it is built again. Returns the revisions concerned.
   */
  failInterrupted(): string[] {
    const rows = this.db.prepare("SELECT revision FROM bundles WHERE status = 'building'").all() as {
      revision: string;
    }[];
    for (const { revision } of rows) {
      this.markFailed(revision, {
        stage: "internal",
        errors: [{ stage: "internal", message: "the build was interrupted (the control plane stopped)" }],
        durations: {},
      });
    }
    return rows.map((r) => r.revision);
  }

  get(revision: string): BundleRecord | undefined {
    const row = this.db.prepare(`${SELECT_BUNDLE} WHERE b.revision = ?`).get(revision) as
      | BundleRow
      | undefined;
    return row ? toRecord(row) : undefined;
  }

  require(revision: string): BundleRecord {
    const record = this.get(revision);
    if (!record) throw new BundleNotFoundError(revision);
    return record;
  }

  /**
   * The full revision a caller means: the revision itself, or a unique prefix of at least 7
   * characters (a short git sha). Throws BundleNotFoundError, or BundleStateError when ambiguous.
   */
  resolveRevision(revisionOrPrefix: string): string {
    if (this.get(revisionOrPrefix)) return revisionOrPrefix;
    if (revisionOrPrefix.length >= 7) {
      const pattern = `${revisionOrPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const rows = this.db
        .prepare("SELECT revision FROM bundles WHERE revision LIKE ? ESCAPE '\\' LIMIT 2")
        .all(pattern) as { revision: string }[];
      if (rows.length === 1) return rows[0]!.revision;
      if (rows.length > 1) {
        throw new BundleStateError(`revision prefix ${revisionOrPrefix} is ambiguous: give more characters`);
      }
    }
    throw new BundleNotFoundError(revisionOrPrefix);
  }

  /** Newest first. */
  list(options: { limit?: number; statuses?: readonly BundleStatus[] } = {}): BundleRecord[] {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 1000);
    const statuses = (options.statuses ?? []).filter((s) => BUNDLE_STATUSES.includes(s));
    const where = statuses.length > 0 ? `WHERE b.status IN (${statuses.map(() => "?").join(", ")})` : "";
    const rows = this.db
      .prepare(`${SELECT_BUNDLE} ${where} ORDER BY b.created_at DESC, b.rowid DESC LIMIT ?`)
      .all(...statuses, limit) as BundleRow[];
    return rows.map(toRecord);
  }

  /** The single-file bundle bytes of a ready or active revision. */
  bytes(revision: string): Uint8Array | undefined {
    const row = this.db.prepare("SELECT bundle FROM bundles WHERE revision = ?").get(revision) as
      | { bundle: Buffer | null }
      | undefined;
    return row?.bundle ? new Uint8Array(row.bundle) : undefined;
  }

  /** The bundles built from a git commit (normally one). */
  byCommit(commit: string): BundleRecord[] {
    const rows = this.db
      .prepare(`${SELECT_BUNDLE} WHERE b.source_commit = ? ORDER BY b.created_at`)
      .all(commit) as BundleRow[];
    return rows.map(toRecord);
  }

  /**
   * Whether a commit was handled already: built, failed on the policy, or being built. Only an
   * `internal` failure leaves it to be tried again.
   */
  isCommitProcessed(commit: string): boolean {
    return this.byCommit(commit).some((b) => !(b.status === "failed" && b.failedStage === "internal"));
  }

  active(): BundleRecord | undefined {
    const row = this.db.prepare(`${SELECT_BUNDLE} WHERE b.status = 'active'`).get() as BundleRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** The active bundle with its bytes and its latest activation, for publishing. */
  activeBundle(): ActiveBundle | undefined {
    const row = this.db
      .prepare(
        `SELECT ${SIGNED_BUNDLE_COLUMNS}, a.id AS activation_id,
                a.activated_at, coalesce(a.sequence, a.id) AS activation_sequence, a.rollback
         FROM bundles b JOIN activations a ON a.revision = b.revision
         WHERE b.status = 'active' ORDER BY a.id DESC LIMIT 1`,
      )
      .get() as
      | (SignedBundleRow & {
          activation_id: number;
          activated_at: string;
          activation_sequence: number;
          rollback: number;
        })
      | undefined;
    if (!row) return undefined;
    return {
      ...signedBundle(row),
      activatedAt: row.activated_at,
      activationId: row.activation_id,
      activationSequence: row.activation_sequence,
      rollback: row.rollback === 1,
    };
  }

  /**
   * Makes a ready revision the active one, in one transaction: the active one goes back to ready,
   * the activation is recorded with who, when and from which revision. Activating the active
   * revision changes nothing.
   */
  activate(
    revision: string,
    by: string,
    reason?: string,
    at: string = now(),
    options: { renew?: boolean } = {},
  ): ActivationResult {
    return this.db.transaction((): ActivationResult => {
      const target = this.get(revision);
      if (!target) throw new BundleNotFoundError(revision);
      // `renew`: a new activation of the active revision (the end of a rolled-back canary: data
      // planes that ran the canary need an activation newer than the canary's to go back)
      if (target.status === "active" && !options.renew) {
        const latest = this.activations({ revision, limit: 1 })[0];
        if (latest) return { activation: latest, changed: false };
      } else if (target.status !== "ready" && !(target.status === "active" && options.renew)) {
        throw new BundleStateError(
          `bundle ${revision} is ${target.status}: only a ready bundle can be activated`,
        );
      }
      const previous = this.active();
      if (previous && previous.revision !== revision) {
        this.db.prepare("UPDATE bundles SET status = 'ready' WHERE revision = ?").run(previous.revision);
      }
      this.db.prepare("UPDATE bundles SET status = 'active' WHERE revision = ?").run(revision);
      const activation = this.#insertActivation(revision, previous?.revision, at, by, reason);
      return { activation, changed: true };
    })();
  }

  /**
   * Records the activation of a ready revision for a canary (a subset of the fleet): a signed
   * activation with a sequence of its own, while the active revision stays active for the rest.
   * Returns the bundle with that activation, for the distributor's canary pointer.
   */
  canaryActivation(revision: string, by: string, reason?: string, at: string = now()): ActiveBundle {
    return this.db.transaction((): ActiveBundle => {
      const target = this.get(revision);
      if (!target) throw new BundleNotFoundError(revision);
      if (target.status !== "ready") {
        throw new BundleStateError(
          `bundle ${revision} is ${target.status}: only a ready bundle that is not active can be a canary`,
        );
      }
      const previous = this.active();
      if (!previous) throw new BundleStateError("no bundle is active: a canary needs one to compare with");
      const activation = this.#insertActivation(revision, previous.revision, at, by, reason);
      const row = this.db
        .prepare(`SELECT ${SIGNED_BUNDLE_COLUMNS} FROM bundles b WHERE b.revision = ?`)
        .get(revision) as SignedBundleRow;
      const stored = this.db
        .prepare("SELECT coalesce(sequence, id) AS sequence, rollback FROM activations WHERE id = ?")
        .get(activation.id) as { sequence: number; rollback: number };
      return {
        ...signedBundle(row),
        activatedAt: activation.activatedAt,
        activationId: activation.id,
        activationSequence: stored.sequence,
        rollback: stored.rollback === 1,
      };
    })();
  }

  #insertActivation(
    revision: string,
    previousRevision: string | undefined,
    at: string,
    by: string,
    reason: string | undefined,
  ): ActivationRecord {
    {
      // Monotonic, and at least the time in ms (see nextBundleSequence); a rollback is going back
      // to a bundle older than one that was ever enforced, which data planes accept only when the
      // signed activation says so.
      const seen = this.db
        .prepare(
          `SELECT max(coalesce(a.sequence, a.id)) AS activation, max(coalesce(b.sequence, 0)) AS manifest
           FROM activations a JOIN bundles b ON b.revision = a.revision`,
        )
        .get() as { activation: number | null; manifest: number | null };
      const targetSequence = (
        this.db
          .prepare("SELECT coalesce(sequence, 0) AS s FROM bundles WHERE revision = ?")
          .get(revision) as {
          s: number;
        }
      ).s;
      const sequence = Math.max((seen.activation ?? 0) + 1, Date.now());
      const rollback = targetSequence < (seen.manifest ?? 0) ? 1 : 0;
      const info = this.db
        .prepare(
          `INSERT INTO activations (revision, previous_revision, activated_at, activated_by, reason, sequence, rollback)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(revision, previousRevision ?? null, at, by, reason ?? null, sequence, rollback);
      const activation = this.db
        .prepare("SELECT * FROM activations WHERE id = ?")
        .get(Number(info.lastInsertRowid)) as ActivationRow;
      return toActivation(activation);
    }
  }

  /** Records when an activation first reached NATS (later republications keep the first time). */
  markPublished(activationId: number, at: string = now()): void {
    this.db
      .prepare("UPDATE activations SET published_at = ? WHERE id = ? AND published_at IS NULL")
      .run(at, activationId);
  }

  /** Activation history, newest first. */
  activations(options: { revision?: string; limit?: number } = {}): ActivationRecord[] {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 1000);
    const rows = (
      options.revision
        ? this.db
            .prepare("SELECT * FROM activations WHERE revision = ? ORDER BY id DESC LIMIT ?")
            .all(options.revision, limit)
        : this.db.prepare("SELECT * FROM activations ORDER BY id DESC LIMIT ?").all(limit)
    ) as ActivationRow[];
    return rows.map(toActivation);
  }

  private notBuilding(revision: string): StoreError {
    const existing = this.get(revision);
    return existing
      ? new BundleStateError(`bundle ${revision} is ${existing.status}, not building`)
      : new BundleNotFoundError(revision);
  }
}
