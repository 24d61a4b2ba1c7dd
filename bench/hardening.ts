/**
 * `make bench-hardening`: fuzzing, differential wire sequences, client faults, the statement bypass
 * table and a revocation scenario, counted.
 *
 * - In-process fuzz targets (test/fuzz/targets.ts): the frontend framer and decoders, start-up
 *   packets, the SQL analyzer (random and mutated SQL, unknown node types), the bundle and revocation
 *   verifiers (mutated signed inputs). An untyped exception is a crash; a mutated signed input accepted
 *   is a bypass; an input that takes longer than HANG_MS is a hang.
 * - Over real sockets to a live data plane (test/fuzz/live.ts; a real OIDC provider and PostgreSQL,
 *   the default policies): random and mutated start-up packets, TLS start-up and password messages,
 *   garbage after a good login. Each must get an ErrorResponse or a close (else a hang); a session
 *   opened beside them must keep answering. The data plane runs in this process: an uncaught
 *   exception or unhandled rejection anywhere is counted as a crash.
 * - The differential wire harness (test/wire): listed and generated sequences, PostgreSQL directly
 *   against the same bytes through the proxy; `wire_sequences` counts compared and differing.
 * - Client faults, each {survived}: garbage mid-session, a client that never reads a large result
 *   (the data plane's memory must stay bounded and other sessions served), clients that disconnect
 *   with a query running.
 * - The bypass rows of data-plane/statements/statement-policy-bypasses.int.test.ts
 *   (test/harness/bypass-rows.ts), run through real sessions: a row that should be refused and is not,
 *   or that changed the database, is a bypass.
 * - Revocations: a control plane and a data plane over NATS; SESSIONS sessions of one subject hold open
 *   write transactions while as many of another subject run transactions, and the first subject is
 *   revoked through the admin API. `revocations_lost`: sessions of the revoked subject not ended with
 *   57P01, plus logins of it still accepted; `failed_transactions_not_revoked`: its transactions whose
 *   rows are in the database afterwards (each must be rolled back).
 * - Fault `bundle_swap_and_revocation_under_load` (test/harness/swap-and-revoke.ts): --swap-sessions
 *   sessions (1,000) on two data planes run write transactions while a bundle is swapped and another
 *   subject (a tenth of the sessions) is revoked, side by side. Its failed bystander transactions
 *   are added to `failed_transactions_not_revoked`, its lost revocations to `revocations_lost`; the
 *   figures are in `swap_and_revoke`.
 *
 * Output: a table, and bench/results/hardening.json. The run fails (exit 1) when anything is found
 * (crash, hang, bypass, difference, lost revocation, fault not survived).
 *
 * Options: --scale=F (1: 970,000 in-process fuzz inputs) --live=N (30000 socket inputs) --wire=N (300
 *          generated sequences) --seed=N --skip-revocation --swap-sessions=N (1000) --skip-swap
 */

import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { withoutIpServerName } from "../common/grpc-tls.js";
import { projectRoot } from "../common/toolchain.js";
import { signBundle } from "../control-plane/bundle/sign.js";
import { signRevocation } from "../control-plane/revocation/sign.js";
import { loadParser } from "../data-plane/sql/index.js";
import { startNats } from "../devstack/nats.js";
import { startPostgres } from "../devstack/postgres.js";
import { createAdminClient } from "../proto/load.js";
import { liveInput, sendLive } from "../test/fuzz/live.js";
import {
  bytesMutation,
  FuzzFinding,
  frontendStream,
  fuzzBundle,
  fuzzFramer,
  fuzzRevocation,
  fuzzSql,
  fuzzStartup,
  fuzzUnknownNode,
  revocationMutation,
  sqlText,
  startupBytes,
} from "../test/fuzz/targets.js";
import { BYPASS_ROWS, BYPASS_SETUP_SQL, MASKED_VALUES_SQL } from "../test/harness/bypass-rows.js";
import { startTestControlPlane } from "../test/harness/control-plane.js";
import { openSession, startFleetDataPlane, tryLogin } from "../test/harness/fleet.js";
import { eventually, TempGitRepo } from "../test/harness/git-repo.js";
import { type OidcUser, startOidcProvider } from "../test/harness/oidc.js";
import { USERS } from "../test/harness/proxy-stack.js";
import { rowLabel, StatementRows, type User } from "../test/harness/statement-rows.js";
import { runSwapAndRevoke, type SwapAndRevokeResult } from "../test/harness/swap-and-revoke.js";
import { WireClient } from "../test/harness/wire-client.js";
import { compare, formatReplies } from "../test/wire/differential.js";
import { describeWrites } from "../test/wire/frontend.js";
import { sessionSequence } from "../test/wire/generators.js";
import { LISTED } from "../test/wire/listed.js";
import { startWireStack } from "../test/wire/stack.js";

const HANG_MS = 2_000;
const MB = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    live: { type: "string", default: "30000" },
    wire: { type: "string", default: "300" },
    seed: { type: "string", default: "20261207" },
    "skip-revocation": { type: "boolean", default: false },
    "swap-sessions": { type: "string", default: "1000" },
    "skip-swap": { type: "boolean", default: false },
  },
});
const scale = Number(args.scale);
const seed = Number(args.seed);

const findings: string[] = [];
let crashes = 0;
let hangs = 0;
let uncaught = 0;
process.on("uncaughtException", (err) => {
  uncaught++;
  findings.push(`uncaught exception: ${err.stack ?? err.message}`);
});
process.on("unhandledRejection", (err) => {
  uncaught++;
  findings.push(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`);
});

function note(kind: "crash" | "hang" | "bypass", what: string): void {
  if (findings.length < 50) findings.push(`${kind}: ${what}`);
}

function progress(label: string, done: number, total: number): void {
  if (total >= 10 && done % Math.ceil(total / 10) !== 0 && done !== total) return;
  process.stdout.write(`  ${label}: ${done}/${total}\n`);
}

interface TargetRow {
  target: string;
  inputs: number;
  crashes: number;
  hangs: number;
  bypasses: number;
  ms: number;
}
const targets: TargetRow[] = [];

/** Runs `body` on `n` generated inputs, counting findings per input (never stops at the first). */
async function fuzzTarget<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  n: number,
  body: (input: T) => unknown | Promise<unknown>,
): Promise<void> {
  const row: TargetRow = { target: name, inputs: 0, crashes: 0, hangs: 0, bypasses: 0, ms: 0 };
  const started = performance.now();
  const batch = 5_000;
  for (let b = 0; row.inputs < n; b++) {
    const inputs = fc.sample(arb, { numRuns: Math.min(batch, n - row.inputs), seed: seed + b * 7919 });
    for (const input of inputs) {
      const t = performance.now();
      try {
        await body(input);
      } catch (err) {
        const accepted = err instanceof FuzzFinding && err.message.includes("was accepted");
        if (accepted) row.bypasses++;
        else row.crashes++;
        note(
          accepted ? "bypass" : "crash",
          `${name}: ${(err as Error).message} for ${JSON.stringify(input).slice(0, 300)}`,
        );
      }
      if (performance.now() - t > HANG_MS) {
        row.hangs++;
        note("hang", `${name}: ${JSON.stringify(input).slice(0, 300)}`);
      }
      row.inputs++;
      progress(name, row.inputs, n);
    }
  }
  row.ms = performance.now() - started;
  targets.push(row);
}

const rss = () => process.memoryUsage().rss;
let peakRss = rss();
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, rss());
}, 500);
sampler.unref();

async function main(): Promise<void> {
  const started = performance.now();
  const rssBefore = rss();
  await loadParser();

  // --- in-process fuzzing ------------------------------------------------------------------------
  console.log("in-process fuzzing");
  const n = (k: number) => Math.round(k * scale);
  await fuzzTarget("framer+decoders", frontendStream, n(420_000), ({ bytes, cuts }) =>
    fuzzFramer(bytes, cuts),
  );
  await fuzzTarget("framer (pre-login cap)", frontendStream, n(60_000), ({ bytes, cuts }) =>
    fuzzFramer(bytes, cuts, 65_535),
  );
  await fuzzTarget("startup packets", startupBytes, n(250_000), fuzzStartup);
  await fuzzTarget("sql analyzer", sqlText, n(160_000), fuzzSql);
  await fuzzTarget(
    "sql unknown node types",
    fc.tuple(
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    ),
    n(30_000),
    ([name, node]) => {
      const kind = fuzzUnknownNode(`Future${name}Stmt`, node as Record<string, unknown>);
      if (kind !== "unknown") throw new FuzzFinding(`unknown node type analysed as ${kind}`);
    },
  );
  const signer = { ...generateKeyPairSync("ed25519"), kid: "k1", path: "-", generated: true };
  const bundle = await signBundle(
    {
      policyWasm: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 2, 3]),
      dataJson: new TextEncoder().encode('{"portcullis":{}}'),
      revision: "r1",
      entrypoints: ["portcullis/query/decision"],
      opaVersion: "1.0.0",
    },
    signer,
  );
  const now = Date.now();
  const revocation = await signRevocation(
    {
      id: "r-1",
      kind: "subject",
      value: "alice",
      reason: "fuzz",
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + 3600_000).toISOString(),
    },
    signer,
  );
  await fuzzTarget(
    "bundle verifier",
    fc.tuple(fc.constantFrom("signature", "manifestJson", "policyWasm", "dataJson" as const), bytesMutation),
    n(25_000),
    ([part, m]) => fuzzBundle(bundle, [signer.publicKey], part as "signature", m),
  );
  await fuzzTarget("revocation verifier", revocationMutation, n(25_000), (m) =>
    fuzzRevocation(revocation, [signer.publicKey], m),
  );

  // --- a live data plane ---------------------------------------------------------------------------
  console.log("live data plane");
  const wire = await startWireStack();
  const carol = await wire.stack.token(USERS.carol, { lifetimeSeconds: 3600 });
  const beside = await wire.stack.client(carol);
  const besideOk = async () => {
    try {
      const { rows } = await beside.query("SELECT 1 AS one");
      return rows[0]?.one === 1;
    } catch {
      return false;
    }
  };
  const faults: Record<string, { survived: boolean; detail?: string }> = {};
  const liveN = Number(args.live);
  const liveRow: TargetRow = { target: "live sockets", inputs: 0, crashes: 0, hangs: 0, bypasses: 0, ms: 0 };
  const liveStarted = performance.now();
  const outcomes: Record<string, number> = {};
  let besideFailures = 0;
  const arb = liveInput("carol@example.com", carol);
  const target = { port: wire.stack.port, user: "carol@example.com", token: carol, boundMs: 15_000 };
  for (let b = 0; liveRow.inputs < liveN; b++) {
    const inputs = fc.sample(arb, { numRuns: Math.min(1000, liveN - liveRow.inputs), seed: seed + b });
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < inputs.length) {
          const input = inputs[next++]!;
          const o = await sendLive(target, input).catch(
            (err: Error) => `client error ${err.message}` as const,
          );
          const key = `${input.kind}:${o}`;
          outcomes[key] = (outcomes[key] ?? 0) + 1;
          if (o === "hang") {
            liveRow.hangs++;
            note("hang", `live ${input.kind}: ${JSON.stringify(input).slice(0, 200)}`);
          }
          liveRow.inputs++;
          progress("live sockets", liveRow.inputs, liveN);
        }
      }),
    );
    if (!(await besideOk())) besideFailures++;
  }
  liveRow.ms = performance.now() - liveStarted;
  targets.push(liveRow);
  const garbageHangs = Object.entries(outcomes)
    .filter(([k]) => k === "garbage_mid_session:hang")
    .reduce((a, [, v]) => a + v, 0);
  faults.client_sends_garbage_mid_session = {
    survived: garbageHangs === 0 && besideFailures === 0 && (await besideOk()),
    detail: `${outcomes["garbage_mid_session:error"] ?? 0} answered with an error, ${outcomes["garbage_mid_session:closed"] ?? 0} closed`,
  };
  faults.malformed_startup_and_password = {
    survived: liveRow.hangs === 0 && besideFailures === 0,
    detail: JSON.stringify(outcomes),
  };

  // a client that never reads a large result: the data plane must not buffer it all
  {
    const before = rss();
    const slow = await WireClient.connect({
      host: "127.0.0.1",
      port: wire.stack.port,
      user: "carol@example.com",
      password: carol,
      database: "app",
    });
    slow.socket.pause();
    slow.send(Buffer.from(serializeQuery("SELECT repeat('x', 1000) FROM generate_series(1, 400000)")));
    let grown = 0;
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 500));
      grown = Math.max(grown, rss() - before);
    }
    const ok = await besideOk();
    slow.end();
    faults.client_never_reads = {
      survived: ok && grown < 200 * MB,
      detail: `a 400 MB result not read for 5 s: RSS grew ${(grown / MB).toFixed(0)} MB`,
    };
  }
  for (let i = 0; i < 20; i++) {
    const c = await WireClient.connect({
      host: "127.0.0.1",
      port: wire.stack.port,
      user: "carol@example.com",
      password: carol,
      database: "app",
    });
    c.send(Buffer.from(serializeQuery("SELECT count(*) FROM generate_series(1, 2000000)")));
    await new Promise((r) => setTimeout(r, 5));
    c.end();
  }
  faults.client_disconnects_mid_query = { survived: await besideOk() };

  // --- differential wire sequences ---------------------------------------------------------------
  console.log("differential wire sequences");
  let compared = 0;
  let differing = 0;
  const diffs: string[] = [];
  const sequences = [
    ...Object.values(LISTED),
    ...fc.sample(sessionSequence, { numRuns: Number(args.wire), seed }),
  ];
  for (const writes of sequences) {
    const result = await compare(wire, writes).catch((err: Error) => ({ error: err.message }));
    compared++;
    if ("error" in result || result.difference) {
      differing++;
      if (diffs.length < 10)
        diffs.push(
          "error" in result
            ? `${describeWrites(writes)}: ${result.error}`
            : `${describeWrites(writes)}\n    direct: ${formatReplies(result.direct)}\n    proxy:  ${formatReplies(result.proxy)}`,
        );
      if (!("error" in result) && result.proxy.some((r) => r.kind === "timeout")) hangs++;
    }
    progress("wire sequences", compared, sequences.length);
  }

  // --- the bypass table ----------------------------------------------------------------------------
  console.log("bypass rows");
  await wire.pg.psql(BYPASS_SETUP_SQL);
  const tokens = {} as Record<User, string>;
  for (const user of ["alice", "bob", "carol", "dave"] as const) {
    tokens[user] = await wire.stack.token(USERS[user], { lifetimeSeconds: 3600 });
  }
  const maskedValues = (await wire.pg.psql(MASKED_VALUES_SQL)).split("\n");
  const rows = new StatementRows(wire.stack, wire.pg, tokens, maskedValues);
  let rowBypasses = 0;
  let rowsFailed = 0;
  for (const row of BYPASS_ROWS) {
    try {
      await rows.check(row);
    } catch (err) {
      if ("denied" in row.expect) {
        rowBypasses++;
        note("bypass", `${rowLabel(row)}: ${(err as Error).message.split("\n")[0]}`);
      } else {
        rowsFailed++;
        findings.push(`bypass table row failed (allowed row): ${rowLabel(row)}`);
      }
    }
  }
  await beside.end().catch(() => {});
  await wire.stop();

  // --- revocations -----------------------------------------------------------------------------------
  let revocation_result = {
    revocations_lost: 0,
    failed_transactions_not_revoked: 0,
    sessions: 0,
    bystander_failures: 0,
    measured: false,
  };
  if (!args["skip-revocation"]) {
    console.log("revocation scenario");
    revocation_result = await revocationScenario(25);
  }
  let swap: SwapAndRevokeResult | undefined;
  if (!args["skip-swap"]) {
    console.log("bundle swap and revocation under load");
    swap = await runSwapAndRevoke({ sessions: Number(args["swap-sessions"]), log: console.log });
    faults.bundle_swap_and_revocation_under_load = {
      survived: swap.failed_transactions_not_revoked === 0 && swap.revocations_lost === 0,
      detail: `${swap.sessions} sessions, ${swap.revoked_sessions} revoked: ${swap.failed_transactions_not_revoked} bystander transactions failed, ${swap.revocations_lost} revocations lost${swap.failures.length > 0 ? `; ${swap.failures[0]}` : ""}`,
    };
  }

  const rssAfter = rss();
  clearInterval(sampler);
  const fuzzInputs = targets.reduce((a, t) => a + t.inputs, 0);
  crashes += targets.reduce((a, t) => a + t.crashes, 0) + uncaught;
  hangs += targets.reduce((a, t) => a + t.hangs, 0);
  const signedAccepted = targets.reduce((a, t) => a + t.bypasses, 0);
  const runtimeS = (performance.now() - started) / 1000;
  const result = {
    fuzz: { inputs: fuzzInputs, over_sockets: liveRow.inputs, seed, targets },
    crashes,
    hangs,
    bypasses: rowBypasses + signedAccepted,
    bypass_detail: {
      bypass_rows: BYPASS_ROWS.length,
      bypass_rows_refused_expected: BYPASS_ROWS.filter((r) => "denied" in r.expect).length,
      bypass_rows_not_refused: rowBypasses,
      allowed_rows_failed: rowsFailed,
      mutated_signed_inputs_accepted: signedAccepted,
    },
    revocations_lost: revocation_result.revocations_lost + (swap?.revocations_lost ?? 0),
    failed_transactions_not_revoked:
      revocation_result.failed_transactions_not_revoked + (swap?.failed_transactions_not_revoked ?? 0),
    revocation_scenario: revocation_result,
    swap_and_revoke: swap ?? null,
    faults,
    wire_sequences: { compared, differing, examples: diffs },
    memory: {
      rss_before_mb: Math.round(rssBefore / MB),
      rss_after_mb: Math.round(rssAfter / MB),
      rss_peak_mb: Math.round(peakRss / MB),
      bounded: peakRss - rssBefore < 1024 * MB,
    },
    runtime_s: Math.round(runtimeS),
    findings,
  };

  console.log("");
  console.log("target                      inputs     crashes  hangs  bypasses  seconds");
  for (const t of targets) {
    console.log(
      `${t.target.padEnd(26)}  ${String(t.inputs).padStart(9)}  ${String(t.crashes).padStart(7)}  ${String(t.hangs).padStart(5)}  ${String(t.bypasses).padStart(8)}  ${(t.ms / 1000).toFixed(1).padStart(7)}`,
    );
  }
  console.log("");
  console.log(`fuzz inputs                 ${fuzzInputs} (${liveRow.inputs} over real sockets)`);
  console.log(`crashes / hangs / bypasses  ${crashes} / ${hangs} / ${result.bypasses}`);
  console.log(`wire sequences              ${compared} compared, ${differing} differing`);
  for (const d of diffs) console.log(`  ${d}`);
  for (const [name, f] of Object.entries(faults))
    console.log(
      `fault ${name.padEnd(32)} ${f.survived ? "survived" : "NOT SURVIVED"}${f.detail ? `  (${f.detail.slice(0, 160)})` : ""}`,
    );
  console.log(
    `revocations                 ${revocation_result.measured ? `${revocation_result.sessions} revoked sessions: ${revocation_result.revocations_lost} lost, ${revocation_result.failed_transactions_not_revoked} transactions not rolled back, ${revocation_result.bystander_failures} bystander failures` : "not run"}`,
  );
  console.log(
    `memory (RSS)                ${result.memory.rss_before_mb} MB before, ${result.memory.rss_after_mb} MB after, ${result.memory.rss_peak_mb} MB peak`,
  );
  console.log(`runtime                     ${runtimeS.toFixed(0)} s`);
  for (const f of findings.slice(0, 20)) console.log(`finding: ${f.slice(0, 400)}`);

  const out = join(projectRoot(), "bench", "results");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "hardening.json"), `${JSON.stringify(result, null, 2)}\n`);
  console.log("wrote bench/results/hardening.json");
  const failed =
    crashes > 0 ||
    hangs > 0 ||
    result.bypasses > 0 ||
    differing > 0 ||
    rowsFailed > 0 ||
    result.revocations_lost > 0 ||
    result.failed_transactions_not_revoked > 0 ||
    Object.values(faults).some((f) => !f.survived);
  process.exit(failed ? 1 : 0);
}

function serializeQuery(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`);
  const head = Buffer.alloc(5);
  head[0] = 0x51;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/**
 * `sessions` sessions of a subject hold open write transactions and as many of another subject run
 * transactions in a loop; the first subject is revoked through the admin API (TLS, carol's token).
 */
async function revocationScenario(sessions: number) {
  const work = await mkdtemp(join(tmpdir(), "portcullis-hardening-"));
  const [pgServer, nats, oidc] = await Promise.all([startPostgres(), startNats(), startOidcProvider()]);
  const repo = await TempGitRepo.create();
  await repo.copyDefaultPolicies();
  await repo.commit("default policies");
  const cp = await startTestControlPlane({
    natsUrl: nats.url,
    repo: repo.dir,
    config: {
      admin: {
        auth: "oidc",
        oidc: { issuers: [{ issuer: oidc.issuer, audience: oidc.clientId }], allow_insecure_issuer: true },
        tls: { enabled: true },
      },
    },
  });
  await cp.sync();
  await cp.live.bus.whenReady(30_000);
  const dp = await startFleetDataPlane({
    id: "dp-h",
    region: "eu",
    dir: join(work, "dp"),
    natsUrl: nats.url,
    publicKeyFile: cp.publicKeyFile,
    pg: pgServer,
    oidc,
  });
  await eventually(() => Boolean(dp.policy.current()), "the data plane to load the bundle");
  const admin = createAdminClient(cp.admin.address, {
    credentials: withoutIpServerName(grpc.credentials.createSsl(Buffer.from(cp.adminTls.certPem!))),
    bearerToken: await oidc.token(USERS.carol),
    deadlineMs: 30_000,
  });
  const victim: OidcUser = { sub: "victim", email: "victim@example.com", groups: ["engineers"] };
  const bystander: OidcUser = { sub: "bystander", email: "bystander@example.com", groups: ["engineers"] };
  const victimToken = await oidc.token(victim);
  const bystanderToken = await oidc.token(bystander);
  try {
    const held = [];
    for (let i = 0; i < sessions; i++) {
      const s = await openSession(dp.port, victimToken);
      await s.client.query("BEGIN");
      await s.client.query(
        `INSERT INTO sales.customers (name, email, region) VALUES ('victim-tx-${i}', 'v@example.com', 'eu')`,
      );
      held.push(s);
    }
    let stop = false;
    let bystanderFailures = 0;
    let bystanderCommits = 0;
    const others = await Promise.all(
      Array.from({ length: sessions }, () => openSession(dp.port, bystanderToken)),
    );
    const loops = others.map(async (s, i) => {
      while (!stop) {
        try {
          await s.client.query("BEGIN");
          await s.client.query(
            `INSERT INTO sales.customers (name, email, region) VALUES ('bystander-${i}', 'b@example.com', 'eu')`,
          );
          await s.client.query("COMMIT");
          bystanderCommits++;
        } catch {
          bystanderFailures++;
          return;
        }
      }
    });
    await eventually(
      async () => (await admin.ListSessions({ subject: "victim" })).sessions.length === sessions,
      "the victim's sessions in the view",
    );
    await admin.RevokeSubject({ subject: "victim", reason: "hardening" });
    const ends = await Promise.all(
      held.map((s) =>
        Promise.race([s.ended, new Promise<{ code?: string }>((r) => setTimeout(() => r({}), 10_000))]),
      ),
    );
    let lost = ends.filter((e) => e.code !== "57P01").length;
    const again = await tryLogin(dp.port, await oidc.token(victim));
    if (again.ok) lost++;
    stop = true;
    await Promise.all(loops);
    await new Promise((r) => setTimeout(r, 500));
    const committed = Number(
      (await pgServer.psql("SELECT count(*) FROM sales.customers WHERE name LIKE 'victim-tx-%'")).trim(),
    );
    for (const s of [...held, ...others]) await s.close();
    console.log(`  ${bystanderCommits} bystander transactions committed meanwhile`);
    return {
      revocations_lost: lost,
      failed_transactions_not_revoked: committed,
      sessions,
      bystander_failures: bystanderFailures,
      measured: true,
    };
  } finally {
    admin.close();
    await dp.stop().catch(() => undefined);
    await cp.destroy();
    await repo.destroy();
    await nats.destroy();
    await oidc.stop();
    await pgServer.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
