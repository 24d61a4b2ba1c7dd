/**
 * The admin methods of just-in-time access (proto/admin.proto Grant … DenyRequest) over the grant
 * service (grants/grant-service.ts): requests in, records out. The caller is the one `authorize`
 * established (auth.ts): RequestAccess is always for the caller's own subject, and Approve/Deny
 * refuse the requester in the service whatever the admin policy allowed.
 */
import * as grpc from "@grpc/grpc-js";
import type {
  AccessRequestMessage,
  AdminUnaryMethods,
  GrantMessage,
  GrantResponse,
} from "../../proto/load.js";
import {
  type GrantErrorCode,
  type GrantOutcome,
  GrantRequestError,
  type GrantService,
} from "../grants/grant-service.js";
import type { AccessRequestRecord, AccessRequestStatus, GrantRecord } from "../store/index.js";

const GRPC_CODES: Record<GrantErrorCode, grpc.status> = {
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  not_found: grpc.status.NOT_FOUND,
  permission_denied: grpc.status.PERMISSION_DENIED,
  failed_precondition: grpc.status.FAILED_PRECONDITION,
};

export function grantErrorCode(err: GrantRequestError): grpc.status {
  return GRPC_CODES[err.code];
}

export function grantMessage(record: GrantRecord, now = Date.now()): GrantMessage {
  const g = record.grant;
  return {
    id: g.id,
    subject: g.subject,
    kind: g.kind,
    value: g.value,
    reason: g.reason,
    created_by: g.created_by,
    created_at: record.createdAt,
    expires_at: g.expires_at,
    status: g.status === "revoked" ? "revoked" : Date.parse(g.expires_at) <= now ? "expired" : "active",
    revoked_by: g.revoked_by ?? "",
    revoked_at: record.revokedAt ?? "",
    sequence: g.sequence,
    request_id: g.request_id ?? "",
    published_at: record.publishedAt ?? "",
  };
}

function grantResponse(outcome: GrantOutcome): GrantResponse {
  return {
    grant: grantMessage(outcome.grant),
    published: outcome.published,
    publish_error: outcome.publishError ?? "",
  };
}

export function accessRequestMessage(r: AccessRequestRecord): AccessRequestMessage {
  return {
    id: r.id,
    subject: r.subject,
    kind: r.kind,
    value: r.value,
    seconds: r.seconds,
    reason: r.reason,
    created_at: r.createdAt,
    status: r.status,
    decided_by: r.decidedBy ?? "",
    decided_at: r.decidedAt ?? "",
    note: r.decisionNote ?? "",
    grant_id: r.grantId ?? "",
  };
}

/** `role` or `schema`, exactly one. */
function target(request: { role?: string; schema?: string }): { kind?: string; value?: string } {
  const role = (request.role ?? "").trim();
  const schema = (request.schema ?? "").trim();
  if (role && schema) throw new GrantRequestError("invalid_argument", "give a role or a schema, not both");
  if (role) return { kind: "role", value: role };
  if (schema) return { kind: "schema", value: schema };
  return {};
}

type Impl<M extends keyof AdminUnaryMethods> = (
  request: AdminUnaryMethods[M][1],
  caller: { subject: string },
) => Promise<AdminUnaryMethods[M][2]>;

export interface GrantApi {
  Grant: Impl<"Grant">;
  ListGrants: Impl<"ListGrants">;
  RevokeGrant: Impl<"RevokeGrant">;
  RequestAccess: Impl<"RequestAccess">;
  ListRequests: Impl<"ListRequests">;
  ApproveRequest: Impl<"ApproveRequest">;
  DenyRequest: Impl<"DenyRequest">;
}

const STATUSES: readonly AccessRequestStatus[] = ["pending", "approved", "denied"];

export function grantApi(service: () => GrantService): GrantApi {
  return {
    Grant: async (request, caller) =>
      grantResponse(
        await service().grant({
          subject: request.subject,
          target: target(request),
          seconds: request.seconds,
          reason: request.reason,
          by: caller.subject,
        }),
      ),
    ListGrants: async (request) => ({
      grants: service()
        .list({
          includeEnded: request.include_ended,
          ...(request.subject ? { subject: request.subject } : {}),
          ...(request.limit > 0 ? { limit: request.limit } : {}),
        })
        .map((r) => grantMessage(r)),
    }),
    RevokeGrant: async (request, caller) => {
      if (!request.id.trim()) throw new GrantRequestError("invalid_argument", "give the grant id to revoke");
      return grantResponse(
        await service().revoke({ id: request.id, by: caller.subject, reason: request.reason }),
      );
    },
    RequestAccess: async (request, caller) =>
      accessRequestMessage(
        service().request({
          subject: caller.subject,
          target: target(request),
          seconds: request.seconds,
          reason: request.reason,
        }),
      ),
    ListRequests: async (request) => {
      const status = request.status.trim().toLowerCase();
      if (status && !STATUSES.includes(status as AccessRequestStatus))
        throw new GrantRequestError(
          "invalid_argument",
          `status is ${STATUSES.join(", ")} or empty, not ${status}`,
        );
      return {
        requests: service()
          .listRequests({
            ...(status ? { status: status as AccessRequestStatus } : {}),
            ...(request.subject ? { subject: request.subject } : {}),
            ...(request.limit > 0 ? { limit: request.limit } : {}),
          })
          .map(accessRequestMessage),
      };
    },
    ApproveRequest: async (request, caller) => {
      if (!request.id.trim()) throw new GrantRequestError("invalid_argument", "give the request id");
      const { request: decided, outcome } = await service().approve({
        id: request.id,
        by: caller.subject,
        note: request.note,
      });
      return { request: accessRequestMessage(decided), grant: grantResponse(outcome) };
    },
    DenyRequest: async (request, caller) => {
      if (!request.id.trim()) throw new GrantRequestError("invalid_argument", "give the request id");
      return {
        request: accessRequestMessage(
          service().deny({ id: request.id, by: caller.subject, note: request.note }),
        ),
        grant: null,
      };
    },
  };
}
