/**
 * `portcullis admin decisions`: the audit trail (QueryDecisions), newest first.
 *
 *   portcullis admin decisions [--subject S] [--since 1h] [--until T] [--result allowed|denied]
 *                              [--relation sales.orders] [--data-plane ID] [--kind connection|query]
 *                              [--session ID] [-n N] [--json]
 *
 * `--since`/`--until` take RFC 3339 times or durations back from now (90s, 30m, 1h, 7d). Pages are
 * followed until N decisions (default 50) are printed; `--json` prints them with the token of the
 * next page, if any (`--page-token` continues from there).
 */
import type { Command } from "commander";
import type { AdminClient, DecisionMessage, QueryDecisionsRequest } from "../proto/load.js";
import { formatTable } from "./table.js";

/** What `registerAdminCommands` lends its subcommands (cli/admin.ts). */
export interface AdminCommandKit<O extends { json?: boolean }> {
  sub(name: string, description: string): Command;
  optionsOf<T>(args: unknown[]): O & T;
  print(options: O, response: unknown, text: () => string): void;
  withClient<T>(options: O, fn: (client: AdminClient) => Promise<T>): Promise<T>;
}

interface DecisionsOptions {
  subject?: string;
  since?: string;
  until?: string;
  result?: string;
  relation?: string;
  dataPlane?: string;
  kind?: string;
  session?: string;
  limit: string;
  pageToken?: string;
}

/** Thrown for a bad option; cli/admin.ts passes it on to the user as it is. */
export class DecisionsOptionError extends Error {
  override name = "DecisionsOptionError";
}

const when = (iso: string) => (iso ? iso.replace("T", " ").replace(/Z$/, "") : "-");

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** One line per decision: what was decided, for whom, on what. */
export function formatDecisions(decisions: readonly DecisionMessage[]): string {
  const header = [
    "TIME (UTC)",
    "RESULT",
    "SUBJECT",
    "DATA PLANE",
    "KIND",
    "STATEMENT / CONNECTION",
    "REASONS",
  ];
  const rows = decisions.map((d) => [
    when(d.at),
    d.result || (d.allow ? "allowed" : "denied"),
    d.subject,
    d.data_plane_id,
    d.kind === "query" ? d.statement_kind || "?" : "connection",
    d.kind === "query"
      ? clip(d.statement_text || "(not parseable: text withheld)", 70)
      : clip(`${d.database} as ${d.db_role || "-"} from ${d.client_addr || "?"}`, 70),
    clip(d.reasons.join("; "), 80),
  ]);
  return formatTable(header, rows);
}

export function registerDecisionsCommand<O extends { json?: boolean }>(kit: AdminCommandKit<O>): void {
  kit
    .sub("decisions", "the audit trail: connection and statement decisions, newest first")
    .option("--subject <sub>", "only this token subject")
    .option("--since <time>", "from this time: RFC 3339 or a duration back from now (30m, 1h, 7d)")
    .option("--until <time>", "up to this time (same forms)")
    .option("--result <result>", "allowed or denied")
    .option("--relation <name>", "statements touching this relation (schema.name, or name in any schema)")
    .option("--data-plane <id>", "only this data plane")
    .option("--kind <kind>", "connection or query")
    .option("--session <id>", "only this session")
    .option("-n, --limit <n>", "how many decisions to print", "50")
    .option("--page-token <token>", "continue after a page printed with --json")
    .action(async (...args: unknown[]) => {
      const options = kit.optionsOf<DecisionsOptions>(args);
      const wanted = Number(options.limit);
      if (!Number.isSafeInteger(wanted) || wanted <= 0) {
        throw new DecisionsOptionError(`--limit ${options.limit} is not a positive whole number`);
      }
      const base: QueryDecisionsRequest = {
        subject: options.subject ?? "",
        since: options.since ?? "",
        until: options.until ?? "",
        result: options.result ?? "",
        relation: options.relation ?? "",
        data_plane_id: options.dataPlane ?? "",
        kind: options.kind ?? "",
        session_id: options.session ?? "",
      };
      const response = await kit.withClient(options, async (client) => {
        const decisions: DecisionMessage[] = [];
        let token = options.pageToken ?? "";
        do {
          const page = await client.QueryDecisions({
            ...base,
            limit: Math.min(1000, wanted - decisions.length),
            page_token: token,
          });
          decisions.push(...page.decisions);
          token = page.next_page_token;
        } while (token && decisions.length < wanted);
        return { decisions, next_page_token: token };
      });
      kit.print(options, response, () =>
        response.decisions.length === 0
          ? "no decisions match"
          : formatDecisions(response.decisions) +
            (response.next_page_token ? `\n(more: raise --limit, or --json for the next page token)` : ""),
      );
    });
}
