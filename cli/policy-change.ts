/**
 * Safe policy change from a terminal or CI:
 *
 *   portcullis admin shadow REV [--reason TEXT]      evaluate REV beside the active revision on every
 *   portcullis admin shadow --clear                  data plane, never enforcing it (or end that)
 *   portcullis admin shadow-report [REV] [--since 1h] [--top N]
 *                                                    what the shadow revision decided otherwise, grouped
 *   portcullis policy impact --against REV|DIR [--last N | --since T]
 *                            [--fail-on deny-to-allow,allow-to-deny,mask-change]
 *                                                    re-evaluate logged decisions with a candidate
 *
 * `--against` takes a stored revision or a policy folder (a working tree, or a commit checked out):
 * a folder is built by the control plane as `admin publish --no-activate` does, then replayed. The
 * command exits with status 3 when there are flips of a kind `--fail-on` forbids (1 on errors).
 */
import { stat } from "node:fs/promises";
import type { Command } from "commander";
import type { DisagreementGroup__Output } from "../proto/generated/portcullis/admin/v1/DisagreementGroup.js";
import type { AdminCommandKit } from "./admin-decisions.js";

export const FLIP_KINDS = ["allow-to-deny", "deny-to-allow", "mask-change"] as const;
export type FlipKind = (typeof FLIP_KINDS)[number];

/** Flips of a kind `--fail-on` forbids: exit status 3. */
export class ForbiddenFlipsError extends Error {
  override name = "ForbiddenFlipsError";
  readonly exitCode = 3;
}

export interface PolicyChangeKit<O extends { json?: boolean }> extends AdminCommandKit<O> {
  /** A subcommand of `portcullis policy` with the admin connection options. */
  policySub(name: string, description: string): Command;
  fail(message: string): never;
  readPolicyFolder(dir: string): Promise<{ path: string; content: Buffer }[]>;
}

/** The --fail-on list: comma-separated kinds. */
export function parseFailOn(value: string | undefined): FlipKind[] {
  if (!value) return [];
  const kinds = value
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);
  for (const kind of kinds) {
    if (!(FLIP_KINDS as readonly string[]).includes(kind))
      throw new Error(`--fail-on: ${kind} is not one of ${FLIP_KINDS.join(", ")}`);
  }
  return kinds as FlipKind[];
}

function groupsTable(groups: DisagreementGroup__Output[]): string {
  if (groups.length === 0) return "";
  const rows = groups.map((g) => [
    g.by,
    g.key || "-",
    String(g.count),
    String(g.allow_to_deny),
    String(g.deny_to_allow),
    String(g.mask_change),
  ]);
  const header = ["BY", "KEY", "COUNT", "ALLOW→DENY", "DENY→ALLOW", "MASK"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function registerPolicyChangeCommands<O extends { json?: boolean }>(kit: PolicyChangeKit<O>): void {
  const { sub, policySub, optionsOf, print, withClient } = kit;

  sub(
    "shadow [revision]",
    "evaluate a revision beside the active one on every data plane, never enforcing it",
  )
    .option("--clear", "end shadow evaluation")
    .option("-r, --reason <text>", "why (recorded)")
    .action(async (revision: string | undefined, ...args: unknown[]) => {
      const options = optionsOf<{ clear?: boolean; reason?: string }>(args);
      if (!revision && !options.clear) kit.fail("give the revision to shadow, or --clear");
      if (revision && options.clear) kit.fail("give a revision or --clear, not both");
      const response = await withClient(options, (c) =>
        c.ActivateBundle({
          revision: revision ?? "",
          reason: options.reason ?? "",
          mode: "shadow",
          clear: options.clear ?? false,
        }),
      );
      print(options, response, () => {
        const what = response.revision ? `shadow: ${response.revision}` : "shadow: (none)";
        const was = response.previous_revision ? ` (was ${response.previous_revision})` : "";
        const published = response.published
          ? "published to NATS"
          : `not published yet: ${response.publish_error || "NATS unreachable"}`;
        return `${what}${was}; ${published}`;
      });
    });

  sub("shadow-report [revision]", "what a shadow revision decided otherwise than the active one, grouped")
    .option("--since <time>", "from this time (RFC 3339 or 30m, 1h, 7d)")
    .option("--top <n>", "groups per dimension", "20")
    .action(async (revision: string | undefined, ...args: unknown[]) => {
      const options = optionsOf<{ since?: string; top: string }>(args);
      const response = await withClient(options, (c) =>
        c.ShadowReport({ revision: revision ?? "", since: options.since ?? "", top: Number(options.top) }),
      );
      print(options, response, () =>
        [
          `shadow revision ${response.revision}${response.current ? " (current)" : ""}: ${response.disagreements} disagreements` +
            ` (allow→deny ${response.allow_to_deny}, deny→allow ${response.deny_to_allow}, masks ${response.mask_change})`,
          groupsTable(response.groups),
        ]
          .filter(Boolean)
          .join("\n"),
      );
    });

  policySub("impact", "re-evaluate logged decisions with a candidate revision and print the flips")
    .requiredOption("--against <revision|dir>", "a stored revision, or a policy folder to build")
    .option("-n, --last <n>", "the newest N logged decisions (default 10000)")
    .option("--since <time>", "every logged decision from this time (RFC 3339 or 30m, 1h, 7d)")
    .option("--fail-on <kinds>", `exit 3 on flips of these kinds (${FLIP_KINDS.join(",")})`)
    .option("--max-flips <n>", "flips listed one by one", "50")
    .action(async (...args: unknown[]) => {
      const options = optionsOf<{
        against: string;
        last?: string;
        since?: string;
        failOn?: string;
        maxFlips: string;
      }>(args);
      let failOn: FlipKind[];
      try {
        failOn = parseFailOn(options.failOn);
      } catch (err) {
        return kit.fail((err as Error).message);
      }
      if (options.last && options.since) kit.fail("give --last or --since, not both");
      const last = options.last ? Number(options.last) : 0;
      if (options.last && !(Number.isInteger(last) && last > 0)) kit.fail("--last is a positive integer");
      const isFolder = await stat(options.against).then(
        (s) => s.isDirectory(),
        () => false,
      );
      const response = await withClient(options, async (c) => {
        let against = options.against;
        if (isFolder) {
          const built = await c.PublishBundle({
            files: await kit.readPolicyFolder(options.against),
            no_activate: true,
            note: "impact replay",
          });
          if (!built.bundle || built.bundle.status === "failed") {
            kit.fail(`the candidate policy was rejected at ${built.bundle?.failed_stage ?? "build"}`);
          }
          against = built.bundle.revision;
        }
        return c.ReplayDecisions({
          against,
          last,
          since: options.since ?? "",
          max_flips: Number(options.maxFlips),
        });
      });
      print(options, response, () => {
        const lines = [
          `replayed ${response.replayed} decisions against ${response.against} in ${Math.round(response.duration_ms)} ms` +
            ` (${Math.round(response.decisions_per_s)}/s)`,
          `flips: allow→deny ${response.allow_to_deny}, deny→allow ${response.deny_to_allow}, masks ${response.mask_change}`,
        ];
        for (const f of response.flips) {
          lines.push(
            `  ${f.change.padEnd(13)} ${f.kind.padEnd(10)} ${f.subject} as ${f.db_role || "-"}` +
              `${f.relations.length ? ` on ${f.relations.join(", ")}` : ""}${f.sql ? `: ${f.sql}` : ""}` +
              `${f.candidate_reasons.length ? ` — ${f.candidate_reasons.join("; ")}` : ""}`,
          );
        }
        const table = groupsTable(response.groups);
        if (table) lines.push(table);
        return lines.join("\n");
      });
      const count: Record<FlipKind, number> = {
        "allow-to-deny": response.allow_to_deny,
        "deny-to-allow": response.deny_to_allow,
        "mask-change": response.mask_change,
      };
      const forbidden = failOn.filter((k) => count[k] > 0);
      if (forbidden.length > 0) {
        throw new ForbiddenFlipsError(
          `forbidden flips: ${forbidden.map((k) => `${count[k]} ${k}`).join(", ")} (--fail-on ${failOn.join(",")})`,
        );
      }
    });
}
