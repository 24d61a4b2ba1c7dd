/**
 * `portcullis admin` commands for live sessions and revocations:
 *
 *   portcullis admin sessions [--subject S] [--data-plane ID] [--region R] [--search T] [-n N] [--page-size N]
 *   portcullis admin revoke-session ID  [--reason TEXT] [--no-wait] [--wait-timeout MS]
 *   portcullis admin revoke-subject SUB [--reason TEXT] [--no-wait] [--wait-timeout MS]
 *   portcullis admin revoke-token JTI   [--reason TEXT] [--no-wait] [--wait-timeout MS]
 *   portcullis admin revocations [--all] [-n N]
 *   portcullis admin watch [--kind session --kind revocation …]
 *
 * A revoke waits (by default) until every live data plane acknowledged, then prints how many
 * sessions each cut and which did not answer; it fails (exit 1) when the revocation could not be
 * published (it is stored and goes out when the control plane reaches NATS again).
 */
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { Command } from "commander";
import type { RevocationKind } from "../proto/bus.js";
import type {
  AdminClient,
  EventMessage,
  ListSessionsRequest,
  RevocationMessage,
  RevokeResponse,
  SessionMessage,
} from "../proto/load.js";
import { when } from "./table.js";

/** What `registerAdminCommands` lends its subcommands (cli/admin.ts). */
export interface SessionCommandKit<O extends { json?: boolean }> {
  sub(name: string, description: string): Command;
  optionsOf<T>(args: unknown[]): O & T;
  print(options: O, response: unknown, text: () => string): void;
  withClient<T>(options: O, fn: (client: AdminClient) => Promise<T>): Promise<T>;
  /** Opens a client for a long-lived stream; the caller closes it. */
  openClient(options: O): Promise<AdminClient>;
  out(text: string): void;
  fail(message: string): never;
  /** A gRPC error as the user should read it. */
  describe(err: unknown): string;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function formatSessions(sessions: readonly SessionMessage[]): string {
  if (sessions.length === 0) return "no live sessions";
  return table(
    ["SESSION", "SUBJECT", "ROLE", "DATABASE", "DATA PLANE", "REGION", "CLIENT", "STARTED", "TOKEN EXPIRES"],
    sessions.map((s) => [
      s.id,
      s.subject,
      s.db_role,
      s.database,
      s.data_plane_id,
      s.region,
      s.client_addr,
      when(s.started_at),
      when(s.token_expires_at),
    ]),
  );
}

/**
 * Every page of ListSessions (page_token after page_token) until `limit` sessions (0: all) or the
 * last page; total_size is the server's count of matching sessions on the last call.
 */
export async function listAllSessions(
  client: AdminClient,
  request: ListSessionsRequest,
  limit: number,
): Promise<{ sessions: SessionMessage[]; total_size: number }> {
  const sessions: SessionMessage[] = [];
  let total = 0;
  let pageToken = "";
  do {
    const want = limit > 0 ? limit - sessions.length : 0;
    const pageSize = want > 0 ? Math.min(request.page_size ?? want, want) : request.page_size;
    const page = await client.ListSessions({
      ...request,
      ...(pageSize ? { page_size: pageSize } : {}),
      page_token: pageToken,
    });
    sessions.push(...page.sessions);
    total = page.total_size;
    pageToken = page.next_page_token;
  } while (pageToken && (limit === 0 || sessions.length < limit));
  return { sessions, total_size: Math.max(total, sessions.length) };
}

export function formatRevocations(revocations: readonly RevocationMessage[]): string {
  if (revocations.length === 0) return "no revocations in force";
  return table(
    ["ID", "KIND", "VALUE", "BY", "CREATED", "EXPIRES", "ACKS", "CUT", "REASON"],
    revocations.map((r) => [
      r.id,
      r.kind,
      r.value,
      r.created_by,
      when(r.created_at),
      when(r.expires_at),
      r.published_at ? String(r.acks) : "unpublished",
      String(r.sessions_cut),
      r.reason,
    ]),
  );
}

export function formatRevokeResponse(response: RevokeResponse): string {
  const r = response.revocation;
  const lines = [
    r
      ? `revoked ${r.kind} ${r.value} (revocation ${r.id}, in force until ${when(r.expires_at)})`
      : "revoked (no revocation returned)",
  ];
  if (!response.published) {
    lines.push(`NOT published yet: ${response.publish_error || "NATS unreachable"}`);
    return lines.join("\n");
  }
  if (!response.waited) {
    lines.push("published; not waiting for the data planes");
    return lines.join("\n");
  }
  const cut = response.acks.reduce((n, a) => n + a.sessions_cut, 0);
  if (response.acks.length > 0) {
    lines.push(
      table(
        ["DATA PLANE", "SESSIONS CUT", "ACKNOWLEDGED"],
        response.acks.map((a) => [a.data_plane_id, String(a.sessions_cut), when(a.at)]),
      ),
    );
  }
  lines.push(
    `${cut} session${cut === 1 ? "" : "s"} cut; ${response.acks.length} data plane${response.acks.length === 1 ? "" : "s"} acknowledged` +
      (response.missing.length > 0 ? `; not acknowledged by: ${response.missing.join(", ")}` : ""),
  );
  return lines.join("\n");
}

interface RevokeOptions {
  reason?: string;
  wait: boolean;
  waitTimeout?: string;
}

export function registerSessionCommands<O extends { json?: boolean }>(kit: SessionCommandKit<O>): void {
  kit
    .sub("sessions", "live sessions across the fleet")
    .option("--subject <sub>", "only this token subject")
    .option("--data-plane <id>", "only this data plane")
    .option("--region <region>", "only this region")
    .option(
      "--search <text>",
      "only sessions with this text in subject, data plane, role, database, client, id",
    )
    .option("-n, --limit <n>", "at most this many (0: all)", "1000")
    .option("--page-size <n>", "sessions per call (the server allows at most 1000)", "1000")
    .action(async (...args: unknown[]) => {
      const options = kit.optionsOf<{
        subject?: string;
        dataPlane?: string;
        region?: string;
        search?: string;
        limit: string;
        pageSize: string;
      }>(args);
      const limit = Number(options.limit);
      const pageSize = Number(options.pageSize);
      if (!Number.isInteger(limit) || limit < 0) kit.fail(`--limit ${options.limit} is not a count`);
      if (!Number.isInteger(pageSize) || pageSize < 1)
        kit.fail(`--page-size ${options.pageSize} is not a count`);
      const response = await kit.withClient(options, (c) =>
        listAllSessions(
          c,
          {
            subject: options.subject ?? "",
            data_plane_id: options.dataPlane ?? "",
            region: options.region ?? "",
            search: options.search ?? "",
            page_size: limit > 0 ? Math.min(pageSize, limit) : pageSize,
          },
          limit,
        ),
      );
      kit.print(options, response, () => {
        const shown = formatSessions(response.sessions);
        const more = response.total_size - response.sessions.length;
        return more > 0 ? `${shown}\n(${more} more: raise --limit, or 0 for all)` : shown;
      });
    });

  const revoke = (name: string, kind: RevocationKind, what: string, arg: string) =>
    kit
      .sub(`${name} <${arg}>`, `end ${what} everywhere and refuse it until the revocation expires`)
      .option("-r, --reason <text>", "why (recorded, and shown to the client whose session is cut)")
      .option("--no-wait", "return once published, without waiting for the data planes")
      .option(
        "--wait-timeout <ms>",
        "how long to wait for every live data plane (default: the control plane's)",
      )
      .action(async (value: string, ...args: unknown[]) => {
        const options = kit.optionsOf<RevokeOptions>(args);
        const timeout = options.waitTimeout === undefined ? 0 : Number(options.waitTimeout);
        if (!Number.isInteger(timeout) || timeout < 0)
          kit.fail(`--wait-timeout ${options.waitTimeout} is not a number of milliseconds`);
        const common = { reason: options.reason ?? "", no_wait: !options.wait, wait_timeout_ms: timeout };
        const response = await kit.withClient(options, (c) =>
          kind === "session"
            ? c.RevokeSession({ session_id: value, ...common })
            : kind === "subject"
              ? c.RevokeSubject({ subject: value, ...common })
              : c.RevokeToken({ jti: value, ...common }),
        );
        kit.print(options, response, () => formatRevokeResponse(response));
        if (!response.published) {
          kit.fail(
            "the revocation is stored but not published: data planes get it when the control plane reaches NATS",
          );
        }
      });
  revoke("revoke-session", "session", "one session", "session-id");
  revoke("revoke-subject", "subject", "every session of a token subject", "subject");
  revoke("revoke-token", "token", "every session opened with a token", "jti");

  kit
    .sub("revocations", "revocations in force, newest first")
    .option("-a, --all", "include expired ones")
    .option("-n, --limit <n>", "at most this many", "100")
    .action(async (...args: unknown[]) => {
      const options = kit.optionsOf<{ all?: boolean; limit: string }>(args);
      const response = await kit.withClient(options, (c) =>
        c.ListRevocations({ include_expired: options.all ?? false, limit: Number(options.limit) }),
      );
      kit.print(options, response, () => formatRevocations(response.revocations));
    });

  kit
    .sub(
      "watch",
      "print session, revocation, bundle, activation, fleet and canary events as they happen (Ctrl-C ends)",
    )
    .option(
      "-k, --kind <kind...>",
      "only these kinds (session, revocation, bundle, activation, fleet, canary)",
    )
    .action(async (...args: unknown[]) => {
      const options = kit.optionsOf<{ kind?: string[] }>(args);
      const client = await kit.openClient(options);
      const stream: ClientReadableStream<EventMessage> = client.watchEvents({ kinds: options.kind ?? [] });
      const stop = () => stream.cancel();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        await new Promise<void>((resolve, reject) => {
          stream.on("metadata", () => {
            if (!options.json) kit.out("watching; Ctrl-C stops");
          });
          stream.on("data", (event: EventMessage) => {
            kit.out(
              options.json
                ? JSON.stringify({ ...event, json: JSON.parse(event.json) as unknown })
                : `${when(event.at)}  ${event.type.padEnd(20)}  ${event.json}`,
            );
          });
          stream.on("end", () => resolve());
          stream.on("error", (err: Error & { code?: number }) =>
            err.code === 1 /* CANCELLED */ ? resolve() : reject(err),
          );
        });
      } catch (err) {
        kit.fail(kit.describe(err));
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        client.close();
      }
    });
}
