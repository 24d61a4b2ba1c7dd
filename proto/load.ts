/**
 * The admin API contract in TypeScript: loads proto/admin.proto at run time with
 * @grpc/proto-loader and gives typed messages, the service definition the control plane serves
 * and a promise-based client the CLI (or any tool) uses.
 *
 * Loader options (the same on both sides): field names as in the .proto (snake_case), enums as
 * strings, 64-bit integers as JS numbers, bytes as Buffers, absent fields filled with their
 * defaults ("", 0, false, [], {}).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { AccessRequest__Output } from "./generated/portcullis/admin/v1/AccessRequest.js";
import type {
  ActivateBundleRequest__Output,
  ActivateBundleRequest as ActivateBundleRequestIn,
} from "./generated/portcullis/admin/v1/ActivateBundleRequest.js";
import type { ActivateBundleResponse__Output } from "./generated/portcullis/admin/v1/ActivateBundleResponse.js";
import type { Bundle__Output } from "./generated/portcullis/admin/v1/Bundle.js";
import type { BundleSources__Output } from "./generated/portcullis/admin/v1/BundleSources.js";
import type { DataPlane__Output } from "./generated/portcullis/admin/v1/DataPlane.js";
import type {
  DecideRequestRequest__Output,
  DecideRequestRequest as DecideRequestRequestIn,
} from "./generated/portcullis/admin/v1/DecideRequestRequest.js";
import type { DecideRequestResponse__Output } from "./generated/portcullis/admin/v1/DecideRequestResponse.js";
import type { Decision__Output } from "./generated/portcullis/admin/v1/Decision.js";
import type { Event__Output } from "./generated/portcullis/admin/v1/Event.js";
import type { FleetStatus__Output } from "./generated/portcullis/admin/v1/FleetStatus.js";
import type {
  GetBundleRequest__Output,
  GetBundleRequest as GetBundleRequestIn,
} from "./generated/portcullis/admin/v1/GetBundleRequest.js";
import type {
  GetBundleSourcesRequest__Output,
  GetBundleSourcesRequest as GetBundleSourcesRequestIn,
} from "./generated/portcullis/admin/v1/GetBundleSourcesRequest.js";
import type {
  GetFleetStatusRequest__Output,
  GetFleetStatusRequest as GetFleetStatusRequestIn,
} from "./generated/portcullis/admin/v1/GetFleetStatusRequest.js";
import type { GrantMessage__Output } from "./generated/portcullis/admin/v1/GrantMessage.js";
import type {
  GrantRequest__Output,
  GrantRequest as GrantRequestIn,
} from "./generated/portcullis/admin/v1/GrantRequest.js";
import type { GrantResponse__Output } from "./generated/portcullis/admin/v1/GrantResponse.js";
import type {
  ListBundlesRequest__Output,
  ListBundlesRequest as ListBundlesRequestIn,
} from "./generated/portcullis/admin/v1/ListBundlesRequest.js";
import type { ListBundlesResponse__Output } from "./generated/portcullis/admin/v1/ListBundlesResponse.js";
import type {
  ListGrantsRequest__Output,
  ListGrantsRequest as ListGrantsRequestIn,
} from "./generated/portcullis/admin/v1/ListGrantsRequest.js";
import type { ListGrantsResponse__Output } from "./generated/portcullis/admin/v1/ListGrantsResponse.js";
import type {
  ListRequestsRequest__Output,
  ListRequestsRequest as ListRequestsRequestIn,
} from "./generated/portcullis/admin/v1/ListRequestsRequest.js";
import type { ListRequestsResponse__Output } from "./generated/portcullis/admin/v1/ListRequestsResponse.js";
import type {
  ListRevocationsRequest__Output,
  ListRevocationsRequest as ListRevocationsRequestIn,
} from "./generated/portcullis/admin/v1/ListRevocationsRequest.js";
import type { ListRevocationsResponse__Output } from "./generated/portcullis/admin/v1/ListRevocationsResponse.js";
import type {
  ListSessionsRequest__Output,
  ListSessionsRequest as ListSessionsRequestIn,
} from "./generated/portcullis/admin/v1/ListSessionsRequest.js";
import type { ListSessionsResponse__Output } from "./generated/portcullis/admin/v1/ListSessionsResponse.js";
import type { PolicyError__Output } from "./generated/portcullis/admin/v1/PolicyError.js";
import type {
  PublishBundleRequest__Output,
  PublishBundleRequest as PublishBundleRequestIn,
} from "./generated/portcullis/admin/v1/PublishBundleRequest.js";
import type { PublishBundleResponse__Output } from "./generated/portcullis/admin/v1/PublishBundleResponse.js";
import type {
  QueryDecisionsRequest__Output,
  QueryDecisionsRequest as QueryDecisionsRequestIn,
} from "./generated/portcullis/admin/v1/QueryDecisionsRequest.js";
import type { QueryDecisionsResponse__Output } from "./generated/portcullis/admin/v1/QueryDecisionsResponse.js";
import type {
  ReplayDecisionsRequest__Output,
  ReplayDecisionsRequest as ReplayDecisionsRequestIn,
} from "./generated/portcullis/admin/v1/ReplayDecisionsRequest.js";
import type { ReplayDecisionsResponse__Output } from "./generated/portcullis/admin/v1/ReplayDecisionsResponse.js";
import type {
  RequestAccessRequest__Output,
  RequestAccessRequest as RequestAccessRequestIn,
} from "./generated/portcullis/admin/v1/RequestAccessRequest.js";
import type { Revocation__Output } from "./generated/portcullis/admin/v1/Revocation.js";
import type { RevocationAck__Output } from "./generated/portcullis/admin/v1/RevocationAck.js";
import type {
  RevokeGrantRequest__Output,
  RevokeGrantRequest as RevokeGrantRequestIn,
} from "./generated/portcullis/admin/v1/RevokeGrantRequest.js";
import type { RevokeResponse__Output } from "./generated/portcullis/admin/v1/RevokeResponse.js";
import type {
  RevokeSessionRequest__Output,
  RevokeSessionRequest as RevokeSessionRequestIn,
} from "./generated/portcullis/admin/v1/RevokeSessionRequest.js";
import type {
  RevokeSubjectRequest__Output,
  RevokeSubjectRequest as RevokeSubjectRequestIn,
} from "./generated/portcullis/admin/v1/RevokeSubjectRequest.js";
import type {
  RevokeTokenRequest__Output,
  RevokeTokenRequest as RevokeTokenRequestIn,
} from "./generated/portcullis/admin/v1/RevokeTokenRequest.js";
import type { Session__Output } from "./generated/portcullis/admin/v1/Session.js";
import type {
  ShadowReportRequest__Output,
  ShadowReportRequest as ShadowReportRequestIn,
} from "./generated/portcullis/admin/v1/ShadowReportRequest.js";
import type { ShadowReportResponse__Output } from "./generated/portcullis/admin/v1/ShadowReportResponse.js";
import type { SourceFile__Output } from "./generated/portcullis/admin/v1/SourceFile.js";
import type { SyncedCommit__Output } from "./generated/portcullis/admin/v1/SyncedCommit.js";
import type {
  SyncPoliciesRequest__Output,
  SyncPoliciesRequest as SyncPoliciesRequestIn,
} from "./generated/portcullis/admin/v1/SyncPoliciesRequest.js";
import type { SyncPoliciesResponse__Output } from "./generated/portcullis/admin/v1/SyncPoliciesResponse.js";
import type {
  WatchEventsRequest__Output,
  WatchEventsRequest as WatchEventsRequestIn,
} from "./generated/portcullis/admin/v1/WatchEventsRequest.js";

export const ADMIN_SERVICE_NAME = "portcullis.admin.v1.Admin";

/** proto/admin.proto: beside this file (sources), or in a `proto/` folder above it (a build output). */
export function adminProtoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, "admin.proto")];
  for (let dir = dirname(here); ; dir = dirname(dir)) {
    candidates.push(join(dir, "proto", "admin.proto"));
    if (dirname(dir) === dir) break;
  }
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`proto/admin.proto not found beside ${here} or in a proto/ folder above it`);
  return found;
}

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

// ---------------------------------------------------------------------------------------------
// Messages: generated from proto/admin.proto (scripts/gen-admin-types.sh, proto/generated/).
// A message as it is received, every field filled with its default, is the `__Output` type; a
// request as a caller writes it leaves out what it does not set.

export type PolicyErrorMessage = PolicyError__Output;
export type BundleMessage = Bundle__Output;
export type BundleSourcesMessage = BundleSources__Output;
export type SourceFileMessage = SourceFile__Output;
export type SyncedCommitMessage = SyncedCommit__Output;
export type DataPlaneMessage = DataPlane__Output;
export type FleetStatusMessage = FleetStatus__Output;
export type SessionMessage = Session__Output;
export type RevocationMessage = Revocation__Output;
export type RevocationAckMessage = RevocationAck__Output;
export type DecisionMessage = Decision__Output;
export type EventMessage = Event__Output;
export type ListBundlesResponse = ListBundlesResponse__Output;
export type PublishBundleResponse = PublishBundleResponse__Output;
export type ActivateBundleResponse = ActivateBundleResponse__Output;
export type SyncPoliciesResponse = SyncPoliciesResponse__Output;
export type ListSessionsResponse = ListSessionsResponse__Output;
export type RevokeResponse = RevokeResponse__Output;
export type ListRevocationsResponse = ListRevocationsResponse__Output;
export type QueryDecisionsResponse = QueryDecisionsResponse__Output;
export type ShadowReportResponse = ShadowReportResponse__Output;
export type ReplayDecisionsResponse = ReplayDecisionsResponse__Output;
export type GrantMessage = GrantMessage__Output;
export type GrantResponse = GrantResponse__Output;
export type ListGrantsResponse = ListGrantsResponse__Output;
export type AccessRequestMessage = AccessRequest__Output;
export type ListRequestsResponse = ListRequestsResponse__Output;
export type DecideRequestResponse = DecideRequestResponse__Output;

/** Requests as callers write them (absent fields take their defaults). */
export type ListBundlesRequest = ListBundlesRequestIn;
export type GetBundleRequest = GetBundleRequestIn;
export type GetBundleSourcesRequest = GetBundleSourcesRequestIn;
export type PublishBundleRequest = PublishBundleRequestIn;
export type ActivateBundleRequest = ActivateBundleRequestIn;
export type SyncPoliciesRequest = SyncPoliciesRequestIn;
export type GetFleetStatusRequest = GetFleetStatusRequestIn;
export type ListSessionsRequest = ListSessionsRequestIn;
export type RevokeSessionRequest = RevokeSessionRequestIn;
export type RevokeSubjectRequest = RevokeSubjectRequestIn;
export type RevokeTokenRequest = RevokeTokenRequestIn;
export type ListRevocationsRequest = ListRevocationsRequestIn;
export type QueryDecisionsRequest = QueryDecisionsRequestIn;
export type WatchEventsRequest = WatchEventsRequestIn;
export type ShadowReportRequest = ShadowReportRequestIn;
export type ReplayDecisionsRequest = ReplayDecisionsRequestIn;
export type GrantRequest = GrantRequestIn;
export type ListGrantsRequest = ListGrantsRequestIn;
export type RevokeGrantRequest = RevokeGrantRequestIn;
export type RequestAccessRequest = RequestAccessRequestIn;
export type ListRequestsRequest = ListRequestsRequestIn;
export type DecideRequestRequest = DecideRequestRequestIn;

/**
 * Every unary method: name → [request as a caller writes it, the same as the server receives it
 * (every field present), response].
 */
export interface AdminUnaryMethods {
  ListSessions: [ListSessionsRequest, ListSessionsRequest__Output, ListSessionsResponse];
  RevokeSession: [RevokeSessionRequest, RevokeSessionRequest__Output, RevokeResponse];
  RevokeSubject: [RevokeSubjectRequest, RevokeSubjectRequest__Output, RevokeResponse];
  RevokeToken: [RevokeTokenRequest, RevokeTokenRequest__Output, RevokeResponse];
  ListRevocations: [ListRevocationsRequest, ListRevocationsRequest__Output, ListRevocationsResponse];
  ListBundles: [ListBundlesRequest, ListBundlesRequest__Output, ListBundlesResponse];
  GetBundle: [GetBundleRequest, GetBundleRequest__Output, BundleMessage];
  GetBundleSources: [GetBundleSourcesRequest, GetBundleSourcesRequest__Output, BundleSourcesMessage];
  PublishBundle: [PublishBundleRequest, PublishBundleRequest__Output, PublishBundleResponse];
  ActivateBundle: [ActivateBundleRequest, ActivateBundleRequest__Output, ActivateBundleResponse];
  SyncPolicies: [SyncPoliciesRequest, SyncPoliciesRequest__Output, SyncPoliciesResponse];
  GetFleetStatus: [GetFleetStatusRequest, GetFleetStatusRequest__Output, FleetStatusMessage];
  QueryDecisions: [QueryDecisionsRequest, QueryDecisionsRequest__Output, QueryDecisionsResponse];
  ShadowReport: [ShadowReportRequest, ShadowReportRequest__Output, ShadowReportResponse];
  ReplayDecisions: [ReplayDecisionsRequest, ReplayDecisionsRequest__Output, ReplayDecisionsResponse];
  Grant: [GrantRequest, GrantRequest__Output, GrantResponse];
  ListGrants: [ListGrantsRequest, ListGrantsRequest__Output, ListGrantsResponse];
  RevokeGrant: [RevokeGrantRequest, RevokeGrantRequest__Output, GrantResponse];
  RequestAccess: [RequestAccessRequest, RequestAccessRequest__Output, AccessRequestMessage];
  ListRequests: [ListRequestsRequest, ListRequestsRequest__Output, ListRequestsResponse];
  ApproveRequest: [DecideRequestRequest, DecideRequestRequest__Output, DecideRequestResponse];
  DenyRequest: [DecideRequestRequest, DecideRequestRequest__Output, DecideRequestResponse];
}
export type AdminUnaryMethod = keyof AdminUnaryMethods;
export type AdminMethod = AdminUnaryMethod | "WatchEvents";

export const ADMIN_METHODS: readonly AdminMethod[] = [
  "ListSessions",
  "RevokeSession",
  "RevokeSubject",
  "RevokeToken",
  "ListRevocations",
  "ListBundles",
  "GetBundle",
  "GetBundleSources",
  "PublishBundle",
  "ActivateBundle",
  "SyncPolicies",
  "GetFleetStatus",
  "QueryDecisions",
  "ShadowReport",
  "ReplayDecisions",
  "Grant",
  "ListGrants",
  "RevokeGrant",
  "RequestAccess",
  "ListRequests",
  "ApproveRequest",
  "DenyRequest",
  "WatchEvents",
];

/** The server side: one handler per method, as grpc-js calls them. */
export type AdminHandlers = {
  [M in AdminUnaryMethod]: grpc.handleUnaryCall<AdminUnaryMethods[M][1], AdminUnaryMethods[M][2]>;
} & {
  WatchEvents: grpc.handleServerStreamingCall<WatchEventsRequest__Output, EventMessage>;
};

// ---------------------------------------------------------------------------------------------
// Loading

export interface AdminProto {
  packageDefinition: protoLoader.PackageDefinition;
  service: grpc.ServiceDefinition;
  Client: grpc.ServiceClientConstructor;
}

let cached: AdminProto | undefined;

/** Loads proto/admin.proto once per process. */
export function loadAdminProto(): AdminProto {
  if (cached) return cached;
  const packageDefinition = protoLoader.loadSync(adminProtoPath(), PROTO_LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    portcullis: { admin: { v1: { Admin: grpc.ServiceClientConstructor } } };
  };
  const Client = loaded.portcullis.admin.v1.Admin;
  cached = { packageDefinition, service: Client.service, Client };
  return cached;
}

// ---------------------------------------------------------------------------------------------
// Client

export interface AdminClientOptions {
  /** Default: insecure (plaintext), for the loopback admin listener. */
  credentials?: grpc.ChannelCredentials;
  /** Sent as `authorization: Bearer <token>` with every call. */
  bearerToken?: string;
  /** Per-call deadline in ms (default 120 s: a sync may compile several commits). */
  deadlineMs?: number;
}

export type AdminClient = {
  [M in AdminUnaryMethod]: (request: AdminUnaryMethods[M][0]) => Promise<AdminUnaryMethods[M][2]>;
} & {
  watchEvents(request: WatchEventsRequest): grpc.ClientReadableStream<EventMessage>;
  close(): void;
  /** Resolves once the channel is connected (or rejects after `timeoutMs`). */
  waitForReady(timeoutMs: number): Promise<void>;
};

type RawClient = grpc.Client &
  Record<
    string,
    (
      request: unknown,
      metadata: grpc.Metadata,
      options: grpc.CallOptions,
      callback: (err: grpc.ServiceError | null, response: unknown) => void,
    ) => grpc.ClientUnaryCall
  >;

/** A promise-based admin client for `address` ("host:port"). */
export function createAdminClient(address: string, options: AdminClientOptions = {}): AdminClient {
  const { Client } = loadAdminProto();
  const raw = new Client(address, options.credentials ?? grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": 256 * 1024 * 1024,
    "grpc.max_send_message_length": 128 * 1024 * 1024,
  }) as RawClient;
  const metadata = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    if (options.bearerToken) md.set("authorization", `Bearer ${options.bearerToken}`);
    return md;
  };
  const deadlineMs = options.deadlineMs ?? 120_000;
  const client: Partial<AdminClient> = {};
  for (const method of ADMIN_METHODS) {
    if (method === "WatchEvents") continue;
    const fn = raw[method];
    if (typeof fn !== "function") throw new Error(`admin client lacks method ${method}`);
    (client as Record<string, unknown>)[method] = (request: unknown) =>
      new Promise((resolve, reject) => {
        fn.call(raw, request, metadata(), { deadline: Date.now() + deadlineMs }, (err, response) =>
          err ? reject(err) : resolve(response),
        );
      });
  }
  client.watchEvents = (request) =>
    (
      raw as unknown as {
        WatchEvents(r: unknown, md: grpc.Metadata): grpc.ClientReadableStream<EventMessage>;
      }
    ).WatchEvents(request, metadata());
  client.close = () => raw.close();
  client.waitForReady = (timeoutMs) =>
    new Promise((resolve, reject) =>
      raw.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
    );
  return client as AdminClient;
}
