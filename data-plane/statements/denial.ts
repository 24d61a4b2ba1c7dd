import { serialize } from "pg-protocol";
import type { Logger } from "../../common/logger.js";
import type { StatementInfo } from "../../proto/policy.js";
import { BackendCode, SQLSTATE } from "../protocol/codes.js";
import type { Decider } from "./decide.js";
import { NO_EFFECT } from "./session-state.js";
import type { Cycle, TransactionCycles } from "./transaction-cycles.js";

/**
 * A denied statement must leave the session exactly as a server error would: inside a transaction
 * block the transaction is aborted, so a later COMMIT rolls back; in the extended protocol later
 * messages are discarded until Sync. The surest way is to have the upstream raise the error itself,
 * so the proxy sends, in place of the denied statement, a DO block that raises 42501 with the reasons.
 * The upstream then answers ErrorResponse and a ReadyForQuery with the true transaction status.
 */

export const DENIAL_SQLSTATE = SQLSTATE.insufficientPrivilege;
/** Text the proxy's parser (PostgreSQL's own) cannot parse is refused with the server's syntax error code. */
export const SYNTAX_ERROR_SQLSTATE = SQLSTATE.syntaxError;
const OUR_CODES: ReadonlySet<string> = new Set([DENIAL_SQLSTATE, SYNTAX_ERROR_SQLSTATE]);
/** Marks our own error so the backend stage can tidy it (drop the PL/pgSQL context line). */
export const DENIAL_MARKER = "portcullis";

function dollarQuote(text: string): string {
  let tag = "pcl";
  while (text.includes(`$${tag}$`)) tag += "x";
  return `$${tag}$${text}$${tag}$`;
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The SQL of the DO block that raises the denial (SQLSTATE `code`, 42501 unless told). */
export function denialSql(message: string, hint?: string, code: string = DENIAL_SQLSTATE): string {
  if (!OUR_CODES.has(code)) throw new Error(`not a denial SQLSTATE: ${code}`);
  const clean = message.replace(/\0/g, "");
  const using = [`ERRCODE = '${code}'`, `MESSAGE = ${literal(clean)}`];
  if (hint) using.push(`HINT = ${literal(hint.replace(/\0/g, ""))}`);
  using.push(`SCHEMA = ${literal(DENIAL_MARKER)}`);
  const body = `BEGIN RAISE EXCEPTION USING ${using.join(", ")}; END`;
  return `DO ${dollarQuote(body)}`;
}

/** Simple protocol: one Query message. */
export function simpleDenial(message: string, hint?: string, code?: string): Buffer {
  return serialize.query(denialSql(message, hint, code));
}

/**
 * The prepared-statement name the proxy parses its denial under when the client's unnamed statement
 * must survive (a denied Bind, Execute or named Parse leaves it in place on PostgreSQL). Clients may
 * not use it.
 */
export const DENIAL_STATEMENT = "portcullis:denial";

export interface ExtendedDenialOptions {
  /** The statement the denial is parsed as: "" (default) or DENIAL_STATEMENT. */
  statement?: string;
  /** Close `statement` first (a named one left by an earlier denial would make the Parse fail). */
  close?: boolean;
}

/**
 * Extended protocol: [Close +] Parse + Bind + Execute, on the unnamed portal and the unnamed statement
 * (a denied unnamed Parse: the server drops the client's unnamed statement then too) or DENIAL_STATEMENT.
 */
export function extendedDenial(
  message: string,
  hint?: string,
  code?: string,
  options: ExtendedDenialOptions = {},
): Buffer {
  const statement = options.statement ?? "";
  return Buffer.concat([
    ...(options.close ? [serialize.close({ type: "S", name: statement })] : []),
    serialize.parse({ name: statement, text: denialSql(message, hint, code) }),
    serialize.bind({ statement }),
    serialize.execute({}),
  ]);
}

/**
 * Rewrites our own ErrorResponse: drops the PL/pgSQL CONTEXT ('W') and the marker SCHEMA ('s') fields
 * so the client sees a plain 42501 with the policy's message. Returns undefined if `raw` is not ours.
 */
export function tidyDenialError(raw: Buffer): Buffer | undefined {
  const fields: [number, Buffer][] = [];
  let offset = 5;
  let ours = false;
  let code = "";
  while (offset < raw.length && raw[offset] !== 0) {
    const type = raw[offset]!;
    const end = raw.indexOf(0, offset + 1);
    if (end < 0) return undefined;
    const value = raw.subarray(offset + 1, end);
    if (type === 0x73 /* s */ && value.toString() === DENIAL_MARKER) ours = true;
    if (type === 0x43 /* C */) code = value.toString();
    fields.push([type, value]);
    offset = end + 1;
  }
  if (!ours || !OUR_CODES.has(code)) return undefined;
  const kept = fields.filter(([type]) => type !== 0x57 /* W */ && type !== 0x73 /* s */);
  const body = Buffer.concat([
    ...kept.flatMap(([type, value]) => [Buffer.from([type]), value, Buffer.from([0])]),
    Buffer.from([0]),
  ]);
  const out = Buffer.alloc(5 + body.length);
  out[0] = BackendCode.ErrorResponse;
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}

/**
 * The denials of one session: what the proxy sends upstream in place of a denied message, and, on the
 * way back, the proxy's own replies to it (CloseComplete, ParseComplete, BindComplete) dropped and its
 * ErrorResponse tidied, so the client sees exactly what a server error would have given it.
 */
export class Denials {
  /** After a denied or failed extended-protocol message: drop client messages until Sync. */
  discardUntilSync = false;
  /** Extended-protocol denials in flight, all cycles (each cycle counts its own, see Cycle.denials). */
  private extendedInFlight = 0;
  /** Denials in flight, either protocol: their ErrorResponse is ours to tidy. */
  private inFlight = 0;
  /** Replies held back until it is known whether they answer the proxy's own Parse/Bind. */
  private held: Buffer[] = [];

  constructor(
    private readonly decider: Decider,
    private readonly cycles: TransactionCycles,
    private readonly logger: Logger,
    private readonly sessionId: string,
  ) {}

  /** Denials are in flight: the upstream's replies must be inspected. */
  active(): boolean {
    return this.inFlight > 0 || this.extendedInFlight > 0;
  }

  /** Replaces a denied message with a statement that makes the upstream raise the denial itself. */
  deny(
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
    if (record) this.decider.record(protocol, info, text, { allow: false, reasons: unique });
    const message =
      error?.message ?? `permission denied by Portcullis policy: ${unique.join("; ") || "no reason given"}`;
    const code = error?.code ?? DENIAL_SQLSTATE;
    this.logger.info({ session: this.sessionId, protocol, reasons: unique }, "statement denied");
    this.inFlight++;
    if (protocol === "simple") {
      toUpstream.push(simpleDenial(message, undefined, code));
    } else {
      this.extendedInFlight++;
      this.discardUntilSync = true;
      // The denial is bound to the unnamed portal (the server skips everything up to Sync after it, and
      // then the transaction is aborted or over: no portal of it is usable). It is parsed as the unnamed
      // statement only in place of an unnamed Parse, which drops the client's unnamed statement on the
      // server whether it succeeds or not; otherwise under DENIAL_STATEMENT, so the client's unnamed
      // statement survives as it would on PostgreSQL. That one is closed first, except in a failed
      // transaction block (known here: new cycles wait for the earlier ones inside a block), where the
      // Parse itself fails with 25P02 and a CloseComplete would be the only reply of ours.
      this.cycles.portals.delete("");
      cycle.parses.push(NO_EFFECT);
      if (unnamedParse) {
        this.cycles.forget("");
        cycle.denials.push(2);
        toUpstream.push(extendedDenial(message, undefined, code));
      } else {
        const failedBlock = this.cycles.lastStatus === "E" && this.cycles.inFlight.length === 1;
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
  refuseUnparseable(
    protocol: "simple" | "extended",
    cycle: Cycle,
    toUpstream: Buffer[],
    text: string,
    analysis: { error: string; position?: number },
    unnamedParse = false,
  ): void {
    const syntax = analysis.position !== undefined;
    // The parser's message quotes the text where it stopped (`at or near "'…"`), literals included: the
    // client gets it whole, as from the server; the decision record and the log say where instead.
    const where = analysis.error.replace(/ at or near ".*"$/s, "");
    const reasons = [
      `the statement could not be parsed: ${where}${
        syntax && where !== analysis.error ? ` (at character ${(analysis.position ?? 0) + 1})` : ""
      }`,
    ];
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

  /** A ParseComplete, BindComplete or CloseComplete: held while it may be the reply to the proxy's own message. */
  onReply(raw: Buffer, toClient: Buffer[]): void {
    // only a denial of the cycle these replies belong to (the oldest in flight) can own them
    if ((this.cycles.inFlight[0]?.denials.length ?? 0) > 0) {
      this.held.push(raw); // may be the reply to the proxy's own Parse/Bind
      return;
    }
    this.flushHeld(toClient);
    toClient.push(raw);
  }

  /** An ErrorResponse: a denial's own is tidied, and the proxy's replies before it dropped. */
  onError(raw: Buffer, toClient: Buffer[]): void {
    const tidy = tidyDenialError(raw);
    const cycle = this.cycles.inFlight[0];
    if (tidy && cycle && cycle.denials.length > 0) {
      const ours = cycle.denials.shift()!;
      this.held.splice(-ours, ours); // our CloseComplete, ParseComplete and BindComplete
      this.extendedInFlight--;
    }
    this.flushHeld(toClient);
    toClient.push(tidy ?? raw);
  }

  flushHeld(toClient: Buffer[]): void {
    if (this.held.length === 0) return;
    toClient.push(...this.held);
    this.held = [];
  }

  /** A cycle ended (its ReadyForQuery); `idle`: nothing is in flight any more. */
  cycleEnded(ended: Cycle | undefined, idle: boolean): void {
    // a denial the server skipped (after an error earlier in its cycle) never answers
    if (ended) this.extendedInFlight -= ended.denials.length;
    // held replies are flushed when this ReadyForQuery passes onBackend; later cycles keep their denials
    if (idle) {
      this.extendedInFlight = 0;
      this.inFlight = 0;
    }
  }
}
