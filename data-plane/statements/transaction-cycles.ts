import type { StatementInfo } from "../../proto/policy.js";
import type { TransactionStatus } from "../protocol/backend-messages.js";
import { BackendCode, FrontendCode } from "../protocol/codes.js";
import type { FrontendMessage } from "../protocol/frontend-messages.js";
import type { Catalog } from "./catalog.js";
import type { SearchPath } from "./search-path.js";
import { type Effect, type Portal, SessionState } from "./session-state.js";
import { readsSettings } from "./statement-traits.js";

/**
 * The client messages answered by one ReadyForQuery: a simple Query (or FunctionCall), or the
 * extended-protocol messages up to their Sync. Effects reach `confirmed` as the upstream answers, in
 * order: a Parse's at its ParseComplete, a statement's at its CommandComplete (EmptyQueryResponse,
 * PortalSuspended). An ErrorResponse voids the rest: the server runs nothing more of the cycle.
 */
export interface Cycle {
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

/** SQL cursors share the portals' namespace with the extended protocol's portals. */
const PORTAL_NAMESPACE_COMMANDS = new Set(["DeclareCursorStmt", "ClosePortalStmt", "DiscardStmt"]);

/**
 * The cycles of one session in flight, and the session state they move: `confirmed` as the upstream
 * answers, `spec` as the proxy forwards; the portals, which end with their transaction; and the
 * catalog invalidations due when a transaction that changed the catalog ends.
 */
export class TransactionCycles {
  /** What the upstream has reported done. */
  confirmed: SessionState;
  /** `confirmed` plus what the messages forwarded and not answered yet will do if they succeed. */
  spec: SessionState;
  /** Forwarded, ReadyForQuery not back yet; the last may still be open (extended protocol before Sync). */
  readonly inFlight: Cycle[] = [];
  /** The extended-protocol cycle not ended by a Sync yet. */
  open: Cycle | undefined;
  /** A new cycle waiting for the earlier ones to be answered. */
  private waiters: (() => void)[] = [];
  readonly portals = new Map<string, Portal>();
  /** The sequence number of the last cycle begun. */
  seq = 0;
  /**
   * The last cycle that forwarded DDL or a GRANT/REVOKE whose transaction has not been seen to end:
   * a snapshot read meanwhile (by any session) may predate its commit, so it is read again then.
   */
  private catalogChangeCycle: number | undefined;
  /** The transaction status of the last ReadyForQuery. */
  lastStatus: TransactionStatus = "I";
  /** The proxy's own Describes (before each Execute of a masked session) not answered yet, all cycles. */
  ourDescribes = 0;
  /**
   * A COPY … FROM STDIN was forwarded and may be reading the client's data: the client has sent
   * neither CopyDone nor CopyFail since, and nothing is answered yet. The server ignores a Sync it
   * reads then, so the cycles would no longer match its ReadyForQuery messages (rows of a later
   * statement taken for the answer to an earlier one, and passed unmasked); until it is over only
   * CopyData, CopyDone, CopyFail and Flush go through.
   */
  copyFromClient = false;

  constructor(
    searchPath: SearchPath,
    private readonly catalog: Catalog,
    private readonly database: string,
  ) {
    this.confirmed = new SessionState(searchPath);
    this.spec = this.confirmed.clone();
  }

  /**
   * Whether a new cycle must wait for the earlier ones' ReadyForQuery before it is decided on `spec`:
   * when an earlier cycle still in flight may change the tracked state (or may abort the open
   * transaction block). A text the settings could change the reading of (see readsSettings) waits
   * too: the server reports a setting changed out of sight (ParameterStatus) before their
   * ReadyForQuery, and the relay ends the session there, before this text is sent.
   */
  mustWait(message: FrontendMessage): boolean {
    return (
      this.inFlight.length > 0 &&
      (((message.type === FrontendCode.Query || message.type === FrontendCode.Parse) &&
        readsSettings(message.raw)) ||
        this.inFlight.some((c) => c.tracked) ||
        this.spec.path.inTransactionBlock())
    );
  }

  /** Resolves once nothing is in flight (at a ReadyForQuery). */
  whenAnswered(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  begin(kind: "query" | "extended"): Cycle {
    const cycle: Cycle = {
      seq: ++this.seq,
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
    this.inFlight.push(cycle);
    if (kind === "extended") this.open = cycle;
    return cycle;
  }

  /** An answer that applies or voids effects of the oldest cycle (seen actively or passively). */
  observe(type: number): void {
    const cycle = this.inFlight[0];
    if (!cycle) return;
    switch (type) {
      case BackendCode.ParseComplete:
        cycle.parses.shift()?.(this.confirmed);
        return;
      case BackendCode.CommandComplete:
      case BackendCode.PortalSuspended:
      case BackendCode.EmptyQueryResponse:
        cycle.completions.shift()?.(this.confirmed);
        return;
      case BackendCode.ErrorResponse:
        // the statement failed, its transaction with it; the server skips the rest of the cycle
        this.confirmed.path.failed();
        // A Bind of this cycle may be the message that failed (its portal name taken, a wrong parameter
        // count) or one the server skipped after the failure: the server then still holds what it had
        // under that name, which a savepoint rolled back to can make usable again, while the proxy
        // took the name for this Bind's statement. Forgotten, an Execute of it is refused.
        for (const [name, portal] of this.portals) if (portal.cycle === cycle.seq) this.portals.delete(name);
        // the last cycle (a COPY FROM STDIN's: none may begin while it reads data) failed: no COPY reads now
        if (cycle === this.inFlight[this.inFlight.length - 1]) this.copyFromClient = false;
        cycle.parses = [];
        cycle.completions = [];
        this.ourDescribes -= cycle.ours.length;
        cycle.ours = [];
        // later Describes of this cycle are skipped: none of them will be answered
        cycle.described = Number.POSITIVE_INFINITY;
        return;
    }
  }

  /** Counts a Describe's answer in `cycle`; true when it answers the proxy's own Describe. */
  describeAnswered(cycle: Cycle): boolean {
    const at = cycle.described++;
    if (cycle.ours.length === 0 || cycle.ours[0] !== at) return false;
    cycle.ours.shift();
    this.ourDescribes--;
    return true;
  }

  /**
   * The oldest cycle is answered: its portals end with their transaction, the transaction's catalog
   * changes become visible, and once nothing is in flight the speculation restarts from what the
   * server confirmed and a waiting cycle may go. Returns the cycle that ended.
   */
  readyForQuery(status: TransactionStatus): Cycle | undefined {
    this.lastStatus = status;
    const ended = this.inFlight.shift();
    if (ended) {
      this.ourDescribes -= ended.ours.length;
      // the transaction ended: so did every portal bound up to this cycle (Bind portals never hold)
      if (status === "I" && this.portals.size > 0) {
        for (const [name, portal] of this.portals) if (portal.cycle <= ended.seq) this.portals.delete(name);
      }
    }
    this.confirmed.path.cycleEnded(status);
    if (status === "I" && this.inFlight.length === 0 && this.confirmed.ddl) {
      // the transaction that ran DDL is over: its changes are visible to the catalog's session now (a
      // snapshot read during the transaction could not see them), and names resolve again
      this.confirmed.ddl = false;
      this.catalog.invalidate(this.database);
    }
    // the transaction that changed the catalog (DDL, GRANT/REVOKE) has ended, committed or not: a
    // snapshot read while it was open, by this session or another, saw the catalog before it
    if (
      status === "I" &&
      this.catalogChangeCycle !== undefined &&
      ended &&
      ended.seq >= this.catalogChangeCycle
    ) {
      this.catalog.invalidate(this.database);
      this.catalogChangeCycle = undefined;
    }
    if (this.inFlight.length === 0) {
      // nothing in flight: the speculation is what the server confirmed; a waiting cycle may go
      this.copyFromClient = false;
      this.spec = this.confirmed.clone();
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
      this.ourDescribes = 0;
    }
    return ended;
  }

  /**
   * DDL is on its way to the server: until its transaction ends, unqualified names stay unresolved
   * (in both states: a failed DDL leaves the flag until the transaction ends, which is only stricter),
   * and what follows waits for its answer (a new catalog snapshot is read once the transaction ends).
   */
  ddlSent(cycle: Cycle): void {
    this.spec.ddl = true;
    this.confirmed.ddl = true;
    cycle.tracked = true;
  }

  /** Forgets a prepared statement in both states (safe at any time: an unknown one is never run). */
  forget(name: string): void {
    this.spec.prepared.delete(name);
    this.confirmed.prepared.delete(name);
  }

  /** Side effects of a statement the server is about to run that need no answer: catalog freshness. */
  executed(info: StatementInfo): void {
    // a GRANT or REVOKE (USAGE on a schema, a role's membership) changes which schemas are searched
    if (info.kind === "ddl" || info.kind === "grant") {
      this.catalog.invalidate(this.database);
      this.catalogChangeCycle = this.seq;
    }
    // SQL cursors share the portals' namespace: after a CLOSE, DECLARE or DISCARD a name the proxy
    // bound may now be a cursor (or gone), so what it remembers of every portal is dropped
    if (PORTAL_NAMESPACE_COMMANDS.has(info.command)) this.portals.clear();
  }
}
