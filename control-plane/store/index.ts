/**
 * The control plane's store: one SQLite file (WAL) holding every bundle and its bytes, the
 * activation history, policy source cursors and the fleet view; the tables for revocations,
 * sessions and decisions exist for the features that fill them. Synchronous (better-sqlite3): each
 * call is short, and a single writer process owns the file.
 */
import { BundleRepository } from "./bundles.js";
import { DEFAULT_STORE_PATH, openDatabase, type SqliteDatabase, schemaVersion } from "./database.js";
import { DecisionRepository } from "./decisions.js";
import { FleetRepository } from "./fleet.js";
import { GrantRepository } from "./grants.js";
import { RevocationRepository } from "./revocations.js";
import { SessionRepository } from "./sessions.js";
import { ShadowRepository } from "./shadow.js";
import { SourceRepository } from "./sources.js";

export * from "./bundles.js";
export {
  DEFAULT_STORE_PATH,
  migrate,
  openDatabase,
  type SqliteDatabase,
  StoreError,
  schemaVersion,
} from "./database.js";
export * from "./decisions.js";
export * from "./fleet.js";
export * from "./grants.js";
export { MIGRATIONS, type Migration } from "./migrations.js";
export * from "./revocations.js";
export * from "./sessions.js";
export * from "./shadow.js";
export * from "./sources.js";

export class ControlPlaneStore {
  readonly bundles: BundleRepository;
  readonly decisions: DecisionRepository;
  readonly fleet: FleetRepository;
  readonly grants: GrantRepository;
  readonly sources: SourceRepository;
  readonly revocations: RevocationRepository;
  readonly sessions: SessionRepository;
  readonly shadow: ShadowRepository;
  #closed = false;

  constructor(readonly db: SqliteDatabase) {
    this.bundles = new BundleRepository(db);
    this.decisions = new DecisionRepository(db);
    this.fleet = new FleetRepository(db);
    this.grants = new GrantRepository(db);
    this.sources = new SourceRepository(db);
    this.revocations = new RevocationRepository(db);
    this.sessions = new SessionRepository(db);
    this.shadow = new ShadowRepository(db);
  }

  /** Opens (creating and migrating) the store at `path`; default ./.portcullis/control-plane.db. */
  static open(path: string = DEFAULT_STORE_PATH): ControlPlaneStore {
    return new ControlPlaneStore(openDatabase(path));
  }

  get schemaVersion(): number {
    return schemaVersion(this.db);
  }

  get open(): boolean {
    return !this.#closed && this.db.open;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.db.close();
  }
}
