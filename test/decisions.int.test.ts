/**
 * The audit trail end to end, on real components: a data plane (real PostgreSQL, OIDC provider,
 * opa-built bundle) publishing its decisions on NATS JetStream, and a control plane storing them in
 * SQLite and answering QueryDecisions and `portcullis admin decisions`. Also: decisions made while
 * the control plane is down reach it when it is back, every one exactly once.
 */
import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Command } from "commander";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerDecisionsCommand } from "../cli/admin-decisions.js";
import { type LocalNats, startNats } from "../devstack/nats.js";
import {
  type DecisionRecordMessage,
  decisionBatchSubject,
  decisionSubject,
  encodeBusMessage,
  encodeDecisionBatch,
} from "../proto/bus.js";
import { type AdminClient, createAdminClient, type DecisionMessage } from "../proto/load.js";
import { startTestControlPlane, type TestControlPlane } from "./harness/control-plane.js";
import { eventually } from "./harness/git-repo.js";
import { type ProxyStack, startProxyStack, USERS } from "./harness/proxy-stack.js";

let nats: LocalNats;
let cp: TestControlPlane;
let admin: AdminClient;
let stack: ProxyStack;
let alice: pg.Client;
const startedAt = new Date().toISOString();

beforeAll(async () => {
  nats = await startNats();
  cp = await startTestControlPlane({ natsUrl: nats.url });
  admin = createAdminClient(cp.admin.address);
  stack = await startProxyStack({
    config: {
      proxy: { id: "dp-audit-1", region: "eu" },
      bus: { servers: [nats.url] },
      decision_log: { max_queue: 1000 },
    },
  });
  await eventually(() => stack.proxy.decisionLog?.connected, "the data plane's decision log to connect");
  alice = await stack.client(await stack.token(USERS.alice));
});

afterAll(async () => {
  await alice?.end().catch(() => undefined);
  admin?.close();
  await stack?.stop();
  await cp?.destroy();
  await nats?.destroy();
});

async function decisionsOf(
  request: Parameters<AdminClient["QueryDecisions"]>[0],
): Promise<DecisionMessage[]> {
  const out: DecisionMessage[] = [];
  let token = "";
  do {
    const page = await admin.QueryDecisions({ ...request, limit: 200, page_token: token });
    out.push(...page.decisions);
    token = page.next_page_token;
  } while (token);
  return out;
}

/**
 * Runs `portcullis admin decisions <args>` (cli/admin-decisions.ts) against the test control plane;
 * the transport options of `portcullis admin` (TLS, tokens) are not what this test is about.
 */
async function cli(...args: string[]): Promise<string> {
  const lines: string[] = [];
  const program = new Command().exitOverride();
  const admin = program.command("admin");
  registerDecisionsCommand<{ json?: boolean }>({
    sub: (name, description) => admin.command(name).description(description).option("--json"),
    optionsOf: <T>(rest: unknown[]) =>
      (rest[rest.length - 1] as Command).optsWithGlobals() as { json?: boolean } & T,
    print: (options, response, text) => lines.push(options.json ? JSON.stringify(response) : text()),
    withClient: async (_options, fn) => {
      const client = createAdminClient(cp.admin.address);
      try {
        return await fn(client);
      } finally {
        client.close();
      }
    },
  });
  await program.parseAsync(["admin", ...args], { from: "user" });
  return lines.join("\n");
}

describe("decision logs", () => {
  it("records allowed and denied statements and connections, with placeholders for literals", async () => {
    const rows = await alice.query("SELECT * FROM sales.orders WHERE id = 42");
    expect(rows.rowCount).toBeGreaterThanOrEqual(0);
    const denied = await alice
      .query("DELETE FROM sales.orders WHERE id = 42")
      .catch((e: { code?: string }) => e);
    expect((denied as { code?: string }).code).toBe("42501");
    const mallory = await stack.client(await stack.token(USERS.mallory)).catch((e: Error) => e);
    expect(mallory).toBeInstanceOf(Error);

    const aliceDecisions = await eventually(async () => {
      const found = await decisionsOf({ subject: "alice", since: startedAt });
      return found.length >= 3 ? found : undefined;
    }, "alice's decisions in the control plane");
    const select = aliceDecisions.find((d) => d.statement_kind === "select");
    const del = aliceDecisions.find((d) => d.statement_kind === "delete");
    const connection = aliceDecisions.find((d) => d.kind === "connection");
    expect(select).toMatchObject({
      result: "allowed",
      allow: true,
      statement_text: "SELECT * FROM sales.orders WHERE id = $1",
      relations: ["sales.orders:read"],
      data_plane_id: "dp-audit-1",
      region: "eu",
      db_role: "analyst",
      database: "app",
      protocol: "simple",
      revision: stack.proxy.policy.current()?.revision,
      issuer: stack.oidc.issuer,
    });
    expect(del).toMatchObject({
      result: "denied",
      statement_text: "DELETE FROM sales.orders WHERE id = $1",
      relations: ["sales.orders:write"],
    });
    expect(del?.reasons.join(" ")).toMatch(/may not write sales\.orders/);
    expect(connection).toMatchObject({ result: "allowed", db_role: "analyst", database: "app" });
    // the connection decision carries the id of the session it opened
    expect(connection?.session_id).toBe(select?.session_id);
    expect(select?.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(aliceDecisions)).not.toMatch(/= 42\b/);

    const malloryDecisions = await eventually(async () => {
      const found = await decisionsOf({ subject: "mallory", kind: "connection" });
      return found.length > 0 ? found : undefined;
    }, "mallory's refused connection");
    expect(malloryDecisions[0]).toMatchObject({ result: "denied", db_role: "" });
    expect(malloryDecisions[0]?.reasons.join(" ")).toMatch(/no database role is mapped for mallory/);
  });

  it("answers portcullis admin decisions with the filters asked", async () => {
    const json = JSON.parse(
      await cli(
        "decisions",
        "--subject",
        "alice",
        "--since",
        "1h",
        "--result",
        "denied",
        "--relation",
        "sales.orders",
        "--json",
      ),
    ) as { decisions: DecisionMessage[]; next_page_token: string };
    expect(json.decisions.map((d) => d.statement_text)).toEqual(["DELETE FROM sales.orders WHERE id = $1"]);
    expect(json.next_page_token).toBe("");

    const table = await cli("decisions", "--subject", "alice", "--since", "1h");
    expect(table).toMatch(/^TIME \(UTC\) +RESULT +SUBJECT/);
    expect(table).toMatch(/denied +alice +dp-audit-1 +delete +DELETE FROM sales\.orders WHERE id = \$1/);
    expect(table).toMatch(/allowed +alice +dp-audit-1 +connection +app as analyst/);

    const none = await cli("decisions", "--subject", "nobody-at-all");
    expect(none).toBe("no decisions match");
    await expect(cli("decisions", "--since", "last tuesday")).rejects.toThrow(/neither an RFC 3339 time/);
  });

  it("stores batched and single records, each record once, and drops an invalid record alone", async () => {
    const record = (sql: string): DecisionRecordMessage => ({
      id: randomUUID(),
      at: new Date().toISOString(),
      kind: "query",
      data_plane_id: "dp-batch",
      region: "eu",
      session_id: "s-batch",
      subject: "batch-subject",
      issuer: "https://issuer.test",
      db_role: "analyst",
      database: "app",
      revision: "r1",
      allow: true,
      reasons: [],
      eval_micros: 1,
      cached: false,
      protocol: "simple",
      statement_kind: "select",
      statement_command: "SelectStmt",
      relations: [],
      sql,
      fingerprint: "f",
      client_addr: "",
      application_name: "",
    });
    const first = record("SELECT $1");
    const second = record("SELECT $1, $2");
    const single = record("SELECT $1, $2, $3");
    const nc = await connect({ servers: nats.url });
    try {
      const js = jetstream(nc);
      const json = (r: unknown) => JSON.stringify(r);
      await js.publish(
        decisionBatchSubject("dp-batch"),
        encodeDecisionBatch([json(first), json({ ...second, at: "yesterday" }), json(second)]),
        { msgID: "batch-1" },
      );
      // the same records again under another message id (a batch cut differently on a retry)
      await js.publish(decisionBatchSubject("dp-batch"), encodeDecisionBatch([json(first), json(second)]), {
        msgID: "batch-2",
      });
      await js.publish(decisionSubject("query", "dp-batch"), encodeBusMessage(single), { msgID: single.id });
    } finally {
      await nc.close();
    }
    const stored = await eventually(async () => {
      const found = await decisionsOf({ subject: "batch-subject" });
      return found.length >= 3 ? found : undefined;
    }, "the batched and single records");
    expect(stored.map((d) => d.id).sort()).toEqual([first.id, second.id, single.id].sort());
    expect(stored.map((d) => d.statement_text).sort()).toEqual([
      "SELECT $1",
      "SELECT $1, $2",
      "SELECT $1, $2, $3",
    ]);
  });

  it("keeps what the data plane publishes while the control plane is down, and stores it once it is back", async () => {
    const dataDir = cp.dataDir;
    admin.close();
    await cp.stop();
    const before = new Date().toISOString();
    const count = 25;
    for (let i = 0; i < count; i++) {
      await alice.query(`SELECT * FROM sales.orders WHERE id = ${i} AND status = 'while-down-${i}'`);
    }
    // published to the stream (not the control plane, which is down)
    expect(await stack.proxy.decisionLog!.flush(30_000)).toBe(true);

    cp = await startTestControlPlane({ natsUrl: nats.url, dataDir });
    admin = createAdminClient(cp.admin.address);
    const text = "SELECT * FROM sales.orders WHERE id = $1 AND status = $2";
    const stored = await eventually(async () => {
      const found = (await decisionsOf({ subject: "alice", since: before })).filter(
        (d) => d.statement_text === text,
      );
      return found.length >= count ? found : undefined;
    }, "the decisions made while the control plane was down");
    expect(stored).toHaveLength(count);
    expect(new Set(stored.map((d) => d.id)).size).toBe(count);
    expect(stored.every((d) => d.result === "allowed")).toBe(true);

    // what was stored before the restart is still there, and nothing came twice
    const all = await decisionsOf({ subject: "alice", since: startedAt });
    expect(new Set(all.map((d) => d.id)).size).toBe(all.length);
    expect(all.filter((d) => d.statement_kind === "delete")).toHaveLength(1);
  });
});
