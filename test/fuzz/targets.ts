/**
 * Fuzz targets shared by the bounded property tests (test/fuzz/*.test.ts) and `make bench-hardening`:
 * each takes one generated input, runs it through code we ship, and returns what happened, or throws
 * `FuzzFinding` when the code did something it must never do (an untyped exception, a mutated input
 * accepted). fast-check arbitraries of the inputs live beside them.
 */
import type { KeyObject } from "node:crypto";
import fc from "fast-check";
import { serialize } from "pg-protocol";
import { BundleVerificationError, verifyBundle } from "../../common/policy/bundle-verify.js";
import { ProtocolError } from "../../data-plane/protocol/errors.js";
import {
  decodeBind,
  decodeExecute,
  decodeParse,
  decodeQuery,
  decodeTarget,
  FrontendFramer,
  parseStartupPacket,
} from "../../data-plane/protocol/frontend-messages.js";
import { RevocationSignatureError, verifyRevocation } from "../../data-plane/revocation/verify.js";
import { analyzeNode, analyzeStatement, parseStatements, SqlParseError } from "../../data-plane/sql/index.js";
import type { BundleFiles } from "../../proto/bundle.js";
import type { Revocation } from "../../proto/bus.js";

/** Something the code under test must never do. */
export class FuzzFinding extends Error {
  override name = "FuzzFinding";
}

const STATEMENT_KINDS = new Set([
  "select",
  "insert",
  "update",
  "delete",
  "merge",
  "ddl",
  "copy",
  "set",
  "show",
  "transaction",
  "prepare",
  "execute",
  "deallocate",
  "explain",
  "utility",
  "role",
  "grant",
  "lock",
  "listen",
  "notify",
  "do",
  "call",
  "unknown",
]);

function untyped(what: string, err: unknown): FuzzFinding {
  const e = err as Error;
  return new FuzzFinding(`${what} threw an untyped ${e?.name ?? typeof err}: ${e?.message ?? String(err)}`);
}

// --- the frontend framer and decoders -------------------------------------------------------------

/** Where the stream is cut into reads, as fractions of its length. */
export type Cuts = number[];

function chunks(bytes: Uint8Array, cuts: Cuts): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) out.push(Buffer.from(bytes.subarray(at, p)));
    at = Math.max(at, p);
  }
  return out;
}

/**
 * Feeds `bytes` to a FrontendFramer in the given reads and decodes every framed message the way the
 * gate does. Returns the number of messages framed and whether the stream was refused (ProtocolError).
 * Every framed message must be exactly its declared length, and the bytes accounted for.
 */
export function fuzzFramer(
  bytes: Uint8Array,
  cuts: Cuts,
  maxMessage?: number,
): { messages: number; refused: boolean } {
  const framer = new FrontendFramer(maxMessage);
  let messages = 0;
  let framedBytes = 0;
  try {
    for (const chunk of chunks(bytes, cuts)) {
      framer.push(chunk);
      for (;;) {
        const msg = framer.next();
        if (!msg) break;
        messages++;
        framedBytes += msg.raw.length;
        if (msg.raw.readInt32BE(1) + 1 !== msg.raw.length)
          throw new FuzzFinding("a framed message is not its declared length");
        decodeBody(msg.type, msg.body);
      }
    }
  } catch (err) {
    if (err instanceof ProtocolError) return { messages, refused: true };
    if (err instanceof FuzzFinding) throw err;
    throw untyped("the framer", err);
  }
  if (framedBytes + framer.bufferedBytes !== bytes.length)
    throw new FuzzFinding(
      `bytes lost: ${bytes.length} in, ${framedBytes} framed, ${framer.bufferedBytes} buffered`,
    );
  return { messages, refused: false };
}

/** Decodes a body the way the gate would; a bad one is a ProtocolError (caught by the caller). */
function decodeBody(type: string, body: Buffer): void {
  try {
    switch (type) {
      case "Q":
        decodeQuery(body);
        return;
      case "P":
        decodeParse(body);
        return;
      case "B":
        decodeBind(body);
        return;
      case "E":
        decodeExecute(body);
        return;
      case "D":
        decodeTarget(body, "Describe");
        return;
      case "C":
        decodeTarget(body, "Close");
        return;
    }
  } catch (err) {
    if (err instanceof ProtocolError) return; // the gate refuses the message: a typed error
    throw untyped(`the ${type} decoder`, err);
  }
}

/** One start-up packet: parsed, more bytes needed, or refused; never anything else. */
export function fuzzStartup(bytes: Uint8Array): "packet" | "more" | "refused" {
  try {
    const parsed = parseStartupPacket(Buffer.from(bytes));
    if (!parsed) return "more";
    if (parsed.consumed > bytes.length || parsed.consumed < 8) throw new FuzzFinding("bad consumed length");
    return "packet";
  } catch (err) {
    if (err instanceof ProtocolError) return "refused";
    if (err instanceof FuzzFinding) throw err;
    throw untyped("parseStartupPacket", err);
  }
}

/** Well-formed frontend messages (the framer must hand back exactly these). */
export const frontendMessage: fc.Arbitrary<Buffer> = fc.oneof(
  fc.string({ maxLength: 200 }).map((t) => serialize.query(t.replace(/\0/g, ""))),
  fc
    .record({ name: fc.string({ maxLength: 8 }), text: fc.string({ maxLength: 200 }) })
    .map(({ name, text }) =>
      serialize.parse({ name: name.replace(/\0/g, ""), text: text.replace(/\0/g, "") }),
    ),
  fc
    .array(fc.option(fc.string({ maxLength: 20 })), { maxLength: 4 })
    .map((values) =>
      serialize.bind({ values: values.map((v) => (v === null ? null : v.replace(/\0/g, ""))) }),
    ),
  fc.nat({ max: 10 }).map((rows) => serialize.execute({ rows })),
  fc.constantFrom(
    serialize.sync(),
    serialize.flush(),
    serialize.describe({ type: "P" }),
    serialize.close({ type: "S" }),
  ),
  fc.uint8Array({ maxLength: 300 }).map((b) => serialize.copyData(Buffer.from(b))),
);

/** Byte streams: concatenated valid messages, then mutated (bytes flipped, cut, inserted) or not. */
export const frontendStream: fc.Arbitrary<{ bytes: Uint8Array; cuts: Cuts; mutated: boolean }> = fc
  .record({
    messages: fc.array(frontendMessage, { maxLength: 8 }),
    mutations: fc.array(
      fc.tuple(fc.nat(), fc.nat({ max: 255 }), fc.constantFrom("flip", "insert", "delete")),
      {
        maxLength: 3,
      },
    ),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
    raw: fc.option(fc.uint8Array({ maxLength: 64 }), { freq: 4 }),
  })
  .map(({ messages, mutations, cuts, raw }) => {
    let bytes: number[] = [...Buffer.concat(messages)];
    if (raw) bytes.push(...raw);
    for (const [at, value, op] of mutations) {
      if (bytes.length === 0) bytes = [value];
      const i = at % bytes.length;
      if (op === "flip") bytes[i] = value;
      else if (op === "insert") bytes.splice(i, 0, value);
      else bytes.splice(i, 1);
    }
    return { bytes: Uint8Array.from(bytes), cuts, mutated: mutations.length > 0 || raw !== null };
  });

/** Start-up packets: valid ones of each kind, mutated, or random bytes with a plausible length word. */
export const startupBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc
    .record({
      params: fc.array(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })), {
        maxLength: 4,
      }),
      code: fc.constantFrom(196608, 80877103, 80877104, 80877102, 131072, 196609),
      flips: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 3 }),
      trim: fc.nat({ max: 6 }),
    })
    .map(({ params, code, flips, trim }) => {
      const body = Buffer.concat([
        ...params.flatMap(([k, v]) => [
          Buffer.from(k.replace(/\0/g, "")),
          Buffer.from([0]),
          Buffer.from(v.replace(/\0/g, "")),
          Buffer.from([0]),
        ]),
        Buffer.from([0]),
      ]);
      const extra =
        code === 196608 || code === 196609 ? body : code === 80877102 ? Buffer.alloc(8) : Buffer.alloc(0);
      const packet = Buffer.alloc(8 + extra.length);
      packet.writeInt32BE(packet.length, 0);
      packet.writeInt32BE(code, 4);
      extra.copy(packet, 8);
      for (const [at, v] of flips) packet[at % packet.length] = v;
      return Uint8Array.from(packet.subarray(0, Math.max(0, packet.length - trim)));
    }),
);

// --- the SQL analyzer --------------------------------------------------------------------------------

/**
 * Parses and analyses `text` as the gate does: a syntax error is a SqlParseError, anything parsed is
 * analysed into statements of known kinds. Any other exception is a finding, except the one failure the
 * gate documents as a denial (a statement nested too deeply to walk: a RangeError from the stack).
 */
export function fuzzSql(text: string): "analysed" | "syntax_error" | "too_deep" {
  let raw: ReturnType<typeof parseStatements>;
  try {
    raw = parseStatements(text);
  } catch (err) {
    if (err instanceof SqlParseError) return "syntax_error";
    throw untyped("parseStatements", err);
  }
  for (const stmt of raw) {
    let info: ReturnType<typeof analyzeStatement>;
    try {
      info = analyzeStatement(stmt);
    } catch (err) {
      if (err instanceof RangeError) return "too_deep";
      throw untyped(`analyzeStatement (${stmt.type})`, err);
    }
    if (!STATEMENT_KINDS.has(info.kind))
      throw new FuzzFinding(`analysis returned kind ${JSON.stringify(info.kind)}`);
    if (!Array.isArray(info.relations) || !Array.isArray(info.functions))
      throw new FuzzFinding("analysis returned no relations/functions lists");
  }
  return "analysed";
}

/** A node type the analyzer has never heard of must be kind "unknown" (which the policies deny). */
export function fuzzUnknownNode(type: string, node: Record<string, unknown>): string {
  try {
    return analyzeNode(type, node, "SELECT 1", "fp", true).kind;
  } catch (err) {
    throw untyped(`analyzeNode(${type})`, err);
  }
}

const SQL_SEEDS = [
  "SELECT 1",
  "SELECT id, amount FROM sales.orders WHERE id = 1 ORDER BY 2",
  "INSERT INTO t (a, b) VALUES (1, 'x') RETURNING *",
  "UPDATE sales.orders SET status = 'paid' WHERE id IN (SELECT id FROM x)",
  "DELETE FROM t USING u WHERE t.id = u.id",
  "WITH w AS (SELECT * FROM hr.employees) SELECT ssn FROM w",
  "SELECT row_to_json(e) FROM hr.employees e",
  "SET search_path TO sales, public",
  "SELECT set_config('search_path', 'x', false)",
  "COPY (SELECT 1) TO STDOUT",
  "PREPARE p AS SELECT $1::int; EXECUTE p(1)",
  "DO $$BEGIN RAISE NOTICE 'x'; END$$",
  "CREATE TABLE x AS SELECT * FROM y",
  "EXPLAIN ANALYZE DELETE FROM t",
  "BEGIN; SAVEPOINT a; ROLLBACK TO a; COMMIT",
  "DECLARE c CURSOR WITH HOLD FOR SELECT 1; FETCH 1 FROM c",
  'GRANT pg_read_server_files TO U&"\\0061dmin"',
  "SELECT (e).ssn, e.to_jsonb FROM hr.employees e GROUP BY ROLLUP (1, 2)",
  "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
  "LISTEN x; NOTIFY x, 'y'; LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
  "SELECT * FROM (VALUES (1), (2)) v(a) JOIN LATERAL (SELECT a) l ON true",
  "ALTER TABLE hr.employees RENAME COLUMN ssn TO x",
  "SELECT $1, $2::text[], ARRAY[1,2][1], 'a' || E'\\x41'",
];

const SQL_TOKENS = [
  "SELECT",
  "FROM",
  "WHERE",
  "(",
  ")",
  ",",
  ";",
  "'",
  '"',
  "$$",
  "$1",
  "*",
  "AS",
  "JOIN",
  "ON",
  "UNION",
  "WITH",
  "INSERT",
  "INTO",
  "VALUES",
  "UPDATE",
  "SET",
  "DELETE",
  "RETURNING",
  "EXECUTE",
  "PREPARE",
  "hr.employees",
  "sales.orders",
  "ssn",
  "e",
  "e.*",
  "row_to_json",
  "::text",
  "1",
  "NULL",
  "--",
  "/*",
  "*/",
  "\\",
  'U&"',
  "\u0000",
  "\u00e9",
  "ORDER BY",
  "GROUP BY",
  "LIMIT",
  "COPY",
  "TO",
  "STDOUT",
  "DO",
  "BEGIN",
];

/** SQL: seeds mutated by character edits, token soups, and random strings. */
export const sqlText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .record({
        seed: fc.constantFrom(...SQL_SEEDS),
        edits: fc.array(
          fc.tuple(
            fc.nat(),
            fc.constantFrom("delete", "insert", "replace"),
            fc.constantFrom(...SQL_TOKENS, "x", " ", "0"),
          ),
          {
            maxLength: 4,
          },
        ),
      })
      .map(({ seed, edits }) => {
        let s = seed;
        for (const [at, op, tok] of edits) {
          const i = s.length === 0 ? 0 : at % s.length;
          if (op === "delete") s = s.slice(0, i) + s.slice(i + 1 + (at % 5));
          else if (op === "insert") s = `${s.slice(0, i)} ${tok} ${s.slice(i)}`;
          else s = `${s.slice(0, i)}${tok}${s.slice(i + tok.length)}`;
        }
        return s;
      }),
  },
  {
    weight: 5,
    arbitrary: fc.array(fc.constantFrom(...SQL_TOKENS), { maxLength: 25 }).map((t) => t.join(" ")),
  },
  { weight: 5, arbitrary: fc.string({ maxLength: 80 }) },
  // deep nesting: the parser's and the walker's limits (a RangeError is the documented denial)
  {
    weight: 1,
    arbitrary: fc.nat({ max: 1500 }).map((depth) => `SELECT ${"(".repeat(depth)}1${")".repeat(depth)}`),
  },
);

// --- signed inputs: bundles and revocations ----------------------------------------------------------

export type BytesMutation = { at: number; value: number; op: "flip" | "insert" | "delete" | "truncate" };

export const bytesMutation: fc.Arbitrary<BytesMutation> = fc.record({
  at: fc.nat(),
  value: fc.nat({ max: 255 }),
  op: fc.constantFrom("flip", "insert", "delete", "truncate"),
});

export function mutate(bytes: Uint8Array, m: BytesMutation): Uint8Array {
  const arr = [...bytes];
  const i = arr.length === 0 ? 0 : m.at % arr.length;
  if (m.op === "flip") {
    if (arr.length === 0) arr.push(m.value);
    else arr[i] = arr[i] === m.value ? (m.value + 1) % 256 : m.value;
  } else if (m.op === "insert") arr.splice(i, 0, m.value);
  else if (m.op === "delete") arr.splice(i, 1);
  else arr.length = i;
  return Uint8Array.from(arr);
}

/** A compact JWS's three segments decoded: two JWS are the same signature exactly when these are equal. */
function jwsSegments(jws: string): string | undefined {
  const parts = jws.trim().split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) return undefined;
  return parts.map((p) => Buffer.from(p, "base64url").toString("hex")).join(".");
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

export type BundlePart = "signature" | "manifestJson" | "policyWasm" | "dataJson";

/**
 * One mutated bundle: must be refused with a BundleVerificationError. Accepting it is a bypass unless
 * the mutation did not change what was signed (the same decoded signature segments and the same bytes).
 */
export async function fuzzBundle(
  good: BundleFiles,
  keys: KeyObject[],
  part: BundlePart,
  m: BytesMutation,
): Promise<"refused" | "equivalent"> {
  const files: BundleFiles = { ...good };
  if (part === "signature") {
    files.signature = Buffer.from(mutate(Buffer.from(good.signature, "latin1"), m)).toString("latin1");
  } else files[part] = mutate(good[part], m);
  try {
    await verifyBundle(files, keys);
  } catch (err) {
    if (err instanceof BundleVerificationError) return "refused";
    throw untyped("verifyBundle", err);
  }
  const unchanged =
    jwsSegments(files.signature) === jwsSegments(good.signature) &&
    same(files.manifestJson, good.manifestJson) &&
    same(files.policyWasm, good.policyWasm) &&
    same(files.dataJson, good.dataJson);
  if (unchanged) return "equivalent";
  throw new FuzzFinding(`a bundle with a mutated ${part} was accepted (${JSON.stringify(m)})`);
}

export type RevocationMutation =
  | { field: "signature"; m: BytesMutation }
  | { field: "id" | "kind" | "value" | "reason" | "created_at" | "expires_at"; to: string };

export const revocationMutation: fc.Arbitrary<RevocationMutation> = fc.oneof(
  bytesMutation.map((m) => ({ field: "signature" as const, m })),
  fc.record({
    field: fc.constantFrom("id", "kind", "value", "reason", "created_at", "expires_at"),
    to: fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom("session", "subject", "token", "alice", "2099-01-01T00:00:00.000Z"),
    ),
  }),
);

/** One mutated revocation: must be refused with a RevocationSignatureError unless nothing changed. */
export async function fuzzRevocation(
  good: Revocation,
  keys: KeyObject[],
  mutation: RevocationMutation,
): Promise<"refused" | "equivalent"> {
  const bad: Revocation =
    mutation.field === "signature"
      ? {
          ...good,
          signature: Buffer.from(mutate(Buffer.from(good.signature, "latin1"), mutation.m)).toString(
            "latin1",
          ),
        }
      : ({ ...good, [mutation.field]: mutation.to } as Revocation);
  try {
    await verifyRevocation(bad, keys);
  } catch (err) {
    if (err instanceof RevocationSignatureError) return "refused";
    throw untyped("verifyRevocation", err);
  }
  const { signature: s1, ...f1 } = bad;
  const { signature: s2, ...f2 } = good;
  if (jwsSegments(s1) === jwsSegments(s2) && JSON.stringify(f1) === JSON.stringify(f2)) return "equivalent";
  throw new FuzzFinding(`a revocation with a mutated ${mutation.field} was accepted`);
}
