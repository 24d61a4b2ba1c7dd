import type { Socket } from "node:net";
import { BackendFramer, errorResponse, type TransactionStatus } from "../protocol/backend-messages.js";
import { BackendCode, FrontendCode } from "../protocol/codes.js";
import { ProtocolError, SQLSTATE } from "../protocol/errors.js";
import { FrontendFramer, type FrontendMessage } from "../protocol/frontend-messages.js";
import { unsafeReportedSetting } from "../statements/invariants.js";

/**
 * The relay between one client and its upstream session. Client bytes are cut into messages and each
 * goes through `onFrontend`, which decides what reaches the upstream; upstream bytes are scanned for
 * message boundaries (ReadyForQuery carries the transaction status) and go through `onBackend` when a
 * stage needs to see them. Writes are batched: one write per chunk read, whatever it held.
 * A stage may answer asynchronously (a catalog lookup): the client is paused and later messages wait,
 * so order is kept.
 */

export interface RelayStages {
  /**
   * Decides one client message. Push what the upstream should receive into `toUpstream` and what the
   * client should receive directly into `toClient`. Return false to stop relaying (Terminate).
   */
  onFrontend(message: FrontendMessage, toUpstream: Buffer[], toClient: Buffer[]): boolean | Promise<boolean>;
  /**
   * When this says true, every upstream message goes through `onBackend`, which pushes what the client
   * gets (masking, tidying the proxy's own errors); otherwise messages pass as they came.
   */
  backendActive?(): boolean;
  onBackend?(type: number, raw: Buffer, toClient: Buffer[]): void;
  /** Every ReadyForQuery, with its transaction status. */
  onReadyForQuery?(status: TransactionStatus): void;
  /**
   * While messages pass unobserved, the ends of results are still reported (CommandComplete,
   * PortalSuspended, EmptyQueryResponse, ErrorResponse: one call per statement, not per row), so a
   * stage can tell which result comes next when it starts rewriting; and ParseComplete, so it can tell
   * which prepared statements the server has; and RowDescription and NoData, so it can count the
   * answers to Describe.
   */
  onResultEnd?(type: number): void;
}

/** The Terminate message: the polite way to end an upstream session. */
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

/**
 * When the proxy ends a session (terminate: revocation, expiry, shutdown), the client is cut first
 * and everything else waits:
 *
 * - The session's bookkeeping (the close handlers: registry, session events, logs) runs once the
 *   client socket has closed, so when a revocation ends hundreds of sessions at once every FATAL
 *   and every close goes out before any of it.
 * - An upstream session with a transaction open or a query in flight is closed at once (its locks
 *   go now; a running query was cancelled already, session/end-session.ts). An idle one is closed
 *   UPSTREAM_CLOSE_GRACE_MS later, a few per event-loop turn: closing an upstream wakes a
 *   PostgreSQL backend process, which then exits, far more work than telling a client, and where
 *   the database shares a host with the proxies its teardown would otherwise delay the cut several
 *   times over. Nothing goes upstream from such a session meanwhile (the relay has ended). A socket
 *   the relay's own timer destroyed meanwhile is skipped (the server sees EOF).
 */
export const UPSTREAM_CLOSE_GRACE_MS = 2_000;
/** How long a closed socket may take to finish closing before it is destroyed. */
const DESTROY_AFTER_MS = 1_000;
const closing: { upstream: Socket; dueAt: number }[] = [];
let closingTimer: NodeJS.Timeout | undefined;

function closeUpstreamSoon(upstream: Socket): void {
  closing.push({ upstream, dueAt: Date.now() + UPSTREAM_CLOSE_GRACE_MS });
  closingTimer ??= setTimeout(closeDue, UPSTREAM_CLOSE_GRACE_MS);
}

/** Closes every upstream still waiting out its grace (the proxy is stopping). */
export function closeDeferredUpstreamsNow(): void {
  for (const entry of closing) entry.dueAt = 0;
  if (closing.length > 0) {
    clearTimeout(closingTimer);
    closeDue();
  }
}

function closeDue(): void {
  closingTimer = undefined;
  const now = Date.now();
  for (let i = 0; i < 16 && closing.length > 0 && closing[0]!.dueAt <= now; i++) {
    const { upstream } = closing.shift()!;
    if (upstream.destroyed) continue;
    upstream.end(TERMINATE);
    setTimeout(() => upstream.destroy(), DESTROY_AFTER_MS).unref();
  }
  const next = closing[0];
  if (!next) return;
  if (next.dueAt <= now) setImmediate(closeDue);
  else closingTimer = setTimeout(closeDue, next.dueAt - now);
}

/** A ParameterStatus from the upstream that the proxy's reading of SQL cannot follow: the session ends. */
class UnsafeSetting extends Error {}

/** Checks one ParameterStatus message (name and value, NUL-terminated, after the 5-byte header). */
function checkParameterStatus(raw: Buffer): void {
  const nameEnd = raw.indexOf(0, 5);
  const valueEnd = nameEnd < 0 ? -1 : raw.indexOf(0, nameEnd + 1);
  if (valueEnd < 0) throw new UnsafeSetting("the database sent a malformed ParameterStatus");
  const reason = unsafeReportedSetting(
    raw.toString("utf8", 5, nameEnd),
    raw.toString("utf8", nameEnd + 1, valueEnd),
  );
  if (reason) throw new UnsafeSetting(reason);
}

/** The longest message each side may send, length word included (session/upstream.max_message_bytes). */
export interface RelayLimits {
  clientMessageBytes?: number;
  upstreamMessageBytes?: number;
}

/**
 * Parking: a session whose upstream holds nothing of its own gives that upstream back while its
 * client is idle, and takes one in the same start-up state (the same pool key) at its next message,
 * so idle clients do not each hold a database backend (session.park_idle_after_ms).
 */
export interface Parking {
  /** Idle this long (ms, outside a transaction, nothing in flight) before the upstream is given back. */
  afterMs: number;
  /** Takes the idle upstream (the pool resets and keeps it, or closes it). */
  park(upstream: Socket): void;
  /** An upstream in the session's start-up state, logged in and ready; bytes it sent beyond that. */
  unpark(): Promise<{ socket: Socket; leftover: Buffer }>;
  /** Told when the session parks (true) and wakes (false), for metrics. */
  onChange?(parked: boolean): void;
}

/** Whether `parts`, back to back, are exactly the bytes of `whole` (views of the same memory, in order). */
function sameBytes(parts: readonly Buffer[], whole: Buffer): boolean {
  let at = whole.byteOffset;
  for (const part of parts) {
    if (part.buffer !== whole.buffer || part.byteOffset !== at) return false;
    at += part.length;
  }
  return at === whole.byteOffset + whole.length;
}

export class Relay {
  private readonly frontend: FrontendFramer;
  private readonly backend: BackendFramer;
  private ended = false;
  /** True while an asynchronous stage decides a message; later client bytes wait in the framer. */
  private waiting = false;
  /** Told about unexpected errors (protocol errors included) before the session is ended. */
  onError: ((err: unknown) => void) | undefined;
  /** The status of the last ReadyForQuery the upstream sent. */
  status: TransactionStatus = "I";
  /** Reads from the client so far: the idle-in-transaction sweep compares it between its rounds. */
  clientReads = 0;
  /** The type of the last upstream message relayed: a server that closes after a FATAL has said why. */
  private lastUpstreamType = 0;
  private closeHandlers: ((reason: string) => void)[] = [];

  /** Client messages that each end in a ReadyForQuery (Query, Sync, FunctionCall) not answered yet. */
  private pendingSyncs = 0;
  private terminated = false;

  /** The upstream session's socket; undefined while the session is parked. */
  private up: Socket | undefined;
  private parkTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly client: Socket,
    upstream: Socket,
    private readonly stages: RelayStages,
    /** Takes the upstream socket back when the session ends cleanly (pooling); else it is closed. */
    private readonly releaseUpstream?: (upstream: Socket) => void,
    limits: RelayLimits = {},
    private readonly parking?: Parking,
  ) {
    this.up = upstream;
    this.frontend = new FrontendFramer(limits.clientMessageBytes);
    this.backend = new BackendFramer(limits.upstreamMessageBytes);
  }

  /** The upstream socket; undefined while parked. */
  get upstream(): Socket | undefined {
    return this.up;
  }

  get parked(): boolean {
    return this.up === undefined && !this.ended;
  }

  /** Starts relaying; `pendingClient`/`pendingUpstream` are bytes read ahead during login. */
  start(pendingClient: Buffer, pendingUpstream: Buffer): void {
    this.client.on("data", (chunk: Buffer) => this.fromClient(chunk));
    this.client.on("drain", () => this.up?.resume());
    this.client.on("close", () => this.end("client closed"));
    this.client.on("error", () => this.end("client socket error"));
    this.attachUpstream(this.up!);
    if (pendingUpstream.length > 0) this.fromUpstream(pendingUpstream);
    if (pendingClient.length > 0) this.fromClient(pendingClient);
    else this.parkWhenIdle();
  }

  private attachUpstream(upstream: Socket): void {
    upstream.on("data", (chunk: Buffer) => this.fromUpstream(chunk));
    upstream.on("drain", () => this.client.resume());
    upstream.on("close", () => this.upstreamClosed());
    upstream.on("error", () => this.end("upstream socket error"));
  }

  /**
   * Parks the session after `parking.afterMs` of idleness when nothing of it lives in its upstream
   * session: only a session that has sent nothing since its login (its upstream is exactly what the
   * pool key describes). A later client message wakes it (fromClient).
   */
  private parkWhenIdle(): void {
    if (!this.parking || this.parkTimer || this.clientReads > 0) return;
    this.parkTimer = setTimeout(() => {
      this.parkTimer = undefined;
      const upstream = this.up;
      if (
        !upstream ||
        this.ended ||
        this.waiting ||
        this.clientReads > 0 ||
        this.pendingSyncs > 0 ||
        this.status !== "I" ||
        this.backend.buffered > 0 ||
        upstream.destroyed
      ) {
        return;
      }
      for (const event of ["data", "drain", "close", "error"]) upstream.removeAllListeners(event);
      upstream.resume();
      this.up = undefined;
      this.parking!.park(upstream);
      this.parking!.onChange?.(true);
    }, this.parking.afterMs);
    this.parkTimer.unref();
  }

  /** The client spoke while parked: its bytes wait in the framer until an upstream is back. */
  private wake(): void {
    this.waiting = true;
    this.client.pause();
    this.parking!.unpark().then(
      ({ socket, leftover }) => {
        if (this.ended) {
          this.parking!.onChange?.(false);
          socket.end(TERMINATE);
          setTimeout(() => socket.destroy(), DESTROY_AFTER_MS).unref();
          return;
        }
        this.up = socket;
        this.parking!.onChange?.(false);
        this.attachUpstream(socket);
        this.waiting = false;
        if (leftover.length > 0) this.fromUpstream(leftover);
        this.client.resume();
        this.drainClient();
      },
      (err: unknown) => {
        this.waiting = false;
        this.onError?.(err);
        this.terminate(
          SQLSTATE.cannotConnectNow,
          "the connection to the database could not be resumed: reconnect later",
        );
      },
    );
  }

  /**
   * The upstream went away. After its own FATAL (a shutdown's 57P01, a timeout's 25P03) the client has
   * been told; otherwise (the server crashed, the network broke) it gets a FATAL 08006 saying so,
   * rather than a connection that just ends.
   */
  private upstreamClosed(): void {
    if (this.ended) return;
    if (this.lastUpstreamType === BackendCode.ErrorResponse) this.end("upstream closed");
    else this.terminate(SQLSTATE.connectionFailure, "the connection to the database server was lost");
  }

  /** Bytes written to the client that it has not taken yet (bounded by backpressure). */
  get clientBacklog(): number {
    return this.client.writableLength;
  }

  onClose(handler: (reason: string) => void): void {
    this.closeHandlers.push(handler);
  }

  private fromClient(chunk: Buffer): void {
    if (this.ended) return;
    this.clientReads++;
    if (this.parkTimer) {
      clearTimeout(this.parkTimer);
      this.parkTimer = undefined;
    }
    this.frontend.push(chunk);
    if (this.waiting) return;
    if (this.up === undefined) this.wake();
    else this.drainClient();
  }

  /** Runs buffered client messages through the stages until they are all decided or one goes async. */
  /** What the stages decided for the client bytes being drained (reused: one drain runs at a time). */
  private readonly frontendUp: Buffer[] = [];
  private readonly frontendBack: Buffer[] = [];

  private drainClient(): void {
    const toUpstream = this.frontendUp;
    const toClient = this.frontendBack;
    try {
      for (let m = this.frontend.next(); m; m = this.frontend.next()) {
        if (
          m.type === FrontendCode.Query ||
          m.type === FrontendCode.Sync ||
          m.type === FrontendCode.FunctionCall
        )
          this.pendingSyncs++;
        const verdict = this.stages.onFrontend(m, toUpstream, toClient);
        if (verdict === true) continue;
        this.flush(toUpstream, toClient);
        if (verdict === false) {
          this.end("client terminated");
          return;
        }
        this.waiting = true;
        this.client.pause();
        verdict.then(
          (keepGoing) => {
            this.waiting = false;
            if (this.ended) return;
            // what the stage decided while the client waited
            this.flush(toUpstream, toClient);
            if (!keepGoing) return this.end("client terminated");
            this.client.resume();
            this.drainClient();
          },
          (err: unknown) => this.fail(err),
        );
        return;
      }
    } catch (err) {
      this.flush(toUpstream, toClient);
      this.fail(err);
      return;
    }
    this.flush(toUpstream, toClient);
  }

  private fail(err: unknown): void {
    const message = err instanceof ProtocolError ? err.message : "internal error in the proxy";
    const code = err instanceof ProtocolError ? err.sqlstate : SQLSTATE.internalError;
    this.onError?.(err);
    this.terminate(code, message);
  }

  /** Writes and empties the batches (an asynchronous stage may still add to them after a flush). */
  private flush(toUpstream: Buffer[], toClient: Buffer[]): void {
    const upstream = this.up;
    if (toUpstream.length > 0 && upstream && !upstream.destroyed) {
      const ok = upstream.write(toUpstream.length === 1 ? toUpstream[0]! : Buffer.concat(toUpstream));
      if (!ok) this.client.pause();
    }
    if (toClient.length > 0 && !this.client.destroyed) {
      const ok = this.client.write(toClient.length === 1 ? toClient[0]! : Buffer.concat(toClient));
      if (!ok) upstream?.pause();
    }
    toUpstream.length = 0;
    toClient.length = 0;
  }

  /** What the stages send the client for the upstream chunk being read (reused, emptied by each flush). */
  private readonly backendOut: Buffer[] = [];
  private readonly noBuffers: Buffer[] = [];

  /** One upstream message while a stage rewrites them (bound once: no closure per chunk). */
  private readonly rewriteMessage = (type: number, raw: Buffer): void => {
    this.lastUpstreamType = type;
    if (type === BackendCode.ReadyForQuery) this.readyForQuery(raw);
    else if (type === BackendCode.ParameterStatus) checkParameterStatus(raw);
    this.stages.onBackend!(type, raw, this.backendOut);
  };

  /** One upstream message passing unobserved but for the ends of results (bound once). */
  private readonly passMessage = (type: number, raw: Buffer): void => {
    this.lastUpstreamType = type;
    if (type === BackendCode.ReadyForQuery) this.readyForQuery(raw);
    else if (type === BackendCode.ParameterStatus) checkParameterStatus(raw);
    else if (
      this.stages.onResultEnd !== undefined &&
      (type === BackendCode.CommandComplete ||
        type === BackendCode.PortalSuspended ||
        type === BackendCode.EmptyQueryResponse ||
        type === BackendCode.ErrorResponse ||
        type === BackendCode.ParseComplete ||
        type === BackendCode.RowDescription ||
        type === BackendCode.NoData)
    ) {
      this.stages.onResultEnd(type);
    }
  };

  /** Upstream bytes: only whole messages are forwarded, so a stage can start rewriting at any message. */
  private fromUpstream(chunk: Buffer): void {
    if (this.ended) return;
    const stages = this.stages;
    try {
      if (stages.onBackend && stages.backendActive?.()) {
        const complete = this.backend.push(chunk, this.rewriteMessage);
        const out = this.backendOut;
        // what the stages passed on unchanged, in order and whole, is the chunk itself: no copy
        if (out.length > 1 && sameBytes(out, complete)) {
          out.length = 0;
          if (!this.client.destroyed && !this.client.write(complete)) this.up?.pause();
        } else this.flush(this.noBuffers, out);
      } else {
        const complete = this.backend.push(chunk, this.passMessage);
        if (complete.length > 0 && !this.client.write(complete)) this.up?.pause();
      }
    } catch (err) {
      this.backendOut.length = 0;
      // nothing of this chunk reaches the client: not the setting, not what the server ran after it
      if (err instanceof UnsafeSetting) {
        this.onError?.(err);
        this.terminate(SQLSTATE.featureNotSupported, `${err.message}: the session is ended`);
      } else {
        this.terminate(SQLSTATE.connectionFailure, `upstream protocol error: ${(err as Error).message}`);
      }
    }
  }

  private readyForQuery(raw: Buffer): void {
    this.pendingSyncs = Math.max(0, this.pendingSyncs - 1);
    this.status = String.fromCharCode(raw[5]!) as TransactionStatus;
    this.stages.onReadyForQuery?.(this.status);
  }

  /** Sends a FATAL error to the client and closes both sides. */
  terminate(sqlstate: string, message: string): void {
    if (this.ended) return;
    this.terminated = true;
    if (!this.client.destroyed) {
      // the error and the end of the connection leave together (end() uncorks)
      this.client.cork();
      this.client.write(errorResponse({ severity: "FATAL", code: sqlstate, message }));
    }
    this.end(message);
  }

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.parkTimer) clearTimeout(this.parkTimer);
    this.client.end();
    const upstream = this.up;
    if (upstream === undefined && !this.waiting) this.parking?.onChange?.(false);
    // A client that left cleanly, with nothing in flight and no transaction open, leaves an upstream
    // session that can serve the next client of the same role once reset; anything else is closed
    // (Terminate, then the socket), which rolls back whatever was open.
    const idle = this.pendingSyncs === 0 && this.status === "I";
    const reusable =
      this.releaseUpstream !== undefined &&
      !this.terminated &&
      (reason === "client terminated" || reason === "client closed") &&
      idle &&
      upstream !== undefined &&
      !upstream.destroyed;
    // only a session the proxy ended leaves its (idle) upstream for closeUpstreamSoon to close
    const deferUpstream = this.terminated && idle;
    if (reusable) {
      for (const event of ["data", "drain", "close", "error"]) upstream.removeAllListeners(event);
      upstream.resume();
      this.releaseUpstream!(upstream);
    } else if (upstream && !upstream.destroyed) {
      if (deferUpstream) closeUpstreamSoon(upstream);
      else upstream.end(TERMINATE);
    }
    setTimeout(() => {
      this.client.destroy();
      if (!reusable && !deferUpstream) upstream?.destroy();
    }, DESTROY_AFTER_MS).unref();
    const runCloseHandlers = () => {
      for (const handler of this.closeHandlers) handler(reason);
    };
    // the cut first: a session the proxy ended is accounted for once its client socket has closed
    if (this.terminated && !this.client.destroyed) this.client.once("close", runCloseHandlers);
    else runCloseHandlers();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** True while the upstream may be executing something (a Query, Sync or FunctionCall not answered yet). */
  get busy(): boolean {
    return this.pendingSyncs > 0 && !this.ended;
  }
}
