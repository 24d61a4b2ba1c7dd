/**
 * The console's JSON gateway, derived from proto/admin.proto: every method of the admin service
 * (as @grpc/proto-loader loads it) is `POST /api/<Method>` with the request message as JSON; a
 * unary method answers its response message as JSON, a server-streaming one (WatchEvents) answers
 * `text/event-stream`, one `data:` line per message. Nothing here knows any method: a method added
 * to admin.proto is served as it is.
 *
 * The browser's `Authorization: Bearer <token>` is forwarded as the call's `authorization`
 * metadata and nothing else is, so every call is authenticated and decided by
 * portcullis/admin/decision in the admin server exactly as a CLI call is; the gateway holds no
 * credential of its own. gRPC status codes become HTTP statuses (UNAUTHENTICATED 401,
 * PERMISSION_DENIED 403, …) with `{code, status, message}`.
 *
 * A request is checked before it is sent on: a body over `maxBodyBytes` is 413 (told by its
 * Content-Length before anything is read, else once the limit is passed); text that is not UTF-8,
 * not JSON or not an object is 400; and so is a field the request message does not have or a value
 * of the wrong type (request-check.ts, from the same descriptors), which protobuf's encoder would
 * otherwise drop or coerce in silence. All of these answer `INVALID_ARGUMENT` with what is wrong.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { ADMIN_SERVICE_NAME, loadAdminProto } from "../../proto/load.js";
import { RequestCheckError, RequestChecker } from "./request-check.js";

/** The request message's name, from the method's descriptor as proto-loader gives it. */
function requestTypeOf(definition: grpc.MethodDefinition<unknown, unknown>): string {
  return (definition as unknown as { requestType: { type: { name: string } } }).requestType.type.name;
}

export interface AdminGatewayOptions {
  /** The admin API, "host:port". */
  address: string;
  credentials: grpc.ChannelCredentials;
  /** Per unary call (default 120 s). */
  deadlineMs?: number;
  /** Largest request body (default 8 MiB). */
  maxBodyBytes?: number;
}

export interface AdminGateway {
  /** The methods served, by name, with whether each streams its responses. */
  readonly methods: ReadonlyMap<string, { responseStream: boolean }>;
  /** Answers `POST /api/<method>`; false when `method` is not an admin method. */
  handle(method: string, req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  close(): void;
}

const HTTP_STATUS: Partial<Record<grpc.status, number>> = {
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.FAILED_PRECONDITION]: 409,
  [grpc.status.OUT_OF_RANGE]: 400,
  [grpc.status.UNAUTHENTICATED]: 401,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.ALREADY_EXISTS]: 409,
  [grpc.status.ABORTED]: 409,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.UNIMPLEMENTED]: 501,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
};

/** JSON with byte fields (Buffers) as base64, as protobuf's JSON mapping writes them. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === "object" && (v as { type?: unknown }).type === "Buffer") {
      const data = (v as { data?: unknown }).data;
      if (Array.isArray(data)) return Buffer.from(data as number[]).toString("base64");
    }
    return v;
  });
}

export class GatewayRequestError extends Error {
  constructor(
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The request body as JSON. Larger than `limit`: a 413 (from Content-Length before reading
 * anything, else as soon as the limit is passed); the rest of the body is read and dropped, so the
 * client gets the answer instead of a reset connection.
 */
async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new GatewayRequestError(413, `the request is larger than ${limit} bytes`);
  }
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(new GatewayRequestError(413, `the request is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body).trim();
  } catch {
    throw new GatewayRequestError(400, "the request body is not UTF-8 text");
  }
  if (text === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new GatewayRequestError(400, `the request body is not JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new GatewayRequestError(400, "the request body must be a JSON object (the request message)");
  }
  return parsed;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = toJson(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendGrpcError(res: ServerResponse, err: grpc.ServiceError): void {
  const code = typeof err.code === "number" ? err.code : grpc.status.UNKNOWN;
  sendJson(res, HTTP_STATUS[code] ?? 502, {
    code,
    status: grpc.status[code] ?? "UNKNOWN",
    message: err.details || err.message,
  });
}

function metadataFrom(req: IncomingMessage): grpc.Metadata {
  const md = new grpc.Metadata();
  const authorization = req.headers.authorization;
  if (typeof authorization === "string" && authorization !== "") md.set("authorization", authorization);
  return md;
}

export function createAdminGateway(options: AdminGatewayOptions): AdminGateway {
  const { Client, service, packageDefinition } = loadAdminProto();
  const checker = new RequestChecker(packageDefinition);
  // admin.proto's messages all live in the service's package
  const packageName = ADMIN_SERVICE_NAME.slice(0, ADMIN_SERVICE_NAME.lastIndexOf("."));
  const client = new Client(options.address, options.credentials, {
    "grpc.max_receive_message_length": 256 * 1024 * 1024,
  });
  const deadlineMs = options.deadlineMs ?? 120_000;
  const maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024;
  const definitions = new Map<string, grpc.MethodDefinition<unknown, unknown>>();
  for (const [name, definition] of Object.entries(service)) {
    if (!definition.requestStream)
      definitions.set(name, definition as grpc.MethodDefinition<unknown, unknown>);
  }
  const methods = new Map([...definitions].map(([n, d]) => [n, { responseStream: d.responseStream }]));

  async function handle(method: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const definition = definitions.get(method);
    if (!definition) return false;
    let request: unknown;
    try {
      request = await readJsonBody(req, maxBody);
    } catch (err) {
      const status = err instanceof GatewayRequestError ? err.httpStatus : 400;
      sendJson(res, status, {
        code: grpc.status.INVALID_ARGUMENT,
        status: "INVALID_ARGUMENT",
        message: (err as Error).message,
      });
      return true;
    }
    try {
      checker.check(`${packageName}.${requestTypeOf(definition)}`, request);
    } catch (err) {
      if (!(err instanceof RequestCheckError)) throw err;
      sendJson(res, 400, {
        code: grpc.status.INVALID_ARGUMENT,
        status: "INVALID_ARGUMENT",
        message: `not a ${method} request: ${err.message}`,
      });
      return true;
    }
    const metadata = metadataFrom(req);
    const serialize = (value: unknown): Buffer => {
      try {
        return definition.requestSerialize(value);
      } catch (err) {
        throw new GatewayRequestError(400, `not a ${method} request: ${(err as Error).message}`);
      }
    };
    try {
      serialize(request);
    } catch (err) {
      sendJson(res, 400, {
        code: grpc.status.INVALID_ARGUMENT,
        status: "INVALID_ARGUMENT",
        message: (err as Error).message,
      });
      return true;
    }
    if (!definition.responseStream) {
      await new Promise<void>((resolve) => {
        client.makeUnaryRequest(
          definition.path,
          serialize,
          definition.responseDeserialize,
          request,
          metadata,
          { deadline: Date.now() + deadlineMs },
          (err, response) => {
            if (err) sendGrpcError(res, err);
            else sendJson(res, 200, response);
            resolve();
          },
        );
      });
      return true;
    }
    // Server streaming: Server-Sent Events, the headers only once the first message or the end comes,
    // so a refused call is still a plain JSON error with its HTTP status.
    const call = client.makeServerStreamRequest(
      definition.path,
      serialize,
      definition.responseDeserialize,
      request,
      metadata,
      {},
    );
    let started = false;
    const start = (): void => {
      if (started || res.headersSent) return;
      started = true;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      });
      res.write(": stream open\n\n");
    };
    const keepAlive = setInterval(() => {
      if (started) res.write(": keep-alive\n\n");
    }, 15_000);
    // The admin server sends metadata once it has authorized the call: the stream is open.
    call.on("metadata", start);
    call.on("data", (message: unknown) => {
      start();
      res.write(`data: ${toJson(message)}\n\n`);
    });
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        clearInterval(keepAlive);
        resolve();
      };
      call.on("error", (err: grpc.ServiceError) => {
        if (err.code === grpc.status.CANCELLED && res.destroyed) return finish();
        if (!started) sendGrpcError(res, err);
        else {
          res.write(
            `event: error\ndata: ${toJson({ code: err.code, message: err.details || err.message })}\n\n`,
          );
          res.end();
        }
        finish();
      });
      call.on("end", () => {
        start();
        if (!res.writableEnded) res.end();
        finish();
      });
      res.on("close", () => {
        call.cancel();
        finish();
      });
    });
    return true;
  }

  return { methods, handle, close: () => client.close() };
}
