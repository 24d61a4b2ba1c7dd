/**
 * A deterministic cost guard for the statement path: 2,000 simple and 2,000 extended-protocol
 * statements (pgbench's select, decision cache warm) go through the real Relay and StatementGate,
 * with the default policy loaded in opa-wasm, between two in-memory sockets. Instead of timing
 * anything, it counts work the proxy's own code asks for: socket writes and bytes written,
 * Buffer.concat calls and the bytes they copy, Buffer allocations and views, JSON.stringify and
 * JSON.parse calls, policy evaluations, analyses and decision-cache lookups. Those counts are the same
 * on every run on every machine (nothing here waits on a timer or the network), so they can be held to
 * a committed baseline (bench/cost-baseline.json): the test fails when any grows by more than 10%.
 *
 * After a change that makes the path cheaper (or that adds needed work), write the new baseline:
 *   PORTCULLIS_COST_BASELINE=write node_modules/.bin/vitest run bench/cost-guard.int.test.ts
 * See bench/README.md ("Cost guard").
 */
import { EventEmitter } from "node:events";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { Socket } from "node:net";
import { join } from "node:path";
import { serialize } from "pg-protocol";
import { beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../common/logger.js";
import { PolicyHolder, type PolicyRuntime } from "../common/policy/runtime.js";
import { projectRoot } from "../common/toolchain.js";
import { DataPlaneMetrics } from "../data-plane/metrics.js";
import { Relay } from "../data-plane/session/relay.js";
import { AnalysisCache, loadParser } from "../data-plane/sql/index.js";
import { type Catalog, type CatalogRelation, CatalogSnapshot } from "../data-plane/statements/catalog.js";
import { DecisionCache, ShapeCache } from "../data-plane/statements/decision-cache.js";
import { SearchPath } from "../data-plane/statements/search-path.js";
import { StatementGate } from "../data-plane/statements/statement-gate.js";
import { loadRuntime } from "../test/harness/opa.js";
import { USERS } from "../test/harness/proxy-stack.js";

const BASELINE_FILE = join(projectRoot(), "bench", "cost-baseline.json");
/** How much a count may grow over its baseline before the guard fails. */
const MARGIN = 0.1;
const WARMUP = 100;
const STATEMENTS = 2_000;

type Counts = Record<string, number>;

const counts: Counts = {};
const count = (what: string, n = 1) => {
  counts[what] = (counts[what] ?? 0) + n;
};

/** A socket that records what is written to it; data is pushed into it by the test. */
class MemorySocket extends EventEmitter {
  destroyed = false;
  written: Buffer[] = [];
  constructor(private readonly name: string) {
    super();
  }
  write(data: Buffer): boolean {
    count(`${this.name}_writes`);
    count(`${this.name}_bytes_written`, data.length);
    this.written.push(data);
    return true;
  }
  take(): Buffer {
    const all = Buffer.concat(this.written);
    this.written = [];
    return all;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  cork(): void {}
  uncork(): void {}
  end(): this {
    this.destroyed = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
}

function backend(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** pgbench's answer shapes: `abalance` (int4) of sales.pgbench_accounts (OID 16430, attribute 3). */
const ROW_DESCRIPTION = (() => {
  const name = Buffer.from("abalance\0");
  const field = Buffer.alloc(18);
  field.writeUInt32BE(16430, 0);
  field.writeInt16BE(3, 4);
  field.writeUInt32BE(23, 6);
  field.writeInt16BE(4, 10);
  field.writeInt32BE(-1, 12);
  field.writeInt16BE(0, 16);
  const count = Buffer.alloc(2);
  count.writeInt16BE(1, 0);
  return backend("T", Buffer.concat([count, name, field]));
})();
const DATA_ROW = (() => {
  const body = Buffer.alloc(2 + 4 + 1);
  body.writeInt16BE(1, 0);
  body.writeInt32BE(1, 2);
  body.write("0", 6);
  return backend("D", body);
})();
const SELECT_1 = backend("C", Buffer.from("SELECT 1\0"));
const READY = backend("Z", Buffer.from("I"));
const PARSE_COMPLETE = backend("1");
const BIND_COMPLETE = backend("2");

/** What PostgreSQL answers to a batch of client messages, as one chunk (one TLS record). */
function answer(batch: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < batch.length; ) {
    const type = String.fromCharCode(batch[at]!);
    at += 1 + batch.readInt32BE(at + 1);
    if (type === "Q") out.push(ROW_DESCRIPTION, DATA_ROW, SELECT_1, READY);
    else if (type === "P") out.push(PARSE_COMPLETE);
    else if (type === "B") out.push(BIND_COMPLETE);
    else if (type === "D") out.push(ROW_DESCRIPTION);
    else if (type === "E") out.push(DATA_ROW, SELECT_1);
    else if (type === "S") out.push(READY);
  }
  return Buffer.concat(out);
}

function relation(oid: number, schema: string, name: string, columns: string[]): CatalogRelation {
  return { oid, schema, name, kind: "table", columns: new Map(columns.map((c, i) => [i + 1, c])) };
}

/** Counts calls (and bytes copied, for concat) of the Buffer and JSON functions while `on` is set. */
function instrument(): { on: boolean; restore(): void } {
  const state = { on: false, restore: () => {} };
  const saved = {
    concat: Buffer.concat,
    alloc: Buffer.alloc,
    allocUnsafe: Buffer.allocUnsafe,
    from: Buffer.from,
    subarray: Object.getOwnPropertyDescriptor(Buffer.prototype, "subarray"),
    stringify: JSON.stringify,
    parse: JSON.parse,
  };
  const wrap =
    <F extends (...args: never[]) => unknown>(name: string, fn: F, bytes = false) =>
    (...args: Parameters<F>): ReturnType<F> => {
      const result = fn(...args) as ReturnType<F>;
      if (state.on) {
        count(name);
        if (bytes) count(`${name}_bytes`, (result as Buffer).length);
      }
      return result;
    };
  Buffer.concat = wrap("buffer_concat", saved.concat.bind(Buffer), true);
  Buffer.alloc = wrap("buffer_alloc", saved.alloc.bind(Buffer));
  Buffer.allocUnsafe = wrap("buffer_alloc_unsafe", saved.allocUnsafe.bind(Buffer));
  Buffer.from = wrap(
    "buffer_from",
    saved.from.bind(Buffer) as (...args: never[]) => Buffer,
  ) as typeof Buffer.from;
  const subarray = Uint8Array.prototype.subarray;
  Object.defineProperty(Buffer.prototype, "subarray", {
    configurable: true,
    writable: true,
    value(this: Buffer, start?: number, end?: number) {
      if (state.on) count("buffer_views");
      return subarray.call(this, start, end);
    },
  });
  JSON.stringify = wrap("json_stringify", saved.stringify) as typeof JSON.stringify;
  JSON.parse = wrap("json_parse", saved.parse) as typeof JSON.parse;
  state.restore = () => {
    Buffer.concat = saved.concat;
    Buffer.alloc = saved.alloc;
    Buffer.allocUnsafe = saved.allocUnsafe;
    Buffer.from = saved.from;
    if (saved.subarray) Object.defineProperty(Buffer.prototype, "subarray", saved.subarray);
    else delete (Buffer.prototype as { subarray?: unknown }).subarray;
    JSON.stringify = saved.stringify;
    JSON.parse = saved.parse;
  };
  return state;
}

describe("cost guard: work per statement on the cached-policy path", () => {
  let runtime: PolicyRuntime;

  beforeAll(async () => {
    await loadParser();
    runtime = await loadRuntime(join(projectRoot(), "policies"));
  }, 120_000);

  it("stays within 10% of bench/cost-baseline.json", () => {
    const policy = new PolicyHolder();
    policy.swap(runtime);
    const metrics = new DataPlaneMetrics({ proxy: "cost-guard" });
    const snapshot = new CatalogSnapshot(
      Date.now(),
      [
        relation(16430, "sales", "pgbench_accounts", ["aid", "bid", "abalance", "filler"]),
        relation(16420, "hr", "employees", ["id", "name", "department", "email", "ssn", "salary"]),
      ],
      // the session's role may use the schemas it searches (names elsewhere are not found)
      new Map([["app_rw", new Set(["sales", "public", "hr"])]]),
    );
    const catalog = {
      fresh: () => snapshot,
      get: async () => snapshot,
      invalidate: () => {},
    } as unknown as Catalog;
    const analysis = new AnalysisCache();
    const decisions = new DecisionCache();
    const now = Math.floor(Date.now() / 1000);
    let records = 0;
    const gate = new StatementGate({
      session: {
        id: "cost-guard",
        subject: "bob",
        claims: { iss: "http://127.0.0.1:1", aud: "portcullis", iat: now, exp: now + 3600, ...USERS.bob },
        dbRole: "app_rw",
        database: "app",
        region: "test",
      },
      policy,
      analyze: (text) => {
        count("analyses");
        return analysis.analyze(text);
      },
      catalog,
      catalogLogin: { role: "app_rw", password: "" },
      searchPath: new SearchPath(["sales", "public"], "app_rw"),
      decisions,
      shapes: new ShapeCache(),
      hashKey: Buffer.alloc(32, 1),
      logger: silentLogger,
      onDecision: (record) => {
        records++;
        metrics.countStatement(record.decision.allow, record.protocol, record.cached);
      },
    });
    const client = new MemorySocket("client");
    const upstream = new MemorySocket("upstream");
    const relay = new Relay(client as unknown as Socket, upstream as unknown as Socket, gate);
    relay.start(Buffer.alloc(0), Buffer.alloc(0));

    const extended = Buffer.concat([
      serialize.parse({ text: "SELECT abalance FROM pgbench_accounts WHERE aid = $1", types: [] }),
      serialize.bind({ values: ["48213"] }),
      serialize.describe({ type: "P" }),
      serialize.execute({}),
      serialize.sync(),
    ]);
    const simple = (i: number) =>
      serialize.query(`SELECT abalance FROM pgbench_accounts WHERE aid = ${1000 + i};`);
    // built before counting: what the client sends is not the proxy's work
    const warm = Array.from({ length: WARMUP }, (_, i) => simple(i));
    const measured = Array.from({ length: STATEMENTS }, (_, i) => simple(WARMUP + i));
    let expectedToClient = 0;
    let probe: { on: boolean; restore(): void } | undefined;
    const roundTrip = (message: Buffer) => {
      client.emit("data", message);
      const counting = probe?.on === true;
      if (probe) probe.on = false; // the test's own PostgreSQL stand-in is not the proxy's work
      const reply = answer(upstream.take());
      expectedToClient += answer(message).length; // what the client's own messages get back
      if (probe) probe.on = counting;
      upstream.emit("data", reply);
    };
    for (let i = 0; i < WARMUP; i++) {
      roundTrip(warm[i]!);
      roundTrip(extended);
    }
    const evalsBefore = Object.values(runtime.stats()).reduce((n, s) => n + (s?.count ?? 0), 0);
    const lookupsBefore = decisions.hits + decisions.misses;
    const recordsBefore = records;
    client.written = [];
    for (const key of Object.keys(counts)) delete counts[key];

    expectedToClient = 0;
    probe = instrument();
    try {
      probe.on = true;
      for (let i = 0; i < STATEMENTS; i++) {
        roundTrip(measured[i]!);
        roundTrip(extended);
      }
      probe.on = false;
    } finally {
      probe.restore();
    }
    for (const key of [
      "json_stringify",
      "json_parse",
      "buffer_alloc",
      "buffer_alloc_unsafe",
      "buffer_from",
      "buffer_concat",
      "buffer_concat_bytes",
      "buffer_views",
      "analyses",
    ])
      counts[key] ??= 0;
    counts.policy_evaluations =
      Object.values(runtime.stats()).reduce((n, s) => n + (s?.count ?? 0), 0) - evalsBefore;
    counts.decision_cache_lookups = decisions.hits + decisions.misses - lookupsBefore;
    counts.decision_records = records - recordsBefore;

    // behaviour first: every statement was decided, recorded, allowed and answered in full
    expect(counts.decision_records).toBe(STATEMENTS * 2);
    expect(counts.policy_evaluations).toBe(0);
    expect(counts.client_bytes_written).toBe(expectedToClient);
    expect(relay.isEnded).toBe(false);

    const measuredCounts: Counts = Object.fromEntries(
      Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)),
    );
    if (process.env.PORTCULLIS_COST_BASELINE === "write" || !existsSync(BASELINE_FILE)) {
      writeFileSync(
        BASELINE_FILE,
        `${JSON.stringify(
          {
            note: "Written by bench/cost-guard.int.test.ts (PORTCULLIS_COST_BASELINE=write): counts for 2,000 simple + 2,000 extended statements on the cached-policy path",
            statements: { simple: STATEMENTS, extended: STATEMENTS },
            margin: MARGIN,
            counts: measuredCounts,
          },
          null,
          2,
        )}\n`,
      );
      return;
    }
    const baseline = JSON.parse(readFileSync(BASELINE_FILE, "utf8")) as { counts: Counts };
    const grown = Object.entries(measuredCounts)
      .map(([key, value]) => ({ key, value, base: baseline.counts[key] ?? 0 }))
      .filter(({ value, base }) => value > Math.floor(base * (1 + MARGIN)))
      .map(({ key, value, base }) => `${key}: ${value} (baseline ${base})`);
    expect(grown, "counts grown more than 10% over bench/cost-baseline.json").toEqual([]);
  });
});
