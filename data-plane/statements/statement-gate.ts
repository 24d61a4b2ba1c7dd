import { createHash } from "node:crypto";
import { serialize } from "pg-protocol";
import type { Logger } from "../../common/logger.js";
import type {
  ColumnMask,
  QueryDecision,
  QueryInput,
  StatementInfo,
  TokenClaims,
} from "../../proto/policy.js";
import type { PolicyHolder } from "../policy/runtime.js";
import { errorResponse, type TransactionStatus } from "../protocol/backend-messages.js";
import { ProtocolError, SQLSTATE } from "../protocol/errors.js";
import {
  decodeBind,
  decodeExecute,
  decodeParse,
  decodeQuery,
  decodeTarget,
  type FrontendMessage,
} from "../protocol/frontend-messages.js";
import type { RelayStages } from "../session/relay.js";
import type { AnalyzeResult } from "../sql/analysis-cache.js";
import type { Catalog, CatalogSnapshot } from "./catalog.js";
import type { DecisionCache } from "./decision-cache.js";
import { extendedDenial, simpleDenial, tidyDenialError } from "./denial.js";
import { invariantViolation } from "./invariants.js";
import { type ColumnPlan, maskDataRow, planFromRowDescription } from "./masking.js";
import { resolveStatement } from "./resolve.js";
import type { SearchPath } from "./search-path.js";

/**
 * Every statement a client sends is decided here before it can reach the database, in both protocols:
 * analysis (libpg-query) → name resolution (search_path + catalog) → policy (OPA-WASM, cached when the
 * policy allows) → forward, or deny as a server error would. On the way back, result columns the
 * decision masks are rewritten.
 */

export interface GateSession {
  id: string;
  subject: string;
  claims: TokenClaims;
  dbRole: string;
  database: string;
  region: string;
}

/** One decided statement, for the audit trail and metrics. */
export interface DecisionRecord {
  session: GateSession;
  protocol: "simple" | "extended";
  statement: StatementInfo | null;
  text: string;
  decision: QueryDecision;
  revision: string | undefined;
  cached: boolean;
  evalMicros: number;
}

export interface GateDependencies {
  session: GateSession;
  policy: PolicyHolder;
  analyze(text: string): AnalyzeResult;
  catalog: Catalog;
  catalogLogin: { role: string; password: string };
  searchPath: SearchPath;
  decisions: DecisionCache;
  hashKey: Buffer;
  logger: Logger;
  onDecision?(record: DecisionRecord): void;
}

interface Prepared {
  info: StatementInfo;
  masks: ColumnMask[];
}

interface Portal extends Prepared {
  /** Whether its result can hold a masked column (it reads a masked relation, or a cursor/prepared one). */
  maskable: boolean;
  /** The RowDescription of this portal's result, learned from a Describe the proxy added after Bind. */
  plan?: ColumnPlan;
}

const VOLATILE_CLAIMS = new Set([
  "exp",
  "iat",
  "nbf",
  "jti",
  "auth_time",
  "at_hash",
  "c_hash",
  "nonce",
  "sid",
]);

function sessionKey(session: GateSession): string {
  const claims = Object.fromEntries(
    Object.entries(session.claims)
      .filter(([k]) => !VOLATILE_CLAIMS.has(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return createHash("sha256")
    .update(JSON.stringify([session.subject, session.dbRole, session.database, session.region, claims]))
    .digest("base64");
}

export class StatementGate implements RelayStages {
  private readonly key: string;
  /** Protocol-level prepared statements (Parse) and SQL-level ones (PREPARE), by name. */
  private readonly statements = new Map<string, Prepared>();
  private readonly sqlPrepared = new Map<string, StatementInfo>();
  private readonly portals = new Map<string, Portal>();
  /** After a denied or failed extended-protocol message: drop client messages until Sync. */
  private discardUntilSync = false;

  // --- what the upstream still owes us, to interpret its replies ----------------------------
  /** Queries and Syncs forwarded whose ReadyForQuery has not come back. */
  private inflight = 0;
  /**
   * Every mask any decision of this session has returned, kept for the rest of the session: results
   * reached indirectly (FETCH from a cursor, EXECUTE, a portal) are masked too. Masking more, never less.
   */
  private masks: ColumnMask[] = [];
  private readonly maskKeys = new Set<string>();
  /** Extended-protocol denials in flight: their ParseComplete and BindComplete are ours to drop. */
  private extendedDenials = 0;
  /** Denials in flight, either protocol: their ErrorResponse is ours to tidy. */
  private denials = 0;
  private held: Buffer[] = [];
  /** Portals whose Describe the proxy added: the next RowDescription/NoData after BindComplete is ours. */
  private describes: string[] = [];
  private awaitingDescribe: string | undefined;
  /** Portals being executed, in order: DataRows belong to the head. Kept whenever the session has masks. */
  private executing: (Portal | undefined)[] = [];
  /** A simple-protocol query that may return masked columns is in flight. */
  private simpleMasking = false;
  /** The column plan for the result being received (simple protocol: from its RowDescription). */
  private plan: ColumnPlan | undefined;
  private status: TransactionStatus = "I";
  private blockChangedPath = false;
  private lastTag = "";

  constructor(private readonly deps: GateDependencies) {
    this.key = sessionKey(deps.session);
  }

  // ---------------------------------------------------------------------------------------------
  // client → upstream

  onFrontend(message: FrontendMessage, toUpstream: Buffer[], toClient: Buffer[]): boolean | Promise<boolean> {
    switch (message.type) {
      case "Q":
        if (this.discardUntilSync) return true;
        return this.onQuery(message, toUpstream);
      case "P":
        if (this.discardUntilSync) return true;
        return this.onParse(message, toUpstream);
      case "B":
        if (this.discardUntilSync) return true;
        this.onBind(message, toUpstream);
        return true;
      case "E":
        if (this.discardUntilSync) return true;
        this.onExecute(message, toUpstream);
        return true;
      case "D":
      case "H":
        if (!this.discardUntilSync) toUpstream.push(message.raw);
        return true;
      case "C": {
        if (this.discardUntilSync) return true;
        const { target, name } = decodeTarget(message.body, "Close");
        if (target === "S") this.statements.delete(name);
        else this.portals.delete(name);
        toUpstream.push(message.raw);
        return true;
      }
      case "S":
        this.discardUntilSync = false;
        this.inflight++;
        toUpstream.push(message.raw);
        return true;
      case "d":
      case "c":
      case "f":
        toUpstream.push(message.raw); // COPY data of a COPY the policy allowed
        return true;
      case "X":
        return false; // the relay ends the upstream session (or pools it)
      case "F":
        // FunctionCall runs a function by OID, bypassing SQL: never allowed through the proxy.
        this.record("simple", null, "<fastpath function call>", {
          allow: false,
          reasons: ["the fastpath FunctionCall message is not allowed"],
        });
        this.inflight++;
        toUpstream.push(simpleDenial("permission denied: the fastpath FunctionCall message is not allowed"));
        return true;
      default:
        void toClient;
        throw new ProtocolError(`unexpected message type "${message.type}" after login`);
    }
  }

  private needsCatalog(statements: readonly StatementInfo[]): boolean {
    const unqualified = (s: StatementInfo): boolean =>
      s.relations.some((r) => r.schema === null) || (s.inner !== undefined && unqualified(s.inner));
    return statements.some(unqualified) && !this.deps.catalog.fresh(this.deps.session.database);
  }

  /** Runs `decide` now when the catalog is fresh, or after loading it (the relay waits). */
  private withCatalog(statements: readonly StatementInfo[], decide: () => void): true | Promise<boolean> {
    if (!this.needsCatalog(statements)) {
      decide();
      return true;
    }
    const { role, password } = this.deps.catalogLogin;
    return this.deps.catalog.get(this.deps.session.database, role, password).then(
      () => {
        decide();
        return true;
      },
      (err: Error) => {
        this.deps.logger.warn({ err: err.message }, "catalog unavailable: names resolve to nothing");
        decide();
        return true;
      },
    );
  }

  private onQuery(message: FrontendMessage, toUpstream: Buffer[]): true | Promise<boolean> {
    const text = decodeQuery(message.body);
    const analysis = this.deps.analyze(text);
    if (!analysis.ok) {
      this.deny("simple", toUpstream, text, null, [`the statement could not be parsed: ${analysis.error}`]);
      return true;
    }
    const statements = analysis.statements;
    if (statements.length === 0) {
      this.inflight++;
      toUpstream.push(message.raw); // empty query: the server answers EmptyQueryResponse
      return true;
    }
    return this.withCatalog(statements, () => {
      const catalog = this.deps.catalog.fresh(this.deps.session.database);
      // Statements run in order, so each is resolved with the search_path the earlier ones leave:
      // apply as we go, and put the path back if the query is denied (then none of it runs).
      const restore = this.deps.searchPath.save();
      const decided: { info: StatementInfo; decision: QueryDecision }[] = [];
      for (const [i, s] of statements.entries()) {
        const info = this.expand(resolveStatement(s, this.deps.searchPath.schemas(), catalog));
        decided.push({ info, ...this.decide(info, "simple", i, statements.length, catalog) });
        this.deps.searchPath.apply(info);
      }
      restore();
      const denied = decided.filter((d) => !d.decision.allow);
      if (denied.length > 0) {
        const reasons = denied.flatMap((d) => d.decision.reasons);
        this.deny("simple", toUpstream, text, denied[0]!.info, reasons, false);
        return;
      }
      this.inflight++;
      toUpstream.push(message.raw);
      for (const d of decided) {
        this.addMasks(d.decision.mask);
        this.executed(d.info);
      }
      if (decided.some((d) => this.mayReturnMasked(d.info))) this.simpleMasking = true;
    });
  }

  private onParse(message: FrontendMessage, toUpstream: Buffer[]): true | Promise<boolean> {
    const parse = decodeParse(message.body);
    const analysis = this.deps.analyze(parse.text);
    if (!analysis.ok) {
      this.deny("extended", toUpstream, parse.text, null, [
        `the statement could not be parsed: ${analysis.error}`,
      ]);
      return true;
    }
    if (analysis.statements.length > 1) {
      this.deny("extended", toUpstream, parse.text, null, [
        "a prepared statement must hold exactly one statement",
      ]);
      return true;
    }
    if (analysis.statements.length === 0) {
      this.statements.set(parse.name, { info: emptyStatement(), masks: [] });
      toUpstream.push(message.raw);
      return true;
    }
    return this.withCatalog(analysis.statements, () => {
      const catalog = this.deps.catalog.fresh(this.deps.session.database);
      const info = this.expand(
        resolveStatement(analysis.statements[0]!, this.deps.searchPath.schemas(), catalog),
      );
      const { decision } = this.decide(info, "extended", 0, 1, catalog);
      if (!decision.allow) {
        this.statements.delete(parse.name);
        this.deny("extended", toUpstream, parse.text, info, decision.reasons, false);
        return;
      }
      this.statements.set(parse.name, { info, masks: decision.mask ?? [] });
      this.addMasks(decision.mask);
      toUpstream.push(message.raw);
    });
  }

  private onBind(message: FrontendMessage, toUpstream: Buffer[]): void {
    const { portal, statement } = decodeBind(message.body);
    const prepared = this.statements.get(statement);
    toUpstream.push(message.raw);
    if (!prepared) {
      // the upstream has no such statement either (the proxy never forwarded its Parse): it will fail
      this.portals.delete(portal);
      return;
    }
    const entry: Portal = {
      info: prepared.info,
      masks: prepared.masks,
      maskable: this.mayReturnMasked(prepared.info),
    };
    this.portals.set(portal, entry);
    if (entry.maskable) {
      // learn the result's columns now, whether or not the client asks: masking needs them
      toUpstream.push(serialize.describe({ type: "P", name: portal }));
      this.describes.push(portal);
    }
  }

  private onExecute(message: FrontendMessage, toUpstream: Buffer[]): void {
    const { portal } = decodeExecute(message.body);
    const entry = this.portals.get(portal);
    toUpstream.push(message.raw);
    // DataRows are matched to portals only once the session has masks
    if (this.masks.length > 0) this.executing.push(entry);
    if (entry) this.executed(entry.info);
  }

  /**
   * Whether a statement's result can carry a masked column: RowDescription names a table only when the
   * query reads it directly, so that is a masked relation among its relations, or a cursor FETCH or an
   * EXECUTE whose rows come from elsewhere. Only then are upstream messages inspected.
   */
  private mayReturnMasked(info: StatementInfo): boolean {
    if (this.masks.length === 0) return false;
    if (info.kind === "execute" || info.command === "FetchStmt") return true;
    return info.relations.some((r) =>
      this.masks.some(
        (m) =>
          m.relation === undefined ||
          m.relation === `${r.schema}.${r.name}` ||
          (r.schema === null && m.relation.slice(m.relation.lastIndexOf(".") + 1) === r.name),
      ),
    );
  }

  private addMasks(masks: readonly ColumnMask[] | undefined): void {
    for (const mask of masks ?? []) {
      const key = `${mask.relation ?? ""}\u0000${mask.column}\u0000${mask.with}`;
      if (this.maskKeys.has(key)) continue;
      this.maskKeys.add(key);
      this.masks.push(mask);
    }
  }

  /** EXECUTE of a SQL-level prepared statement is decided on what was prepared. */
  private expand(info: StatementInfo): StatementInfo {
    if (info.kind !== "execute" || !info.prepared_name) return info;
    const prepared = this.sqlPrepared.get(info.prepared_name);
    if (!prepared) return info;
    return {
      ...info,
      inner: prepared,
      relations: prepared.relations,
      functions: [...new Set([...info.functions, ...prepared.functions])],
      ...(prepared.columns ? { columns: prepared.columns } : {}),
    };
  }

  /** Side effects of a statement the server is about to run: session state the proxy tracks. */
  private executed(info: StatementInfo): void {
    if (info.settings?.some((s) => s.name === "search_path" || s.name === "all" || s.name === "*unknown*")) {
      this.deps.searchPath.apply(info);
      if (this.status !== "I") this.blockChangedPath = true;
    }
    switch (info.kind) {
      case "prepare":
        if (info.prepared_name && info.inner) this.sqlPrepared.set(info.prepared_name, info.inner);
        break;
      case "deallocate":
        if (info.prepared_name) this.sqlPrepared.delete(info.prepared_name);
        else this.sqlPrepared.clear();
        break;
      case "ddl":
        this.deps.catalog.invalidate(this.deps.session.database);
        break;
      case "utility":
        if (info.command === "DiscardStmt") {
          this.sqlPrepared.clear();
          this.statements.clear();
        }
        break;
    }
  }

  private decide(
    info: StatementInfo,
    protocol: "simple" | "extended",
    index: number,
    count: number,
    catalog: CatalogSnapshot | undefined,
  ): { decision: QueryDecision } {
    const violation = invariantViolation(info);
    if (violation) {
      const decision = { allow: false, reasons: [violation] };
      this.record(protocol, info, info.text, decision);
      return { decision };
    }
    const runtime = this.deps.policy.current();
    if (!runtime) {
      const decision = { allow: false, reasons: ["no policy is loaded on this proxy"] };
      this.record(protocol, info, info.text, decision);
      return { decision };
    }
    const input: QueryInput = {
      session: {
        id: this.deps.session.id,
        subject: this.deps.session.subject,
        claims: this.deps.session.claims,
        db_role: this.deps.session.dbRole,
        database: this.deps.session.database,
        region: this.deps.session.region,
      },
      protocol,
      statement: info,
      statement_index: index,
      statement_count: count,
      now_ns: Date.now() * 1_000_000,
    };
    // Only decisions the policy declared cacheable for their input are stored, under a key holding
    // everything such a decision may depend on: a hit is the decision the policy would make again.
    const key = `${runtime.revision}\u0000${this.key}\u0000${protocol}${index}/${count}\u0000${this.deps.searchPath.key()}\u0000${catalog?.loadedAt ?? 0}\u0000${info.text}\u0000${info.prepared_name ?? ""}`;
    const hit = info.kind === "execute" ? undefined : this.deps.decisions.get(key);
    if (hit) {
      this.record(protocol, info, info.text, hit, true, 0, runtime.revision);
      return { decision: hit };
    }
    const started = performance.now();
    const decision = runtime.evaluateQuery(input);
    const micros = (performance.now() - started) * 1000;
    if (info.kind !== "execute" && runtime.hasCacheable && runtime.isCacheable(input)) {
      this.deps.decisions.set(key, decision);
    }
    this.record(protocol, info, info.text, decision, false, micros, runtime.revision);
    return { decision };
  }

  private record(
    protocol: "simple" | "extended",
    statement: StatementInfo | null,
    text: string,
    decision: QueryDecision,
    cached = false,
    evalMicros = 0,
    revision = this.deps.policy.current()?.revision,
  ): void {
    this.deps.onDecision?.({
      session: this.deps.session,
      protocol,
      statement,
      text,
      decision,
      revision,
      cached,
      evalMicros,
    });
  }

  /** Replaces a denied message with a statement that makes the upstream raise the denial itself. */
  private deny(
    protocol: "simple" | "extended",
    toUpstream: Buffer[],
    text: string,
    info: StatementInfo | null,
    reasons: string[],
    record = true,
  ): void {
    const unique = [...new Set(reasons)];
    if (record) this.record(protocol, info, text, { allow: false, reasons: unique });
    const message = `permission denied by Portcullis policy: ${unique.join("; ") || "no reason given"}`;
    this.deps.logger.info({ session: this.deps.session.id, protocol, reasons: unique }, "statement denied");
    this.denials++;
    if (protocol === "simple") {
      this.inflight++;
      toUpstream.push(simpleDenial(message));
    } else {
      this.extendedDenials++;
      this.discardUntilSync = true;
      toUpstream.push(extendedDenial(message));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // upstream → client

  backendActive(): boolean {
    return (
      this.simpleMasking ||
      this.executing.some((e) => e?.maskable) ||
      this.denials > 0 ||
      this.extendedDenials > 0 ||
      this.describes.length > 0 ||
      this.awaitingDescribe !== undefined ||
      this.blockChangedPath
    );
  }

  onBackend(type: number, raw: Buffer, toClient: Buffer[]): void {
    switch (type) {
      case 0x31 /* 1 ParseComplete */:
      case 0x32 /* 2 BindComplete */:
        if (this.extendedDenials > 0) {
          this.held.push(raw); // may be the reply to the proxy's own Parse/Bind
          return;
        }
        this.flushHeld(toClient);
        toClient.push(raw);
        if (type === 0x32 && this.describes.length > 0) this.awaitingDescribe = this.describes.shift();
        return;
      case 0x45 /* E ErrorResponse */:
        {
          const tidy = tidyDenialError(raw);
          if (tidy && this.extendedDenials > 0) {
            this.held.splice(-2, 2); // our ParseComplete and BindComplete
            this.extendedDenials--;
          }
          this.flushHeld(toClient);
          toClient.push(tidy ?? raw);
          // after an error the server skips to Sync: nothing we added after it will be answered
          this.describes = [];
          this.awaitingDescribe = undefined;
          this.executing = [];
          this.plan = undefined;
          return;
        }
      case 0x54 /* T RowDescription */:
        {
          this.flushHeld(toClient);
          const plan = planFromRowDescription(
            raw,
            this.masks,
            this.deps.catalog.fresh(this.deps.session.database),
          );
          if (plan.unknownTables) this.deps.catalog.invalidate(this.deps.session.database);
          if (this.awaitingDescribe !== undefined) {
            const portal = this.portals.get(this.awaitingDescribe);
            if (portal) portal.plan = plan;
            this.awaitingDescribe = undefined;
            return; // the proxy's own Describe: the client did not ask
          }
          this.plan = plan.any ? plan : undefined;
          toClient.push(raw);
          return;
        }
      case 0x6e /* n NoData */:
        this.flushHeld(toClient);
        if (this.awaitingDescribe !== undefined) {
          this.awaitingDescribe = undefined;
          return;
        }
        toClient.push(raw);
        return;
      case 0x44 /* D DataRow */:
        {
          const plan = this.executing.length > 0 ? (this.executing[0]?.plan ?? this.plan) : this.plan;
          toClient.push(plan?.any ? maskDataRow(raw, plan, this.deps.hashKey) : raw);
          return;
        }
      case 0x43 /* C CommandComplete */:
      case 0x73 /* s PortalSuspended */:
      case 0x49 /* I EmptyQueryResponse */:
        this.flushHeld(toClient);
        if (type === 0x43) this.lastTag = raw.toString("latin1", 5, raw.length - 1);
        if (this.executing.length > 0) this.executing.shift();
        this.plan = undefined;
        toClient.push(raw);
        return;
      default:
        this.flushHeld(toClient);
        toClient.push(raw);
    }
  }

  private flushHeld(toClient: Buffer[]): void {
    if (this.held.length === 0) return;
    toClient.push(...this.held);
    this.held = [];
  }

  onResultEnd(type: number): void {
    if (type === 0x45 /* E */) this.executing = [];
    else this.executing.shift();
  }

  onReadyForQuery(status: TransactionStatus): void {
    const previous = this.status;
    this.status = status;
    if (previous === "I" && status !== "I") this.deps.searchPath.blockStarted();
    if (previous !== "I" && status === "I") {
      this.deps.searchPath.blockEnded(previous === "T" && this.lastTag === "COMMIT");
      this.blockChangedPath = false;
    }
    this.inflight = Math.max(0, this.inflight - 1);
    this.extendedDenials = 0; // held replies are flushed when this ReadyForQuery passes onBackend
    if (this.inflight === 0) this.denials = 0;
    if (this.inflight === 0) {
      this.simpleMasking = false;
      this.executing = [];
      this.describes = [];
      this.awaitingDescribe = undefined;
      this.plan = undefined;
    }
  }
}

function emptyStatement(): StatementInfo {
  return { kind: "utility", command: "EmptyQuery", relations: [], functions: [], text: "", fingerprint: "" };
}

/** An ErrorResponse the proxy sends itself when no upstream round trip is possible. */
export function localError(message: string): Buffer {
  return errorResponse({ severity: "ERROR", code: SQLSTATE.insufficientPrivilege, message });
}
