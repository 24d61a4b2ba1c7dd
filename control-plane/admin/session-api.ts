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
import type { SessionView } from "../sessions/session-view.js";
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

type RevokeRequestMessage = RevokeSessionRequest | RevokeSubjectRequest | RevokeTokenRequest;

function revokedValue(kind: RevocationKind, request: RevokeRequestMessage): string {
  if (kind === "session") return (request as RevokeSessionRequest).session_id ?? "";
  if (kind === "subject") return (request as RevokeSubjectRequest).subject ?? "";
  return (request as RevokeTokenRequest).jti ?? "";
}

export class SessionAdminApi {
  constructor(private readonly deps: SessionAdminDependencies) {}

  listSessions(request: ListSessionsRequest): ListSessionsResponse {
    const filter = {
      ...(request.subject ? { subject: request.subject } : {}),
      ...(request.data_plane_id ? { dataPlaneId: request.data_plane_id } : {}),
      ...(request.region ? { region: request.region } : {}),
      ...(request.limit ? { limit: request.limit } : {}),
    };
    return { sessions: this.deps.sessions.list(filter).map(sessionMessage) };
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
