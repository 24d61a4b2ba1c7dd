/**
 * Just-in-time access from a terminal (proto/admin.proto Grant … DenyRequest):
 *
 *   portcullis admin grant SUBJECT --role app_rw | --schema hr --for 30m --reason TEXT
 *   portcullis admin grants [--all] [--subject SUB]      grants in force (--all: ended too)
 *   portcullis admin revoke-grant ID [--reason TEXT]     end a grant now, everywhere
 *   portcullis request --role app_rw | --schema hr --for 1h --reason TEXT   ask for access yourself
 *   portcullis admin requests [--status pending]         access requests, newest first
 *   portcullis admin approve ID [--note TEXT]            issue the grant (not for your own request)
 *   portcullis admin deny ID [--note TEXT]
 *
 * `--for` takes a duration (90s, 30m, 1h, 8h) or seconds; the control plane refuses one longer
 * than its grants.max_seconds.
 */
import type { Command } from "commander";
import { parseDuration } from "../common/config.js";
import type { AccessRequestMessage, GrantMessage, GrantResponse } from "../proto/load.js";
import type { SessionCommandKit } from "./admin-sessions.js";
import { formatTable, when } from "./table.js";

/** `--for`: a duration ("30m", "1h") or a number of seconds; whole seconds. */
export function parseFor(value: string | undefined): number {
  if (value === undefined || value.trim() === "") throw new Error("give --for (e.g. 30m, 1h)");
  const text = value.trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : parseDuration(text);
  if (!Number.isFinite(ms) || ms < 1000 || ms % 1000 !== 0)
    throw new Error(`--for ${value} is not a duration in whole seconds (e.g. 90s, 30m, 1h)`);
  return ms / 1000;
}

export function formatGrants(grants: readonly GrantMessage[]): string {
  if (grants.length === 0) return "no grants";
  return formatTable(
    ["GRANT", "SUBJECT", "ACCESS", "STATUS", "UNTIL", "BY", "REASON"],
    grants.map((g) => [
      g.id,
      g.subject,
      `${g.kind} ${g.value}`,
      g.status,
      when(g.expires_at),
      g.revoked_by ? `${g.created_by} (revoked by ${g.revoked_by})` : g.created_by,
      g.reason,
    ]),
  );
}

export function formatRequests(requests: readonly AccessRequestMessage[]): string {
  if (requests.length === 0) return "no access requests";
  return formatTable(
    ["REQUEST", "SUBJECT", "ACCESS", "FOR", "STATUS", "DECIDED BY", "REQUESTED", "REASON"],
    requests.map((r) => [
      r.id,
      r.subject,
      `${r.kind} ${r.value}`,
      `${r.seconds}s`,
      r.status,
      r.decided_by || "-",
      when(r.created_at),
      r.reason,
    ]),
  );
}

function formatGrantResponse(r: GrantResponse): string {
  const g = r.grant;
  if (!g) return "no grant returned";
  const head =
    g.status === "revoked"
      ? `revoked grant ${g.id}: ${g.subject} no longer has ${g.kind} ${g.value}`
      : `granted ${g.kind} ${g.value} to ${g.subject} until ${when(g.expires_at)} (grant ${g.id})`;
  return r.published ? head : `${head}\nnot yet on the stream: ${r.publish_error || "NATS unreachable"}`;
}

interface TargetOptions {
  role?: string;
  schema?: string;
  for?: string;
  reason?: string;
}

export function registerGrantCommands<O extends { json?: boolean }>(
  kit: SessionCommandKit<O>,
  top: (name: string, description: string) => Command,
): void {
  const target = (options: TargetOptions) => {
    if (!options.role === !options.schema) kit.fail("give --role ROLE or --schema SCHEMA (one of them)");
    let seconds = 0;
    try {
      seconds = parseFor(options.for);
    } catch (err) {
      kit.fail((err as Error).message);
    }
    return {
      ...(options.role ? { role: options.role } : { schema: options.schema ?? "" }),
      seconds,
      reason: options.reason ?? "",
    };
  };
  const targetOptions = (command: Command) =>
    command
      .option("--role <role>", "a database role (the connection policy maps the subject to it)")
      .option("--schema <schema>", "read access to a schema")
      .option("--for <duration>", "how long (90s, 30m, 1h; at most the control plane's grants.max_seconds)")
      .option("-r, --reason <text>", "why (required; recorded in the audit trail)");

  targetOptions(
    kit.sub("grant <subject>", "give a subject a role or a schema for a time, without a new bundle"),
  ).action(async (subject: string, ...args: unknown[]) => {
    const options = kit.optionsOf<TargetOptions>(args);
    const response = await kit.withClient(options, (c) => c.Grant({ subject, ...target(options) }));
    kit.print(options, response, () => formatGrantResponse(response));
  });

  kit
    .sub("grants", "just-in-time grants in force, newest first")
    .option("-a, --all", "revoked and expired grants too")
    .option("--subject <sub>", "only this subject's")
    .option("-n, --limit <n>", "how many", "100")
    .action(async (...args: unknown[]) => {
      const options = kit.optionsOf<{ all?: boolean; subject?: string; limit: string }>(args);
      const response = await kit.withClient(options, (c) =>
        c.ListGrants({
          include_ended: options.all ?? false,
          subject: options.subject ?? "",
          limit: Number(options.limit) || 100,
        }),
      );
      kit.print(options, response, () => formatGrants(response.grants));
    });

  kit
    .sub("revoke-grant <id>", "end a grant now on every data plane (sessions it allowed are ended)")
    .option("-r, --reason <text>", "why (recorded)")
    .action(async (id: string, ...args: unknown[]) => {
      const options = kit.optionsOf<{ reason?: string }>(args);
      const response = await kit.withClient(options, (c) =>
        c.RevokeGrant({ id, reason: options.reason ?? "" }),
      );
      kit.print(options, response, () => formatGrantResponse(response));
    });

  targetOptions(
    top("request", "ask for just-in-time access for yourself (another person approves it)"),
  ).action(async (...args: unknown[]) => {
    const options = kit.optionsOf<TargetOptions>(args);
    const response = await kit.withClient(options, (c) => c.RequestAccess(target(options)));
    kit.print(
      options,
      response,
      () =>
        `requested ${response.kind} ${response.value} for ${response.seconds}s (request ${response.id}): ` +
        "someone else must `portcullis admin approve` it",
    );
  });

  kit
    .sub("requests", "access requests, newest first")
    .option("--status <status>", "pending, approved or denied")
    .option("--subject <sub>", "only this subject's")
    .option("-n, --limit <n>", "how many", "100")
    .action(async (...args: unknown[]) => {
      const options = kit.optionsOf<{ status?: string; subject?: string; limit: string }>(args);
      const response = await kit.withClient(options, (c) =>
        c.ListRequests({
          status: options.status ?? "",
          subject: options.subject ?? "",
          limit: Number(options.limit) || 100,
        }),
      );
      kit.print(options, response, () => formatRequests(response.requests));
    });

  for (const verb of ["approve", "deny"] as const) {
    kit
      .sub(
        `${verb} <id>`,
        verb === "approve"
          ? "approve an access request (issues its grant; never your own)"
          : "deny an access request (never your own)",
      )
      .option("--note <text>", "recorded with the decision")
      .action(async (id: string, ...args: unknown[]) => {
        const options = kit.optionsOf<{ note?: string }>(args);
        const request = { id, note: options.note ?? "" };
        const response = await kit.withClient(options, (c) =>
          verb === "approve" ? c.ApproveRequest(request) : c.DenyRequest(request),
        );
        kit.print(options, response, () => {
          const r = response.request;
          const head = r
            ? `request ${r.id} ${r.status} (${r.subject}: ${r.kind} ${r.value})`
            : "no request returned";
          return response.grant ? `${head}\n${formatGrantResponse(response.grant)}` : head;
        });
      });
  }
}
