/**
 * The admin gRPC server (proto/admin.proto): bundles (list, get, publish, activate = roll
 * forward/back), policy sync, the fleet view, sessions, revocations and the event stream
 * (session-api.ts). Server reflection is on by default.
 *
 * Authentication and authorization go through one function, `authorize`, called before every
 * method with the method name, metadata (the bearer token is there), peer and request; the
 * control plane's is auth.ts (OIDC bearer token + portcullis/admin/decision). TLS comes from
 * `credentials` (tls.ts); without it the listener is plaintext.
 */
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import type { Logger } from "../../common/logger.js";
import type { RevocationKind } from "../../proto/bus.js";
import { CanarySelectorError, parseCanarySelector } from "../../proto/canary.js";
import {
  ADMIN_SERVICE_NAME,
  type AdminHandlers,
  type AdminMethod,
  type AdminUnaryMethod,
  type AdminUnaryMethods,
  type BundleMessage,
  type FleetStatusMessage,
  loadAdminProto,
  type PolicyErrorMessage,
  type SyncedCommitMessage,
} from "../../proto/load.js";
import { DecisionQueryError, queryDecisions } from "../audit/query.js";
import type { FleetView } from "../distribute/fleet.js";
import { GrantRequestError, type GrantService } from "../grants/grant-service.js";
import {
  type ActivationOutcome,
  type BuildOutcome,
  type CommitsOutcome,
  formatStoredErrors,
  type Pipeline,
  PublishSourcesError,
} from "../pipeline.js";
import { type CanaryController, CanaryError, type CanaryStatus } from "../rollout/canary.js";
import { GitSourceError, type SourceSyncResult } from "../source/git-source.js";
import {
  BUNDLE_STATUSES,
  BundleNotFoundError,
  type BundleRecord,
  BundleStateError,
  type BundleStatus,
  type ControlPlaneStore,
  type StoredPolicyError,
} from "../store/index.js";
import { grantApi, grantErrorCode } from "./grant-api.js";
import { type PolicyChangeApi, PolicyChangeRequestError } from "./policy-change-api.js";
import { AdminRequestError, type SessionAdminApi } from "./session-api.js";

/** Who is calling, as established by `authorize`; recorded with activations and publishes. */
export interface AdminCaller {
  subject: string;
}

export interface AuthorizeRequest {
  method: AdminMethod;
  metadata: grpc.Metadata;
  peer: string;
  request: unknown;
}

/** Throw AdminAuthError to refuse a call. */
export type Authorize = (request: AuthorizeRequest) => Promise<AdminCaller>;

export class AdminAuthError extends Error {
  override name = "AdminAuthError";
  constructor(
    readonly code: grpc.status.UNAUTHENTICATED | grpc.status.PERMISSION_DENIED,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminServerOptions {
  host: string;
  port: number;
  store: ControlPlaneStore;
  pipeline: Pipeline;
  fleet: FleetView;
  /** Canary rollouts (ActivateBundle with `canary`); FAILED_PRECONDITION without it. */
  canary?: CanaryController;
  /** The git source; SyncPolicies fails with FAILED_PRECONDITION without one. */
  sync?: () => Promise<SourceSyncResult<CommitsOutcome>>;
  natsConnected?: () => boolean;
  /** The files of the policy folder at a commit (the git source); GetBundleSources needs it. */
  sourceFiles?: (commit: string) => Promise<{ path: string; content: Buffer }[]>;
  /** Decides every call (auth.ts); throw AdminAuthError to refuse. */
  authorize: Authorize;
  /** Sessions, revocations and events; those methods answer UNAVAILABLE without it. */
  sessionApi?: SessionAdminApi;
  /** TLS (tls.ts); plaintext when absent. */
  credentials?: grpc.ServerCredentials;
  reflection?: boolean;
  logger: Logger;
  /** Shadow revisions, ShadowReport and ReplayDecisions (policy-change-api.ts). */
  policyChange?: PolicyChangeApi;
  /** Just-in-time grants and access requests; those methods answer UNAVAILABLE without it. */
  grants?: GrantService;
  /** Largest request accepted (PublishBundle sources); default 80 MiB. */
  maxReceiveBytes?: number;
}

export interface RunningAdminServer {
  server: grpc.Server;
  host: string;
  port: number;
  /** "host:port" for clients. */
  address: string;
  stop(graceMs?: number): Promise<void>;
}

class StatusError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

function toServiceError(err: unknown, logger: Logger, method: string): Partial<grpc.ServiceError> {
  const message = err instanceof Error ? err.message : String(err);
  let code: grpc.status;
  if (err instanceof StatusError || err instanceof AdminAuthError) code = err.code;
  else if (err instanceof AdminRequestError) code = err.grpcCode;
  else if (err instanceof GrantRequestError) code = grantErrorCode(err);
  else if (err instanceof BundleNotFoundError) code = grpc.status.NOT_FOUND;
  else if (err instanceof BundleStateError) code = grpc.status.FAILED_PRECONDITION;
  else if (err instanceof CanaryError) code = grpc.status.FAILED_PRECONDITION;
  else if (err instanceof CanarySelectorError) code = grpc.status.INVALID_ARGUMENT;
  else if (err instanceof PublishSourcesError) code = grpc.status.INVALID_ARGUMENT;
  else if (err instanceof GitSourceError) code = grpc.status.UNAVAILABLE;
  else {
    code = grpc.status.INTERNAL;
    logger.error({ err, method }, "admin call failed");
  }
  return { code, details: message, message };
}

const located = (e: StoredPolicyError): PolicyErrorMessage => ({
  stage: e.stage,
  file: e.file ?? "",
  row: e.row ?? 0,
  col: e.col ?? 0,
  code: e.code ?? "",
  message: e.message,
});

export function bundleMessage(record: BundleRecord, bytes?: Uint8Array): BundleMessage {
  return {
    revision: record.revision,
    status: record.status,
    source: record.source,
    source_commit: record.sourceCommit ?? "",
    commit_message: record.commitMessage ?? "",
    commit_author: record.commitAuthor ?? "",
    committed_at: record.committedAt ?? "",
    created_at: record.createdAt,
    finished_at: record.finishedAt ?? "",
    failed_stage: record.failedStage ?? "",
    durations_ms: record.durations,
    tests_passed: record.testsPassed ?? 0,
    tests_skipped: record.testsSkipped ?? 0,
    test_output: record.testOutput ?? "",
    errors: record.errors.map(located),
    manifest_json: record.manifestJson ?? "",
    signature: record.signature ?? "",
    sha256: record.sha256 ?? "",
    size_bytes: record.sizeBytes ?? 0,
    opa_version: record.opaVersion ?? "",
    entrypoints: record.entrypoints ?? [],
    requested_by: record.requestedBy ?? "",
    activated_at: record.activatedAt ?? "",
    bundle: bytes ? Buffer.from(bytes) : Buffer.alloc(0),
  };
}

function summarize(outcome: BuildOutcome): string {
  const b = outcome.bundle;
  if (outcome.reused) return `already handled (${b.status})`;
  if (b.status === "failed") {
    const first = formatStoredErrors(b.errors)[0];
    return `failed at ${b.failedStage ?? "?"}${first ? `: ${first}` : ""}`;
  }
  return `built (${b.testsPassed ?? 0} tests passed)${b.status === "active" ? ", active" : ""}`;
}

/** The handlers of every method, behind `authorize`. */
export function adminHandlers(options: AdminServerOptions): AdminHandlers {
  const { store, pipeline, fleet, logger } = options;
  const authorize = options.authorize;
  const sessionApi = (): SessionAdminApi => {
    if (!options.sessionApi) {
      throw new StatusError(
        grpc.status.UNAVAILABLE,
        "sessions and revocations are not served by this admin server",
      );
    }
    return options.sessionApi;
  };
  const revoke = (kind: RevocationKind) =>
    unary(
      kind === "session" ? "RevokeSession" : kind === "subject" ? "RevokeSubject" : "RevokeToken",
      async (request, caller) => sessionApi().revoke(kind, request, caller.subject),
    );

  function unary<M extends AdminUnaryMethod>(
    method: M,
    impl: (request: AdminUnaryMethods[M][1], caller: AdminCaller) => Promise<AdminUnaryMethods[M][2]>,
  ): grpc.handleUnaryCall<AdminUnaryMethods[M][1], AdminUnaryMethods[M][2]> {
    return (call, callback) => {
      const started = performance.now();
      (async () => {
        const caller = await authorize({
          method,
          metadata: call.metadata,
          peer: call.getPeer(),
          request: call.request,
        });
        return impl(call.request, caller);
      })().then(
        (response) => {
          logger.debug({ method, ms: Math.round(performance.now() - started) }, "admin call");
          callback(null, response);
        },
        (err: unknown) => callback(toServiceError(err, logger, method)),
      );
    };
  }

  const canaryMessage = (c: CanaryStatus) => ({
    revision: c.revision,
    previous_revision: c.previousRevision,
    selector: "region" in c.selector ? `region=${c.selector.region}` : `percent=${c.selector.percent}`,
    state: c.state,
    started_at: c.startedAt,
    ended_at: c.endedAt ?? "",
    reason: c.reason ?? "",
    by: c.by,
    bake_seconds: c.bakeSeconds,
    decisions: c.measures.canary.decisions,
    deny_rate: c.measures.canary.deny_rate,
    baseline_decisions: c.measures.baseline.decisions,
    baseline_deny_rate: c.measures.baseline.deny_rate,
    evaluation_errors: c.measures.canary.evaluation_errors,
    load_errors: Object.keys(c.measures.load_errors).length,
  });

  const activationResponse = (a: ActivationOutcome) => ({
    revision: a.revision,
    previous_revision: a.previousRevision ?? "",
    activated_at: a.activatedAt,
    published: a.published,
    publish_error: a.publishError ?? "",
    canary: null,
    mode: "active",
  });
  const policyChange = (): PolicyChangeApi => {
    if (!options.policyChange) throw new StatusError(grpc.status.UNAVAILABLE, "not available on this server");
    return options.policyChange;
  };
  const policyChangeCall = async <T>(run: () => T | Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof PolicyChangeRequestError)
        throw new StatusError(grpc.status.FAILED_PRECONDITION, err.message);
      if (err instanceof DecisionQueryError) throw new StatusError(grpc.status.INVALID_ARGUMENT, err.message);
      throw err;
    }
  };

  const fleetStatus = (includeStale: boolean): FleetStatusMessage => {
    const active = store.bundles.active();
    const canaryStatus = options.canary?.status();
    const summary = fleet.summary(active?.revision, { includeStale });
    return {
      active_revision: active?.revision ?? "",
      activated_at: active?.activatedAt ?? "",
      data_planes: summary.dataPlanes.map((d) => ({
        id: d.id,
        region: d.region,
        version: d.version,
        revision: d.revision,
        load_error: d.loadError ?? "",
        sessions: d.sessions,
        last_seen_at: d.lastSeenAt,
        first_seen_at: d.firstSeenAt,
        converged: d.converged,
        live: d.live,
        wanted_revision: d.wantedRevision ?? "",
        labels: d.labels,
        nats_server: d.natsServer ?? "",
        nats_cluster: d.natsCluster ?? "",
        canary: options.canary?.selects(d) ?? false,
      })),
      live: summary.live,
      converged: summary.converged,
      all_converged: summary.allConverged,
      nats_connected: options.natsConnected?.() ?? false,
      canary: canaryStatus ? canaryMessage(canaryStatus) : null,
    };
  };

  const grants = grantApi(() => {
    if (!options.grants)
      throw new StatusError(grpc.status.UNAVAILABLE, "grants are not served by this admin server");
    return options.grants;
  });

  return {
    Grant: unary("Grant", grants.Grant),
    ListGrants: unary("ListGrants", grants.ListGrants),
    RevokeGrant: unary("RevokeGrant", grants.RevokeGrant),
    RequestAccess: unary("RequestAccess", grants.RequestAccess),
    ListRequests: unary("ListRequests", grants.ListRequests),
    ApproveRequest: unary("ApproveRequest", grants.ApproveRequest),
    DenyRequest: unary("DenyRequest", grants.DenyRequest),
    ListSessions: unary("ListSessions", async (request) => sessionApi().listSessions(request)),
    RevokeSession: revoke("session"),
    RevokeSubject: revoke("subject"),
    RevokeToken: revoke("token"),
    ListRevocations: unary("ListRevocations", async (request) => sessionApi().listRevocations(request)),
    QueryDecisions: unary("QueryDecisions", async (request) => {
      try {
        return queryDecisions(store.decisions, request);
      } catch (err) {
        if (err instanceof DecisionQueryError)
          throw new StatusError(grpc.status.INVALID_ARGUMENT, err.message);
        throw err;
      }
    }),

    ShadowReport: unary("ShadowReport", async (request) =>
      policyChangeCall(() => policyChange().shadowReport(request)),
    ),
    ReplayDecisions: unary("ReplayDecisions", async (request) =>
      policyChangeCall(() => policyChange().replay(request)),
    ),

    ListBundles: unary("ListBundles", async (request) => {
      const statuses = (request.statuses ?? []).map((s) => s.trim().toLowerCase()).filter(Boolean);
      const unknown = statuses.filter((s) => !BUNDLE_STATUSES.includes(s as BundleStatus));
      if (unknown.length > 0) {
        throw new StatusError(
          grpc.status.INVALID_ARGUMENT,
          `unknown bundle status ${unknown.join(", ")} (use ${BUNDLE_STATUSES.join(", ")})`,
        );
      }
      const bundles = store.bundles.list({
        limit: request.limit && request.limit > 0 ? request.limit : 50,
        statuses: statuses as BundleStatus[],
      });
      return {
        bundles: bundles.map((b) => bundleMessage(b)),
        active_revision: store.bundles.active()?.revision ?? "",
      };
    }),

    GetBundle: unary("GetBundle", async (request) => {
      if (!request.revision) throw new StatusError(grpc.status.INVALID_ARGUMENT, "give a revision");
      const revision = store.bundles.resolveRevision(request.revision);
      const record = store.bundles.require(revision);
      return bundleMessage(record, request.include_bytes ? store.bundles.bytes(revision) : undefined);
    }),

    GetBundleSources: unary("GetBundleSources", async (request) => {
      if (!request.revision) throw new StatusError(grpc.status.INVALID_ARGUMENT, "give a revision");
      const record = store.bundles.require(store.bundles.resolveRevision(request.revision));
      if (!record.sourceCommit || !options.sourceFiles) {
        throw new StatusError(
          grpc.status.FAILED_PRECONDITION,
          `revision ${record.revision} was not built from a commit of the git source: its sources are not kept`,
        );
      }
      return {
        revision: record.revision,
        source_commit: record.sourceCommit,
        files: await options.sourceFiles(record.sourceCommit),
      };
    }),

    PublishBundle: unary("PublishBundle", async (request, caller) => {
      const files: Record<string, Uint8Array> = {};
      for (const file of request.files ?? []) {
        if (Object.hasOwn(files, file.path)) {
          throw new PublishSourcesError(`source file ${file.path} was sent twice`);
        }
        files[file.path] = new Uint8Array(file.content);
      }
      const outcome = await pipeline.publishFromSources(files, {
        activate: !request.no_activate,
        requestedBy: caller.subject,
        ...(request.note ? { note: request.note } : {}),
      });
      return {
        bundle: bundleMessage(outcome.bundle),
        activated: outcome.activation?.changed ?? false,
        published: outcome.activation?.published ?? false,
        reused: outcome.reused,
      };
    }),

    ActivateBundle: unary("ActivateBundle", async (request, caller) => {
      if (!request.revision && !(request.mode === "shadow" && request.clear))
        throw new StatusError(grpc.status.INVALID_ARGUMENT, "give the revision to activate");
      const mode = request.mode || "active";
      if (mode === "shadow") return policyChangeCall(() => policyChange().setShadow(request, caller.subject));
      if (mode !== "active")
        throw new StatusError(grpc.status.INVALID_ARGUMENT, `mode is "active" or "shadow", not "${mode}"`);
      const revision = store.bundles.resolveRevision(request.revision);
      if (request.canary) {
        const selector = parseCanarySelector(request.canary);
        if (!options.canary)
          throw new StatusError(grpc.status.FAILED_PRECONDITION, "canary rollouts are not available");
        const started = await options.canary.start(revision, selector, {
          by: caller.subject,
          ...(request.reason ? { reason: request.reason } : {}),
        });
        return {
          revision,
          previous_revision: started.previousRevision,
          activated_at: started.startedAt,
          published: true,
          publish_error: "",
          canary: canaryMessage(started),
          mode: "active",
        };
      }
      const outcome = await pipeline.activate(revision, {
        by: caller.subject,
        ...(request.reason ? { reason: request.reason } : {}),
      });
      return activationResponse(outcome);
    }),

    SyncPolicies: unary("SyncPolicies", async () => {
      if (!options.sync) {
        throw new StatusError(
          grpc.status.FAILED_PRECONDITION,
          "no git policy source is configured (source.git.url): use PublishBundle instead",
        );
      }
      const result = await options.sync();
      const commits: SyncedCommitMessage[] = (result.result?.builds ?? []).map((b) => ({
        commit: b.bundle.sourceCommit ?? "",
        revision: b.bundle.revision,
        status: b.bundle.status,
        summary: summarize(b),
        errors: b.bundle.errors.map(located),
      }));
      return {
        head: result.head,
        commits,
        active_revision: store.bundles.active()?.revision ?? "",
        activated: result.result?.activation?.changed ?? false,
        published: result.result?.activation?.published ?? false,
      };
    }),

    GetFleetStatus: unary("GetFleetStatus", async (request) => fleetStatus(request.include_stale ?? false)),

    WatchEvents: (call) => {
      authorize({
        method: "WatchEvents",
        metadata: call.metadata,
        peer: call.getPeer(),
        request: call.request,
      })
        .then(() => sessionApi().watchEvents(call))
        .catch((err: unknown) => call.emit("error", toServiceError(err, logger, "WatchEvents")));
    },
  };
}

/** Starts the admin gRPC server; resolves once it listens. */
export async function startAdminServer(options: AdminServerOptions): Promise<RunningAdminServer> {
  const { packageDefinition, service } = loadAdminProto();
  const maxReceive = options.maxReceiveBytes ?? 80 * 1024 * 1024;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": maxReceive,
    "grpc.max_send_message_length": 256 * 1024 * 1024,
  });
  server.addService(service, adminHandlers(options) as unknown as grpc.UntypedServiceImplementation);
  if (options.reflection ?? true) new ReflectionService(packageDefinition).addToServer(server);
  const host =
    options.host.includes(":") && !options.host.startsWith("[") ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${host}:${options.port}`,
      options.credentials ?? grpc.ServerCredentials.createInsecure(),
      (err, bound) =>
        err
          ? reject(new Error(`admin API cannot listen on ${host}:${options.port}: ${err.message}`))
          : resolve(bound),
    ),
  );
  options.logger.info(
    { address: `${host}:${port}`, service: ADMIN_SERVICE_NAME, reflection: options.reflection ?? true },
    "admin API listening",
  );
  return {
    server,
    host: options.host,
    port,
    address: `${host}:${port}`,
    stop: (graceMs = 5_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
