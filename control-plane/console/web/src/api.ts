/**
 * The admin API through the console's gateway: `POST /api/<Method>` with the request message as
 * JSON (proto/admin.proto, field names as in the .proto), the ID token as bearer. WatchEvents
 * answers Server-Sent Events, read here from the fetch body (EventSource cannot send a header).
 */
import { currentToken } from "./auth";

export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  let body: { status?: string; message?: string } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON
  }
  return new ApiError(res.status, body.status ?? String(res.status), body.message ?? res.statusText);
}

function headers(): Record<string, string> {
  const token = currentToken();
  return { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) };
}

export async function call<T>(method: string, request: object = {}): Promise<T> {
  const res = await fetch(`/api/${method}`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(request),
  });
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

export interface AdminEvent {
  at: string;
  kind: string;
  type: string;
  json: string;
}

/** Follows WatchEvents until `signal` aborts; reconnects after a dropped stream. */
export async function watchEvents(
  kinds: string[],
  onEvent: (event: AdminEvent) => void,
  signal: AbortSignal,
  onState?: (state: "open" | "closed" | ApiError) => void,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const res = await fetch("/api/WatchEvents", {
        method: "POST",
        headers: headers(),
        body: JSON.stringify({ kinds }),
        signal,
      });
      if (!res.ok || !res.body) {
        const err = await errorOf(res);
        onState?.(err);
        if (err.httpStatus === 401 || err.httpStatus === 403) return;
      } else {
        onState?.("open");
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end = buffer.indexOf("\n\n");
          while (end >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = frame
              .split("\n")
              .filter((l) => l.startsWith("data: "))
              .map((l) => l.slice(6))
              .join("\n");
            if (data && !frame.startsWith("event: error")) onEvent(JSON.parse(data) as AdminEvent);
            end = buffer.indexOf("\n\n");
          }
        }
        onState?.("closed");
      }
    } catch (err) {
      if (signal.aborted) return;
      onState?.("closed");
      void err;
    }
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.httpStatus === 403) return `Access refused: ${err.message}`;
    if (err.httpStatus === 401) return `Not signed in, or the token was rejected: ${err.message}`;
    return `${err.status}: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}
