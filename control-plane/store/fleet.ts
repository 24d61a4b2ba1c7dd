/** The data planes heard from on `portcullis.status.>`: the latest report of each, kept across restarts. */
import type { StatusReport } from "../../proto/bus.js";
import { prepared, type SqliteDatabase } from "./database.js";

export interface DataPlaneRecord {
  id: string;
  region: string;
  version: string;
  revision: string;
  wantedRevision?: string;
  loadError?: string;
  sessions: number;
  labels: Record<string, string>;
  startedAt?: string;
  /** The NATS server the data plane reported it is connected to, and that server's cluster (its region). */
  natsServer?: string;
  natsCluster?: string;
  firstSeenAt: string;
  lastSeenAt: string;
}

interface DataPlaneRow {
  id: string;
  region: string;
  version: string;
  revision: string;
  wanted_revision: string | null;
  load_error: string | null;
  sessions: number;
  labels_json: string;
  started_at: string | null;
  first_seen_at: string;
  last_seen_at: string;
  last_report_json: string | null;
}

function toRecord(row: DataPlaneRow): DataPlaneRecord {
  const record: DataPlaneRecord = {
    id: row.id,
    region: row.region,
    version: row.version,
    revision: row.revision,
    sessions: row.sessions,
    labels: JSON.parse(row.labels_json) as Record<string, string>,
    firstSeenAt: row.first_seen_at,
    lastSeenAt: row.last_seen_at,
  };
  if (row.wanted_revision !== null) record.wantedRevision = row.wanted_revision;
  if (row.load_error !== null) record.loadError = row.load_error;
  if (row.started_at !== null) record.startedAt = row.started_at;
  if (row.last_report_json) {
    const report = JSON.parse(row.last_report_json) as Partial<StatusReport>;
    if (report.nats_server) record.natsServer = report.nats_server;
    if (report.nats_cluster) record.natsCluster = report.nats_cluster;
  }
  return record;
}

export class FleetRepository {
  constructor(private readonly db: SqliteDatabase) {}

  /** Records a report received at `receivedAt` (the control plane's clock decides liveness). */
  upsert(report: StatusReport, receivedAt: string = new Date().toISOString()): DataPlaneRecord {
    prepared(
      this.db,
      `INSERT INTO data_planes (id, region, version, revision, wanted_revision, load_error, sessions,
           labels_json, started_at, first_seen_at, last_seen_at, last_report_json)
         VALUES (@id, @region, @version, @revision, @wanted, @error, @sessions, @labels, @started, @at, @at, @report)
         ON CONFLICT (id) DO UPDATE SET region = excluded.region, version = excluded.version,
           revision = excluded.revision, wanted_revision = excluded.wanted_revision,
           load_error = excluded.load_error, sessions = excluded.sessions, labels_json = excluded.labels_json,
           started_at = excluded.started_at, last_seen_at = excluded.last_seen_at,
           last_report_json = excluded.last_report_json`,
    ).run({
      id: report.id,
      region: report.region,
      version: report.version,
      revision: report.revision,
      wanted: report.wanted_revision ?? null,
      error: report.load_error ?? null,
      sessions: report.sessions,
      labels: JSON.stringify(report.labels ?? {}),
      started: report.started_at ?? null,
      at: receivedAt,
      report: JSON.stringify(report),
    });
    return this.get(report.id)!;
  }

  get(id: string): DataPlaneRecord | undefined {
    const row = prepared(this.db, "SELECT * FROM data_planes WHERE id = ?").get(id) as
      | DataPlaneRow
      | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Every data plane ever heard from, most recently seen first. */
  list(): DataPlaneRecord[] {
    return (
      prepared(this.db, "SELECT * FROM data_planes ORDER BY last_seen_at DESC, id").all() as DataPlaneRow[]
    ).map(toRecord);
  }

  /** Forgets data planes not seen since `before` (RFC 3339); returns how many. */
  forgetBefore(before: string): number {
    return prepared(this.db, "DELETE FROM data_planes WHERE last_seen_at < ?").run(before).changes;
  }
}
