/**
 * The differential wire harness: the same frontend byte sequence is sent to PostgreSQL directly and
 * through the data plane, both authenticated as the same database role, and the replies are compared
 * message by message up to the expected number of ReadyForQuery.
 *
 * Compared: the message type and the fields that must match (command tags, SQLSTATE and severity,
 * transaction status, RowDescription names/types/formats, DataRow values, ParameterDescription
 * types, COPY formats and data). Ignored, because they legitimately differ: ParameterStatus,
 * BackendKeyData, NoticeResponse and NotificationResponse, error message texts. Designed refusals
 * (see README, "How a denial behaves"): where PostgreSQL answers a Bind of an unknown prepared
 * statement (26000) or an Execute of an unknown portal (34000), the proxy refuses the same message with
 * 42501 (25P02 in a failed transaction block) — same point, same effect on the rest of the sequence.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Message, WireClient } from "../harness/wire-client.js";
import { encodeWrite, expectedReadies, type Side, type Writes } from "./frontend.js";

/** A backend message reduced to what must be equal on both sides. */
export type Reply =
  | { kind: "error"; code: string; severity: string }
  | { kind: "complete"; tag: string }
  | { kind: "ready"; status: string }
  | { kind: "rowDescription"; fields: string[] }
  | { kind: "dataRow"; values: (string | null)[] }
  | { kind: "parameterDescription"; types: number[] }
  | { kind: "copyIn" | "copyOut"; binary: boolean; columns: number[] }
  | { kind: "copyData"; data: string }
  | { kind: "closed" }
  | { kind: "timeout" }
  | { kind: string };

const IGNORED = new Set(["parameterStatus", "backendKeyData", "notice", "notification"]);

/** Pairs of (PostgreSQL's code, the proxy's) that are the same failure at the same point by design. */
export const DESIGNED_REFUSALS: readonly [string, string][] = [
  ["26000", "42501"], // Bind of a statement the proxy saw no Parse/PREPARE of
  ["34000", "42501"], // Execute of a portal the proxy did not bind
  // the same refusals in a failed transaction block: the server raises the proxy's refusal, and there
  // it answers 25P02 (README: "In a transaction that has already failed the client sees the server's 25P02")
  ["26000", "25P02"],
  ["34000", "25P02"],
];

export function reduce(m: Message): Reply | undefined {
  if (IGNORED.has(m.name)) return undefined;
  const any = m as unknown as Record<string, unknown>;
  switch (m.name) {
    case "error":
      return { kind: "error", code: m.code ?? "", severity: String(any.severity ?? "") };
    case "commandComplete":
      return { kind: "complete", tag: m.text ?? "" };
    case "readyForQuery":
      return { kind: "ready", status: m.status ?? "" };
    case "rowDescription":
      return {
        kind: "rowDescription",
        fields: (any.fields as { name: string; dataTypeID: number; format: string | number }[]).map(
          (f) => `${f.name}:${f.dataTypeID}:${f.format}`,
        ),
      };
    case "dataRow":
      return { kind: "dataRow", values: any.fields as (string | null)[] };
    case "parameterDescription":
      return { kind: "parameterDescription", types: any.dataTypeIDs as number[] };
    case "copyInResponse":
    case "copyOutResponse":
      return {
        kind: m.name === "copyInResponse" ? "copyIn" : "copyOut",
        binary: Boolean(any.binary),
        columns: (any.columnTypes as number[]) ?? [],
      };
    case "copyData":
      return { kind: "copyData", data: (any.chunk as Buffer).toString("latin1") };
    default:
      return { kind: m.name };
  }
}

export interface RunOptions {
  /** Per-message wait before the run counts as hung (default 15 s). */
  timeoutMs?: number;
}

/**
 * Sends every write (yielding to the event loop between writes so they tend to leave as separate
 * segments), then reads replies until as many ReadyForQuery as the sequence asks for, the connection
 * closes, or nothing comes in time.
 */
export async function run(
  client: WireClient,
  writes: Writes,
  side: Side,
  options: RunOptions = {},
): Promise<Reply[]> {
  const out: Reply[] = [];
  for (const write of writes) {
    if (write.length === 0) continue;
    client.send(encodeWrite(write, side));
    await sleep(0);
  }
  let readies = expectedReadies(writes);
  while (readies > 0) {
    let msg: Message;
    try {
      msg = await client.next(options.timeoutMs ?? 15_000);
    } catch (err) {
      out.push({ kind: (err as Error).message === "connection closed" ? "closed" : "timeout" });
      return out;
    }
    const reply = reduce(msg);
    if (!reply) continue;
    out.push(reply);
    if (reply.kind === "ready") readies--;
    if (reply.kind === "error" && (reply as { severity: string }).severity === "FATAL") {
      out.push({ kind: (await client.closed(5_000)) ? "closed" : "timeout" });
      return out;
    }
  }
  return out;
}

export interface Difference {
  index: number;
  direct: Reply | undefined;
  proxy: Reply | undefined;
}

function same(direct: Reply, proxy: Reply): boolean {
  if (direct.kind === "error" && proxy.kind === "error") {
    const d = direct as { code: string; severity: string };
    const p = proxy as { code: string; severity: string };
    if (d.severity !== p.severity) return false;
    return d.code === p.code || DESIGNED_REFUSALS.some(([a, b]) => a === d.code && b === p.code);
  }
  return JSON.stringify(direct) === JSON.stringify(proxy);
}

/** The first place the replies differ, or undefined. */
export function firstDifference(direct: readonly Reply[], proxy: readonly Reply[]): Difference | undefined {
  const n = Math.max(direct.length, proxy.length);
  for (let i = 0; i < n; i++) {
    const d = direct[i];
    const p = proxy[i];
    if (!d || !p || !same(d, p)) return { index: i, direct: d, proxy: p };
  }
  return undefined;
}

export function formatReplies(replies: readonly Reply[]): string {
  return replies
    .map((r) => {
      const f = r as Record<string, unknown>;
      switch (r.kind) {
        case "error":
          return `error ${f.code}`;
        case "complete":
          return `complete ${f.tag}`;
        case "ready":
          return `ready ${f.status}`;
        case "dataRow":
          return `row ${JSON.stringify(f.values).slice(0, 40)}`;
        default:
          return r.kind;
      }
    })
    .join(" | ");
}

/** Opens sessions on each side: the proxy's as a user the policy lets run these statements. */
export interface Sides {
  direct(): Promise<WireClient>;
  proxy(): Promise<WireClient>;
}

export interface Comparison {
  direct: Reply[];
  proxy: Reply[];
  difference: Difference | undefined;
}

/** Runs `writes` on a fresh session on each side and compares the replies. */
export async function compare(sides: Sides, writes: Writes, options: RunOptions = {}): Promise<Comparison> {
  const d = await sides.direct();
  let direct: Reply[];
  try {
    direct = await run(d, writes, "direct", options);
  } finally {
    d.end();
  }
  const p = await sides.proxy();
  let proxy: Reply[];
  try {
    proxy = await run(p, writes, "proxy", options);
  } finally {
    // Terminate, then close: a clean exit lets the upstream session be pooled
    p.socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
  }
  return { direct, proxy, difference: firstDifference(direct, proxy) };
}
