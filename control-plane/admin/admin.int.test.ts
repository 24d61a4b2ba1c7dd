/**
 * The admin API end to end: a real control plane (git, opa, SQLite, NATS) served over gRPC and
 * called through the real grpc-js client of proto/load.ts and through the `portcullis admin` CLI
 * functions. Also: reflection, error codes, and the authorize hook.
 */
import { cp as copy, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminCommandError, registerAdminCommands } from "../../cli/admin.js";
import { silentLogger } from "../../common/logger.js";
import { loadBundlePublicKeys, verifyBundle } from "../../common/policy/bundle-verify.js";
import { projectRoot } from "../../common/toolchain.js";
import { BundleWatcher } from "../../data-plane/bus/bundle-watcher.js";
import { type LocalNats, startNats } from "../../devstack/nats.js";
import { decodeBundle } from "../../proto/bundle-file.js";
import { ADMIN_SERVICE_NAME, type AdminClient, createAdminClient } from "../../proto/load.js";
import { startTestControlPlane, type TestControlPlane } from "../../test/harness/control-plane.js";
import { eventually, TempGitRepo } from "../../test/harness/git-repo.js";
import { AdminAuthError, type RunningAdminServer, startAdminServer } from "./server.js";

let nats: LocalNats;
let repo: TempGitRepo;
let cp: TestControlPlane;
let client: AdminClient;
let watcher: BundleWatcher;
let scratch: string;

/** Runs `portcullis admin <args>` against the test control plane; returns what it printed. */
async function cli(...args: string[]): Promise<string> {
  const lines: string[] = [];
  const program = new Command().exitOverride();
  registerAdminCommands(program, { out: (text) => lines.push(text) });
  await program.parseAsync(["admin", ...args, "--server", cp.admin.address, "--plaintext"], { from: "user" });
  return lines.join("\n");
}

async function cliFails(...args: string[]): Promise<{ error: Error; output: string }> {
  const lines: string[] = [];
  const program = new Command().exitOverride();
  registerAdminCommands(program, { out: (text) => lines.push(text) });
  const error = await program
    .parseAsync(["admin", ...args, "--server", cp.admin.address, "--plaintext"], { from: "user" })
    .then(
      () => undefined,
      (err: Error) => err,
    );
  if (!error) throw new Error(`admin ${args.join(" ")} succeeded, a failure was expected`);
  return { error, output: lines.join("\n") };
}

function grpcCode(err: unknown): string {
  return grpc.status[(err as grpc.ServiceError).code] ?? "none";
}

beforeAll(async () => {
  nats = await startNats();
  repo = await TempGitRepo.withDefaultPolicies();
  scratch = await mkdtemp(join(tmpdir(), "portcullis-admin-int-"));
  cp = await startTestControlPlane({ natsUrl: nats.url, repo: repo.dir });
  client = createAdminClient(cp.admin.address);
  await client.waitForReady(10_000);
  const keys = await loadBundlePublicKeys(cp.publicKeyFile);
  watcher = new BundleWatcher({
    servers: nats.url,
    id: "dp-admin-test",
    region: "us",
    stateDir: join(scratch, "dp"),
    statusIntervalMs: 200,
    backoff: { initialMs: 50, maxMs: 500 },
    onBundle: async (bytes) => {
      await verifyBundle(await decodeBundle(bytes), keys);
    },
  });
  watcher.start();
});

afterAll(async () => {
  client?.close();
  await watcher?.stop();
  await cp?.destroy();
  await repo?.destroy();
  await nats?.destroy();
  await rm(scratch, { recursive: true, force: true });
});

describe("admin API over gRPC", () => {
  let first: string;
  let second: string;

  it("syncs the policy repository and lists and gets bundles", async () => {
    first = await repo.head();
    const sync = await client.SyncPolicies({});
    expect(sync).toMatchObject({ head: first, active_revision: first, activated: true, published: true });
    expect(sync.commits).toEqual([
      expect.objectContaining({
        commit: first,
        revision: first,
        status: "active",
        summary: expect.stringMatching(/^built \(\d+ tests passed\), active$/),
      }),
    ]);

    const list = await client.ListBundles({});
    expect(list.active_revision).toBe(first);
    expect(list.bundles.map((b) => [b.revision, b.status])).toEqual([[first, "active"]]);
    expect(list.bundles[0]?.bundle.length).toBe(0);
    expect(list.bundles[0]?.durations_ms.total).toBeGreaterThan(0);

    const bundle = await client.GetBundle({ revision: first.slice(0, 10), include_bytes: true });
    expect(bundle).toMatchObject({
      revision: first,
      status: "active",
      source: "git",
      commit_message: "default policies",
    });
    expect(bundle.entrypoints).toContain("portcullis/query/decision");
    const verified = await verifyBundle(
      await decodeBundle(bundle.bundle),
      await loadBundlePublicKeys(cp.publicKeyFile),
    );
    expect(verified.revision).toBe(first);
    expect(JSON.parse(bundle.manifest_json)).toMatchObject({ revision: first });
  });

  it("reports a rejected commit with file:line, and the active bundle stays", async () => {
    await repo.write({ "policies/connection.rego": "package portcullis.connection\n\ndecision := {\n" });
    const bad = await repo.commit("break the connection policy");
    const { error, output } = await cliFails("sync");
    expect(error).toBeInstanceOf(AdminCommandError);
    expect(error.message).toMatch(/some commits were rejected/);
    expect(output).toContain(`${bad.slice(0, 12)}  failed  failed at check: check: connection.rego:`);
    expect(output).toMatch(/connection\.rego:\d+(:\d+)?: rego_parse_error/);
    expect(output).toContain(`active: ${first}`);
    const failed = await client.GetBundle({ revision: bad });
    expect(failed).toMatchObject({ status: "failed", failed_stage: "check", sha256: "", size_bytes: 0 });
    expect(failed.errors[0]).toMatchObject({
      stage: "check",
      file: "connection.rego",
      code: "rego_parse_error",
    });
    expect(failed.errors[0]?.row).toBeGreaterThan(0);
    expect((await cp.distributor.readPointer())?.revision).toBe(first);
    await repo.git("checkout", "HEAD~1", "--", "policies/connection.rego");
  });

  it("publishes sources from a folder through the CLI, reuses identical ones, rejects broken ones", async () => {
    const dir = join(scratch, "policies");
    await copy(join(projectRoot(), "policies"), dir, { recursive: true });
    await writeFile(join(dir, "ci.rego"), 'package portcullis.ci\n\nbuilt_by := "ci"\n');
    const out = await cli("publish", dir, "--note", "ci job 42");
    expect(out).toMatch(/^built: sha256:[0-9a-f]{64} \(activated and published\)/);
    second = /built: (sha256:[0-9a-f]{64})/.exec(out)![1]!;
    expect(out).toMatch(
      new RegExp(
        `stages: +${["check", "test", "build", "sign", "store", "publish", "total"].map((stage) => `${stage} \\d+(ms|\\.\\ds)`).join(", ")}`,
      ),
    );
    expect((await cp.distributor.readPointer())?.revision).toBe(second);
    const record = await client.GetBundle({ revision: second });
    expect(record).toMatchObject({ source: "publish", status: "active" });
    expect(record.requested_by).toMatch(/^unauthenticated@/);

    const again = JSON.parse(await cli("publish", dir, "--json")) as { reused: boolean; activated: boolean };
    expect(again).toMatchObject({ reused: true, activated: false });

    await writeFile(
      join(dir, "ci_test.rego"),
      "package portcullis.ci_test\n\ntest_nope if {\n\tcount([1]) == 2\n}\n",
    );
    const rejected = await cliFails("publish", dir, "--no-activate");
    expect(rejected.error.message).toMatch(/rejected at test: the active bundle did not change/);
    expect(rejected.output).toMatch(
      /test: ci_test\.rego:3:1: test_failed: data\.portcullis\.ci_test\.test_nope failed/,
    );
    expect((await cp.distributor.readPointer())?.revision).toBe(second);
  });

  it("rolls back and forward with ActivateBundle, through the client and the CLI", async () => {
    const rollback = await client.ActivateBundle({ revision: first.slice(0, 8), reason: "bad deploy" });
    expect(rollback).toMatchObject({
      revision: first,
      previous_revision: second,
      published: true,
      publish_error: "",
    });
    expect((await cp.distributor.readPointer())?.revision).toBe(first);
    expect(cp.store.bundles.activations({ limit: 1 })[0]).toMatchObject({
      revision: first,
      previousRevision: second,
      reason: "bad deploy",
    });
    const out = await cli("activate", second, "--reason", "fixed");
    expect(out).toBe(`active: ${second} (was ${first.slice(0, 12)}); published to NATS`);
    expect((await cp.distributor.readPointer())?.revision).toBe(second);
  });

  it("lists bundles and shows one through the CLI", async () => {
    const table = await cli("bundles");
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^REVISION +STATUS +SOURCE +CREATED +TESTS +SIZE +TOTAL +SUMMARY$/);
    expect(lines).toHaveLength(5); // header + first, bad commit, published, rejected publish
    expect(table).toMatch(new RegExp(`${first.slice(0, 12)} +ready +git`));
    expect(table).toMatch(/sha256:[0-9a-f]{12} +active +publish/);
    expect(table).toMatch(/failed +git .*check: connection\.rego:/);
    const json = JSON.parse(await cli("bundles", "--json", "--status", "failed")) as {
      bundles: { status: string }[];
    };
    expect(json.bundles.map((b) => b.status)).toEqual(["failed", "failed"]);

    const file = join(scratch, "first.tar");
    const shown = await cli("bundle", first, "--out", file);
    expect(shown).toContain(`revision:     ${first}`);
    expect(shown).toMatch(/status: +ready/);
    expect(shown).toMatch(/tests: +\d+ passed, 0 skipped/);
    const verified = await verifyBundle(
      await decodeBundle(await readFile(file)),
      await loadBundlePublicKeys(cp.publicKeyFile),
    );
    expect(verified.revision).toBe(first);
    const missing = await cliFails("bundle", "0123456789abcdef");
    expect(missing.error.message).toBe("no bundle with revision 0123456789abcdef (NOT_FOUND)");
  });

  it("shows the fleet converging on the active revision", async () => {
    const fleet = await eventually(async () => {
      const f = await client.GetFleetStatus({});
      return f.all_converged && f.active_revision === second ? f : undefined;
    }, "the data plane to report the active revision");
    expect(fleet).toMatchObject({ live: 1, converged: 1, nats_connected: true });
    expect(fleet.data_planes[0]).toMatchObject({
      id: "dp-admin-test",
      region: "us",
      revision: second,
      converged: true,
      live: true,
    });
    const out = await cli("fleet");
    expect(out.split("\n")[0]).toBe(`active: ${second}; 1/1 live data planes converged`);
    // options may also come before the subcommand
    const lines: string[] = [];
    const program = new Command().exitOverride();
    registerAdminCommands(program, { out: (text) => lines.push(text) });
    await program.parseAsync(["admin", "--server", cp.admin.address, "--plaintext", "--json", "fleet"], {
      from: "user",
    });
    expect(JSON.parse(lines.join("\n"))).toMatchObject({ active_revision: second, all_converged: true });
    expect(out).toMatch(/dp-admin-test +us +portcullis-test-\d+ +\S+ +sha256:[0-9a-f]{12} +- +yes +yes +0/);
  });

  it("answers clear codes for bad requests", async () => {
    const revoke = await client.RevokeSubject({ subject: " " }).catch((e: unknown) => e);
    expect(grpcCode(revoke)).toBe("INVALID_ARGUMENT");
    expect((revoke as grpc.ServiceError).details).toMatch(/give the subject to revoke/);
    expect(await client.ListSessions({ subject: "nobody" })).toEqual({
      sessions: [],
      next_page_token: "",
      total_size: 0,
    });
    const badPage = await client.ListSessions({ page_token: "nope" }).catch((e: unknown) => e);
    expect(grpcCode(badPage)).toBe("INVALID_ARGUMENT");
    expect((badPage as grpc.ServiceError).details).toMatch(/page_token is not one this server gave out/);
    const stream = client.watchEvents({ kinds: ["gossip"] });
    const streamError = await new Promise<unknown>((resolve) => {
      stream.on("error", resolve);
      stream.on("data", () => resolve(new Error("unexpected event")));
    });
    expect(grpcCode(streamError)).toBe("INVALID_ARGUMENT");

    expect(grpcCode(await client.GetBundle({ revision: "" }).catch((e: unknown) => e))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(grpcCode(await client.ListBundles({ statuses: ["shiny"] }).catch((e: unknown) => e))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(grpcCode(await client.ActivateBundle({ revision: "f".repeat(40) }).catch((e: unknown) => e))).toBe(
      "NOT_FOUND",
    );
    const failed = cp.store.bundles.list({ statuses: ["failed"] })[0]!.revision;
    expect(grpcCode(await client.ActivateBundle({ revision: failed }).catch((e: unknown) => e))).toBe(
      "FAILED_PRECONDITION",
    );
    const outside = await client
      .PublishBundle({ files: [{ path: "../x.rego", content: Buffer.from("package x") }] })
      .catch((e: unknown) => e);
    expect(grpcCode(outside)).toBe("INVALID_ARGUMENT");
  });

  it("serves reflection", async () => {
    const path = join(
      dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json")),
      "build/proto/grpc/reflection/v1/reflection.proto",
    );
    const definition = protoLoader.loadSync(path, { keepCase: true });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const reflection = new loaded.grpc.reflection.v1.ServerReflection(
      cp.admin.address,
      grpc.credentials.createInsecure(),
    );
    try {
      const call = (
        reflection as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, unknown> }
      ).ServerReflectionInfo();
      const response = await new Promise<{ list_services_response?: { service: { name: string }[] } }>(
        (resolve, reject) => {
          call.on("data", (d) => resolve(d as never));
          call.on("error", reject);
          call.write({ list_services: "" });
        },
      );
      call.end();
      expect(response.list_services_response?.service.map((s) => s.name)).toContain(ADMIN_SERVICE_NAME);
    } finally {
      reflection.close();
    }
  });
});

describe("the authorize hook", () => {
  let server: RunningAdminServer;
  let guarded: AdminClient | undefined;

  afterAll(async () => {
    guarded?.close();
    await server?.stop();
  });

  it("is called for every method and decides who may call", async () => {
    const seen: string[] = [];
    server = await startAdminServer({
      host: "127.0.0.1",
      port: 0,
      store: cp.store,
      pipeline: cp.pipeline,
      fleet: cp.fleet,
      logger: silentLogger,
      authorize: async ({ method, metadata }) => {
        seen.push(method);
        const auth = String(metadata.get("authorization")[0] ?? "");
        if (!auth) throw new AdminAuthError(grpc.status.UNAUTHENTICATED, "a bearer token is required");
        if (auth !== "Bearer operator-token")
          throw new AdminAuthError(grpc.status.PERMISSION_DENIED, "not an operator");
        return { subject: "operator@example.com" };
      },
    });
    const anonymous = createAdminClient(server.address);
    const error = await anonymous.ListBundles({}).catch((e: unknown) => e);
    anonymous.close();
    expect(grpcCode(error)).toBe("UNAUTHENTICATED");
    const wrong = createAdminClient(server.address, { bearerToken: "guess" });
    expect(grpcCode(await wrong.GetFleetStatus({}).catch((e: unknown) => e))).toBe("PERMISSION_DENIED");
    wrong.close();
    guarded = createAdminClient(server.address, { bearerToken: "operator-token" });
    const active = cp.store.bundles.active()!.revision;
    await guarded.ActivateBundle({ revision: active });
    const sync = await guarded.SyncPolicies({}).catch((e: unknown) => e);
    expect(grpcCode(sync)).toBe("FAILED_PRECONDITION"); // this server was given no git source
    const previous = cp.store.bundles.list({ statuses: ["ready"] })[0]!.revision;
    await guarded.ActivateBundle({ revision: previous, reason: "audit test" });
    expect(cp.store.bundles.activations({ limit: 1 })[0]).toMatchObject({
      revision: previous,
      activatedBy: "operator@example.com",
    });
    expect(seen).toEqual([
      "ListBundles",
      "GetFleetStatus",
      "ActivateBundle",
      "SyncPolicies",
      "ActivateBundle",
    ]);

    // the CLI sends the token from a file
    const tokenFile = join(scratch, "token");
    await writeFile(tokenFile, "operator-token\n", { mode: 0o600 });
    const lines: string[] = [];
    const program = new Command().exitOverride();
    registerAdminCommands(program, { out: (text) => lines.push(text) });
    await program.parseAsync(
      ["admin", "--server", server.address, "--plaintext", "--token-file", tokenFile, "fleet", "--json"],
      {
        from: "user",
      },
    );
    expect(JSON.parse(lines.join("\n"))).toMatchObject({ active_revision: previous });
    const denied = new Command().exitOverride();
    registerAdminCommands(denied, { out: () => {} });
    await expect(
      denied.parseAsync(["admin", "bundles", "--server", server.address, "--plaintext"], { from: "user" }),
    ).rejects.toThrow("a bearer token is required (UNAUTHENTICATED)");
  });
});
