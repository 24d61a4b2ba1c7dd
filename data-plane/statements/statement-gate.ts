import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import { serialize } from "pg-protocol";
import type { Logger } from "../../common/logger.js";
import type { PolicyHolder } from "../../common/policy/runtime.js";
import type {
  ColumnMask,
  QueryDecision,
  QueryInput,
  StatementInfo,
  TokenClaims,
} from "../../proto/policy.js";
import type { ShadowVerdict } from "../policy/shadow-evaluator.js";
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
import { normalize } from "../sql/parser.js";
import type { Catalog, CatalogSnapshot } from "./catalog.js";
import type { DecisionCache, ShapeCache } from "./decision-cache.js";
import {
  DENIAL_SQLSTATE,
  DENIAL_STATEMENT,
  extendedDenial,
  SYNTAX_ERROR_SQLSTATE,
  simpleDenial,
  tidyDenialError,
} from "./denial.js";
import { invariantViolation } from "./invariants.js";
import { type ColumnPlan, MaskPins, maskDataRow, planFromRowDescription } from "./masking.js";
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
  /** The policy input the decision was made on (absent when the policy was not asked). */
  input?: QueryInput;
  /** What a shadow revision decided, when it disagreed (data-plane/policy/shadow-evaluator.ts). */
  shadow?: ShadowVerdict;
}

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

/** A prepared statement: Parse and SQL PREPARE share one namespace on the server (Bind runs either). */
interface Prepared {
  /** The statement as analysed, names unresolved: the server resolves them again when search_path changes. */
  raw: StatementInfo;
  /** As resolved and decided. */
  info: StatementInfo;
  masks: ColumnMask[];
  /**
   * What it was resolved with ({@link StatementGate.resolutionKey}): the search_path and the schemas of
   * it the role could use. The server plans it again when either changes (a REVOKE of USAGE too).
   */
  pathKey: string;
}

interface Portal {
  /** The cycle it was bound in: a portal ends with its transaction (see onReadyForQuery). */
  cycle: number;
  info: StatementInfo;
  masks: ColumnMask[];
  /** What running it does to the tracked session state. */
  effect: Effect;
}

/**
 * What decisions depend on in the upstream session: the effective search_path and the prepared
 * statements. The gate keeps two copies: `confirmed` changes only as the upstream reports statements
 * done; `spec` also assumes that everything forwarded and not yet answered succeeds. Deciding on `spec`
 * is exact within one Query or one Sync-ended sequence, because after a failure there the server runs
 * nothing more of it; a new one waits for the earlier ones' answers when they could change the state.
 */
class SessionState {
  /**
   * DDL ran (or was sent) in the transaction now open: the catalog snapshot, read by another session,
   * cannot see what it changed until the transaction ends, so unqualified names are left unresolved.
   */
  ddl = false;

  constructor(
    readonly path: SearchPath,
    readonly prepared: Map<string, Prepared> = new Map(),
  ) {}

  clone(): SessionState {
    const copy = new SessionState(this.path.clone(), new Map(this.prepared));
    copy.ddl = this.ddl;
    return copy;
  }

  /** What name resolution depends on: the search_path, and whether DDL ran in this transaction. */
  key(): string {
    return this.ddl ? `${this.path.key()}\u0000ddl` : this.path.key();
  }

  /** The schemas unqualified names resolve in; null (unknown) after DDL in this transaction. */
  schemas(): string[] | null {
    return this.ddl ? null : this.path.schemas();
  }
}

/** Whether a statement is, or nests, DDL (its names and the catalog change when it runs). */
function isDdl(info: StatementInfo): boolean {
  for (let s: StatementInfo | undefined = info; s !== undefined; s = s.inner)
    if (s.kind === "ddl") return true;
  return false;
}

/** Whether a statement, or one it nests, names the proxy's own prepared statement. */
function namesDenialStatement(info: StatementInfo): boolean {
  for (let s: StatementInfo | undefined = info; s !== undefined; s = s.inner)
    if (s.prepared_name === DENIAL_STATEMENT) return true;
  return false;
}

type Effect = (state: SessionState) => void;

const NO_EFFECT: Effect = () => {};

/**
 * The client messages answered by one ReadyForQuery: a simple Query (or FunctionCall), or the
 * extended-protocol messages up to their Sync. Effects reach `confirmed` as the upstream answers, in
 * order: a Parse's at its ParseComplete, a statement's at its CommandComplete (EmptyQueryResponse,
 * PortalSuspended). An ErrorResponse voids the rest: the server runs nothing more of the cycle.
 */
interface Cycle {
  /** Its place in the session's sequence of cycles. */
  seq: number;
  kind: "query" | "extended";
  parses: Effect[];
  completions: Effect[];
  /** It may change the search_path, the transaction or the prepared statements. */
  tracked: boolean;
  /** Describe messages forwarded in this cycle (the client's and the proxy's), in order. */
  describes: number;
  /** Their answers (RowDescription or NoData) received so far. */
  described: number;
  /** Positions among `describes` of the proxy's own: their answers are the masking plan, not the client's. */
  ours: number[];
  /** Execute messages forwarded in this cycle. */
  executes: number;
  /**
   * Extended-protocol denials sent in this cycle, each with how many of the proxy's own replies
   * (CloseComplete, ParseComplete, BindComplete) come before its ErrorResponse: dropped. Per cycle,
   * because a pipeline's next cycle may be decided (and denied) before the ReadyForQuery of the one
   * before it comes back.
   */
  denials: number[];
}

const STATE_KINDS: ReadonlySet<string> = new Set(["transaction", "prepare", "deallocate"]);
const PATH_SETTINGS: ReadonlySet<string> = new Set(["search_path", "all", "*unknown*"]);

/** Statements whose completion changes what the gate tracks (the search_path, transactions, prepared statements). */
function changesState(info: StatementInfo): boolean {
  if (STATE_KINDS.has(info.kind) || info.command === "DiscardStmt") return true;
  if (info.kind === "show") return false;
  const settings = info.kind === "execute" ? info.inner?.settings : info.settings;
  if (settings === undefined) return false;
  for (const s of settings) if (PATH_SETTINGS.has(s.name)) return true;
  return false;
}

const NO_REASONS: string[] = [];

/** Resolutions of analyses without EXECUTE, by the analysis object (see `StatementGate.resolve`). */
const RESOLVED = new WeakMap<
  StatementInfo,
  {
    pathKey: string;
    /** The session's role: which schemas of the path are searched depends on its USAGE. */
    role: string;
    catalog: CatalogSnapshot | undefined;
    result: { info: StatementInfo; reasons: string[] };
  }
>();

/**
 * Whether deciding a statement needs the catalog: relation names (unqualified ones resolve by it, and
 * it says what a relation shows), EXECUTE, and column names (a name that is no column of its relation
 * is a function called on the whole row: only the catalog tells).
 */
function needsNames(s: StatementInfo): boolean {
  if (s.kind === "execute") return true;
  // a qualified name too: only the catalog tells what a relation shows (a view's sources, a foreign table)
  if (s.relations.length > 0) return true;
  if (s.columns) for (const c of s.columns) if (c.relation !== null && c.column !== "*") return true;
  return s.inner !== undefined && needsNames(s.inner);
}

const PORTAL_NAMESPACE_COMMANDS = new Set(["DeclareCursorStmt", "ClosePortalStmt", "DiscardStmt"]);

const DISCARD_KEEPING_STATEMENTS = /^\s*discard\s+(plans|sequences|temp|temporary)\s*;?\s*$/i;

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
  /** What the upstream has reported done. */
  private confirmed: SessionState;
  /** `confirmed` plus what the messages forwarded and not answered yet will do if they succeed. */
  private spec: SessionState;
  /** Forwarded, ReadyForQuery not back yet; the last may still be open (extended protocol before Sync). */
  private readonly cycles: Cycle[] = [];
  private open: Cycle | undefined;
  /** A new cycle waiting for the earlier ones to be answered. */
  private waiters: (() => void)[] = [];
  private readonly portals = new Map<string, Portal>();
  private cycleSeq = 0;
  /**
   * The last cycle that forwarded DDL or a GRANT/REVOKE whose transaction has not been seen to end:
   * a snapshot read meanwhile (by any session) may predate its commit, so it is read again then.
   */
  private catalogChangeCycle: number | undefined;
  /** The transaction status of the last ReadyForQuery. */
  private lastStatus: TransactionStatus = "I";
  /** After a denied or failed extended-protocol message: drop client messages until Sync. */
  private discardUntilSync = false;

  // --- what the upstream still owes us, to interpret its replies ----------------------------
  /**
   * Every mask any decision of this session has returned, kept for the rest of the session: results
   * reached indirectly (FETCH from a cursor, EXECUTE, a portal) are masked too. Masking more, never less.
   */
  private masks: ColumnMask[] = [];
  private readonly maskKeys = new Set<string>();
  /** The masks pinned to the table OIDs and attribute numbers they named when the session got them. */
  private readonly pins = new MaskPins();
  /** Extended-protocol denials in flight, all cycles (each cycle counts its own, see Cycle.denials). */
  private extendedDenials = 0;
  /** Denials in flight, either protocol: their ErrorResponse is ours to tidy. */
  private denials = 0;
  private held: Buffer[] = [];
  /** The proxy's own Describes (before each Execute of a masked session) not answered yet, all cycles. */
  private ourDescribes = 0;
  /** A simple-protocol query that may return masked columns is in flight. */
  private simpleMasking = false;
  /** The column plan for the result being received (simple protocol: from its RowDescription). */
  private plan: ColumnPlan | undefined;

  /** The last decision-cache key prefix (see decisionContext). */
  private context:
    | {
        revision: string;
        protocol: string;
        index: number;
        count: number;
        pathKey: string;
        loadedAt: number;
        value: string;
      }
    | undefined;
  /** While deciding after a catalog read: the snapshot it read. */
  private loaded: CatalogSnapshot | undefined;

  /** The catalog a statement is decided on: the fresh snapshot, or the one just read for it. */
  private decisionCatalog(): CatalogSnapshot | undefined {
    return this.deps.catalog.fresh(this.deps.session.database) ?? this.loaded;
  }

  /** While deciding after a failed catalog read: why it failed. */
  private catalogError: string | undefined;
  /** Mask lists (decisions' `mask`, shared by every hit of a cached decision) already added. */
  private readonly addedMaskLists = new WeakSet<readonly ColumnMask[]>();

  constructor(private readonly deps: GateDependencies) {
    this.key = sessionKey(deps.session);
    this.confirmed = new SessionState(deps.searchPath);
    this.spec = this.confirmed.clone();
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
      this.record("simple", null, text, decision);
      return decision;
    }
    const raw = analysis.statements[0]!;
    const catalog = this.deps.catalog.fresh(this.deps.session.database);
    const { info } = this.resolve(raw, this.confirmed, catalog);
    const { decision } = this.decide(info, "simple", 0, 1, catalog, this.confirmed.path.key());
    if (decision.allow) this.addMasks(decision.mask);
    return decision;
  }

  // ---------------------------------------------------------------------------------------------
  // client → upstream

  onFrontend(message: FrontendMessage, toUpstream: Buffer[], toClient: Buffer[]): boolean | Promise<boolean> {
    const type = message.type;
    // after a denial in the extended protocol the server skips everything but Sync; so does the proxy
    if (this.discardUntilSync && "QPBEDHCF".includes(type)) return true;
    switch (type) {
      case "d":
      case "c":
      case "f":
        toUpstream.push(message.raw); // COPY data of a COPY the policy allowed
        return true;
      case "X":
        return false; // the relay ends the upstream session (or pools it)
      case "S":
        this.discardUntilSync = false;
        return this.enter("extended", message, toUpstream);
      case "Q":
      case "F":
        return this.enter("query", message, toUpstream);
      case "P":
      case "B":
      case "E":
      case "D":
      case "H":
      case "C":
        return this.enter("extended", message, toUpstream);
      default:
        void toClient;
        throw new ProtocolError(`unexpected message type "${type}" after login`);
    }
  }

  /** Runs one client message of the cycle it belongs to (see `enter`). */
  private step(cycle: Cycle, message: FrontendMessage, toUpstream: Buffer[]): true | Promise<boolean> {
    switch (message.type) {
      case "Q":
        return this.onQuery(message, toUpstream, cycle);
      case "P":
        return this.onParse(message, toUpstream, cycle);
      case "B":
        return this.onBind(message, toUpstream, cycle);
      case "E":
        return this.onExecute(message, toUpstream, cycle);
      case "D": {
        const { target, name } = decodeTarget(message.body, "Describe");
        if (target === "S" && name === DENIAL_STATEMENT) {
          this.deny("extended", cycle, toUpstream, `<Describe of prepared statement "${name}">`, null, [
            `the prepared statement name "${DENIAL_STATEMENT}" is reserved by Portcullis`,
          ]);
          return true;
        }
        cycle.describes++;
        toUpstream.push(message.raw);
        return true;
      }
      case "C": {
        const { target, name } = decodeTarget(message.body, "Close");
        if (target === "S" && name === DENIAL_STATEMENT) {
          this.deny("extended", cycle, toUpstream, `<Close of prepared statement "${name}">`, null, [
            `the prepared statement name "${DENIAL_STATEMENT}" is reserved by Portcullis`,
          ]);
          return true;
        }
        if (target === "S") {
          // forgetting early is safe: an unknown statement is never run through the proxy
          this.spec.prepared.delete(name);
          this.confirmed.prepared.delete(name);
        } else this.portals.delete(name);
        toUpstream.push(message.raw);
        return true;
      }
      case "S":
        toUpstream.push(message.raw);
        this.open = undefined;
        return true;
      case "F":
        // FunctionCall runs a function by OID, bypassing SQL: never allowed through the proxy.
        this.record("simple", null, "<fastpath function call>", {
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

  /**
   * The cycle a client message belongs to: the open extended-protocol one, or a new one. A new cycle
   * is decided on `spec`, which is exact only if nothing answered since could contradict it: when an
   * earlier cycle still in flight may change the tracked state (or may abort the open transaction
   * block), the new one waits for its ReadyForQuery (the relay holds the client meanwhile).
   */
  private enter(
    kind: "query" | "extended",
    message: FrontendMessage,
    toUpstream: Buffer[],
  ): true | Promise<boolean> {
    if (kind === "extended" && this.open) return this.step(this.open, message, toUpstream);
    if (this.open) {
      throw new ProtocolError(
        "a simple Query or FunctionCall inside an extended-protocol sequence (before its Sync) is not supported through Portcullis",
      );
    }
    // A text the settings could change the reading of (see readsSettings) waits until the earlier
    // cycles are answered: the server reports a setting changed out of sight (ParameterStatus) before
    // their ReadyForQuery, and the relay ends the session there, before this text is sent.
    const mustWait =
      this.cycles.length > 0 &&
      (((message.type === "Q" || message.type === "P") && readsSettings(message.raw)) ||
        this.cycles.some((c) => c.tracked) ||
        this.spec.path.inTransactionBlock());
    if (!mustWait) return this.step(this.begin(kind), message, toUpstream);
    return new Promise<void>((resolve) => this.waiters.push(resolve)).then(() =>
      this.step(this.begin(kind), message, toUpstream),
    );
  }

  private begin(kind: "query" | "extended"): Cycle {
    const cycle: Cycle = {
      seq: ++this.cycleSeq,
      kind,
      parses: [],
      completions: [],
      tracked: false,
      describes: 0,
      described: 0,
      ours: [],
      executes: 0,
      denials: [],
    };
    this.cycles.push(cycle);
    if (kind === "extended") this.open = cycle;
    return cycle;
  }

  private needsCatalog(statements: readonly StatementInfo[]): boolean {
    if (this.deps.catalog.fresh(this.deps.session.database)) return false;
    for (const s of statements) if (needsNames(s)) return true;
    return false;
  }

  /** Runs `decide` after loading the catalog (the relay waits); `needsCatalog` said it is not fresh. */
  private withCatalog(decide: () => void): Promise<boolean> {
    const { role, password } = this.deps.catalogLogin;
    return this.deps.catalog.get(this.deps.session.database, role, password).then(
      (snapshot) => {
        // the snapshot just read, even if DDL elsewhere made it stale meanwhile: deciding with none
        // would resolve nothing and trace no view to what it reads
        this.loaded = snapshot;
        try {
          decide();
        } finally {
          this.loaded = undefined;
        }
        return true;
      },
      (err: Error) => {
        // Without the catalog names cannot be resolved, views cannot be traced to what they read, and
        // attribute notation cannot be told from columns: statements that need it are refused
        // (see resolve) until it can be read again. Anyone able to make it unreadable (a setting of
        // the database or of a role, a lock) would otherwise choose how names are decided.
        this.deps.logger.warn(
          { err: err.message },
          "catalog unavailable: statements naming relations are refused",
        );
        this.catalogError = err.message;
        try {
          decide();
        } finally {
          this.catalogError = undefined;
        }
        return true;
      },
    );
  }

  private onQuery(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true | Promise<boolean> {
    const text = decodeQuery(message.body);
    // A plain statement whose shape (its text with literals replaced) was seen before needs no parse.
    const shape = this.shapeOf(text);
    const template = shape?.template;
    const analysis: AnalyzeResult = template
      ? { ok: true, statements: [{ ...template, text: text.trim() }] }
      : this.deps.analyze(text);
    if (!analysis.ok) {
      this.refuseUnparseable("simple", cycle, toUpstream, text, analysis);
      return true;
    }
    const statements = analysis.statements;
    const byShape =
      shape && statements.length === 1 && shapeable(statements[0]!) ? shape.normalized : undefined;
    if (byShape !== undefined && !template) this.deps.shapes?.set(byShape, statements[0]!);
    if (statements.length === 0) {
      toUpstream.push(message.raw); // empty query: the server answers EmptyQueryResponse
      return true;
    }
    if (!this.needsCatalog(statements)) {
      this.decideQuery(message, toUpstream, cycle, text, statements, byShape, template);
      return true;
    }
    return this.withCatalog(() =>
      this.decideQuery(message, toUpstream, cycle, text, statements, byShape, template),
    );
  }

  private decideQuery(
    message: FrontendMessage,
    toUpstream: Buffer[],
    cycle: Cycle,
    text: string,
    statements: StatementInfo[],
    byShape: string | undefined,
    /** The shape cache's analysis the only statement was made from (its text aside). */
    template: StatementInfo | undefined,
  ): void {
    const catalog = this.decisionCatalog();
    // Statements run in order, each with the state the earlier ones leave (a search_path, a
    // transaction ended, a statement prepared): decided on a copy (made at the first statement that
    // changes it), kept only if all of it is allowed.
    let trial = this.spec;
    const decided: { info: StatementInfo; decision: QueryDecision; effect: Effect }[] = [];
    let denied = false;
    for (let i = 0; i < statements.length; i++) {
      const raw = statements[i]!;
      const pathKey = trial.key();
      const { info, reasons } =
        template !== undefined
          ? this.resolveShaped(template, raw, trial, catalog)
          : this.resolve(raw, trial, catalog);
      const decision =
        reasons.length > 0
          ? this.refuse("simple", info, reasons)
          : this.decide(info, "simple", i, statements.length, catalog, pathKey, byShape).decision;
      const effect = this.effectOf(
        raw,
        info,
        decision.mask ?? [],
        info.kind === "prepare" ? this.resolutionKey(trial, catalog) : pathKey,
      );
      decided.push({ info, decision, effect });
      if (!decision.allow) denied = true;
      if (effect !== NO_EFFECT) {
        if (trial === this.spec) trial = this.spec.clone();
        effect(trial);
      }
      // the statements after it are decided as the server will run them: on a catalog it changed
      if (isDdl(info) && !trial.ddl) {
        if (trial === this.spec) trial = this.spec.clone();
        trial.ddl = true;
      }
    }
    if (denied) {
      const refused = decided.filter((d) => !d.decision.allow);
      const reasons = refused.flatMap((d) => d.decision.reasons);
      this.deny("simple", cycle, toUpstream, text, refused[0]!.info, reasons, false);
      return;
    }
    this.spec = trial;
    toUpstream.push(message.raw);
    for (const d of decided) {
      cycle.completions.push(d.effect);
      if (changesState(d.info)) cycle.tracked = true;
      if (isDdl(d.info)) this.ddlSent(cycle);
      this.addMasks(d.decision.mask);
      this.executed(d.info);
    }
    // with every mask of the query added
    for (const d of decided) {
      if (this.mayReturnMasked(d.info)) {
        this.simpleMasking = true;
        break;
      }
    }
  }

  /** The normalized text (literals → placeholders) of a simple query and what the shape cache knows of it. */
  private shapeOf(text: string): { normalized: string; template: StatementInfo | undefined } | undefined {
    const shapes = this.deps.shapes;
    if (!shapes || !this.deps.policy.current()?.hasCacheableByShape || text.length > MAX_SHAPE_TEXT)
      return undefined;
    // A text in the small grammar plainShape reads whose shape the parser already normalized the same
    // way needs no parser call: same tokens but for the integers, same constants (see plainShape).
    const plain = plainShape(text);
    if (plain !== undefined && VERIFIED_SHAPES.has(plain))
      return { normalized: plain, template: shapes.get(plain) };
    try {
      const normalized = normalize(text);
      if (plain !== undefined && plain === normalized) VERIFIED_SHAPES.set(plain, true);
      return { normalized, template: shapes.get(normalized) };
    } catch {
      return undefined; // the full path says why it does not parse
    }
  }

  private onParse(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true | Promise<boolean> {
    const parse = decodeParse(message.body);
    const unnamed = parse.name === "";
    if (parse.name === DENIAL_STATEMENT) {
      this.deny("extended", cycle, toUpstream, parse.text, null, [
        `the prepared statement name "${DENIAL_STATEMENT}" is reserved by Portcullis`,
      ]);
      return true;
    }
    if (cycle.executes > 0 && readsSettings(message.raw)) {
      // The server parses it after running the statements before it in this sequence, which may have
      // changed standard_conforming_strings or client_encoding where the proxy cannot see (it reports
      // that only at the Sync): refused rather than read one way here and another way there.
      this.deny(
        "extended",
        cycle,
        toUpstream,
        parse.text,
        null,
        [
          "a statement with a backslash after an Execute in the same sequence (before Sync) is not allowed through Portcullis: send a Sync first",
        ],
        true,
        undefined,
        unnamed,
      );
      return true;
    }
    const analysis = this.deps.analyze(parse.text);
    if (!analysis.ok) {
      this.refuseUnparseable("extended", cycle, toUpstream, parse.text, analysis, unnamed);
      return true;
    }
    if (analysis.statements.length > 1) {
      // the server's own answer to several statements in one Parse (42601), raised by the server
      this.deny(
        "extended",
        cycle,
        toUpstream,
        parse.text,
        null,
        ["a prepared statement must hold exactly one statement"],
        true,
        { code: SYNTAX_ERROR_SQLSTATE, message: "cannot insert multiple commands into a prepared statement" },
        unnamed,
      );
      return true;
    }
    // The server drops the unnamed statement before it parses a new one (even one that fails).
    if (parse.name === "") this.forget("");
    if (analysis.statements.length === 0) {
      this.prepare(
        cycle,
        message,
        toUpstream,
        parse.name,
        emptyStatement(),
        emptyStatement(),
        [],
        this.spec.key(),
      );
      return true;
    }
    if (!this.needsCatalog(analysis.statements)) {
      this.decideParse(cycle, message, toUpstream, parse, analysis.statements[0]!);
      return true;
    }
    return this.withCatalog(() =>
      this.decideParse(cycle, message, toUpstream, parse, analysis.statements[0]!),
    );
  }

  private decideParse(
    cycle: Cycle,
    message: FrontendMessage,
    toUpstream: Buffer[],
    parse: { name: string; text: string },
    raw: StatementInfo,
  ): void {
    const catalog = this.decisionCatalog();
    const pathKey = this.spec.key();
    const { info, reasons } = this.resolve(raw, this.spec, catalog);
    const decision =
      reasons.length > 0
        ? this.refuse("extended", info, reasons)
        : this.decide(info, "extended", 0, 1, catalog, pathKey).decision;
    if (!decision.allow) {
      this.deny(
        "extended",
        cycle,
        toUpstream,
        parse.text,
        info,
        decision.reasons,
        false,
        undefined,
        parse.name === "",
      );
      return;
    }
    this.addMasks(decision.mask);
    const key = this.resolutionKey(this.spec, catalog);
    this.prepare(cycle, message, toUpstream, parse.name, raw, info, decision.mask ?? [], key);
  }

  /** A Parse the proxy lets through: the statement is prepared, in `spec` now, confirmed at its ParseComplete. */
  private prepare(
    cycle: Cycle,
    message: FrontendMessage,
    toUpstream: Buffer[],
    name: string,
    raw: StatementInfo,
    info: StatementInfo,
    masks: ColumnMask[],
    pathKey: string,
  ): void {
    const prepared: Prepared = { raw, info, masks, pathKey };
    this.spec.prepared.set(name, prepared);
    cycle.parses.push((state) => state.prepared.set(name, prepared));
    // a named Parse fails if the name is taken: later cycles must know whether it did
    if (name !== "") cycle.tracked = true;
    toUpstream.push(message.raw);
  }

  private onBind(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true | Promise<boolean> {
    const { portal, statement } = decodeBind(message.body);
    const prepared = this.spec.prepared.get(statement);
    if (!prepared) {
      this.deny("extended", cycle, toUpstream, `<Bind of prepared statement "${statement}">`, null, [
        `prepared statement "${statement}" does not exist (Portcullis saw no Parse or PREPARE of it in this session)`,
      ]);
      return true;
    }
    const pathKey = this.spec.key();
    const key = this.resolutionKey(this.spec, this.decisionCatalog());
    if (prepared.pathKey === key) {
      this.bind(message, toUpstream, portal, prepared.raw, prepared.info, prepared.masks, key);
      return true;
    }
    // The search_path, or the schemas of it the role may use, changed since the Parse: the server
    // resolves the statement's names again now, so the proxy decides again on what they resolve to.
    const rebind = () => {
      const catalog = this.decisionCatalog();
      const { info, reasons } = this.resolve(prepared.raw, this.spec, catalog);
      const decision =
        reasons.length > 0
          ? this.refuse("extended", info, reasons)
          : this.decide(info, "extended", 0, 1, catalog, pathKey).decision;
      if (!decision.allow) {
        this.deny("extended", cycle, toUpstream, info.text, info, decision.reasons, false);
        return;
      }
      this.addMasks(decision.mask);
      const again = this.resolutionKey(this.spec, catalog);
      this.bind(message, toUpstream, portal, prepared.raw, info, decision.mask ?? [], again);
    };
    if (!this.needsCatalog([prepared.raw])) {
      rebind();
      return true;
    }
    return this.withCatalog(rebind);
  }

  private bind(
    message: FrontendMessage,
    toUpstream: Buffer[],
    portal: string,
    raw: StatementInfo,
    info: StatementInfo,
    masks: ColumnMask[],
    pathKey: string,
  ): void {
    toUpstream.push(message.raw);
    this.portals.set(portal, {
      cycle: this.cycleSeq,
      info,
      masks,
      effect: this.effectOf(raw, info, masks, pathKey),
    });
  }

  private onExecute(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true {
    const { portal } = decodeExecute(message.body);
    const entry = this.portals.get(portal);
    if (!entry) {
      // a portal the proxy did not bind: a cursor (DECLARE), whose rows FETCH returns with a RowDescription
      this.deny("extended", cycle, toUpstream, `<Execute of portal "${portal}">`, null, [
        `portal "${portal}" was not bound through Portcullis (use FETCH to read a cursor)`,
      ]);
      return true;
    }
    if (this.masks.length > 0) {
      // Once a session has masks, every Execute is preceded by the proxy's own Describe of the portal:
      // its answer, the RowDescription of whatever the server holds under that name right then (a
      // cursor DECLAREd since, a portal re-bound, one that outlived its transaction), is the masking
      // plan of the rows that follow. Nothing the proxy remembers about the portal is trusted for it.
      // (the buffer is only ever written, never changed: the unnamed portal's is shared)
      toUpstream.push(
        portal === "" ? DESCRIBE_UNNAMED_PORTAL : serialize.describe({ type: "P", name: portal }),
      );
      cycle.ours.push(cycle.describes++);
      this.ourDescribes++;
    }
    toUpstream.push(message.raw);
    cycle.executes++;
    entry.effect(this.spec);
    cycle.completions.push(entry.effect);
    if (changesState(entry.info)) cycle.tracked = true;
    if (isDdl(entry.info)) this.ddlSent(cycle);
    this.executed(entry.info);
    return true;
  }

  /**
   * Whether a statement's result can carry a masked column: RowDescription names a table only when the
   * query reads it directly, so that is a masked relation among its relations (by the name a mask gives
   * it, or by the table OID a mask was pinned to: a masked table renamed since), or a cursor FETCH or an
   * EXECUTE whose rows come from elsewhere. Only then are upstream messages inspected.
   */
  private mayReturnMasked(info: StatementInfo): boolean {
    if (this.masks.length === 0) return false;
    if (containsExecute(info) || info.command === "FetchStmt") return true;
    const catalog = this.deps.catalog.fresh(this.deps.session.database);
    return info.relations.some(
      (r) =>
        this.masks.some(
          (m) =>
            m.relation === undefined ||
            m.relation === `${r.schema}.${r.name}` ||
            (r.schema === null && m.relation.slice(m.relation.lastIndexOf(".") + 1) === r.name),
        ) ||
        (r.schema !== null && this.pins.has(catalog?.find(r.schema, r.name)?.oid)),
    );
  }

  private addMasks(masks: readonly ColumnMask[] | undefined): void {
    if (masks === undefined || masks.length === 0 || this.addedMaskLists.has(masks)) return;
    this.addedMaskLists.add(masks);
    const added: ColumnMask[] = [];
    for (const mask of masks ?? []) {
      const key = `${mask.relation ?? ""}\u0000${mask.column}\u0000${mask.with}`;
      if (this.maskKeys.has(key)) continue;
      this.maskKeys.add(key);
      this.masks.push(mask);
      added.push(mask);
    }
    // from now on a mask follows its column, not its name (the statement has not run yet)
    if (added.length > 0) this.pins.pin(added, this.deps.catalog.fresh(this.deps.session.database));
  }

  /**
   * Resolves a statement's names with `state`'s search_path. An EXECUTE, at the top or nested at any
   * depth (`CREATE TABLE … AS EXECUTE`, `EXPLAIN [ANALYZE] EXECUTE`), is decided on what `state` says
   * was prepared under that name, resolved again if the search_path changed since, as the server does;
   * what it runs is folded into every statement that encloses it.
   */
  private resolve(
    raw: StatementInfo,
    state: SessionState,
    catalog: CatalogSnapshot | undefined,
  ): { info: StatementInfo; reasons: string[] } {
    if (this.catalogError !== undefined && needsNames(raw))
      return {
        info: raw,
        reasons: [
          `the database catalog cannot be read (${this.catalogError}): statements naming relations are refused until it can`,
        ],
      };
    if (namesDenialStatement(raw))
      return {
        info: raw,
        reasons: [`the prepared statement name "${DENIAL_STATEMENT}" is reserved by Portcullis`],
      };
    if (containsExecute(raw)) {
      const resolved = this.resolveExecutes(
        resolveStatement(raw, this.searched(state, catalog), catalog),
        state,
        catalog,
      );
      return { info: this.marked(resolved.info, state), reasons: resolved.reasons };
    }
    // Without an EXECUTE the resolution depends only on the analysis, the path, the role and the catalog: an
    // analysis the caches hand out again (the same object) is resolved once per path and snapshot.
    const pathKey = state.key();
    const memo = RESOLVED.get(raw);
    const role = this.deps.session.dbRole;
    if (memo && memo.pathKey === pathKey && memo.role === role && memo.catalog === catalog)
      return memo.result;
    const result = {
      info: this.marked(resolveStatement(raw, this.searched(state, catalog), catalog), state),
      reasons: NO_REASONS,
    };
    RESOLVED.set(raw, { pathKey, role, catalog, result });
    return result;
  }

  /**
   * The schemas the server searches for this session's role: the path without the schemas the role
   * has no USAGE on, which the server skips (a name only there is not found; the next schema's is);
   * null (unknown) after DDL in this transaction.
   */
  private searched(state: SessionState, catalog: CatalogSnapshot | undefined): string[] | null {
    const schemas = state.schemas();
    return catalog ? catalog.searchable(this.deps.session.dbRole, schemas) : schemas;
  }

  /** A resolved statement decided after DDL in the open transaction says so (the policy reads it). */
  private marked(info: StatementInfo, state: SessionState): StatementInfo {
    return state.ddl ? { ...info, ddl_in_transaction: true } : info;
  }

  /**
   * What resolving a statement's names depends on besides the catalog's relations: the search_path
   * (and whether DDL ran in the open transaction), and the schemas of the path the role may use (a
   * prepared statement is decided again when this changes).
   */
  private resolutionKey(state: SessionState, catalog: CatalogSnapshot | undefined): string {
    const stateKey = state.key();
    const memo = this.resolutionMemo;
    // the hot path (a Bind per statement) asks with the same path and snapshot: no JSON work then
    if (memo && memo.stateKey === stateKey && memo.catalog === catalog) return memo.value;
    // without a snapshot nothing says which schemas the role may use: never the key of one made with it
    const value = `${stateKey}\u0000${catalog ? JSON.stringify(this.searched(state, catalog)) : "?"}`;
    this.resolutionMemo = { stateKey, catalog, value };
    return value;
  }

  private resolutionMemo:
    | { stateKey: string; catalog: CatalogSnapshot | undefined; value: string }
    | undefined;

  /** `resolve` of a statement made from the shape cache's `template` (the same analysis, its own text). */
  private resolveShaped(
    template: StatementInfo,
    raw: StatementInfo,
    state: SessionState,
    catalog: CatalogSnapshot | undefined,
  ): { info: StatementInfo; reasons: string[] } {
    const { info } = this.resolve(template, state, catalog);
    // resolution never reads the text: the template's, with this statement's text
    return { info: info === template ? raw : { ...info, text: raw.text }, reasons: NO_REASONS };
  }

  private resolveExecutes(
    info: StatementInfo,
    state: SessionState,
    catalog: CatalogSnapshot | undefined,
  ): { info: StatementInfo; reasons: string[] } {
    let inner: StatementInfo | undefined;
    if (info.kind === "execute") {
      if (info.prepared_name === undefined) return { info, reasons: ["EXECUTE without a statement name"] };
      const prepared = state.prepared.get(info.prepared_name);
      if (!prepared) {
        return {
          info,
          reasons: [
            `prepared statement "${info.prepared_name}" does not exist (Portcullis saw no Parse or PREPARE of it in this session)`,
          ],
        };
      }
      inner = prepared.info;
      if (prepared.pathKey !== this.resolutionKey(state, catalog)) {
        const again = this.resolve(prepared.raw, state, catalog);
        if (again.reasons.length > 0) return { info, reasons: again.reasons };
        inner = again.info;
      }
    } else if (info.inner !== undefined && containsExecute(info.inner)) {
      const nested = this.resolveExecutes(info.inner, state, catalog);
      if (nested.reasons.length > 0) return { info, reasons: nested.reasons };
      inner = nested.info;
    }
    if (inner === undefined) return { info, reasons: [] };
    // a plain EXPLAIN (no ANALYZE) runs nothing: what it would write, it only reads
    const readsOnly = info.kind === "explain" && info.explain_analyze !== true;
    return {
      info: {
        ...info,
        inner,
        relations: [
          ...info.relations,
          ...inner.relations.map((r) => (readsOnly ? { ...r, access: "read" as const } : r)),
        ],
        functions: [...new Set([...info.functions, ...inner.functions])],
        columns: [
          ...(info.columns ?? []),
          // rows a CREATE TABLE AS stores go into a table, not through a RowDescription
          ...(inner.columns ?? []).map((c) =>
            info.kind === "ddl" ? { ...c, context: "expression" as const } : c,
          ),
        ],
      },
      reasons: [],
    };
  }

  /** A denial the proxy makes without asking the policy, recorded like the policy's. */
  private refuse(protocol: "simple" | "extended", info: StatementInfo, reasons: string[]): QueryDecision {
    const decision = { allow: false, reasons };
    this.record(protocol, info, info.text, decision);
    return decision;
  }

  /** What a statement does to the tracked state when it completes (`raw`: its unresolved analysis). */
  private effectOf(raw: StatementInfo, info: StatementInfo, masks: ColumnMask[], pathKey: string): Effect {
    if (!changesState(info)) return NO_EFFECT;
    let prepared: Prepared | undefined;
    if (info.kind === "prepare" && info.prepared_name !== undefined && info.inner && raw.inner) {
      prepared = { raw: raw.inner, info: info.inner, masks, pathKey };
    }
    return (state) => {
      state.path.completed(info);
      if (info.kind === "prepare" && info.prepared_name !== undefined) {
        if (prepared) state.prepared.set(info.prepared_name, prepared);
        else state.prepared.delete(info.prepared_name);
      } else if (info.kind === "deallocate") {
        if (info.prepared_name !== undefined) state.prepared.delete(info.prepared_name);
        else state.prepared.clear();
      } else if (info.command === "DiscardStmt" && !DISCARD_KEEPING_STATEMENTS.test(info.text)) {
        state.prepared.clear();
      }
    };
  }

  /**
   * DDL is on its way to the server: until its transaction ends, unqualified names stay unresolved
   * (in both states: a failed DDL leaves the flag until the transaction ends, which is only stricter),
   * and what follows waits for its answer (a new catalog snapshot is read once the transaction ends).
   */
  private ddlSent(cycle: Cycle): void {
    this.spec.ddl = true;
    this.confirmed.ddl = true;
    cycle.tracked = true;
  }

  /** Forgets a prepared statement in both states (safe at any time: an unknown one is never run). */
  private forget(name: string): void {
    this.spec.prepared.delete(name);
    this.confirmed.prepared.delete(name);
  }

  /** Side effects of a statement the server is about to run that need no answer: catalog freshness. */
  private executed(info: StatementInfo): void {
    // a GRANT or REVOKE (USAGE on a schema, a role's membership) changes which schemas are searched
    if (info.kind === "ddl" || info.kind === "grant") {
      this.deps.catalog.invalidate(this.deps.session.database);
      this.catalogChangeCycle = this.cycleSeq;
    }
    // SQL cursors share the portals' namespace: after a CLOSE, DECLARE or DISCARD a name the proxy
    // bound may now be a cursor (or gone), so what it remembers of every portal is dropped
    if (PORTAL_NAMESPACE_COMMANDS.has(info.command)) this.portals.clear();
  }

  private decide(
    info: StatementInfo,
    protocol: "simple" | "extended",
    index: number,
    count: number,
    catalog: CatalogSnapshot | undefined,
    pathKey: string,
    /** The normalized text of a plain single statement: its decision may be reused for its whole shape. */
    shape?: string,
  ): { decision: QueryDecision } {
    const violation = hasSettings(info) ? invariantViolation(info) : undefined;
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
    // Only decisions the policy declared cacheable for their input are stored, under a key holding
    // everything such a decision may depend on: a hit is the decision the policy would make again.
    const context = this.decisionContext(
      runtime.revision,
      protocol,
      index,
      count,
      pathKey,
      catalog?.loadedAt ?? 0,
    );
    const key = `${context}\u0000${info.text}\u0000${info.prepared_name ?? ""}`;
    // a decision the policy declared to hold for every statement of this shape (see cacheable_by_shape)
    const shapeKey = shape === undefined ? undefined : `${context}\u0000shape\u0000${shape}`;
    const hit = containsExecute(info)
      ? undefined
      : ((shapeKey !== undefined ? this.deps.decisions.get(shapeKey) : undefined) ??
        this.deps.decisions.get(key));
    // built for a cached decision too: the decision log keeps it (impact replay), the shadow asks it
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
    if (hit) {
      this.record(protocol, info, info.text, hit, true, 0, runtime.revision, input);
      return { decision: hit };
    }
    const started = performance.now();
    const decision = runtime.evaluateQuery(input);
    const micros = (performance.now() - started) * 1000;
    if (!containsExecute(info) && runtime.hasCacheable && runtime.isCacheable(input)) {
      this.deps.decisions.set(key, decision);
      if (shapeKey !== undefined && runtime.isCacheableByShape(input))
        this.deps.decisions.set(shapeKey, decision);
    }
    this.record(protocol, info, info.text, decision, false, micros, runtime.revision, input);
    return { decision };
  }

  /** The decision-cache key's prefix for one statement position, kept while its parts stay the same. */
  private decisionContext(
    revision: string,
    protocol: "simple" | "extended",
    index: number,
    count: number,
    pathKey: string,
    loadedAt: number,
  ): string {
    const c = this.context;
    if (
      c !== undefined &&
      c.revision === revision &&
      c.protocol === protocol &&
      c.index === index &&
      c.count === count &&
      c.pathKey === pathKey &&
      c.loadedAt === loadedAt
    )
      return c.value;
    const value = `${revision}\u0000${this.key}\u0000${protocol}${index}/${count}\u0000${pathKey}\u0000${loadedAt}`;
    this.context = { revision, protocol, index, count, pathKey, loadedAt, value };
    return value;
  }

  private record(
    protocol: "simple" | "extended",
    statement: StatementInfo | null,
    text: string,
    decision: QueryDecision,
    cached = false,
    evalMicros = 0,
    revision = this.deps.policy.current()?.revision,
    input?: QueryInput,
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
      ...(input ? { input } : {}),
    });
  }

  /** Replaces a denied message with a statement that makes the upstream raise the denial itself. */
  private deny(
    protocol: "simple" | "extended",
    cycle: Cycle,
    toUpstream: Buffer[],
    text: string,
    info: StatementInfo | null,
    reasons: string[],
    record = true,
    error?: { code: string; message: string },
    /** The denied message is a Parse of the unnamed statement (which the server drops even when it fails). */
    unnamedParse = false,
  ): void {
    const unique = [...new Set(reasons)];
    if (record) this.record(protocol, info, text, { allow: false, reasons: unique });
    const message =
      error?.message ?? `permission denied by Portcullis policy: ${unique.join("; ") || "no reason given"}`;
    const code = error?.code ?? DENIAL_SQLSTATE;
    this.deps.logger.info({ session: this.deps.session.id, protocol, reasons: unique }, "statement denied");
    this.denials++;
    if (protocol === "simple") {
      toUpstream.push(simpleDenial(message, undefined, code));
    } else {
      this.extendedDenials++;
      this.discardUntilSync = true;
      // The denial is bound to the unnamed portal (the server skips everything up to Sync after it, and
      // then the transaction is aborted or over: no portal of it is usable). It is parsed as the unnamed
      // statement only in place of an unnamed Parse, which drops the client's unnamed statement on the
      // server whether it succeeds or not; otherwise under DENIAL_STATEMENT, so the client's unnamed
      // statement survives as it would on PostgreSQL. That one is closed first, except in a failed
      // transaction block (known here: new cycles wait for the earlier ones inside a block), where the
      // Parse itself fails with 25P02 and a CloseComplete would be the only reply of ours.
      this.portals.delete("");
      cycle.parses.push(NO_EFFECT);
      if (unnamedParse) {
        this.forget("");
        cycle.denials.push(2);
        toUpstream.push(extendedDenial(message, undefined, code));
      } else {
        const failedBlock = this.lastStatus === "E" && this.cycles.length === 1;
        cycle.denials.push(failedBlock ? 2 : 3);
        toUpstream.push(
          extendedDenial(message, undefined, code, { statement: DENIAL_STATEMENT, close: !failedBlock }),
        );
      }
    }
  }

  /**
   * Text the analysis cannot read is never forwarded. A syntax error (the parser is PostgreSQL's own)
   * gets the server's answer, 42601 with the parser's message; anything else is a 42501 denial.
   */
  private refuseUnparseable(
    protocol: "simple" | "extended",
    cycle: Cycle,
    toUpstream: Buffer[],
    text: string,
    analysis: { error: string; position?: number },
    unnamedParse = false,
  ): void {
    const reasons = [`the statement could not be parsed: ${analysis.error}`];
    const syntax = analysis.position !== undefined;
    this.deny(
      protocol,
      cycle,
      toUpstream,
      text,
      null,
      reasons,
      true,
      syntax
        ? {
            code: SYNTAX_ERROR_SQLSTATE,
            message: analysis.error,
          }
        : undefined,
      unnamedParse,
    );
  }

  // ---------------------------------------------------------------------------------------------
  // upstream → client

  backendActive(): boolean {
    return (
      this.simpleMasking ||
      this.plan !== undefined ||
      this.denials > 0 ||
      this.extendedDenials > 0 ||
      this.ourDescribes > 0
    );
  }

  onBackend(type: number, raw: Buffer, toClient: Buffer[]): void {
    switch (type) {
      case 0x31 /* 1 ParseComplete */:
      case 0x32 /* 2 BindComplete */:
      case 0x33 /* 3 CloseComplete */:
        if (type === 0x31) this.observe(type);
        // only a denial of the cycle these replies belong to (the oldest in flight) can own them
        if ((this.cycles[0]?.denials.length ?? 0) > 0) {
          this.held.push(raw); // may be the reply to the proxy's own Parse/Bind
          return;
        }
        this.flushHeld(toClient);
        toClient.push(raw);
        return;
      case 0x45 /* E ErrorResponse */:
        {
          this.observe(type);
          const tidy = tidyDenialError(raw);
          const cycle = this.cycles[0];
          if (tidy && cycle && cycle.denials.length > 0) {
            const ours = cycle.denials.shift()!;
            this.held.splice(-ours, ours); // our CloseComplete, ParseComplete and BindComplete
            this.extendedDenials--;
          }
          this.flushHeld(toClient);
          toClient.push(tidy ?? raw);
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
            this.pins,
          );
          if (plan.unknownTables) this.deps.catalog.invalidate(this.deps.session.database);
          const cycle = this.cycles[0];
          if (cycle?.kind === "extended") {
            // a Describe's answer; the proxy's own is the plan of the Execute right behind it
            if (this.describeAnswered(cycle)) this.plan = plan.any ? plan : undefined;
            else toClient.push(raw);
            return;
          }
          this.plan = plan.any ? plan : undefined;
          toClient.push(raw);
          return;
        }
      case 0x6e /* n NoData */:
        {
          this.flushHeld(toClient);
          const cycle = this.cycles[0];
          if (cycle?.kind === "extended" && this.describeAnswered(cycle)) {
            this.plan = undefined;
            return;
          }
          toClient.push(raw);
          return;
        }
      case 0x44 /* D DataRow */:
        // held replies go first: PostgreSQL's order is ParseComplete, BindComplete, then the rows
        this.flushHeld(toClient);
        toClient.push(this.plan?.any ? maskDataRow(raw, this.plan, this.deps.hashKey) : raw);
        return;
      case 0x43 /* C CommandComplete */:
      case 0x73 /* s PortalSuspended */:
      case 0x49 /* I EmptyQueryResponse */:
        this.flushHeld(toClient);
        this.observe(type);
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
    if (type === 0x54 /* T */ || type === 0x6e /* n */) {
      const cycle = this.cycles[0];
      if (cycle?.kind === "extended") this.describeAnswered(cycle);
      return;
    }
    this.observe(type);
  }

  /** Counts a Describe's answer in `cycle`; true when it answers the proxy's own Describe. */
  private describeAnswered(cycle: Cycle): boolean {
    const at = cycle.described++;
    if (cycle.ours.length === 0 || cycle.ours[0] !== at) return false;
    cycle.ours.shift();
    this.ourDescribes--;
    return true;
  }

  /** An answer that applies or voids effects of the oldest cycle (seen actively or passively). */
  private observe(type: number): void {
    const cycle = this.cycles[0];
    if (!cycle) return;
    switch (type) {
      case 0x31 /* 1 ParseComplete */:
        cycle.parses.shift()?.(this.confirmed);
        return;
      case 0x43 /* C CommandComplete */:
      case 0x73 /* s PortalSuspended */:
      case 0x49 /* I EmptyQueryResponse */:
        cycle.completions.shift()?.(this.confirmed);
        return;
      case 0x45 /* E ErrorResponse */:
        // the statement failed, its transaction with it; the server skips the rest of the cycle
        this.confirmed.path.failed();
        cycle.parses = [];
        cycle.completions = [];
        this.ourDescribes -= cycle.ours.length;
        cycle.ours = [];
        // later Describes of this cycle are skipped: none of them will be answered
        cycle.described = Number.POSITIVE_INFINITY;
        return;
    }
  }

  onReadyForQuery(status: TransactionStatus): void {
    this.lastStatus = status;
    const ended = this.cycles.shift();
    if (ended) {
      this.ourDescribes -= ended.ours.length;
      // a denial the server skipped (after an error earlier in its cycle) never answers
      this.extendedDenials -= ended.denials.length;
      // the transaction ended: so did every portal bound up to this cycle (Bind portals never hold)
      if (status === "I" && this.portals.size > 0) {
        for (const [name, portal] of this.portals) if (portal.cycle <= ended.seq) this.portals.delete(name);
      }
    }
    this.confirmed.path.cycleEnded(status);
    if (status === "I" && this.cycles.length === 0 && this.confirmed.ddl) {
      // the transaction that ran DDL is over: its changes are visible to the catalog's session now (a
      // snapshot read during the transaction could not see them), and names resolve again
      this.confirmed.ddl = false;
      this.deps.catalog.invalidate(this.deps.session.database);
    }
    // the transaction that changed the catalog (DDL, GRANT/REVOKE) has ended, committed or not: a
    // snapshot read while it was open, by this session or another, saw the catalog before it
    if (
      status === "I" &&
      this.catalogChangeCycle !== undefined &&
      ended &&
      ended.seq >= this.catalogChangeCycle
    ) {
      this.deps.catalog.invalidate(this.deps.session.database);
      this.catalogChangeCycle = undefined;
    }
    if (this.cycles.length === 0) {
      // nothing in flight: the speculation is what the server confirmed; a waiting cycle may go
      this.spec = this.confirmed.clone();
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
    // held replies are flushed when this ReadyForQuery passes onBackend; later cycles keep their denials
    if (this.cycles.length === 0) this.extendedDenials = 0;
    if (this.cycles.length === 0) this.denials = 0;
    if (this.cycles.length === 0) {
      this.simpleMasking = false;
      this.ourDescribes = 0;
      this.plan = undefined;
    }
  }
}

/** Whether a statement, or one it nests, names a setting (only those can break an invariant). */
function hasSettings(info: StatementInfo): boolean {
  for (let s: StatementInfo | undefined = info; s !== undefined; s = s.inner)
    if (s.settings !== undefined && s.settings.length > 0) return true;
  return false;
}

/** The proxy's own Describe of the unnamed portal (the one almost every Execute runs), made once. */
const DESCRIBE_UNNAMED_PORTAL = serialize.describe({ type: "P", name: "" });

/** Whether a statement is, or nests at any depth, an EXECUTE. */
function containsExecute(info: StatementInfo): boolean {
  return info.kind === "execute" || (info.inner !== undefined && containsExecute(info.inner));
}

function emptyStatement(): StatementInfo {
  return { kind: "utility", command: "EmptyQuery", relations: [], functions: [], text: "", fingerprint: "" };
}

/** An ErrorResponse the proxy sends itself when no upstream round trip is possible. */
export function localError(message: string): Buffer {
  return errorResponse({ severity: "ERROR", code: SQLSTATE.insufficientPrivilege, message });
}

/**
 * Whether a Query's or Parse's bytes hold a backslash: the only byte whose reading the settings the
 * proxy depends on change (an escape in a string once standard_conforming_strings is off; the trail
 * byte of a double-byte character in SJIS, BIG5, GBK, GB18030 and JOHAB). A text without one reads
 * the same whatever they are. (memchr: cheap on every statement.)
 */
function readsSettings(raw: Buffer): boolean {
  return raw.includes(0x5c);
}

/**
 * Shapes (normalized texts) for which the parser's normalization of a text equalled `plainShape`'s.
 * Two texts with the same plainShape have the same tokens but for the digits of their integer
 * literals, so the parser reads the same statement with its constants at the same places and
 * normalizes both to the same text: once one was checked, the others need not be parsed to be shaped.
 */
const VERIFIED_SHAPES = new LRUCache<string, true>({ max: 10_000 });

/**
 * The normalized text of a statement written in a deliberately small grammar — ASCII identifiers and
 * keywords, whitespace, `= , ( ) ; * < > + .` and unsigned decimal integers — with each integer
 * replaced by `$1`, `$2`… in order, as the parser's normalization writes constants; undefined for
 * anything else (quotes, `$`, `-`, `/`, `:`, other bytes, or an integer touching a letter, `_` or `.`).
 * Only a candidate: it is trusted once the parser agreed on the same shape (VERIFIED_SHAPES).
 */
export function plainShape(text: string): string | undefined {
  let out = "";
  let from = 0;
  let n = 0;
  const length = text.length;
  for (let i = 0; i < length; ) {
    const c = text.charCodeAt(i);
    if (isIdentStart(c)) {
      i++;
      while (i < length && isIdentPart(text.charCodeAt(i))) i++;
    } else if (c >= 0x30 && c <= 0x39) {
      if (i > 0 && text.charCodeAt(i - 1) === 0x2e /* . */) return undefined;
      const start = i;
      while (i < length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
      if (i < length) {
        const next = text.charCodeAt(i);
        if (isIdentPart(next) || next === 0x2e) return undefined;
      }
      out += `${text.slice(from, start)}$${++n}`;
      from = i;
    } else if (PLAIN_PUNCTUATION.has(c)) i++;
    else return undefined;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Whitespace and the punctuation plainShape accepts. */
const PLAIN_PUNCTUATION: ReadonlySet<number> = new Set(
  [..." \t\n\r=,();*<>+."].map((ch) => ch.charCodeAt(0)),
);

function isIdentStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 0x30 && c <= 0x39);
}

/** Longest query text the shape cache is used for. */
const MAX_SHAPE_TEXT = 8 * 1024;

/**
 * Statements whose analysis does not depend on their literal values: plain reads and writes with no
 * settings (SET, set_config) and no positional reference (`ORDER BY 2` normalizes to `ORDER BY $1`,
 * but which column it uses is the literal's value). Every statement of the same shape has the same
 * analysis but its text.
 */
function shapeable(info: StatementInfo): boolean {
  return (
    (info.kind === "select" || info.kind === "insert" || info.kind === "update" || info.kind === "delete") &&
    (info.settings?.length ?? 0) === 0 &&
    info.positional_references !== true &&
    info.inner === undefined
  );
}
