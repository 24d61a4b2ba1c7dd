/**
 * bench-lifecycle, just-in-time grants part. Real components: PostgreSQL, nats-server, an OIDC
 * provider, a control plane (default policies from git, the admin API over TLS with OIDC bearer
 * tokens) and one data plane fed over NATS.
 *
 * - `jit_grant`: the Grant call is made (not awaited) and alice's live session sends
 *   `SELECT … FROM hr.employees` every millisecond or so until it is allowed: the time from the call to the
 *   first allowed statement (sign, fast path, the data plane's data patch, the statement decided).
 *   The grant is revoked (and seen denied) before the next sample.
 * - `jit_expiry`: from a grant's `expires_at` to what it allowed being refused on the data plane:
 *   a schema grant (alice's statements, sent back to back, denied again) and a role grant
 *   (mallory's session, whose role came from it, ended with FATAL), alternately.
 *
 * Result: `{ jit_grant: { p50_ms, p99_ms, samples, call_p50_ms, call_p99_ms }, jit_expiry: { p50_ms,
 * p99_ms, samples } }`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { startNats } from "../../devstack/nats.js";
import { startPostgres } from "../../devstack/postgres.js";
import { createAdminClient } from "../../proto/load.js";
import { oidcAdmin, startTestControlPlane } from "../../test/harness/control-plane.js";
import { type OpenSession, openSession, startFleetDataPlane } from "../../test/harness/fleet.js";
import { TempGitRepo } from "../../test/harness/git-repo.js";
import { startOidcProvider } from "../../test/harness/oidc.js";
import { USERS } from "../../test/harness/proxy-stack.js";
import { percentile, until } from "../lib/process.js";

const GRANT_SAMPLES = 40;
const EXPIRY_SAMPLES = 10;
const HR = "SELECT count(*)::int AS n FROM hr.employees";

export async function measureGrants(): Promise<Record<string, unknown>> {
  const work = await mkdtemp(join(tmpdir(), "portcullis-bench-grants-"));
  const [pg, nats, oidc] = await Promise.all([startPostgres(), startNats(), startOidcProvider()]);
  const repo = await TempGitRepo.withDefaultPolicies();
  const cp = await startTestControlPlane({
    natsUrl: nats.url,
    repo: repo.dir,
    config: { admin: oidcAdmin(oidc) },
  });
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    await cp.sync();
    await cp.live.grantBus.whenReady(30_000);
    const dp = await startFleetDataPlane({
      id: "dp-bench",
      region: "eu",
      dir: join(work, "dp"),
      natsUrl: nats.url,
      publicKeyFile: cp.publicKeyFile,
      pg,
      oidc,
    });
    cleanup.push(() => dp.stop());
    await until("the data plane to load the bundle", () => dp.policy.current() !== undefined, 60_000, 20);
    const admin = createAdminClient(cp.admin.address, {
      credentials: grpc.credentials.createSsl(Buffer.from(cp.adminTls.certPem!)),
      bearerToken: await oidc.token(USERS.carol),
      deadlineMs: 30_000,
    });
    cleanup.push(async () => admin.close());
    const alice = await openSession(dp.port, await oidc.token(USERS.alice));
    cleanup.push(() => alice.close());
    const allowed = () =>
      alice.client.query(HR).then(
        () => true,
        (err: Error & { code?: string }) => {
          if (err.code !== "42501") throw err;
          return false;
        },
      );
    // warm-up: the admin call's token verification and the statement's analysis
    await admin.ListGrants({});
    if (await allowed()) throw new Error("alice reads hr before any grant");

    const grantMs: number[] = [];
    const callMs: number[] = [];
    for (let i = 0; i < GRANT_SAMPLES; i++) {
      const started = performance.now();
      const call = admin.Grant({ subject: "alice", schema: "hr", seconds: 600, reason: `bench ${i}` });
      void call.then(
        () => callMs.push(performance.now() - started),
        () => undefined,
      );
      while (!(await allowed())) {
        if (performance.now() - started > 30_000) throw new Error("the grant was not enforced within 30 s");
        // one process hosts the control plane, the data plane and this client: a statement loop
        // without a pause would starve the admin call it measures
        await sleep(1);
      }
      grantMs.push(performance.now() - started);
      const { grant } = await call;
      await admin.RevokeGrant({ id: grant!.id, reason: "bench" });
      while (await allowed()) {
        if (performance.now() - started > 60_000) throw new Error("the revoked grant stayed in force");
      }
    }

    const expiryMs: number[] = [];
    for (let i = 0; i < EXPIRY_SAMPLES; i++) {
      // a schema grant: alice's statements denied again
      const schema = await admin.Grant({ subject: "alice", schema: "hr", seconds: 1, reason: `expiry ${i}` });
      await until("the grant in force", allowed, 30_000, 1);
      while (await allowed()) {
        if (Date.now() - Date.parse(schema.grant!.expires_at) > 30_000)
          throw new Error("the grant did not expire");
      }
      expiryMs.push(Date.now() - Date.parse(schema.grant!.expires_at));
      // a role grant: mallory's session ended
      const role = await admin.Grant({
        subject: "mallory",
        role: "app_rw",
        seconds: 2,
        reason: `expiry ${i}`,
      });
      let mallory: OpenSession | undefined;
      while (!mallory) {
        mallory = await openSession(dp.port, await oidc.token(USERS.mallory)).catch(() => undefined);
        if (!mallory && Date.now() - Date.parse(role.grant!.created_at) > 30_000)
          throw new Error("mallory was not let in");
      }
      const session = mallory;
      cleanup.push(() => session.close());
      const end = await mallory.ended;
      if (end.code !== "57P01") throw new Error(`mallory's session ended with ${end.code ?? "no error"}`);
      expiryMs.push(Date.now() - Date.parse(role.grant!.expires_at));
    }
    const round = (ms: number) => Math.round(ms * 100) / 100;
    return {
      jit_grant: {
        p50_ms: round(percentile(grantMs, 50)),
        p99_ms: round(percentile(grantMs, 99)),
        samples: grantMs.length,
        // the Grant call's own response time (it also waits for the stream's acknowledgement)
        call_p50_ms: round(percentile(callMs, 50)),
        call_p99_ms: round(percentile(callMs, 99)),
      },
      jit_expiry: {
        p50_ms: round(percentile(expiryMs, 50)),
        p99_ms: round(percentile(expiryMs, 99)),
        samples: expiryMs.length,
      },
    };
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await cp.destroy();
    await repo.destroy();
    await nats.destroy();
    await oidc.stop();
    await pg.stop();
    await rm(work, { recursive: true, force: true });
  }
}
