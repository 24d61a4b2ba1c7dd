/**
 * A tiny typed frontend (client → server) message model for the differential wire harness and the
 * fuzzers: each message is data (easy to generate, print and shrink), serialized with pg-protocol's
 * serializer. A statement text may differ by side (`Sql` with `proxy` and `direct`): where the proxy
 * denies a statement, PostgreSQL directly gets one that fails the same way at the same point.
 */
import { serialize } from "pg-protocol";

export type Side = "proxy" | "direct";

/** The same text on both sides, or one per side (a denial through the proxy, its stand-in directly). */
export type Sql = string | { proxy: string; direct: string };

export type FrontendMsg =
  | { type: "Query"; sql: Sql }
  | { type: "Parse"; name: string; sql: Sql; types?: number[] }
  | { type: "Bind"; portal: string; statement: string; values: (string | null)[]; binary?: boolean }
  | { type: "Describe"; target: "S" | "P"; name: string }
  | { type: "Execute"; portal: string; rows: number }
  | { type: "Close"; target: "S" | "P"; name: string }
  | { type: "Flush" }
  | { type: "Sync" }
  | { type: "CopyData"; data: string }
  | { type: "CopyDone" }
  | { type: "CopyFail"; message: string };

/**
 * Denied through the proxy for every role (a dangerous function); directly, a statement that fails at
 * its Parse with the same 42501 (a schema the role has no USAGE on, see stack.ts).
 */
export const DENIED: Sql = {
  proxy: "SELECT pg_read_file('/etc/hostname')",
  direct: "SELECT * FROM wire_private.secret",
};

/** A sequence is a list of writes; each write is one socket write of the messages it holds. */
export type Writes = FrontendMsg[][];

export function sqlFor(sql: Sql, side: Side): string {
  return typeof sql === "string" ? sql : sql[side];
}

export function encode(msg: FrontendMsg, side: Side): Buffer {
  switch (msg.type) {
    case "Query":
      return serialize.query(sqlFor(msg.sql, side));
    case "Parse":
      return serialize.parse({ name: msg.name, text: sqlFor(msg.sql, side), types: msg.types ?? [] });
    case "Bind":
      return serialize.bind({
        portal: msg.portal,
        statement: msg.statement,
        values: msg.values,
        binary: msg.binary ?? false,
      });
    case "Describe":
      return serialize.describe({ type: msg.target, name: msg.name });
    case "Execute":
      return serialize.execute({ portal: msg.portal, rows: msg.rows });
    case "Close":
      return serialize.close({ type: msg.target, name: msg.name });
    case "Flush":
      return serialize.flush();
    case "Sync":
      return serialize.sync();
    case "CopyData":
      return serialize.copyData(Buffer.from(msg.data));
    case "CopyDone":
      return serialize.copyDone();
    case "CopyFail":
      return serialize.copyFail(msg.message);
  }
}

export function encodeWrite(write: readonly FrontendMsg[], side: Side): Buffer {
  return Buffer.concat(write.map((m) => encode(m, side)));
}

/** How many ReadyForQuery a sequence is answered with: one per Sync and per simple Query. */
export function expectedReadies(writes: Writes): number {
  return writes.flat().filter((m) => m.type === "Sync" || m.type === "Query").length;
}

/** A one-line readable form, for failure messages and listed cases. */
export function describeMsg(msg: FrontendMsg): string {
  const sql = (s: Sql) => JSON.stringify(typeof s === "string" ? s : s.proxy);
  switch (msg.type) {
    case "Query":
      return `Query(${sql(msg.sql)})`;
    case "Parse":
      return `Parse(${JSON.stringify(msg.name)}, ${sql(msg.sql)})`;
    case "Bind":
      return `Bind(${JSON.stringify(msg.portal)} <- ${JSON.stringify(msg.statement)}, ${JSON.stringify(msg.values)})`;
    case "Describe":
    case "Close":
      return `${msg.type}(${msg.target} ${JSON.stringify(msg.name)})`;
    case "Execute":
      return `Execute(${JSON.stringify(msg.portal)}, ${msg.rows})`;
    case "CopyData":
      return `CopyData(${JSON.stringify(msg.data)})`;
    case "CopyFail":
      return "CopyFail";
    default:
      return msg.type;
  }
}

export function describeWrites(writes: Writes): string {
  return writes.map((w) => `[${w.map(describeMsg).join(", ")}]`).join(" ");
}
