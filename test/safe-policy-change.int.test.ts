/**
 * Safe policy change end to end, on real components: nats-server, a control plane (SQLite, signing
 * key, opa builds), a data plane fed by it over NATS (real PostgreSQL, OIDC provider), and real
 * client sessions.
 *
 *   - shadow: a shadow revision that denies what the active one allows never changes what a session
 *     gets (the statement runs), and the record says what the shadow decided, the disagreement is
 *     counted and ShadowReport groups it; the reverse (the shadow allows what the active denies)
 *     leaves the statement denied. `--clear` ends it on the data plane.
 *   - a shadow whose connection policy refuses a user never refuses the connection (the active
 *     revision decides it); the connection's record carries the shadow's refusal and it is counted.
 *   - impact replay: a known log replayed against a known policy change finds exactly its flips;
 *     the same revision finds none; `portcullis policy impact --fail-on` exits 3 on forbidden
 *     flips only, and builds a policy folder given as --against.
 */
import { cp as copyDir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminCommandError, readPolicyFolder, registerAdminCommands } from "../cli/admin.js";
import { ForbiddenFlipsError } from "../cli/policy-change.js";
import { projectRoot } from "../common/toolchain.js";
import { type LocalNats, startNats } from "../devstack/nats.js";
import { type AdminClient, createAdminClient, type DecisionMessage } from "../proto/load.js";
import { AUDIT_REASON, AUDIT_REGO } from "./harness/audit-policy.js";
import { startTestControlPlane, type TestControlPlane } from "./harness/control-plane.js";
import { eventually } from "./harness/git-repo.js";
import { type ProxyStack, startProxyStack, USERS } from "./harness/proxy-stack.js";

const CUSTOMERS = "SELECT count(*) AS n FROM sales.customers";
const ORDERS = "SELECT count(*) AS n FROM sales.orders";

let nats: LocalNats;
let cp: TestControlPlane;
let admin: AdminClient;
let stack: ProxyStack;
let scratch: string;
let auditDir: string;
let base: string;
let audit: string;
/** The defaults plus a connection rule: analysts may not connect during a freeze. */
let freeze: string;
const FREEZE_REASON = "analysts may not connect during the change freeze";
const FREEZE_REGO = `package portcullis.connection

deny contains "${FREEZE_REASON}" if db_role == "analyst"
`;

async function publish(dir: string, activate: boolean): Promise<string> {
  const response = await admin.PublishBundle({ files: await readPolicyFolder(dir), no_activate: !activate });
  expect(response.bundle?.status, response.bundle?.errors.map((e) => e.message).join("\n")).not.toBe(
    "failed",
  );
  return response.bundle!.revision;
}

async function activate(revision: string): Promise<void> {
  await admin.ActivateBundle({ revision });
  await eventually(() => stack.proxy.policy.revision === revision, `the data plane to enforce ${revision}`);
}

async function shadow(revision: string | undefined): Promise<void> {
  await admin.ActivateBundle(
    revision ? { revision, mode: "shadow" } : { revision: "", mode: "shadow", clear: true },
  );
  await eventually(
    () => (stack.proxy.shadow.revision === revision ? true : undefined),
    `the data plane's shadow revision to be ${revision ?? "none"}`,
  );
}

async function session(): Promise<pg.Client> {
  return stack.client(await stack.token(USERS.alice));
}

async function decisions(since: string): Promise<DecisionMessage[]> {
  const out: DecisionMessage[] = [];
  let token = "";
  do {
    const page = await admin.QueryDecisions({ since, subject: "alice", page_size: 1000, page_token: token });
    out.push(...page.decisions);
    token = page.next_page_token;
  } while (token);
  return out;
}

async function disagreements(kind: string, change: string): Promise<number> {
  const metric = await stack.proxy.metrics.shadowDisagreements.get();
  return metric.values.find((v) => v.labels.kind === kind && v.labels.change === change)?.value ?? 0;
}

/** Runs `portcullis <args>` against the test control plane; resolves with what it printed. */
async function cli(...args: string[]): Promise<string> {
  const lines: string[] = [];
  const program = new Command().exitOverride();
  registerAdminCommands(program, { out: (text) => lines.push(text) });
  const [group, name, ...rest] = args;
  await program.parseAsync([group!, name!, ...rest, "--server", cp.admin.address, "--plaintext"], {
    from: "user",
  });
  return lines.join("\n");
}

beforeAll(async () => {
  nats = await startNats();
  cp = await startTestControlPlane({ natsUrl: nats.url });
  admin = createAdminClient(cp.admin.address);
  scratch = await mkdtemp(join(tmpdir(), "portcullis-safe-change-"));
  auditDir = join(scratch, "audit-policies");
  await copyDir(join(projectRoot(), "policies"), auditDir, { recursive: true });
  await writeFile(join(auditDir, "audit.rego"), AUDIT_REGO);
  base = await publish(join(projectRoot(), "policies"), true);
  audit = await publish(auditDir, false);
  const freezeDir = join(scratch, "freeze-policies");
  // without the default policies' tests, which expect analysts to connect
  await copyDir(join(projectRoot(), "policies"), freezeDir, {
    recursive: true,
    filter: (source) => !source.endsWith("_test.rego"),
  });
  await writeFile(join(freezeDir, "freeze.rego"), FREEZE_REGO);
  freeze = await publish(freezeDir, false);
  stack = await startProxyStack({
    config: {
      proxy: { id: "dp-shadow-1", region: "eu" },
      policy: { public_key_file: cp.publicKeyFile },
      bus: { servers: [nats.url], state_dir: join(scratch, "state"), status_interval_ms: 500 },
    },
  });
  await eventually(() => stack.proxy.policy.revision === base, "the data plane to load the active revision");
  await eventually(() => stack.proxy.decisionLog?.connected, "the decision log to connect");
});

afterAll(async () => {
  admin?.close();
  await stack?.stop();
  await cp?.destroy();
  await nats?.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe("shadow revisions", () => {
  it("a shadow that denies what the active revision allows is logged and counted, never enforced", async () => {
    await shadow(audit);
    const since = new Date().toISOString();
    const before = await disagreements("query", "allow_to_deny");
    const client = await session();
    try {
      const { rows } = await client.query(CUSTOMERS);
      expect(Number(rows[0].n)).toBe(50);
      expect(Number((await client.query(ORDERS)).rows[0].n)).toBe(500);
    } finally {
      await client.end();
    }
    await stack.proxy.shadow.drained();
    expect(await disagreements("query", "allow_to_deny")).toBe(before + 1);

    const found = await eventually(async () => {
      const all = await decisions(since);
      return all.some((d) => d.statement_text === CUSTOMERS) && all.some((d) => d.statement_text === ORDERS)
        ? all
        : undefined;
    }, "alice's decisions in the control plane");
    const customers = found.find((d) => d.statement_text === CUSTOMERS)!;
    expect(customers).toMatchObject({ allow: true, revision: base, replayable: true });
    expect(customers.shadow).toMatchObject({ revision: audit, allow: false });
    expect(customers.shadow?.reasons).toContain(AUDIT_REASON);
    // where both agree, nothing is added
    expect(found.find((d) => d.statement_text === ORDERS)?.shadow).toBeUndefined();
    expect(found.find((d) => d.kind === "connection")?.shadow).toBeUndefined();

    const report = await admin.ShadowReport({ revision: audit });
    expect(report).toMatchObject({ revision: audit, current: true, deny_to_allow: 0, mask_change: 0 });
    expect(report.allow_to_deny).toBeGreaterThanOrEqual(1);
    expect(report.groups).toContainEqual(expect.objectContaining({ by: "subject", key: "alice" }));
    expect(report.groups).toContainEqual(expect.objectContaining({ by: "relation", key: "sales.customers" }));
    expect(report.groups).toContainEqual(expect.objectContaining({ by: "reason", key: AUDIT_REASON }));
    const printed = await cli("admin", "shadow-report");
    expect(printed).toMatch(/relation +sales\.customers/);
  });

  it("a shadow that allows what the active revision denies leaves it denied", async () => {
    await activate(audit);
    await shadow(base);
    const since = new Date().toISOString();
    const before = await disagreements("query", "deny_to_allow");
    const client = await session();
    try {
      const denied = await client.query(CUSTOMERS).catch((e: { code?: string; message: string }) => e);
      expect(denied).toMatchObject({ code: "42501" });
      expect((denied as Error).message).toContain(AUDIT_REASON);
    } finally {
      await client.end();
    }
    await stack.proxy.shadow.drained();
    expect(await disagreements("query", "deny_to_allow")).toBe(before + 1);
    const record = await eventually(async () => {
      return (await decisions(since)).find((d) => d.statement_text === CUSTOMERS);
    }, "the denied decision in the control plane");
    expect(record).toMatchObject({ allow: false, revision: audit });
    expect(record.shadow).toMatchObject({ revision: base, allow: true });

    await cli("admin", "shadow", "--clear");
    await eventually(
      () => (stack.proxy.shadow.revision === undefined ? true : undefined),
      "the shadow to end",
    );
    await activate(base);
  });
});

describe("shadow revisions: connections", () => {
  it("a shadow whose connection policy refuses alice lets her in under the active one; the record and the count say what it decided", async () => {
    await shadow(freeze);
    const since = new Date().toISOString();
    const before = await disagreements("connection", "allow_to_deny");
    const client = await session();
    try {
      expect(Number((await client.query(ORDERS)).rows[0].n)).toBe(500);
    } finally {
      await client.end();
    }
    await stack.proxy.shadow.drained();
    expect(await disagreements("connection", "allow_to_deny")).toBe(before + 1);
    const connection = await eventually(async () => {
      return (await decisions(since)).find((d) => d.kind === "connection");
    }, "alice's connection decision in the control plane");
    expect(connection).toMatchObject({ allow: true, revision: base, db_role: "analyst" });
    expect(connection.shadow).toMatchObject({ revision: freeze, allow: false });
    expect(connection.shadow?.reasons).toContain(FREEZE_REASON);
    await shadow(undefined);
  });
});

describe("impact replay", () => {
  it("finds exactly the flips a known policy change causes on a known log", async () => {
    await shadow(undefined).catch(() => undefined);
    const since = new Date().toISOString();
    const client = await session();
    try {
      for (let i = 0; i < 3; i++) await client.query(CUSTOMERS);
      for (let i = 0; i < 2; i++) await client.query(ORDERS);
      await client.query(`${ORDERS} WHERE id = 42`);
    } finally {
      await client.end();
    }
    // one connection and six statements, all allowed under the base revision
    const logged = await eventually(async () => {
      const all = await decisions(since);
      return all.length >= 7 ? all : undefined;
    }, "the workload's decisions in the control plane");
    expect(logged.every((d) => d.allow && d.replayable)).toBe(true);
    // no literal reaches the stored input
    expect(logged.map((d) => d.statement_text)).toContain(`${ORDERS} WHERE id = $1`);

    const replay = await admin.ReplayDecisions({ against: audit, since });
    expect(replay.replayed).toBe(7);
    expect(replay).toMatchObject({ allow_to_deny: 3, deny_to_allow: 0, mask_change: 0 });
    expect(replay.flips.map((f) => f.sql)).toEqual([CUSTOMERS, CUSTOMERS, CUSTOMERS]);
    expect(replay.flips.every((f) => f.candidate_reasons.includes(AUDIT_REASON))).toBe(true);
    expect(replay.groups).toContainEqual(
      expect.objectContaining({ by: "relation", key: "sales.customers", count: 3, allow_to_deny: 3 }),
    );
    expect(replay.groups).toContainEqual(expect.objectContaining({ by: "role", key: "analyst", count: 3 }));

    const same = await admin.ReplayDecisions({ against: base, since });
    expect(same).toMatchObject({ replayed: 7, allow_to_deny: 0, deny_to_allow: 0, mask_change: 0 });
  });

  it("portcullis policy impact exits non-zero on forbidden flips only", async () => {
    const since = new Date(Date.now() - 10 * 60_000).toISOString();
    await expect(
      cli("policy", "impact", "--against", audit, "--since", since, "--fail-on", "allow-to-deny"),
    ).rejects.toBeInstanceOf(ForbiddenFlipsError);
    const allowed = await cli(
      "policy",
      "impact",
      "--against",
      audit,
      "--since",
      since,
      "--fail-on",
      "deny-to-allow",
    );
    expect(allowed).toMatch(/flips: allow→deny [1-9]/);
    expect(allowed).toMatch(/allow-to-deny +query +alice as analyst on sales\.customers/);
    // a policy folder is built by the control plane first (the same sources: the same revision)
    const fromDir = await cli("policy", "impact", "--against", auditDir, "--last", "20", "--json");
    expect(JSON.parse(fromDir)).toMatchObject({ against: audit });
    await expect(
      cli("policy", "impact", "--against", audit, "--fail-on", "everything"),
    ).rejects.toBeInstanceOf(AdminCommandError);
  });
});
