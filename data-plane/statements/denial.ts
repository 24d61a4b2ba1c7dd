import { serialize } from "pg-protocol";

/**
 * A denied statement must leave the session exactly as a server error would: inside a transaction
 * block the transaction is aborted, so a later COMMIT rolls back; in the extended protocol later
 * messages are discarded until Sync. The surest way is to have the upstream raise the error itself,
 * so the proxy sends, in place of the denied statement, a DO block that raises 42501 with the reasons.
 * The upstream then answers ErrorResponse and a ReadyForQuery with the true transaction status.
 */

export const DENIAL_SQLSTATE = "42501";
/** Text the proxy's parser (PostgreSQL's own) cannot parse is refused with the server's syntax error code. */
export const SYNTAX_ERROR_SQLSTATE = "42601";
const OUR_CODES = new Set([DENIAL_SQLSTATE, SYNTAX_ERROR_SQLSTATE]);
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
  out[0] = 0x45;
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}
