/**
 * The session, revocation and event methods of the admin API (proto/admin.proto): ListSessions,
 * RevokeSession / RevokeSubject / RevokeToken, ListRevocations and WatchEvents. server.ts calls
 * these behind its `authorize` hook.
 */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../../common/logger.js";
import type { RevocationKind } from "../../proto/bus.js";
import type {
  EventMessage,
  ListRevocationsRequest,
  ListRevocationsResponse,
  ListSessionsRequest,
  ListSessionsResponse,
  RevocationMessage,
  RevokeResponse,
  RevokeSessionRequest,
  RevokeSubjectRequest,
  RevokeTokenRequest,
  SessionMessage,
  WatchEventsRequest,
} from "../../proto/load.js";
import { EVENT_KINDS, type EventHub, type EventKind, type HubEvent } from "../events/event-hub.js";
import { RevocationRequestError, type RevocationService } from "../revocation/revocation-service.js";
import type { SessionCursor, SessionView } from "../sessions/session-view.js";
import type { RevocationRecord, SessionRecord } from "../store/index.js";

/** An error carrying the gRPC status it should be answered with. */
export class AdminRequestError extends Error {
  override name = "AdminRequestError";
  constructor(
    readonly grpcCode: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export interface SessionAdminDependencies {
  sessions: SessionView;
  revocations: RevocationService;
  events: EventHub;
  logger: Logger;
}

export function sessionMessage(r: SessionRecord): SessionMessage {
  return {
    id: r.id,
    data_plane_id: r.dataPlaneId,
    region: r.region,
    subject: r.subject,
    issuer: r.issuer,
    jti: r.jti ?? "",
    db_role: r.dbRole,
    database: r.database,
    client_addr: r.clientAddr,
    application_name: r.applicationName,
    started_at: r.startedAt,
    last_heartbeat_at: r.lastHeartbeatAt ?? "",
    statements: r.statements,
    denied: r.denied,
    claims_digest: r.claimsDigest ?? "",
    token_expires_at: r.tokenExpiresAt ?? "",
  };
}

export function revocationMessageOf(r: RevocationRecord): RevocationMessage {
  return {
    id: r.id,
    kind: r.kind,
    value: r.value,
    reason: r.reason,
    created_at: r.createdAt,
    created_by: r.createdBy,
    expires_at: r.expiresAt,
    published_at: r.publishedAt ?? "",
    acks: r.acks,
    sessions_cut: r.sessionsCut,
  };
}

export const DEFAULT_SESSIONS_PAGE_SIZE = 100;
export const MAX_SESSIONS_PAGE_SIZE = 1000;

/** An opaque page token: where the page ended, and in which order (base64url JSON). */
export function encodeSessionPageToken(cursor: SessionCursor, newestFirst: boolean): string {
  return Buffer.from(JSON.stringify([newestFirst ? "desc" : "asc", cursor.startedAt, cursor.id])).toString(
    "base64url",
  );
}

export function decodeSessionPageToken(token: string, newestFirst: boolean): SessionCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    value = undefined;
  }
  if (
    !Array.isArray(value) ||
    value.length !== 3 ||
    (value[0] !== "asc" && value[0] !== "desc") ||
    typeof value[1] !== "string" ||
    typeof value[2] !== "string"
  ) {
    throw new AdminRequestError(grpc.status.INVALID_ARGUMENT, "page_token is not one this server gave out");
  }
  if ((value[0] === "desc") !== newestFirst) {
    throw new AdminRequestError(
      grpc.status.INVALID_ARGUMENT,
      "page_token was given out for the other order: keep newest_first as it was for the first page",
    );
  }
  return { startedAt: value[1], id: value[2] };
}

type RevokeRequestMessage = RevokeSessionRequest | RevokeSubjectRequest | RevokeTokenRequest;

function revokedValue(kind: RevocationKind, request: RevokeRequestMessage): string {
  if (kind === "session") return (request as RevokeSessionRequest).session_id ?? "";
  if (kind === "subject") return (request as RevokeSubjectRequest).subject ?? "";
  return (request as RevokeTokenRequest).jti ?? "";
}

export class SessionAdminApi {
  constructor(private readonly deps: SessionAdminDependencies) {}

  /** One page (page_size, page_token; keyset paging, session-view.ts `page`). */
  listSessions(request: ListSessionsRequest): ListSessionsResponse {
    const filter = {
      ...(request.subject ? { subject: request.subject } : {}),
      ...(request.data_plane_id ? { dataPlaneId: request.data_plane_id } : {}),
      ...(request.region ? { region: request.region } : {}),
      ...(request.search?.trim() ? { search: request.search } : {}),
    };
    const asked = request.page_size || request.limit || 0;
    if (asked < 0)
      throw new AdminRequestError(grpc.status.INVALID_ARGUMENT, `page_size ${asked} is negative`);
    const pageSize = asked === 0 ? DEFAULT_SESSIONS_PAGE_SIZE : Math.min(asked, MAX_SESSIONS_PAGE_SIZE);
    const newestFirst = request.newest_first ?? false;
    const after = request.page_token ? decodeSessionPageToken(request.page_token, newestFirst) : undefined;
    const page = this.deps.sessions.page(filter, { pageSize, newestFirst, ...(after ? { after } : {}) });
    return {
      sessions: page.sessions.map(sessionMessage),
      next_page_token: page.next ? encodeSessionPageToken(page.next, newestFirst) : "",
      total_size: page.total,
    };
  }

  async revoke(kind: RevocationKind, request: RevokeRequestMessage, by: string): Promise<RevokeResponse> {
    if ((request.wait_timeout_ms ?? 0) < 0) {
      throw new AdminRequestError(grpc.status.INVALID_ARGUMENT, "wait_timeout_ms must not be negative");
    }
    try {
      const outcome = await this.deps.revocations.revoke({
        kind,
        value: revokedValue(kind, request),
        by,
        ...(request.reason ? { reason: request.reason } : {}),
        ...(request.no_wait ? { noWait: true } : {}),
        ...(request.wait_timeout_ms ? { waitTimeoutMs: request.wait_timeout_ms } : {}),
      });
      return {
        revocation: revocationMessageOf(outcome.revocation),
        acks: outcome.acks.map((a) => ({
          data_plane_id: a.dataPlaneId,
          sessions_cut: a.sessionsCut,
          at: a.ackedAt,
        })),
        missing: outcome.missing,
        published: outcome.published,
        publish_error: outcome.publishError ?? "",
        waited: outcome.waited,
      };
    } catch (err) {
      if (err instanceof RevocationRequestError)
        throw new AdminRequestError(grpc.status.INVALID_ARGUMENT, err.message);
      throw err;
    }
  }

  listRevocations(request: ListRevocationsRequest): ListRevocationsResponse {
    const revocations = this.deps.revocations.list({
      includeExpired: request.include_expired ?? false,
      limit: request.limit && request.limit > 0 ? request.limit : 100,
    });
    return { revocations: revocations.map(revocationMessageOf) };
  }

  /** Streams events until the client cancels or the server stops. */
  watchEvents(call: grpc.ServerWritableStream<WatchEventsRequest, EventMessage>): void {
    const kinds = (call.request.kinds ?? []).map((k) => k.trim().toLowerCase()).filter(Boolean);
    const unknown = kinds.filter((k) => !EVENT_KINDS.includes(k as EventKind));
    if (unknown.length > 0) {
      throw new AdminRequestError(
        grpc.status.INVALID_ARGUMENT,
        `unknown event kind ${unknown.join(", ")} (use ${EVENT_KINDS.join(", ")})`,
      );
    }
    let closed = false;
    const unsubscribe = this.deps.events.subscribe(kinds as EventKind[], (event: HubEvent) => {
      if (closed) return;
      // A watcher that stops reading is dropped rather than buffered without bound.
      if (call.writableLength > 16 * 1024 * 1024) {
        close();
        call.emit("error", {
          code: grpc.status.RESOURCE_EXHAUSTED,
          details: "the watcher is not reading its events",
        });
        return;
      }
      call.write({ at: event.at, kind: event.kind, type: event.type, json: JSON.stringify(event.payload) });
    });
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
    };
    call.on("cancelled", close);
    call.on("close", close);
    call.on("error", close);
    call.on("finish", close);
    // Headers now, so the client knows the watch is in place before the first event.
    call.sendMetadata(new grpc.Metadata());
  }
}
