/**
 * A bundle swapped and a subject revoked at the same moment, under load, on real components:
 * PostgreSQL, nats-server with JetStream, an OIDC provider, a control plane (git policy source, opa,
 * SQLite, the admin API) and `dataPlanes` data planes fed by it over NATS.
 *
 * `sessions` node-postgres sessions are spread over the data planes; a tenth of them (at least one)
 * belong to the subject that is revoked, the others to bystander subjects (at most 200 sessions
 * each, under the per-subject limit). Every session runs write transactions in a loop
 * (`BEGIN; INSERT …; SELECT …; COMMIT`, each row tagged with its session and transaction number).
 * Once every session has committed one, a policy commit is synced (a new bundle, swapped in by every
 * data plane while statements are in flight) and the victim is revoked through the admin API, side
 * by side; the bystanders go on until every data plane enforces the new bundle and each of them has
 * committed another transaction since.
 *
 * Counted:
 * - `failed_transactions_not_revoked`: bystander transactions that failed (any error, a session that
 *   ended), plus transactions a bystander saw committed whose row is not in the database;
 * - `revocations_lost`: victim sessions not ended with 57P01, a victim login still accepted
 *   afterwards, and victim transactions left committed that were open when the revocation came
 *   (a committed one before it is fine; one after it is lost).
 *
 * Used by test/swap-and-revoke.int.test.ts (a few dozen sessions) and `make bench-hardening`
 * (bench/hardening.ts, 1,000 sessions).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats } from "../../devstack/nats.js";
import { startPostgres } from "../../devstack/postgres.js";
import { createAdminClient } from "../../proto/load.js";
import { startTestControlPlane } from "./control-plane.js";
import {
  type FleetDataPlane,
  type OpenSession,
  openSession,
  startFleetDataPlane,
  tryLogin,
} from "./fleet.js";
import { eventually, TempGitRepo } from "./git-repo.js";
import { type OidcUser, startOidcProvider } from "./oidc.js";

export interface SwapAndRevokeOptions {
  sessions: number;
  dataPlanes?: number;
  /** Progress lines (the bench prints them). */
  log?: (line: string) => void;
}

export interface SwapAndRevokeResult {
  sessions: number;
  revoked_sessions: number;
  data_planes: number;
  failed_transactions_not_revoked: number;
  revocations_lost: number;
  /** Bystander transactions committed over the run, and after the new bundle was everywhere. */
  bystander_commits: number;
  bystander_commits_after_swap: number;
  /** Sync → every data plane enforcing the new bundle, ms. */
  swap_ms: number;
  /** RevokeSubject call → every victim session ended at its client, ms. */
  revoke_ms: number;
  /** The first few failures, for the report. */
  failures: string[];
}

const PER_SUBJECT = 200;

interface Runner {
  session: OpenSession;
  victim: boolean;
  index: number;
  commits: number;
  /** commits counted after the swap converged */
  commitsAfterSwap: number;
  failures: number;
  /** SQLSTATE of the error that ended the loop (a query's, when the cut came during one). */
  endCode?: string;
  done: Promise<void>;
}

export async function runSwapAndRevoke(options: SwapAndRevokeOptions): Promise<SwapAndRevokeResult> {
  const log = options.log ?? (() => {});
  const total = Math.max(2, options.sessions);
  const planeCount = Math.max(1, options.dataPlanes ?? 2);
  const victims = Math.max(1, Math.round(total / 10));
  const work = await mkdtemp(join(tmpdir(), "portcullis-swap-revoke-"));
  const [pg, nats, oidc] = await Promise.all([
    startPostgres({ maxConnections: total + 100 }),
    startNats(),
    startOidcProvider(),
  ]);
  const repo = await TempGitRepo.withDefaultPolicies();
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    await pg.psql(
      "CREATE TABLE IF NOT EXISTS sales.load_tx (session int, tx int, subject text, PRIMARY KEY (session, tx)); GRANT SELECT, INSERT ON sales.load_tx TO app_rw",
    );
    const cp = await startTestControlPlane({ natsUrl: nats.url, repo: repo.dir });
    cleanups.push(() => cp.destroy());
    await cp.sync();
    await cp.live.bus.whenReady(30_000);
    const admin = createAdminClient(cp.admin.address, { deadlineMs: 60_000 });
    cleanups.push(async () => admin.close());
    const dps: FleetDataPlane[] = [];
    for (let i = 0; i < planeCount; i++) {
      dps.push(
        await startFleetDataPlane({
          id: `dp-swap-${i + 1}`,
          region: "eu",
          dir: join(work, `dp-${i + 1}`),
          natsUrl: nats.url,
          publicKeyFile: cp.publicKeyFile,
          pg,
          oidc,
          config: { session: { max_connections_per_subject: 0 }, revocation: { max_staleness: "60s" } },
        }),
      );
      cleanups.push(() => dps[i]!.stop().catch(() => undefined));
    }
    const first = cp.store.bundles.active()!.revision;
    await eventually(
      () => dps.every((dp) => dp.policy.current()?.revision === first),
      "every data plane on the first bundle",
      60_000,
    );

    const victim: OidcUser = { sub: "swap-victim", email: "victim@example.com", groups: ["engineers"] };
    const victimToken = await oidc.token(victim, { lifetimeSeconds: 3600 });
    const bystanderTokens: string[] = [];
    for (let i = 0; i * PER_SUBJECT < total - victims; i++) {
      const user: OidcUser = {
        sub: `swap-bystander-${i}`,
        email: `b${i}@example.com`,
        groups: ["engineers"],
      };
      bystanderTokens.push(await oidc.token(user, { lifetimeSeconds: 3600 }));
    }

    log(`  opening ${total} sessions (${victims} of the subject to revoke) on ${planeCount} data planes…`);
    const runners: Runner[] = [];
    let stop = false;
    let swapped = false;
    const failures: string[] = [];
    const opened: OpenSession[] = [];
    cleanups.push(async () => {
      for (const s of opened) await s.close();
    });
    for (let i = 0; i < total; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, total - i) }, async (_, k) => {
          const index = i + k;
          const isVictim = index < victims;
          const token = isVictim
            ? victimToken
            : bystanderTokens[Math.floor((index - victims) / PER_SUBJECT)]!;
          const session = await openSession(dps[index % planeCount]!.port, token);
          opened.push(session);
          runners[index] = {
            session,
            victim: isVictim,
            index,
            commits: 0,
            commitsAfterSwap: 0,
            failures: 0,
            done: Promise.resolve(),
          };
        }),
      );
    }
    for (const r of runners) {
      r.done = (async () => {
        const c = r.session.client;
        for (let tx = 0; !stop; tx++) {
          try {
            await c.query("BEGIN");
            await c.query(
              `INSERT INTO sales.load_tx (session, tx, subject) VALUES (${r.index}, ${tx}, '${r.victim ? "victim" : "bystander"}')`,
            );
            await c.query(`SELECT count(*) FROM sales.load_tx WHERE session = ${r.index}`);
            await c.query("COMMIT");
            r.commits++;
            if (swapped) r.commitsAfterSwap++;
          } catch (err) {
            r.failures++;
            r.endCode = (err as { code?: string }).code;
            if (!r.victim && failures.length < 10)
              failures.push(
                `session ${r.index} tx ${tx}: ${(err as { code?: string }).code ?? ""} ${(err as Error).message}`,
              );
            return;
          }
        }
      })();
    }
    await eventually(
      () => runners.every((r) => r.commits > 0 || r.failures > 0),
      "one transaction in every session",
      300_000,
    );
    await eventually(
      async () => (await admin.ListSessions({ subject: victim.sub })).sessions.length === victims,
      "the victim's sessions in the view",
      60_000,
    );

    log("  swapping the bundle and revoking the subject, side by side…");
    await repo.write({ "policies/swap_marker.rego": "package swap_marker\n\nmarker := 1\n" });
    const next = await repo.commit("a bundle swapped under load");
    const swapStarted = performance.now();
    const revokeStarted = performance.now();
    const victimRunners = runners.filter((r) => r.victim);
    const victimEnds = Promise.all(victimRunners.map((r) => r.session.ended)).then((ends) => ({
      ends,
      ms: performance.now() - revokeStarted,
    }));
    const [, revoked] = await Promise.all([
      (async () => {
        await cp.sync();
        await eventually(
          () => dps.every((dp) => dp.policy.current()?.revision === next),
          "every data plane on the new bundle",
          120_000,
        );
      })(),
      admin.RevokeSubject({ subject: victim.sub, reason: "swap and revoke" }),
    ]);
    const swapMs = performance.now() - swapStarted;
    swapped = true;
    const cutByAcks = revoked.acks.reduce((sum, a) => sum + Number(a.sessions_cut ?? 0), 0);
    log(`  new bundle everywhere in ${Math.round(swapMs)} ms; the revocation cut ${cutByAcks} sessions`);
    const cut = await Promise.race([
      victimEnds,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 60_000)),
    ]);
    const bystanders = runners.filter((r) => !r.victim);
    await eventually(
      () => bystanders.every((r) => r.commitsAfterSwap > 0 || r.failures > 0),
      "a transaction in every bystander session after the swap",
      300_000,
    );
    stop = true;
    await Promise.all(runners.map((r) => r.done));

    let failed = bystanders.reduce((sum, r) => sum + r.failures, 0);
    let lost = cut
      ? cut.ends.filter((e, i) => (e.code ?? victimRunners[i]!.endCode) !== "57P01").length
      : victims;
    if ((await tryLogin(dps[0]!.port, victimToken)).ok) lost++;
    const counts = new Map<number, number>();
    for (const line of (await pg.psql("SELECT session, count(*) FROM sales.load_tx GROUP BY session"))
      .trim()
      .split("\n")) {
      const [session, count] = line.split("|").map((v) => Number(v.trim()));
      if (Number.isFinite(session) && Number.isFinite(count)) counts.set(session!, count!);
    }
    for (const r of bystanders) {
      const stored = counts.get(r.index) ?? 0;
      if (stored !== r.commits) {
        failed += Math.abs(stored - r.commits);
        if (failures.length < 10)
          failures.push(`session ${r.index}: ${r.commits} committed, ${stored} stored`);
      }
    }
    // a victim's transactions: those it saw committed, and at most the one whose COMMIT the server
    // ran as the revocation cut the client before the answer; one more is a transaction the cut missed
    for (const r of victimRunners) {
      const stored = counts.get(r.index) ?? 0;
      if (stored > r.commits + 1) lost++;
    }
    const result: SwapAndRevokeResult = {
      sessions: total,
      revoked_sessions: victims,
      data_planes: planeCount,
      failed_transactions_not_revoked: failed,
      revocations_lost: lost,
      bystander_commits: bystanders.reduce((sum, r) => sum + r.commits, 0),
      bystander_commits_after_swap: bystanders.reduce((sum, r) => sum + r.commitsAfterSwap, 0),
      swap_ms: Math.round(swapMs),
      revoke_ms: cut ? Math.round(cut.ms) : -1,
      failures,
    };
    log(
      `  ${result.bystander_commits} bystander transactions committed (${result.bystander_commits_after_swap} after the swap); ${failed} failed; revocations lost ${lost}`,
    );
    return result;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await repo.destroy();
    await nats.destroy();
    await oidc.stop();
    await pg.stop();
    await rm(work, { recursive: true, force: true });
  }
}
