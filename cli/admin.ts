/**
 * `portcullis admin …`: the admin API from a terminal or CI (a gRPC client of proto/admin.proto).
 *
 *   portcullis admin bundles [--limit N] [--status S]   list bundles, newest first
 *   portcullis admin bundle REV [--out FILE]            one bundle: stages, tests, errors (and its bytes)
 *   portcullis admin activate REV [--reason TEXT]       roll forward or back to a ready revision
 *   portcullis admin activate REV --canary region=eu    a subset of the fleet first (or percent=10):
 *                                                       promoted or rolled back by the control plane
 *   portcullis admin sync                               fetch the policy repository and build what is new
 *   portcullis admin publish DIR [--no-activate]        build a bundle from a local policy folder
 *   portcullis admin fleet [--all]                      data planes and whether they run the active revision
 *   portcullis admin shadow REV | --clear | shadow-report [REV]   shadow revisions (cli/policy-change.ts)
 *   portcullis policy impact --against REV|DIR [--last N] [--fail-on …]   impact replay (the same file)
 *   portcullis admin decisions [--subject S --since 1h --result denied --relation sales.orders]
 *                                                       the audit trail (cli/admin-decisions.ts)
 *
 *   portcullis admin sessions | revoke-session ID | revoke-subject SUB | revoke-token JTI
 *                    | revocations | watch      live sessions and revocations (cli/admin-sessions.ts)
 *   portcullis admin grant SUB --role R | --schema S --for 30m --reason TEXT | grants | revoke-grant ID
 *                    | requests | approve ID | deny ID;  portcullis request --role R --for 1h --reason TEXT
 *                                                       just-in-time access (cli/admin-grants.ts)
 *
 * Every subcommand takes --server HOST:PORT (default $PORTCULLIS_ADMIN_SERVER or 127.0.0.1:7070),
 * --json (print the response as JSON instead of a table), --timeout MS, the admin token as
 * --token TOKEN (default $PORTCULLIS_TOKEN) or --token-file FILE (default
 * $PORTCULLIS_ADMIN_TOKEN_FILE), sent as `authorization: Bearer`, and the transport: TLS checked
 * against the system CAs, --ca FILE (default $PORTCULLIS_ADMIN_CA), --insecure (TLS, certificate
 * not checked) or --plaintext (loopback control planes without TLS) — before or after the
 * subcommand's name (cli/admin-auth.ts).
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { type Command, Option } from "commander";
import {
  type AdminClient,
  type BundleMessage,
  createAdminClient,
  type PolicyErrorMessage,
  type SourceFileMessage,
} from "../proto/load.js";
import { adminCredentials, resolveAdminToken } from "./admin-auth.js";
import { registerDecisionsCommand } from "./admin-decisions.js";
import { registerGrantCommands } from "./admin-grants.js";
import { registerSessionCommands } from "./admin-sessions.js";
import { ForbiddenFlipsError, registerPolicyChangeCommands } from "./policy-change.js";
import { formatTable, when } from "./table.js";

export const DEFAULT_ADMIN_SERVER = "127.0.0.1:7070";

export interface AdminCliIo {
  out(text: string): void;
}

const stdoutIo: AdminCliIo = { out: (text) => process.stdout.write(`${text}\n`) };

/** A failed admin command: the message is for the user; the CLI exits non-zero. */
export class AdminCommandError extends Error {
  override name = "AdminCommandError";
}

interface CommonOptions {
  server: string;
  json?: boolean;
  timeout?: string;
  tokenFile?: string;
  token?: string;
  ca?: string;
  insecure?: boolean;
  plaintext?: boolean;
}

const short = (revision: string) =>
  /^[0-9a-f]{40}$/.test(revision) ? revision.slice(0, 12) : revision.slice(0, 19);
const ms = (v: number | undefined) =>
  v === undefined ? "-" : v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}ms`;
const bytes = (n: number) =>
  n >= 1024 * 1024
    ? `${(n / 1024 / 1024).toFixed(1)}MiB`
    : n >= 1024
      ? `${Math.round(n / 1024)}KiB`
      : `${n}B`;

export function formatPolicyErrors(errors: readonly PolicyErrorMessage[]): string[] {
  return errors.map((e) => {
    const where = e.file ? `${e.file}${e.row ? `:${e.row}${e.col ? `:${e.col}` : ""}` : ""}: ` : "";
    return `${e.stage}: ${where}${e.code ? `${e.code}: ` : ""}${e.message}`;
  });
}

function summaryOf(b: BundleMessage): string {
  if (b.status === "failed") return formatPolicyErrors(b.errors)[0] ?? `failed at ${b.failed_stage}`;
  return (b.commit_message || b.requested_by || "").split("\n")[0] ?? "";
}

const STAGES = ["export", "check", "test", "build", "sign", "store", "publish", "total"];

export function describeBundle(b: BundleMessage): string {
  const lines = [
    `revision:     ${b.revision}`,
    `status:       ${b.status}${b.failed_stage ? ` (failed at ${b.failed_stage})` : ""}`,
    `source:       ${b.source}${b.source_commit ? ` ${b.source_commit}` : ""}`,
  ];
  if (b.commit_message) lines.push(`commit:       ${b.commit_message}`);
  if (b.commit_author)
    lines.push(`author:       ${b.commit_author}${b.committed_at ? ` at ${when(b.committed_at)}` : ""}`);
  if (b.requested_by) lines.push(`requested by: ${b.requested_by}`);
  lines.push(`created:      ${when(b.created_at)}`);
  if (b.activated_at) lines.push(`activated:    ${when(b.activated_at)}`);
  const stages = STAGES.filter((s) => b.durations_ms[s] !== undefined)
    .map((s) => `${s} ${ms(b.durations_ms[s])}`)
    .join(", ");
  if (stages) lines.push(`stages:       ${stages}`);
  if (b.status !== "failed" || b.tests_passed > 0) {
    lines.push(`tests:        ${b.tests_passed} passed, ${b.tests_skipped} skipped`);
  }
  if (b.sha256) lines.push(`sha256:       ${b.sha256}`, `size:         ${bytes(b.size_bytes)}`);
  if (b.opa_version) lines.push(`opa:          ${b.opa_version}`);
  if (b.entrypoints.length > 0) lines.push(`entrypoints:  ${b.entrypoints.join(", ")}`);
  if (b.errors.length > 0) lines.push("errors:", ...formatPolicyErrors(b.errors).map((e) => `  ${e}`));
  if (b.test_output && b.status === "failed") {
    lines.push("test output:", ...b.test_output.split("\n").map((l) => `  ${l}`));
  }
  return lines.join("\n");
}

function grpcMessage(err: unknown): string {
  const e = err as Partial<ServiceError>;
  if (typeof e.code === "number") {
    const name = grpcStatus[e.code] ?? String(e.code);
    if (
      e.code === grpcStatus.UNAVAILABLE &&
      /No connection established|ECONNREFUSED|connect/i.test(e.details ?? "")
    ) {
      return `the control plane is not reachable (${e.details})`;
    }
    return `${e.details || e.message} (${name})`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Policy files of a folder (what opa reads): .rego, .json, .yaml, .yml; hidden entries skipped. */
export async function readPolicyFolder(dir: string): Promise<SourceFileMessage[]> {
  const root = resolve(dir);
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch((err: Error) => {
    throw new AdminCommandError(`cannot read policy folder ${root}: ${err.message}`);
  });
  const files: SourceFileMessage[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !/\.(rego|json|ya?ml)$/.test(entry.name)) continue;
    const path = relative(root, join(entry.parentPath, entry.name)).split(sep).join("/");
    if (path.split("/").some((part) => part.startsWith("."))) continue;
    files.push({ path, content: await readFile(join(root, path)) });
  }
  if (files.length === 0) throw new AdminCommandError(`no .rego, .json or .yaml files in ${root}`);
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

async function openClient(options: CommonOptions): Promise<AdminClient> {
  const timeout = options.timeout ? Number(options.timeout) : undefined;
  if (timeout !== undefined && !(timeout > 0))
    throw new AdminCommandError(`--timeout ${options.timeout} is not a positive number`);
  let bearerToken: string | undefined;
  let credentials: Awaited<ReturnType<typeof adminCredentials>>;
  try {
    bearerToken = await resolveAdminToken(options);
    credentials = await adminCredentials(options, bearerToken);
  } catch (err) {
    throw new AdminCommandError((err as Error).message);
  }
  return createAdminClient(options.server, {
    credentials,
    ...(timeout ? { deadlineMs: timeout } : {}),
    ...(bearerToken ? { bearerToken } : {}),
  });
}

async function withClient<T>(options: CommonOptions, fn: (client: AdminClient) => Promise<T>): Promise<T> {
  const client = await openClient(options);
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof AdminCommandError || err instanceof ForbiddenFlipsError) throw err;
    throw new AdminCommandError(grpcMessage(err));
  } finally {
    client.close();
  }
}

/** Adds `admin` and its subcommands to `program`. `io` receives what is printed (default stdout). */
export function registerAdminCommands(program: Command, io: AdminCliIo = stdoutIo): Command {
  // --server, --json and --timeout are accepted before the subcommand (`admin --server X bundles`)
  // and after it (`admin bundles --server X`); the latter wins.
  const admin = program
    .command("admin")
    .description(
      "call the control plane's admin API (bundles, activation, sync, publish, fleet, sessions, revocations, grants)",
    );
  const connectionOptions = (command: Command): Command =>
    command
      .addOption(
        new Option("-s, --server <host:port>", "control plane admin address")
          .env("PORTCULLIS_ADMIN_SERVER")
          .default(DEFAULT_ADMIN_SERVER),
      )
      .option("--json", "print the response as JSON")
      .option("--timeout <ms>", "deadline of each call in milliseconds")
      .addOption(
        new Option("--token-file <file>", "a file holding the OIDC bearer token sent with each call").env(
          "PORTCULLIS_ADMIN_TOKEN_FILE",
        ),
      )
      .addOption(
        new Option("--token <token>", "the OIDC bearer token sent with each call").env("PORTCULLIS_TOKEN"),
      )
      .addOption(
        new Option("--ca <file>", "trust this certificate (PEM) for the control plane's TLS").env(
          "PORTCULLIS_ADMIN_CA",
        ),
      )
      .option("--insecure", "TLS without checking the control plane's certificate (development)")
      .option("--plaintext", "no TLS (a loopback control plane with admin.tls.enabled: false)");
  connectionOptions(admin);

  const policy = connectionOptions(
    program.command("policy").description("policy changes checked against the decision log (impact replay)"),
  );
  const subOf = (parent: Command) => (name: string, description: string) =>
    parent
      .command(name)
      .description(description)
      .option("-s, --server <host:port>", `control plane admin address (default ${DEFAULT_ADMIN_SERVER})`)
      .option("--json", "print the response as JSON")
      .option("--timeout <ms>", "deadline of the call in milliseconds")
      .option("--token <token>", "the OIDC bearer token (default $PORTCULLIS_TOKEN)")
      .option("--token-file <file>", "a file holding the OIDC bearer token")
      .option("--ca <file>", "trust this certificate (PEM) for the control plane's TLS")
      .option("--insecure", "TLS without checking the control plane's certificate")
      .option("--plaintext", "no TLS (loopback only)");
  const sub = subOf(admin);

  /** The options of a subcommand merged over those given to `admin`. */
  const optionsOf = <T>(args: unknown[]): CommonOptions & T =>
    (args[args.length - 1] as Command).optsWithGlobals() as CommonOptions & T;

  const print = (options: CommonOptions, response: unknown, text: () => string) =>
    io.out(options.json ? JSON.stringify(response, jsonReplacer, 2) : text());

  sub("bundles", "list bundles, newest first")
    .option("-n, --limit <n>", "how many", "20")
    .option("--status <status...>", "only these statuses (building, failed, ready, active)")
    .action(async (...args: unknown[]) => {
      const options = optionsOf<{ limit: string; status?: string[] }>(args);
      const response = await withClient(options, (c) =>
        c.ListBundles({ limit: Number(options.limit), statuses: options.status ?? [] }),
      );
      print(options, response, () =>
        response.bundles.length === 0
          ? "no bundles yet"
          : formatTable(
              ["REVISION", "STATUS", "SOURCE", "CREATED", "TESTS", "SIZE", "TOTAL", "SUMMARY"],
              response.bundles.map((b) => [
                short(b.revision),
                b.status,
                b.source,
                when(b.created_at),
                b.status === "failed" && b.tests_passed === 0 ? "-" : String(b.tests_passed),
                b.size_bytes ? bytes(b.size_bytes) : "-",
                ms(b.durations_ms.total),
                summaryOf(b),
              ]),
            ),
      );
    });

  sub("bundle <revision>", "show one bundle: stages, tests, errors with file:line")
    .option("-o, --out <file>", "also write the signed bundle (single-file tar) here")
    .action(async (revision: string, ...args: unknown[]) => {
      const options = optionsOf<{ out?: string }>(args);
      const bundle = await withClient(options, (c) =>
        c.GetBundle({ revision, include_bytes: options.out !== undefined }),
      );
      if (options.out) {
        if (bundle.bundle.length === 0)
          throw new AdminCommandError(`bundle ${bundle.revision} has no bytes (${bundle.status})`);
        await writeFile(resolve(options.out), bundle.bundle);
      }
      print(options, { ...bundle, bundle: undefined }, () =>
        [describeBundle(bundle), ...(options.out ? [`written to:   ${options.out}`] : [])].join("\n"),
      );
    });

  sub("activate <revision>", "make a ready revision the active one (roll forward or back)")
    .option("-r, --reason <text>", "why (recorded in the activation history)")
    .option(
      "--canary <selector>",
      "region=NAME or percent=N: that subset of the fleet first; promoted after the bake time, or rolled back automatically",
    )
    .action(async (revision: string, ...args: unknown[]) => {
      const options = optionsOf<{ reason?: string; canary?: string }>(args);
      const response = await withClient(options, (c) =>
        c.ActivateBundle({ revision, reason: options.reason ?? "", canary: options.canary ?? "" }),
      );
      print(options, response, () => {
        if (response.canary) {
          const c = response.canary;
          return `canary: ${c.revision} on ${c.selector} (the rest stays on ${short(c.previous_revision)}); promoted after ${c.bake_seconds} s unless rolled back; watch it with \`portcullis admin fleet\``;
        }
        const from = response.previous_revision ? ` (was ${short(response.previous_revision)})` : "";
        const published = response.published
          ? "published to NATS"
          : `not published yet: ${response.publish_error || "NATS unreachable"}`;
        return `active: ${response.revision}${from}; ${published}`;
      });
    });

  sub("sync", "fetch the policy repository now and build the new commits").action(
    async (...args: unknown[]) => {
      const options = optionsOf<object>(args);
      const response = await withClient(options, (c) => c.SyncPolicies({}));
      print(options, response, () => {
        const lines = [`head: ${response.head}`];
        if (response.commits.length === 0) lines.push("nothing new");
        for (const commit of response.commits) {
          lines.push(`${short(commit.commit)}  ${commit.status.padEnd(6)}  ${commit.summary}`);
          if (commit.status === "failed")
            lines.push(...formatPolicyErrors(commit.errors).map((e) => `    ${e}`));
        }
        lines.push(
          `active: ${response.active_revision || "(none)"}${response.activated ? (response.published ? " (activated and published)" : " (activated; not published yet)") : ""}`,
        );
        return lines.join("\n");
      });
      if (response.commits.some((c) => c.status === "failed")) {
        throw new AdminCommandError("some commits were rejected: the active bundle did not change for them");
      }
    },
  );

  sub("publish <dir>", "build, sign and (by default) activate a bundle from a local policy folder")
    .option("--no-activate", "store the bundle but leave the active one")
    .option("--note <text>", "recorded with the bundle (e.g. the CI job)")
    .action(async (dir: string, ...args: unknown[]) => {
      const options = optionsOf<{ activate: boolean; note?: string }>(args);
      const files = await readPolicyFolder(dir);
      const response = await withClient(options, (c) =>
        c.PublishBundle({ files, no_activate: !options.activate, note: options.note ?? "" }),
      );
      const bundle = response.bundle;
      print(options, response, () => {
        if (!bundle) return "no bundle returned";
        const head =
          bundle.status === "failed"
            ? `rejected: ${bundle.revision}`
            : `${response.reused ? "already built" : "built"}: ${bundle.revision}` +
              (response.activated
                ? response.published
                  ? " (activated and published)"
                  : " (activated; not published yet)"
                : bundle.status === "active"
                  ? " (active)"
                  : " (not activated)");
        return `${head}\n${describeBundle(bundle)}`;
      });
      if (bundle?.status === "failed") {
        throw new AdminCommandError(
          `the policy was rejected at ${bundle.failed_stage}: the active bundle did not change`,
        );
      }
    });

  sub("fleet", "data planes and whether they run the active revision")
    .option("-a, --all", "include data planes not heard from recently")
    .action(async (...args: unknown[]) => {
      const options = optionsOf<{ all?: boolean }>(args);
      const response = await withClient(options, (c) =>
        c.GetFleetStatus({ include_stale: options.all ?? false }),
      );
      print(options, response, () => {
        const head =
          `active: ${response.active_revision || "(none)"}; ${response.converged}/${response.live} live data planes converged` +
          (response.nats_connected ? "" : "; the control plane is NOT connected to NATS");
        const c = response.canary;
        const canary = c
          ? `\ncanary ${c.state}: ${short(c.revision)} on ${c.selector} (previous ${short(c.previous_revision)}), ` +
            `deny rate ${(c.deny_rate * 100).toFixed(1)}% on ${c.decisions} decisions against ${(c.baseline_deny_rate * 100).toFixed(1)}% on ${c.baseline_decisions}, ` +
            `${c.evaluation_errors} evaluation errors, ${c.load_errors} load errors` +
            (c.reason ? `; ${c.reason}` : "")
          : "";
        if (response.data_planes.length === 0) return `${head}${canary}\nno data plane has reported`;
        return `${head}${canary}\n${formatTable(
          [
            "ID",
            "REGION",
            "NATS",
            "VERSION",
            "REVISION",
            "CANARY",
            "CONVERGED",
            "LIVE",
            "SESSIONS",
            "LAST SEEN",
            "ERROR",
          ],
          response.data_planes.map((d) => [
            d.id,
            d.region,
            d.nats_server ? `${d.nats_server}${d.nats_cluster ? ` (${d.nats_cluster})` : ""}` : "-",
            d.version,
            d.revision ? short(d.revision) : "-",
            d.canary ? "yes" : "-",
            d.converged ? "yes" : "no",
            d.live ? "yes" : "no",
            String(d.sessions),
            when(d.last_seen_at),
            d.load_error,
          ]),
        )}`;
      });
    });

  registerDecisionsCommand({ sub, optionsOf, print, withClient });
  registerPolicyChangeCommands({
    sub,
    policySub: subOf(policy),
    optionsOf,
    print,
    withClient,
    readPolicyFolder,
    fail: (message) => {
      throw new AdminCommandError(message);
    },
  });
  const kit = {
    sub,
    optionsOf,
    print,
    withClient,
    openClient,
    out: (text: string) => io.out(text),
    fail: (message: string): never => {
      throw new AdminCommandError(message);
    },
    describe: grpcMessage,
  };
  registerSessionCommands(kit);
  // `portcullis request`: top-level (any user, not an admin), with the same connection options and
  // environment defaults as `admin`
  registerGrantCommands(kit, (name, description) =>
    connectionOptions(program.command(name).description(description)),
  );

  return admin;
}

/** Buffers become base64 in --json output. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value && typeof value === "object" && (value as { type?: string }).type === "Buffer") {
    const data = (value as { data?: number[] }).data ?? [];
    return data.length === 0 ? undefined : Buffer.from(data).toString("base64");
  }
  return value;
}
