/**
 * The control plane's SQLite schema, as numbered migrations applied in order and recorded in
 * `schema_migrations`. A migration is never edited once released: changes are new migrations.
 *
 * Times are RFC 3339 UTC text (they sort as text); JSON columns hold JSON text.
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "bundles, activations, policy sources",
    sql: `
      CREATE TABLE bundles (
        revision        TEXT PRIMARY KEY,
        status          TEXT NOT NULL CHECK (status IN ('building', 'failed', 'ready', 'active')),
        source          TEXT NOT NULL CHECK (source IN ('git', 'publish')),
        source_commit   TEXT,
        source_ref      TEXT,
        commit_message  TEXT,
        commit_author   TEXT,
        committed_at    TEXT,
        requested_by    TEXT,
        created_at      TEXT NOT NULL,
        finished_at     TEXT,
        failed_stage    TEXT,
        durations_json  TEXT NOT NULL DEFAULT '{}',
        tests_passed    INTEGER,
        tests_skipped   INTEGER,
        test_output     TEXT,
        errors_json     TEXT NOT NULL DEFAULT '[]',
        manifest_json   TEXT,
        signature       TEXT,
        sha256          TEXT,
        size_bytes      INTEGER,
        opa_version     TEXT,
        entrypoints_json TEXT,
        bundle          BLOB,
        CHECK (status NOT IN ('ready', 'active')
               OR (manifest_json IS NOT NULL AND signature IS NOT NULL AND sha256 IS NOT NULL
                   AND bundle IS NOT NULL))
      );
      -- At most one active bundle.
      CREATE UNIQUE INDEX bundles_one_active ON bundles (status) WHERE status = 'active';
      CREATE INDEX bundles_created_at ON bundles (created_at);
      CREATE INDEX bundles_source_commit ON bundles (source_commit);

      CREATE TABLE activations (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        revision          TEXT NOT NULL REFERENCES bundles (revision),
        previous_revision TEXT REFERENCES bundles (revision),
        activated_at      TEXT NOT NULL,
        activated_by      TEXT NOT NULL,
        reason            TEXT,
        published_at      TEXT
      );
      CREATE INDEX activations_revision ON activations (revision, activated_at);
      CREATE INDEX activations_activated_at ON activations (activated_at);

      -- Where each policy source (a git URL + branch + folder) has been read up to.
      CREATE TABLE policy_sources (
        id              TEXT PRIMARY KEY,
        url             TEXT NOT NULL,
        branch          TEXT NOT NULL,
        folder          TEXT NOT NULL,
        last_commit     TEXT,
        last_head       TEXT,
        last_fetched_at TEXT,
        last_error      TEXT,
        updated_at      TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "data planes, sessions, revocations, decisions",
    sql: `
      CREATE TABLE data_planes (
        id               TEXT PRIMARY KEY,
        region           TEXT NOT NULL DEFAULT '',
        version          TEXT NOT NULL DEFAULT '',
        revision         TEXT NOT NULL DEFAULT '',
        wanted_revision  TEXT,
        load_error       TEXT,
        sessions         INTEGER NOT NULL DEFAULT 0,
        labels_json      TEXT NOT NULL DEFAULT '{}',
        started_at       TEXT,
        first_seen_at    TEXT NOT NULL,
        last_seen_at     TEXT NOT NULL,
        last_report_json TEXT NOT NULL
      );
      CREATE INDEX data_planes_last_seen ON data_planes (last_seen_at);
      CREATE INDEX data_planes_region ON data_planes (region);

      CREATE TABLE sessions (
        id                TEXT PRIMARY KEY,
        data_plane_id     TEXT NOT NULL,
        region            TEXT NOT NULL DEFAULT '',
        subject           TEXT NOT NULL,
        issuer            TEXT NOT NULL DEFAULT '',
        jti               TEXT,
        sid               TEXT,
        db_role           TEXT NOT NULL DEFAULT '',
        database          TEXT NOT NULL DEFAULT '',
        client_addr       TEXT NOT NULL DEFAULT '',
        application_name  TEXT NOT NULL DEFAULT '',
        revision          TEXT,
        started_at        TEXT NOT NULL,
        last_heartbeat_at TEXT,
        ended_at          TEXT,
        end_reason        TEXT,
        statements        INTEGER NOT NULL DEFAULT 0,
        denied            INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX sessions_live ON sessions (data_plane_id) WHERE ended_at IS NULL;
      CREATE INDEX sessions_subject ON sessions (subject, started_at);
      CREATE INDEX sessions_jti ON sessions (jti) WHERE jti IS NOT NULL;
      CREATE INDEX sessions_started_at ON sessions (started_at);

      CREATE TABLE revocations (
        id           TEXT PRIMARY KEY,
        kind         TEXT NOT NULL CHECK (kind IN ('session', 'subject', 'token')),
        value        TEXT NOT NULL,
        reason       TEXT NOT NULL DEFAULT '',
        created_at   TEXT NOT NULL,
        created_by   TEXT NOT NULL DEFAULT '',
        expires_at   TEXT NOT NULL,
        signature    TEXT,
        stream_seq   INTEGER,
        published_at TEXT
      );
      CREATE INDEX revocations_kind_value ON revocations (kind, value);
      CREATE INDEX revocations_expires_at ON revocations (expires_at);

      CREATE TABLE revocation_acks (
        revocation_id TEXT NOT NULL REFERENCES revocations (id) ON DELETE CASCADE,
        data_plane_id TEXT NOT NULL,
        sessions_cut  INTEGER NOT NULL DEFAULT 0,
        acked_at      TEXT NOT NULL,
        PRIMARY KEY (revocation_id, data_plane_id)
      );

      CREATE TABLE decisions (
        id                    INTEGER PRIMARY KEY AUTOINCREMENT,
        at                    TEXT NOT NULL,
        data_plane_id         TEXT NOT NULL,
        region                TEXT NOT NULL DEFAULT '',
        session_id            TEXT,
        subject               TEXT,
        kind                  TEXT NOT NULL CHECK (kind IN ('connection', 'query', 'admin')),
        allow                 INTEGER NOT NULL CHECK (allow IN (0, 1)),
        reasons_json          TEXT NOT NULL DEFAULT '[]',
        revision              TEXT,
        statement_fingerprint TEXT,
        statement_text        TEXT,
        stream_seq            INTEGER
      );
      CREATE INDEX decisions_at ON decisions (at);
      CREATE INDEX decisions_subject_at ON decisions (subject, at);
      CREATE INDEX decisions_session ON decisions (session_id, at);
      CREATE INDEX decisions_denied_at ON decisions (at) WHERE allow = 0;
      CREATE UNIQUE INDEX decisions_stream_seq ON decisions (stream_seq) WHERE stream_seq IS NOT NULL;
    `,
  },
  {
    version: 3,
    name: "session token details, revocation ack lookups",
    sql: `
      ALTER TABLE sessions ADD COLUMN claims_digest TEXT;
      ALTER TABLE sessions ADD COLUMN token_expires_at TEXT;
      ALTER TABLE sessions ADD COLUMN max_session_seconds REAL;
      CREATE INDEX revocations_created_at ON revocations (created_at);
      CREATE INDEX revocation_acks_data_plane ON revocation_acks (data_plane_id, acked_at);
    `,
  },
  {
    version: 4,
    name: "decision records from the data planes (audit trail)",
    sql: `
      -- One row per DecisionRecord (proto/bus.proto); statement_text holds the normalized SQL.
      ALTER TABLE decisions ADD COLUMN record_id TEXT;
      ALTER TABLE decisions ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
      ALTER TABLE decisions ADD COLUMN db_role TEXT NOT NULL DEFAULT '';
      ALTER TABLE decisions ADD COLUMN database TEXT NOT NULL DEFAULT '';
      ALTER TABLE decisions ADD COLUMN protocol TEXT NOT NULL DEFAULT '';
      ALTER TABLE decisions ADD COLUMN statement_kind TEXT NOT NULL DEFAULT '';
      ALTER TABLE decisions ADD COLUMN statement_command TEXT NOT NULL DEFAULT '';
      ALTER TABLE decisions ADD COLUMN relations_json TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE decisions ADD COLUMN sql_truncated INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE decisions ADD COLUMN eval_micros REAL NOT NULL DEFAULT 0;
      ALTER TABLE decisions ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE decisions ADD COLUMN client_addr TEXT NOT NULL DEFAULT '';
      ALTER TABLE decisions ADD COLUMN application_name TEXT NOT NULL DEFAULT '';
      ALTER TABLE decisions ADD COLUMN received_at TEXT;
      -- A record delivered twice (a retried publish, a redelivery) is stored once.
      CREATE UNIQUE INDEX decisions_record_id ON decisions (record_id) WHERE record_id IS NOT NULL;
      -- Stream sequences restart when the stream is recreated: not unique.
      DROP INDEX decisions_stream_seq;
      CREATE INDEX decisions_stream_seq ON decisions (stream_seq);
      CREATE INDEX decisions_data_plane_at ON decisions (data_plane_id, at);

      -- The relations each statement touched, for QueryDecisions by relation.
      CREATE TABLE decision_relations (
        decision_id     INTEGER NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
        relation_schema TEXT NOT NULL DEFAULT '',
        relation_name   TEXT NOT NULL,
        access          TEXT NOT NULL
      );
      CREATE INDEX decision_relations_relation ON decision_relations (relation_name, relation_schema, decision_id);
      CREATE INDEX decision_relations_decision ON decision_relations (decision_id);
    `,
  },
  {
    version: 5,
    name: "bundle and activation sequences (no rollback by replay)",
    sql: `
      -- The manifest's monotonic sequence (NULL for bundles signed before manifests had one).
      ALTER TABLE bundles ADD COLUMN sequence INTEGER;
      -- The signed activation's monotonic sequence, and whether it went back to an older bundle.
      ALTER TABLE activations ADD COLUMN sequence INTEGER;
      ALTER TABLE activations ADD COLUMN rollback INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 6,
    name: "session ends from the stream: inferred or reported, an end before its start",
    sql: `
      -- 1 when the control plane inferred the end (missing from a heartbeat, data plane lost): the
      -- data plane's own SessionEnded replaces it, a later SessionStarted makes the session live again.
      ALTER TABLE sessions ADD COLUMN end_inferred INTEGER NOT NULL DEFAULT 0;
      -- 0 for a row made by a SessionEnded that arrived before its SessionStarted.
      ALTER TABLE sessions ADD COLUMN start_known INTEGER NOT NULL DEFAULT 1;
    `,
  },
  {
    version: 7,
    name: "shadow revisions; decision records keep their policy input and shadow verdict",
    sql: `
      -- Every change of the shadow revision (revision NULL: shadow evaluation ended); the latest
      -- row is in force, its id the shadow activation's monotonic sequence.
      CREATE TABLE shadow_activations (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        revision   TEXT REFERENCES bundles (revision),
        at         TEXT NOT NULL,
        by         TEXT NOT NULL,
        reason     TEXT NOT NULL DEFAULT ''
      );
      -- DecisionRecord.input_json (normalized statement text) and mask_json: what impact replay reads.
      ALTER TABLE decisions ADD COLUMN input_json TEXT;
      ALTER TABLE decisions ADD COLUMN mask_json TEXT;
      -- DecisionRecord.shadow: set only when the shadow revision disagreed.
      ALTER TABLE decisions ADD COLUMN shadow_revision TEXT;
      ALTER TABLE decisions ADD COLUMN shadow_allow INTEGER;
      ALTER TABLE decisions ADD COLUMN shadow_reasons_json TEXT;
      CREATE INDEX decisions_shadow_revision ON decisions (shadow_revision, at) WHERE shadow_revision IS NOT NULL;
    `,
  },
  {
    version: 8,
    name: "just-in-time grants, access requests and their audit trail",
    sql: `
      -- The monotonic sequence every grant message is signed with (one row).
      CREATE TABLE grant_sequence (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        value INTEGER NOT NULL
      );
      INSERT INTO grant_sequence (id, value) VALUES (1, 0);

      -- Each grant's latest signed state (proto/grant.ts), as published on stream PORTCULLIS_GRANTS.
      CREATE TABLE grants (
        id           TEXT PRIMARY KEY,
        sequence     INTEGER NOT NULL,
        subject      TEXT NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('role', 'schema')),
        value        TEXT NOT NULL,
        reason       TEXT NOT NULL DEFAULT '',
        created_by   TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        starts_at    TEXT NOT NULL,
        expires_at   TEXT NOT NULL,
        request_id   TEXT,
        status       TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
        revoked_by   TEXT,
        revoked_at   TEXT,
        message_json TEXT NOT NULL,
        published_at TEXT
      );
      CREATE INDEX grants_expires_at ON grants (expires_at);
      CREATE INDEX grants_subject ON grants (subject, expires_at);

      -- Access requests a subject made for itself; another person approves or denies each.
      CREATE TABLE access_requests (
        id            TEXT PRIMARY KEY,
        subject       TEXT NOT NULL,
        kind          TEXT NOT NULL CHECK (kind IN ('role', 'schema')),
        value         TEXT NOT NULL,
        seconds       INTEGER NOT NULL,
        reason        TEXT NOT NULL DEFAULT '',
        created_at    TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
        decided_by    TEXT,
        decided_at    TEXT,
        decision_note TEXT,
        grant_id      TEXT
      );
      CREATE INDEX access_requests_status ON access_requests (status, created_at);

      -- Who did what: requested, approved, denied, granted, revoked (never updated or deleted).
      CREATE TABLE grant_audit (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         TEXT NOT NULL,
        action     TEXT NOT NULL,
        by         TEXT NOT NULL,
        grant_id   TEXT,
        request_id TEXT,
        detail_json TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX grant_audit_at ON grant_audit (at);
    `,
  },
];
