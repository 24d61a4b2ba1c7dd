/**
 * The data plane's decision log: every connection and statement decision, allowed or denied,
 * published as a DecisionRecord (proto/bus.ts) on JetStream stream PORTCULLIS_DECISIONS, subject
 * `portcullis.decisions.<kind>.<data plane id>`, for the control plane's audit trail.
 *
 * No query ever waits on it: `statement()` and `connection()` only append to a bounded in-memory
 * queue (O(1), no I/O, no parsing) and a background pump publishes from it. Building the record —
 * replacing the statement's literals with placeholders (libpg-query normalize, cached by text) —
 * happens in the pump too, so values never leave the process and the query path never pays for it.
 *
 * While NATS is unreachable the queue keeps up to `maxQueue` records (in flight included) and
 * drops what comes beyond that, counting it (`onDropped`, the metric) and saying so in the log:
 * once when dropping starts and once with the total when the queue has room again. When NATS is
 * back the pump flushes the queue, oldest first. Records go out in batches (proto/bus.ts
 * DecisionBatch, up to 64 a message): one JetStream publish and acknowledgement for many, since a
 * publish costs the data plane far more than building a record. Every record carries a UUIDv7 (time
 * first: the control plane's unique index over record ids grows at its end); a
 * batch's message id is made from its first record's id and its count, so a batch retried after a
 * lost acknowledgement is stored once, and the control plane ignores record ids it already has.
 */
import { JetStreamApiError, type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { LRUCache } from "lru-cache";
import { ensureDecisionsStream } from "../../common/decisions-stream.js";
import type { Logger } from "../../common/logger.js";
import { type Backoff, backoffDelay, NatsLink } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";
import { uuid7 } from "../../common/uuid7.js";
import {
  DECISION_BATCH_MAX_BYTES,
  DECISION_BATCH_MAX_RECORDS,
  type DecisionRecordMessage,
  type DecisionRelation,
  decisionBatchSubject,
  encodeDecisionBatch,
  MAX_DECISION_INPUT_CHARS,
  MAX_DECISION_SQL_CHARS,
} from "../../proto/bus.js";
import type { ConnectionDecision, ConnectionInput, QueryInput, StatementInfo } from "../../proto/policy.js";
import type { ShadowVerdict } from "../policy/shadow-evaluator.js";
import { normalize } from "../sql/parser.js";
import type { DecisionRecord as StatementDecision } from "../statements/statement-gate.js";
import { replayableQueryInput } from "./replayable-input.js";

export interface DecisionLogOptions {
  /** NATS server URL(s). */
  servers: NatsTarget;
  /** This data plane's id and region, as recorded. */
  id: string;
  region: string;
  /** Records kept in memory while NATS is unreachable; beyond this, new records are dropped. */
  maxQueue: number;
  /** Records published concurrently (default 256). */
  maxInFlight?: number;
  /**
   * How long records wait for more to fill a batch before they are published (default 10 ms; a full
   * batch goes at once). A JetStream publish and its acknowledgement cost both planes far more than a
   * record, and at a few records a message the control plane stored them a transaction each.
   */
  batchLingerMs?: number;
  /** How long a publish waits for JetStream's acknowledgement (default 5 s). */
  publishTimeoutMs?: number;
  backoff?: Backoff;
  connectTimeoutMs?: number;
  logger: Logger;
  /** Told how many records were dropped and why ("queue_full", "rejected"). */
  onDropped?(count: number, reason: "queue_full" | "rejected"): void;
  /** Told how many records JetStream acknowledged. */
  onPublished?(count: number): void;
}

/** A connection decision, as main.ts sees it. */
export interface ConnectionDecisionEvent {
  /** The id the session gets if the connection goes through. */
  sessionId: string;
  input: ConnectionInput;
  decision: ConnectionDecision;
  revision: string | undefined;
  evalMicros: number;
  /** What a shadow revision decided, when it disagreed. */
  shadow?: ShadowVerdict;
}

/**
 * A queued decision: the event as the gate handed it and the instant it was made. The record's UUID
 * and ISO time are made when it is first published (the pump), not on the query path; the UUID then
 * stays with it through retries.
 */
type Pending =
  | { id: string | undefined; atMs: number; attempts: number; kind: "query"; event: StatementDecision }
  | {
      id: string | undefined;
      atMs: number;
      attempts: number;
      kind: "connection";
      event: ConnectionDecisionEvent;
    };

/** A JetStream refusal that will not change on retry gives up after this many attempts. */
const MAX_REJECTED_ATTEMPTS = 5;

/** Cut `text` to `max` characters without splitting a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

/** Every relation a statement touches, its inner statement's (EXPLAIN, PREPARE, CREATE TABLE AS) included. */
export function statementRelations(info: StatementInfo | null): DecisionRelation[] {
  const out: DecisionRelation[] = [];
  const seen = new Set<string>();
  for (
    let s: StatementInfo | undefined = info ?? undefined, depth = 0;
    s && depth < 8;
    s = s.inner, depth++
  ) {
    for (const r of s.relations) {
      const key = `${r.schema ?? ""}\u0000${r.name}\u0000${r.access}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ schema: r.schema, name: r.name, access: r.access });
    }
  }
  return out;
}

/** The record's input_json: left out when absent or longer than a record carries. */
function inputJson(input: unknown): { input_json?: string } {
  if (input === undefined) return {};
  return withinInputLimit(JSON.stringify(input));
}

function withinInputLimit(json: string): { input_json?: string } {
  return json.length <= MAX_DECISION_INPUT_CHARS ? { input_json: json } : {};
}

/**
 * JSON of a statement input's session part (its id, claims, role…), made once per session: the gate
 * hands every input of a session the same frozen session object (statements/decide.ts), and its
 * claims are most of an input's size.
 */
const sessionJson = new WeakMap<object, string>();

/** `JSON.stringify(input)`, with the session part's JSON made once per session. */
export function queryInputJson(input: QueryInput): { input_json?: string } {
  const { session, ...rest } = input;
  let head = sessionJson.get(session);
  if (head === undefined) {
    head = `{"session":${JSON.stringify(session)},`;
    if (Object.isFrozen(session)) sessionJson.set(session, head);
  }
  return withinInputLimit(head + JSON.stringify(rest).slice(1));
}

function shadowField(shadow: ShadowVerdict | undefined): { shadow?: ShadowVerdict } {
  if (!shadow) return {};
  return {
    shadow: {
      revision: cut(shadow.revision, 200),
      allow: shadow.allow,
      reasons: shadow.reasons.slice(0, 100).map((r) => cut(String(r), 4000)),
    },
  };
}

export class DecisionLog {
  readonly #options: DecisionLogOptions;
  readonly #logger: Logger;
  readonly #link: NatsLink;
  readonly #maxInFlight: number;
  readonly #normalized = new LRUCache<string, string>({ max: 5_000 });
  #queue: Pending[] = [];
  #head = 0;
  #inFlight = 0;
  #pumping = false;
  #stopped = false;
  #js: { nc: NatsConnection; js: JetStreamClient } | undefined;
  #wake = new AbortController();
  /** Records dropped since the last log line about it. */
  #droppedUnreported = 0;
  #dropped = 0;
  #published = 0;
  #idle: (() => void)[] = [];

  constructor(options: DecisionLogOptions) {
    if (!(options.maxQueue >= 1)) throw new Error("decision log: maxQueue must be at least 1");
    this.#options = options;
    this.#logger = options.logger;
    this.#maxInFlight = Math.max(1, Math.min(options.maxInFlight ?? 256, options.maxQueue));
    this.#link = new NatsLink({
      servers: options.servers,
      name: `portcullis-data-plane-decisions-${options.id}`,
      logger: options.logger,
      backoff: options.backoff,
      connectTimeoutMs: options.connectTimeoutMs,
      onReady: async (nc) => {
        const done = await ensureDecisionsStream(nc);
        if (done === "created") this.#logger.info("created the decision records stream");
        this.#js = { nc, js: jetstream(nc) };
        this.#schedule();
      },
    });
  }

  /** Connects in the background; returns at once. */
  start(): void {
    this.#link.start();
  }

  get connected(): boolean {
    return this.#link.connected;
  }

  /** Records waiting to be published (in flight included). */
  get depth(): number {
    return this.#queue.length - this.#head + this.#inFlight;
  }

  /** Records dropped since start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Records JetStream acknowledged since start. */
  get published(): number {
    return this.#published;
  }

  /** A statement decision (the statement gate's onDecision). Never throws, never waits. */
  statement(event: StatementDecision): void {
    this.#enqueue("query", event);
  }

  /** A connection decision. Never throws, never waits. */
  connection(event: ConnectionDecisionEvent): void {
    this.#enqueue("connection", event);
  }

  /** Resolves once the queue is empty (true) or after `timeoutMs` (false). */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.depth === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#idle = this.#idle.filter((f) => f !== done);
        resolve(false);
      }, timeoutMs);
      this.#idle.push(done);
    });
  }

  /** Publishes what it can within `flushTimeoutMs` (default 2 s), then disconnects. */
  async stop(flushTimeoutMs = 2_000): Promise<void> {
    if (this.#stopped) return;
    if (this.#link.connected && this.depth > 0) await this.flush(flushTimeoutMs);
    this.#stopped = true;
    this.#wake.abort();
    const left = this.depth;
    if (left > 0)
      this.#logger.warn({ records: left }, "stopping with decision records not published: they are lost");
    this.#reportDrops();
    await this.#link.stop();
  }

  #enqueue<K extends Pending["kind"]>(kind: K, event: Extract<Pending, { kind: K }>["event"]): void {
    if (this.#stopped) return;
    if (this.depth >= this.#options.maxQueue) {
      this.#drop(1, "queue_full");
      return;
    }
    this.#queue.push({ id: undefined, atMs: Date.now(), attempts: 0, kind, event } as Pending);
    this.#schedule();
  }

  #drop(count: number, reason: "queue_full" | "rejected"): void {
    if (this.#droppedUnreported === 0 && reason === "queue_full") {
      this.#logger.warn(
        { maxQueue: this.#options.maxQueue, natsConnected: this.#link.connected },
        "decision log queue is full: dropping new decision records until NATS takes the queued ones",
      );
    }
    this.#dropped += count;
    this.#droppedUnreported += count;
    this.#options.onDropped?.(count, reason);
  }

  #reportDrops(): void {
    if (this.#droppedUnreported === 0) return;
    this.#logger.warn(
      { dropped: this.#droppedUnreported, droppedSinceStart: this.#dropped },
      "decision records were dropped while the decision log queue was full",
    );
    this.#droppedUnreported = 0;
  }

  #schedule(): void {
    if (this.#pumping || this.#stopped || this.#queue.length === this.#head) return;
    this.#pumping = true;
    const run = () => {
      this.#pump()
        .catch((err: unknown) => this.#logger.error({ err }, "decision log pump failed"))
        .finally(() => {
          this.#pumping = false;
          if (!this.#stopped && this.#queue.length > this.#head && this.#link.connected) this.#schedule();
        });
    };
    const linger = this.#options.batchLingerMs ?? 10;
    if (linger > 0 && this.#queue.length - this.#head < DECISION_BATCH_MAX_RECORDS) setTimeout(run, linger);
    else setImmediate(run);
  }

  #take(n: number): Pending[] {
    const batch = this.#queue.slice(this.#head, this.#head + n);
    this.#head += batch.length;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  #putBack(items: Pending[]): void {
    if (items.length === 0) return;
    this.#queue = [...items, ...this.#queue.slice(this.#head)];
    this.#head = 0;
  }

  async #pump(): Promise<void> {
    let failures = 0;
    while (!this.#stopped && this.#queue.length > this.#head) {
      const handle = this.#link.connected ? this.#js : undefined;
      if (!handle || handle.nc.isClosed()) return; // onReady schedules the pump again
      const taken = this.#take(this.#maxInFlight);
      this.#inFlight = taken.length;
      const batches = this.#batches(taken);
      const results = await Promise.allSettled(batches.map((b) => this.#publish(handle.js, b)));
      this.#inFlight = 0;
      const retry: Pending[] = [];
      let published = 0;
      let rejected = 0;
      results.forEach((result, i) => {
        const { items } = batches[i]!;
        if (result.status === "fulfilled") {
          published += items.length;
          return;
        }
        const err = result.reason as Error;
        for (const item of items) {
          if (err instanceof JetStreamApiError && ++item.attempts >= MAX_REJECTED_ATTEMPTS) {
            rejected++;
            this.#logger.error({ err: err.message, id: item.id }, "JetStream refused a decision record");
          } else retry.push(item);
        }
      });
      if (published > 0) {
        this.#published += published;
        this.#options.onPublished?.(published);
      }
      if (rejected > 0) this.#drop(rejected, "rejected");
      if (retry.length === 0) {
        failures = 0;
        if (this.depth < this.#options.maxQueue) this.#reportDrops();
        if (this.depth === 0) for (const resolve of this.#idle.splice(0)) resolve();
        continue;
      }
      this.#putBack(retry);
      failures++;
      const delay = backoffDelay(failures, this.#options.backoff);
      const first = (results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason as Error;
      this.#logger.debug(
        { failed: retry.length, retryInMs: delay, err: first.message },
        "decision records not acknowledged; retrying",
      );
      await this.#sleep(delay);
    }
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#wake.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done);
    });
  }

  /** Records in publish order, cut into batches by count and encoded size. */
  #batches(items: Pending[]): { items: Pending[]; bytes: Uint8Array; msgID: string }[] {
    const out: { items: Pending[]; bytes: Uint8Array; msgID: string }[] = [];
    let current: Pending[] = [];
    let encoded: string[] = [];
    let size = 0;
    const close = () => {
      if (current.length === 0) return;
      out.push({
        items: current,
        bytes: encodeDecisionBatch(encoded),
        msgID: `${current[0]!.id}:${current.length}`,
      });
      current = [];
      encoded = [];
      size = 0;
    };
    for (const item of items) {
      item.id ??= uuid7(item.atMs);
      const json = JSON.stringify(this.#message(item));
      // characters, not bytes: a record of multi-byte text counts low, hence the margin below max
      if (current.length >= DECISION_BATCH_MAX_RECORDS || size + json.length > DECISION_BATCH_MAX_BYTES / 2) {
        close();
      }
      current.push(item);
      encoded.push(json);
      size += json.length + 1;
    }
    close();
    return out;
  }

  async #publish(js: JetStreamClient, batch: { bytes: Uint8Array; msgID: string }): Promise<void> {
    await js.publish(decisionBatchSubject(this.#options.id), batch.bytes, {
      msgID: batch.msgID,
      timeout: this.#options.publishTimeoutMs ?? 5_000,
    });
  }

  /** The wire record of a queued decision (literals replaced by placeholders). */
  #message(item: Pending): DecisionRecordMessage {
    const base = {
      id: item.id ?? "",
      at: new Date(item.atMs).toISOString(),
      data_plane_id: this.#options.id,
      region: this.#options.region,
    };
    if (item.kind === "connection") {
      const { input, decision, sessionId, revision, evalMicros } = item.event;
      return {
        ...base,
        kind: "connection",
        session_id: sessionId,
        subject: input.token.sub,
        issuer: input.token.iss,
        db_role: decision.allow ? (decision.db_role ?? "") : "",
        database: input.startup.database,
        revision: revision ?? "",
        allow: decision.allow,
        reasons: decision.reasons.slice(0, 100).map((r) => cut(String(r), 4000)),
        eval_micros: Math.max(0, Math.round(evalMicros * 10) / 10),
        cached: false,
        protocol: "",
        statement_kind: "",
        statement_command: "",
        relations: [],
        sql: "",
        fingerprint: "",
        client_addr: input.client.addr,
        application_name: cut(input.startup.application_name, 200),
        ...inputJson(revision ? input : undefined),
        ...shadowField(item.event.shadow),
      };
    }
    const event = item.event;
    const info = event.statement;
    const sql = this.#placeholders(info ? info.text : event.text);
    return {
      ...base,
      kind: "query",
      session_id: event.session.id,
      subject: event.session.subject,
      issuer: event.session.claims.iss,
      db_role: event.session.dbRole,
      database: event.session.database,
      revision: event.revision ?? "",
      allow: event.decision.allow,
      reasons: event.decision.reasons.slice(0, 100).map((r) => cut(String(r), 4000)),
      eval_micros: Math.max(0, Math.round(event.evalMicros * 10) / 10),
      cached: event.cached,
      protocol: event.protocol,
      statement_kind: info?.kind ?? "",
      statement_command: cut(info?.command ?? "", 100),
      relations: statementRelations(info).slice(0, 500),
      sql: cut(sql, MAX_DECISION_SQL_CHARS),
      ...(sql.length > MAX_DECISION_SQL_CHARS ? { sql_truncated: true } : {}),
      fingerprint: info?.fingerprint ?? "",
      client_addr: "",
      application_name: "",
      ...(event.input ? queryInputJson(replayableQueryInput(event.input, (t) => this.#placeholders(t))) : {}),
      ...(event.decision.mask?.length
        ? { mask_json: cut(JSON.stringify(event.decision.mask), 64 * 1024) }
        : {}),
      ...shadowField(event.shadow),
    };
  }

  /** The statement with placeholders for its literals; "" when it does not parse (never the raw text). */
  #placeholders(text: string): string {
    const hit = this.#normalized.get(text);
    if (hit !== undefined) return hit;
    let normalized: string;
    try {
      normalized = normalize(text).trim();
    } catch {
      normalized = "";
    }
    if (text.length <= 64 * 1024) this.#normalized.set(text, normalized);
    return normalized;
  }
}
