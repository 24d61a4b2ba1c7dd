/**
 * The decision log against a real nats-server with JetStream: records reach stream
 * PORTCULLIS_DECISIONS with placeholders for literals; while NATS is down the queue keeps its bound
 * and counts (and logs) what it drops; when NATS is back it flushes every kept record, none lost,
 * none twice.
 */
import { type JsMsg, jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalNats, startNats } from "../../devstack/nats.js";
import {
  BUS,
  DECISION_BATCH_MAX_RECORDS,
  type DecisionRecordMessage,
  decodeDecisionBatch,
} from "../../proto/bus.js";
import type { StatementInfo, TokenClaims } from "../../proto/policy.js";
import { eventually } from "../../test/harness/git-repo.js";
import { loadParser } from "../sql/parser.js";
import type { DecisionRecord } from "../statements/statement-gate.js";
import { DecisionLog } from "./decision-log.js";

let nats: LocalNats;

beforeAll(async () => {
  await loadParser();
  nats = await startNats();
});
afterAll(async () => {
  await nats?.destroy();
});

const claims: TokenClaims = { iss: "https://issuer.example", sub: "alice", aud: "portcullis", exp: 0 };

function statement(text: string, allow: boolean, overrides: Partial<StatementInfo> = {}): DecisionRecord {
  return {
    session: {
      id: "session-1",
      subject: "alice",
      claims,
      dbRole: "analyst",
      database: "app",
      region: "eu",
    },
    protocol: "simple",
    statement: {
      kind: "select",
      command: "SelectStmt",
      relations: [{ schema: "sales", name: "orders", access: "read", resolved: true }],
      functions: [],
      text,
      fingerprint: "f",
      ...overrides,
    },
    text,
    decision: allow ? { allow: true, reasons: [] } : { allow: false, reasons: ["not for you"] },
    revision: "rev-1",
    cached: false,
    evalMicros: 17.25,
  };
}

/** Messages the last readStream() read. */
let messages = 0;

/** Every decision record on the stream, oldest first. */
async function readStream(): Promise<DecisionRecordMessage[]> {
  const nc = await connect({ servers: nats.url });
  try {
    const js = jetstream(nc);
    const consumer = await js.consumers.get(BUS.decisionsStream);
    const out: DecisionRecordMessage[] = [];
    messages = 0;
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
      let got = 0;
      for await (const m of batch as AsyncIterable<JsMsg>) {
        // records travel in batches: one message for up to DECISION_BATCH_MAX_RECORDS of them
        expect(m.subject).toMatch(/^portcullis\.decisions\.batch\.dp-test-\d$/);
        const { records, invalid } = decodeDecisionBatch(m.data);
        expect(invalid).toEqual([]);
        expect(records.length).toBeLessThanOrEqual(DECISION_BATCH_MAX_RECORDS);
        out.push(...records);
        messages++;
        got++;
      }
      if (got === 0) return out;
    }
  } finally {
    await nc.close();
  }
}

function capturingLogger(lines: string[]) {
  return pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
}

describe("decision log", () => {
  it("publishes allowed and denied statements with placeholders instead of literals", async () => {
    const log = new DecisionLog({
      servers: nats.url,
      id: "dp-test-1",
      region: "eu",
      maxQueue: 100,
      backoff: { initialMs: 50, maxMs: 200 },
      logger: pino({ level: "silent" }),
    });
    log.start();
    try {
      await eventually(() => log.connected, "the decision log to connect");
      log.statement(statement("SELECT * FROM sales.orders WHERE id = 42", true));
      log.statement(
        statement("DELETE FROM sales.orders WHERE customer = 'ACME Corp'", false, {
          kind: "delete",
          command: "DeleteStmt",
          relations: [{ schema: "sales", name: "orders", access: "write", resolved: true }],
        }),
      );
      // a statement that does not parse: its text never reaches the log
      log.statement({ ...statement("SELEC 'secret' FROM", false), statement: null });
      log.connection({
        sessionId: "session-2",
        input: {
          token: { ...claims, sub: "mallory" },
          startup: { user: "m", database: "app", application_name: "psql", options: "" },
          client: { addr: "127.0.0.1", port: 5555, tls: null },
          proxy: { id: "dp-test-1", region: "eu", labels: {} },
          now_ns: 0,
        },
        decision: { allow: false, reasons: ["contractors may not connect"] },
        revision: "rev-1",
        evalMicros: 40,
      });
      expect(await log.flush(20_000)).toBe(true);
      const records = (await readStream()).filter((r) => r.data_plane_id === "dp-test-1");
      expect(records.map((r) => r.sql)).toEqual([
        "SELECT * FROM sales.orders WHERE id = $1",
        "DELETE FROM sales.orders WHERE customer = $1",
        "",
        "",
      ]);
      expect(JSON.stringify(records)).not.toMatch(/ACME|secret/);
      expect(records.some((r) => r.sql.includes("42"))).toBe(false);
      expect(records[0]).toMatchObject({
        kind: "query",
        allow: true,
        subject: "alice",
        issuer: "https://issuer.example",
        session_id: "session-1",
        region: "eu",
        revision: "rev-1",
        statement_kind: "select",
        relations: [{ schema: "sales", name: "orders", access: "read" }],
        eval_micros: 17.3,
      });
      expect(records[1]).toMatchObject({ allow: false, reasons: ["not for you"], statement_kind: "delete" });
      expect(records[3]).toMatchObject({
        kind: "connection",
        subject: "mallory",
        allow: false,
        session_id: "session-2",
        client_addr: "127.0.0.1",
        application_name: "psql",
        reasons: ["contractors may not connect"],
      });
      expect(log.published).toBe(4);
      expect(log.dropped).toBe(0);
    } finally {
      await log.stop();
    }
  });

  it("keeps up to max_queue records while NATS is down, counts the rest, and flushes them all when it is back", async () => {
    const lines: string[] = [];
    const drops: { count: number; reason: string }[] = [];
    const maxQueue = 50;
    const log = new DecisionLog({
      servers: nats.url,
      id: "dp-test-2",
      region: "us",
      maxQueue,
      maxInFlight: 7,
      publishTimeoutMs: 1_000,
      backoff: { initialMs: 50, maxMs: 200 },
      logger: capturingLogger(lines),
      onDropped: (count, reason) => drops.push({ count, reason }),
    });
    log.start();
    try {
      await eventually(() => log.connected, "the decision log to connect");
      await nats.stop();
      await eventually(() => !log.connected, "the decision log to notice NATS is down");
      const texts = Array.from(
        { length: maxQueue + 13 },
        (_, i) => `SELECT * FROM sales.orders WHERE id = ${i}`,
      );
      for (const text of texts) log.statement(statement(text, true));
      expect(log.depth).toBe(maxQueue);
      expect(log.dropped).toBe(13);
      expect(drops.reduce((n, d) => n + d.count, 0)).toBe(13);
      expect(drops.every((d) => d.reason === "queue_full")).toBe(true);
      expect(lines.filter((l) => l.includes("decision log queue is full"))).toHaveLength(1);

      await nats.restart();
      await eventually(() => log.depth === 0, "the queue to flush after NATS came back", 60_000);
      expect(log.published).toBe(maxQueue);
      const records = (await readStream()).filter((r) => r.data_plane_id === "dp-test-2");
      // the first max_queue records were kept, in order; each is on the stream exactly once
      expect(records).toHaveLength(maxQueue);
      expect(new Set(records.map((r) => r.id)).size).toBe(maxQueue);
      expect(records.every((r) => r.sql === "SELECT * FROM sales.orders WHERE id = $1")).toBe(true);
      // published in batches (at most max_in_flight = 7 at a time here), not a message each
      expect(messages).toBeLessThan(records.length);
      // the total dropped is reported once the queue has room again
      await eventually(
        () =>
          lines.some(
            (l) => l.includes("dropped while the decision log queue was full") && l.includes('"dropped":13'),
          ),
        "the log line with the number dropped",
      );
    } finally {
      await log.stop();
    }
  });
});
