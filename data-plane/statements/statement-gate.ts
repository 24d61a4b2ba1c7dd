import type { Logger } from "../../common/logger.js";
import type { PolicyHolder } from "../../common/policy/runtime.js";
import type { QueryDecision } from "../../proto/policy.js";
import { errorResponse, type TransactionStatus } from "../protocol/backend-messages.js";
import { BackendCode, FrontendCode } from "../protocol/codes.js";
import { ProtocolError, SQLSTATE } from "../protocol/errors.js";
import type { FrontendMessage } from "../protocol/frontend-messages.js";
import type { RelayStages } from "../session/relay.js";
import type { AnalyzeResult } from "../sql/analysis-cache.js";
import type { Catalog } from "./catalog.js";
import { Decider, type DecisionRecord, type GateSession } from "./decide.js";
import type { DecisionCache, ShapeCache } from "./decision-cache.js";
import { Denials, simpleDenial } from "./denial.js";
import { PreparedStatements } from "./prepared-statements.js";
import { ResultRewriter } from "./result-rewriter.js";
import type { SearchPath } from "./search-path.js";
import { SessionResolver } from "./session-resolution.js";
import { SimpleQueries } from "./simple-query.js";
import { type Cycle, TransactionCycles } from "./transaction-cycles.js";

/** What the server skips after an error in the extended protocol, until Sync (so does the proxy after a denial). */
const DISCARDED_UNTIL_SYNC: ReadonlySet<string> = new Set([
  FrontendCode.Parse,
  FrontendCode.Bind,
  FrontendCode.Execute,
  FrontendCode.Describe,
  FrontendCode.Flush,
  FrontendCode.Close,
]);

/** What may not come while COPY FROM STDIN may be reading data (only CopyData, CopyDone, CopyFail, Flush may). */
const REFUSED_DURING_COPY_IN: ReadonlySet<string> = new Set([
  FrontendCode.Query,
  FrontendCode.FunctionCall,
  FrontendCode.Sync,
  FrontendCode.Parse,
  FrontendCode.Bind,
  FrontendCode.Execute,
  FrontendCode.Describe,
  FrontendCode.Close,
]);

/**
 * Every statement a client sends is decided here before it can reach the database, in both protocols:
 * analysis (libpg-query) → name resolution (search_path + catalog) → policy (OPA-WASM, cached when the
 * policy allows) → forward, or deny as a server error would. On the way back, result columns the
 * decision masks are rewritten.
 *
 * This class routes the relay's messages to the parts that do the work:
 * - `transaction-cycles.ts`: the cycles in flight (one per Query or Sync) and the session state they move;
 * - `simple-query.ts` and `prepared-statements.ts`: the client's messages of each protocol;
 * - `session-resolution.ts`: names resolved with the session's search_path and the catalog;
 * - `decide.ts`: invariants → decision cache → policy runtime, and the record of every decision;
 * - `denial.ts`: what is sent in place of a denied message, and its replies tidied on the way back;
 * - `result-rewriter.ts`: the session's masks and the rows they rewrite.
 */

export type { DecisionRecord, GateSession } from "./decide.js";
export { plainShape } from "./plain-shape.js";

export interface GateDependencies {
  session: GateSession;
  policy: PolicyHolder;
  analyze(text: string): AnalyzeResult;
  catalog: Catalog;
  catalogLogin: { role: string; password: string };
  searchPath: SearchPath;
  decisions: DecisionCache;
  /** Analyses of plain statements by normalized text (see `shapeable`), shared by all sessions. */
  shapes?: ShapeCache;
  hashKey: Buffer;
  logger: Logger;
  onDecision?(record: DecisionRecord): void;
}

export class StatementGate implements RelayStages {
  private readonly cycles: TransactionCycles;
  private readonly resolver: SessionResolver;
  private readonly decider: Decider;
  private readonly denials: Denials;
  private readonly results: ResultRewriter;
  private readonly simple: SimpleQueries;
  private readonly extended: PreparedStatements;

  constructor(private readonly deps: GateDependencies) {
    const database = deps.session.database;
    this.cycles = new TransactionCycles(deps.searchPath, deps.catalog, database);
    this.resolver = new SessionResolver(deps);
    this.decider = new Decider(deps);
    this.denials = new Denials(this.decider, this.cycles, deps.logger, deps.session.id);
    this.results = new ResultRewriter(deps.catalog, database, deps.hashKey);
    const parts = [this.cycles, this.resolver, this.decider, this.denials, this.results] as const;
    this.simple = new SimpleQueries(deps, ...parts);
    this.extended = new PreparedStatements(deps.analyze, ...parts);
  }

  /**
   * Decides a statement the session's start-up already ran upstream (a start-up search_path, as the SET
   * it equals), as if the client had sent it first: with the policy, the session's identity and the
   * state at login; its masks, if any, hold for the session. Recorded like every decision.
   */
  decideAtLogin(text: string): QueryDecision {
    const analysis = this.deps.analyze(text);
    if (!analysis.ok || analysis.statements.length !== 1) {
      const decision = { allow: false, reasons: [`the proxy cannot analyse ${text}`] };
      this.decider.record("simple", null, text, decision);
      return decision;
    }
    const raw = analysis.statements[0]!;
    const confirmed = this.cycles.confirmed;
    const catalog = this.deps.catalog.fresh(this.deps.session.database);
    const { info } = this.resolver.resolve(raw, confirmed, catalog);
    const { decision } = this.decider.decide(info, "simple", 0, 1, catalog, confirmed.path.key());
    if (decision.allow) this.results.add(decision.mask);
    return decision;
  }

  // ---------------------------------------------------------------------------------------------
  // client → upstream

  onFrontend(message: FrontendMessage, toUpstream: Buffer[], toClient: Buffer[]): boolean | Promise<boolean> {
    const type = message.type;
    if (this.cycles.copyFromClient && REFUSED_DURING_COPY_IN.has(type)) {
      throw new ProtocolError(
        `a ${MESSAGE_NAMES[type]} message while COPY FROM STDIN may be reading data is not supported through Portcullis (the server would ignore a Sync then): send CopyDone or CopyFail first, and Sync after it`,
        SQLSTATE.featureNotSupported,
      );
    }
    // After a denial in the extended protocol the server skips everything but Sync; so does the proxy.
    // Not a Query or FunctionCall: inside the sequence those end the connection (enter), as they do
    // before a denial; dropped here, the relay would wait for their ReadyForQuery for good.
    if (this.denials.discardUntilSync && DISCARDED_UNTIL_SYNC.has(type)) return true;
    switch (type) {
      case FrontendCode.CopyData:
        toUpstream.push(message.raw); // COPY data of a COPY the policy allowed
        return true;
      case FrontendCode.CopyDone:
      case FrontendCode.CopyFail:
        this.cycles.copyFromClient = false; // the server reads messages again once the COPY is over
        toUpstream.push(message.raw);
        return true;
      case FrontendCode.Terminate:
        return false; // the relay ends the upstream session (or pools it)
      case FrontendCode.Sync:
        this.denials.discardUntilSync = false;
        return this.enter("extended", message, toUpstream);
      case FrontendCode.Query:
      case FrontendCode.FunctionCall:
        return this.enter("query", message, toUpstream);
      case FrontendCode.Parse:
      case FrontendCode.Bind:
      case FrontendCode.Execute:
      case FrontendCode.Describe:
      case FrontendCode.Flush:
      case FrontendCode.Close:
        return this.enter("extended", message, toUpstream);
      default:
        void toClient;
        throw new ProtocolError(`unexpected message type "${type}" after login`);
    }
  }

  /**
   * The cycle a client message belongs to: the open extended-protocol one, or a new one. A new cycle
   * is decided on `spec`, which is exact only if nothing answered since could contradict it (see
   * TransactionCycles.mustWait): else it waits for the earlier ones' ReadyForQuery (the relay holds
   * the client meanwhile).
   */
  private enter(
    kind: "query" | "extended",
    message: FrontendMessage,
    toUpstream: Buffer[],
  ): true | Promise<boolean> {
    const cycles = this.cycles;
    if (kind === "extended" && cycles.open) return this.step(cycles.open, message, toUpstream);
    if (cycles.open) {
      throw new ProtocolError(
        "a simple Query or FunctionCall inside an extended-protocol sequence (before its Sync) is not supported through Portcullis",
      );
    }
    if (!cycles.mustWait(message)) return this.step(cycles.begin(kind), message, toUpstream);
    return cycles.whenAnswered().then(() => this.step(cycles.begin(kind), message, toUpstream));
  }

  /** Runs one client message of the cycle it belongs to (see `enter`). */
  private step(cycle: Cycle, message: FrontendMessage, toUpstream: Buffer[]): true | Promise<boolean> {
    switch (message.type) {
      case FrontendCode.Query:
        return this.simple.onQuery(message, toUpstream, cycle);
      case FrontendCode.Parse:
        return this.extended.onParse(message, toUpstream, cycle);
      case FrontendCode.Bind:
        return this.extended.onBind(message, toUpstream, cycle);
      case FrontendCode.Execute:
        return this.extended.onExecute(message, toUpstream, cycle);
      case FrontendCode.Describe:
        return this.extended.onDescribe(message, toUpstream, cycle);
      case FrontendCode.Close:
        return this.extended.onClose(message, toUpstream, cycle);
      case FrontendCode.Sync:
        toUpstream.push(message.raw);
        this.cycles.open = undefined;
        return true;
      case FrontendCode.FunctionCall:
        // FunctionCall runs a function by OID, bypassing SQL: never allowed through the proxy.
        this.decider.record("simple", null, "<fastpath function call>", {
          allow: false,
          reasons: ["the fastpath FunctionCall message is not allowed"],
        });
        toUpstream.push(simpleDenial("permission denied: the fastpath FunctionCall message is not allowed"));
        return true;
      default: // H (Flush)
        toUpstream.push(message.raw);
        return true;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // upstream → client

  backendActive(): boolean {
    return (
      this.results.simpleMasking ||
      this.results.plan !== undefined ||
      this.denials.active() ||
      this.cycles.ourDescribes > 0
    );
  }

  onBackend(type: number, raw: Buffer, toClient: Buffer[]): void {
    switch (type) {
      case BackendCode.ParseComplete:
      case BackendCode.BindComplete:
      case BackendCode.CloseComplete:
        if (type === BackendCode.ParseComplete) this.cycles.observe(type);
        this.denials.onReply(raw, toClient);
        return;
      case BackendCode.ErrorResponse:
        this.cycles.observe(type);
        this.denials.onError(raw, toClient);
        this.results.plan = undefined;
        return;
      case BackendCode.RowDescription: {
        this.denials.flushHeld(toClient);
        const plan = this.results.planOf(raw);
        const cycle = this.cycles.inFlight[0];
        if (cycle?.kind === "extended") {
          // a Describe's answer; the proxy's own is the plan of the Execute right behind it
          if (this.cycles.describeAnswered(cycle)) this.results.plan = plan.any ? plan : undefined;
          else toClient.push(raw);
          return;
        }
        this.results.plan = plan.any ? plan : undefined;
        toClient.push(raw);
        return;
      }
      case BackendCode.NoData: {
        this.denials.flushHeld(toClient);
        const cycle = this.cycles.inFlight[0];
        if (cycle?.kind === "extended" && this.cycles.describeAnswered(cycle)) {
          this.results.plan = undefined;
          return;
        }
        toClient.push(raw);
        return;
      }
      case BackendCode.DataRow:
        // held replies go first: PostgreSQL's order is ParseComplete, BindComplete, then the rows
        this.denials.flushHeld(toClient);
        toClient.push(this.results.row(raw));
        return;
      case BackendCode.CommandComplete:
      case BackendCode.PortalSuspended:
      case BackendCode.EmptyQueryResponse:
        this.denials.flushHeld(toClient);
        this.cycles.observe(type);
        this.results.plan = undefined;
        toClient.push(raw);
        return;
      default:
        this.denials.flushHeld(toClient);
        toClient.push(raw);
    }
  }

  onResultEnd(type: number): void {
    if (type === BackendCode.RowDescription || type === BackendCode.NoData) {
      const cycle = this.cycles.inFlight[0];
      if (cycle?.kind === "extended") this.cycles.describeAnswered(cycle);
      return;
    }
    this.cycles.observe(type);
  }

  onReadyForQuery(status: TransactionStatus): void {
    const ended = this.cycles.readyForQuery(status);
    const idle = this.cycles.inFlight.length === 0;
    this.denials.cycleEnded(ended, idle);
    if (idle) this.results.reset();
  }
}

/** Client messages by type, for errors. */
const MESSAGE_NAMES: Record<string, string> = {
  [FrontendCode.Query]: "Query",
  [FrontendCode.FunctionCall]: "FunctionCall",
  [FrontendCode.Sync]: "Sync",
  [FrontendCode.Parse]: "Parse",
  [FrontendCode.Bind]: "Bind",
  [FrontendCode.Execute]: "Execute",
  [FrontendCode.Describe]: "Describe",
  [FrontendCode.Close]: "Close",
};

/** An ErrorResponse the proxy sends itself when no upstream round trip is possible. */
export function localError(message: string): Buffer {
  return errorResponse({ severity: "ERROR", code: SQLSTATE.insufficientPrivilege, message });
}
