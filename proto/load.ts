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
// Messages (mirror of proto/admin.proto)

export interface PolicyErrorMessage {
  stage: string;
  file: string;
  row: number;
  col: number;
  code: string;
  message: string;
}

export interface BundleMessage {
  revision: string;
  status: string;
  source: string;
  source_commit: string;
  commit_message: string;
  commit_author: string;
  committed_at: string;
  created_at: string;
  finished_at: string;
  failed_stage: string;
  durations_ms: Record<string, number>;
  tests_passed: number;
  tests_skipped: number;
  test_output: string;
  errors: PolicyErrorMessage[];
  manifest_json: string;
  signature: string;
  sha256: string;
  size_bytes: number;
  opa_version: string;
  entrypoints: string[];
  requested_by: string;
  activated_at: string;
  bundle: Buffer | Uint8Array;
}

export interface ListBundlesRequest {
  limit?: number;
  statuses?: string[];
}
export interface ListBundlesResponse {
  bundles: BundleMessage[];
  active_revision: string;
}
export interface GetBundleRequest {
  revision: string;
  include_bytes?: boolean;
}
export interface GetBundleSourcesRequest {
  revision: string;
}
export interface BundleSourcesMessage {
  revision: string;
  source_commit: string;
  files: SourceFileMessage[];
}
export interface SourceFileMessage {
  path: string;
  content: Buffer | Uint8Array;
}
export interface PublishBundleRequest {
  files: SourceFileMessage[];
  no_activate?: boolean;
  note?: string;
}
export interface PublishBundleResponse {
  bundle: BundleMessage | null;
  activated: boolean;
  published: boolean;
  reused: boolean;
}
export interface ActivateBundleRequest {
  revision: string;
  reason?: string;
}
export interface ActivateBundleResponse {
  revision: string;
  previous_revision: string;
  activated_at: string;
  published: boolean;
  publish_error: string;
}
export type SyncPoliciesRequest = Record<string, never>;
export interface SyncedCommitMessage {
  commit: string;
  revision: string;
  status: string;
  summary: string;
  errors: PolicyErrorMessage[];
}
export interface SyncPoliciesResponse {
  head: string;
  commits: SyncedCommitMessage[];
  active_revision: string;
  activated: boolean;
  published: boolean;
}
export interface GetFleetStatusRequest {
  include_stale?: boolean;
}
export interface DataPlaneMessage {
  id: string;
  region: string;
  version: string;
  revision: string;
  load_error: string;
  sessions: number;
  last_seen_at: string;
  first_seen_at: string;
  converged: boolean;
  live: boolean;
  wanted_revision: string;
  labels: Record<string, string>;
  nats_server: string;
  nats_cluster: string;
}
export interface FleetStatusMessage {
  active_revision: string;
  data_planes: DataPlaneMessage[];
  live: number;
  converged: number;
  all_converged: boolean;
  nats_connected: boolean;
  activated_at: string;
}

export interface SessionMessage {
  id: string;
  data_plane_id: string;
  region: string;
  subject: string;
  issuer: string;
  jti: string;
  db_role: string;
  database: string;
  client_addr: string;
  application_name: string;
  started_at: string;
  last_heartbeat_at: string;
  statements: number;
  denied: number;
  claims_digest: string;
  token_expires_at: string;
}
export interface ListSessionsRequest {
  subject?: string;
  data_plane_id?: string;
  /** The older name of page_size. */
  limit?: number;
  region?: string;
  /** Default 100, at most 1000. */
  page_size?: number;
  page_token?: string;
  newest_first?: boolean;
  search?: string;
}
export interface ListSessionsResponse {
  sessions: SessionMessage[];
  /** Empty on the last page. */
  next_page_token: string;
  /** Live sessions matching the filters, over every page. */
  total_size: number;
}
interface RevokeOptions {
  reason?: string;
  /** Return without waiting for the data planes' acknowledgements. */
  no_wait?: boolean;
  wait_timeout_ms?: number;
}
export interface RevokeSessionRequest extends RevokeOptions {
  session_id: string;
}
export interface RevokeSubjectRequest extends RevokeOptions {
  subject: string;
}
export interface RevokeTokenRequest extends RevokeOptions {
  jti: string;
}
export interface RevocationMessage {
  id: string;
  kind: string;
  value: string;
  reason: string;
  created_at: string;
  created_by: string;
  expires_at: string;
  published_at: string;
  acks: number;
  sessions_cut: number;
}
export interface RevocationAckMessage {
  data_plane_id: string;
  sessions_cut: number;
  at: string;
}
export interface RevokeResponse {
  revocation: RevocationMessage | null;
  acks: RevocationAckMessage[];
  missing: string[];
  published: boolean;
  publish_error: string;
  waited: boolean;
}
export interface ListRevocationsRequest {
  include_expired?: boolean;
  limit?: number;
}
export interface ListRevocationsResponse {
  revocations: RevocationMessage[];
}
export interface DecisionMessage {
  at: string;
  data_plane_id: string;
  session_id: string;
  subject: string;
  kind: string;
  allow: boolean;
  reasons: string[];
  revision: string;
  statement_fingerprint: string;
  statement_text: string;
  id: string;
  result: string;
  region: string;
  issuer: string;
  db_role: string;
  database: string;
  protocol: string;
  statement_kind: string;
  statement_command: string;
  relations: string[];
  eval_micros: number;
  cached: boolean;
  statement_truncated: boolean;
  client_addr: string;
  application_name: string;
}
export interface QueryDecisionsRequest {
  subject?: string;
  session_id?: string;
  since?: string;
  until?: string;
  denied_only?: boolean;
  limit?: number;
  result?: string;
  relation?: string;
  data_plane_id?: string;
  kind?: string;
  page_token?: string;
  /** Decisions per page: default 100, at most 1000 (`limit` is the older name). */
  page_size?: number;
}
export interface QueryDecisionsResponse {
  decisions: DecisionMessage[];
  next_page_token: string;
}
export interface WatchEventsRequest {
  kinds?: string[];
}
export interface EventMessage {
  at: string;
  kind: string;
  json: string;
  type: string;
}

/** Every unary method: name → [request, response]. */
export interface AdminUnaryMethods {
  ListSessions: [ListSessionsRequest, ListSessionsResponse];
  RevokeSession: [RevokeSessionRequest, RevokeResponse];
  RevokeSubject: [RevokeSubjectRequest, RevokeResponse];
  RevokeToken: [RevokeTokenRequest, RevokeResponse];
  ListRevocations: [ListRevocationsRequest, ListRevocationsResponse];
  ListBundles: [ListBundlesRequest, ListBundlesResponse];
  GetBundle: [GetBundleRequest, BundleMessage];
  GetBundleSources: [GetBundleSourcesRequest, BundleSourcesMessage];
  PublishBundle: [PublishBundleRequest, PublishBundleResponse];
  ActivateBundle: [ActivateBundleRequest, ActivateBundleResponse];
  SyncPolicies: [SyncPoliciesRequest, SyncPoliciesResponse];
  GetFleetStatus: [GetFleetStatusRequest, FleetStatusMessage];
  QueryDecisions: [QueryDecisionsRequest, QueryDecisionsResponse];
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
  "WatchEvents",
];

/** The server side: one handler per method, as grpc-js calls them. */
export type AdminHandlers = {
  [M in AdminUnaryMethod]: grpc.handleUnaryCall<AdminUnaryMethods[M][0], AdminUnaryMethods[M][1]>;
} & {
  WatchEvents: grpc.handleServerStreamingCall<WatchEventsRequest, EventMessage>;
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
  [M in AdminUnaryMethod]: (request: AdminUnaryMethods[M][0]) => Promise<AdminUnaryMethods[M][1]>;
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
