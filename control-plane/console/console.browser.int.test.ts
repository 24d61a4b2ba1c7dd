/**
 * The console in a real browser (Debian's chromium, headless, driven by playwright-core) against the
 * whole demo stack: carol logs in with the demo issuer (code + PKCE), sees alice's live psql session
 * appear, revokes it and sees it end while alice's psql gets 57P01; a policy commit is rolled back and
 * the fleet converges; the decision log finds alice's denied DELETE; alice, not an admin, is refused;
 * 2,500 live sessions (seeded as a data plane publishes them) page in from the server as the list
 * scrolls, and the filter searches them on the server.
 *
 * With PORTCULLIS_CONSOLE_SCREENSHOTS=1 each view is saved to docs/console-*.png.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect } from "@nats-io/transport-node";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot, toolchain } from "../../common/toolchain.js";
import { type RunningDemo, startDemo } from "../../devstack/demo.js";
import { encodeBusMessage, sessionSubject } from "../../proto/bus.js";

const git = promisify(execFile);

const SCREENSHOTS = process.env.PORTCULLIS_CONSOLE_SCREENSHOTS === "1";
let dir: string;
let demo: RunningDemo;
let browser: Browser;
const children: ChildProcess[] = [];

async function demoToken(user: string): Promise<string> {
  const res = await fetch(`${demo.env.token_endpoint}${user}`);
  if (!res.ok) throw new Error(`demo token for ${user}: ${res.status}`);
  return (await res.text()).trim();
}

/** psql as `user` through the eu data plane, verbose errors (SQLSTATE shown). */
async function psql(
  user: string,
  ...commands: string[]
): Promise<{ child: ChildProcess; done: Promise<{ code: number | null; stderr: string; stdout: string }> }> {
  const eu = demo.env.proxies[0]!;
  const child = spawn(
    toolchain().psql,
    [
      `host=${eu.host} port=${eu.port} user=${user} dbname=app sslmode=require`,
      "-X",
      "-v",
      "VERBOSITY=verbose",
      ...commands.flatMap((c) => ["-c", c]),
    ],
    {
      env: { ...process.env, PGPASSWORD: await demoToken(user), PGCONNECT_TIMEOUT: "20" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stderr, stdout })),
  );
  return { child, done };
}

async function signIn(user: string): Promise<Page> {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1366, height: 820 },
  });
  const page = await context.newPage();
  await page.goto(demo.env.console);
  await page.getByLabel("User name hint").fill(user);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/#\/sessions$/, { timeout: 30_000 });
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: join(projectRoot(), "docs", `console-${name}.png`) });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-console-"));
  demo = await startDemo({ dir });
  browser = await chromium.launch({ executablePath: toolchain().chromium, args: ["--no-sandbox"] });
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  await browser?.close();
  await demo?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the console in a browser", () => {
  it("refuses alice, who is not an admin, with a clear message", async () => {
    const page = await signIn("alice");
    const alert = page.getByRole("alert").first();
    await expect.poll(() => alert.innerText(), { timeout: 30_000 }).toMatch(/Access refused/);
    expect(await alert.innerText()).toMatch(/alice/);
    await shot(page, "refused");
    await page.context().close();
  }, 90_000);

  it("shows alice's live psql session to carol, revokes it and shows the cut; alice's psql gets 57P01", async () => {
    const denied = await psql("alice", "DELETE FROM sales.orders WHERE id = 1");
    expect((await denied.done).stderr).toMatch(/42501/);

    const page = await signIn("carol");
    await expect.poll(() => page.locator(".live.on").count(), { timeout: 30_000 }).toBe(1);
    // a session that stays live and talks to the server every second (analysts may not call
    // pg_sleep): the revocation's FATAL reaches psql at its next query
    const watch = join(dir, "watch.sql");
    await writeFile(watch, "SELECT 1 \\watch 1\n");
    const alice = await psql("alice", `\\i ${watch}`);
    const row = page.locator('[data-session][aria-label^="alice on"]');
    await row.first().waitFor({ timeout: 30_000 });
    await shot(page, "sessions");
    const sessionId = await row.first().getAttribute("data-session");
    await page.getByRole("button", { name: `Revoke session ${sessionId}` }).click();
    const dialog = page.getByRole("dialog");
    await expect.poll(() => dialog.innerText()).toMatch(/Revoke session/);
    await dialog.getByLabel("Reason").fill("browser test");
    await dialog.getByRole("button", { name: "Confirm" }).click();
    const cut = page.locator(".cut-log .cut.done").first();
    await cut.waitFor({ timeout: 30_000 });
    expect(await cut.innerText()).toMatch(/1 session cut/);
    await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(0);
    await expect
      .poll(() => page.locator(".cut-log .event").allInnerTexts(), { timeout: 30_000 })
      .toContainEqual(expect.stringMatching(/session\.ended/));
    const ended = await alice.done;
    expect(ended.code).not.toBe(0);
    expect(ended.stderr).toMatch(/57P01/);
    await shot(page, "sessions-revoked");

    await page.keyboard.press("5");
    await page.waitForURL(/#\/revocations$/);
    await expect.poll(() => page.locator("table").innerText(), { timeout: 15_000 }).toContain(sessionId!);
    await shot(page, "revocations");

    await page.keyboard.press("4");
    await page.waitForURL(/#\/decisions$/);
    await page.getByLabel("Subject").fill("alice");
    await page.getByLabel("Result").selectOption("denied");
    await expect
      .poll(
        async () => {
          await page.getByRole("button", { name: "Search" }).click();
          await page.waitForTimeout(500);
          return page.locator('tr[data-result="denied"]').allInnerTexts();
        },
        { timeout: 30_000 },
      )
      .toContainEqual(expect.stringMatching(/DELETE FROM sales\.orders WHERE id = \$1/));
    await shot(page, "decisions");
    await page.context().close();
  }, 240_000);

  it("rolls a bundle back and shows the fleet converge on it", async () => {
    const repo = join(dir, "policy-repo");
    await appendFile(join(repo, "policies", "lib.rego"), "\n# a second revision, from the console test\n");
    const gitEnv = {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    };
    await git("git", ["commit", "-q", "-am", "A second policy revision"], { cwd: repo, env: gitEnv });

    const page = await signIn("carol");
    await page.keyboard.press("3");
    await page.waitForURL(/#\/bundles$/);
    const rows = page.locator("tr[data-revision]");
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
    await expect
      .poll(() => page.locator('tr[data-status="active"]').innerText(), { timeout: 60_000 })
      .toMatch(/A second policy revision/);
    // the Rego diff between the two revisions (GetBundleSources: the files at each commit)
    await page.getByRole("button", { name: "Show Rego diff" }).click();
    await expect
      .poll(() => page.locator("#diff-summary").innerText(), { timeout: 30_000 })
      .toMatch(/^1 file changed/);
    expect(await page.locator('section[aria-label="Changes to lib.rego"] .add').allInnerTexts()).toEqual([
      "+ ",
      "+ # a second revision, from the console test",
    ]);
    await shot(page, "bundles");
    const older = page.locator('tr[data-revision]:not([data-status="active"])').first();
    const revision = (await older.getAttribute("data-revision"))!;
    await older.getByRole("button", { name: /Activate/ }).click();
    const dialog = page.getByRole("dialog");
    await expect.poll(() => dialog.innerText()).toMatch(/Roll back to/);
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await page.locator("#activation-result").waitFor({ timeout: 30_000 });

    await page.keyboard.press("2");
    await page.waitForURL(/#\/fleet$/);
    const summary = page.locator("#fleet-summary");
    await expect.poll(() => summary.innerText(), { timeout: 60_000 }).toMatch(/all converged/);
    expect(await summary.innerText()).toContain(revision);
    for (const plane of await page.locator("tr[data-plane]").all()) {
      expect(await plane.getAttribute("data-converged")).toBe("true");
      expect(await plane.innerText()).toContain(revision);
    }
    await shot(page, "fleet");
    await page.context().close();
  }, 240_000);

  it("change & access: carol approves alice's access request, sees the grant and ends it; her own request she cannot approve", async () => {
    /** RequestAccess through the console's API as the user signed in on `page` (any verified user may ask). */
    const requestAccess = (page: Page, reason: string) =>
      page.evaluate(async (why) => {
        const storage = (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } })
          .sessionStorage;
        const token = storage.getItem("portcullis.console.token");
        const res = await fetch("/api/RequestAccess", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ role: "app_rw", seconds: 1800, reason: why }),
        });
        return { status: res.status, body: (await res.json()) as { id?: string; subject?: string } };
      }, reason);
    const alicePage = await signIn("alice");
    const asked = await requestAccess(alicePage, "browser test: quarter-end fix");
    expect(asked.status).toBe(200);
    await alicePage.context().close();

    const page = await signIn("carol");
    await page.keyboard.press("6");
    await page.waitForURL(/#\/change$/);
    await expect.poll(() => page.locator("#canary").innerText(), { timeout: 15_000 }).toMatch(/Canary/);
    await expect.poll(() => page.locator("#shadow").innerText()).toMatch(/Shadow revision/);
    const request = page.locator(`#requests tr[data-request="${asked.body.id}"]`);
    await request.waitFor({ timeout: 15_000 });
    expect(await request.innerText()).toMatch(/role app_rw[\s\S]*30 min[\s\S]*quarter-end fix/);
    await shot(page, "change");
    await request.getByRole("button", { name: "Approve" }).click();
    let dialog = page.getByRole("dialog");
    await expect.poll(() => dialog.innerText()).toMatch(/Grant .* role app_rw for 30 min/);
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await expect.poll(() => request.count(), { timeout: 15_000 }).toBe(0);
    const grant = page.locator('#grants tr[data-subject="' + asked.body.subject + '"]');
    await grant.first().waitFor({ timeout: 15_000 });
    expect(await grant.first().innerText()).toMatch(/role app_rw[\s\S]*carol/);

    await grant.first().getByRole("button", { name: "End" }).click();
    dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await expect.poll(() => grant.count(), { timeout: 15_000 }).toBe(0);

    // carol's own request: the control plane refuses her approval of it, and the console says why
    const own = await requestAccess(page, "browser test: my own");
    expect(own.status).toBe(200);
    const mine = page.locator(`#requests tr[data-request="${own.body.id}"]`);
    await page.reload();
    await mine.waitFor({ timeout: 15_000 });
    await mine.getByRole("button", { name: "Approve" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    const alert = page.getByRole("alert").first();
    await expect.poll(() => alert.innerText(), { timeout: 15_000 }).toMatch(/their own access request/);
    expect(await mine.count()).toBe(1);
    await page.context().close();
  }, 120_000);

  it("pages 2,500 live sessions in from the server as the list scrolls, and searches them", async () => {
    // the session events a data plane publishes: starts, then heartbeats listing them all
    const nc = await connect({ servers: demo.env.nats });
    const plane = "dp-many";
    const ids = Array.from({ length: 2_500 }, (_, i) => `many-${String(i).padStart(5, "0")}`);
    const heartbeat = () =>
      nc.publish(
        sessionSubject("heartbeat", plane),
        encodeBusMessage({
          data_plane_id: plane,
          session_ids: ids,
          at: new Date().toISOString(),
          region: "eu",
        }),
      );
    const beating = setInterval(heartbeat, 5_000);
    try {
      ids.forEach((id, i) => {
        nc.publish(
          sessionSubject("started", plane),
          encodeBusMessage({
            session_id: id,
            data_plane_id: plane,
            region: "eu",
            subject: `user${i % 40}@example.com`,
            issuer: demo.env.issuer,
            jti: `jti-${id}`,
            db_role: "analyst",
            database: "app",
            client_addr: `10.1.${Math.floor(i / 250)}.${i % 250}`,
            application_name: "report",
            revision: "seed",
            at: new Date(Date.parse("2026-01-01T00:00:00Z") + i * 1000).toISOString(),
          }),
        );
      });
      heartbeat();
      await nc.flush();

      const page = await signIn("carol");
      const count = page.locator(".sessions .count");
      await expect
        .poll(() => count.textContent(), { timeout: 30_000 })
        .toMatch(/^25\d\d live sessions, 200 loaded/);
      const total = Number(/^(\d+)/.exec((await count.textContent()) ?? "")![1]);
      // virtualised: only the rows in view are in the page
      expect(await page.locator("[data-session]").count()).toBeLessThan(100);
      await shot(page, "sessions-many");
      // scrolling to the end loads the next pages until every session is there; newest first, so
      // the oldest seeded session comes last
      const viewport = page.getByRole("list", { name: "Live sessions" });
      await expect
        .poll(
          async () => {
            await viewport.evaluate((el) => {
              el.scrollTop = el.scrollHeight;
            });
            return count.textContent();
          },
          { timeout: 60_000 },
        )
        .toBe(`${total} live sessions`);
      // the last page may have arrived after the last scroll: the list grew below the viewport, so
      // scroll to its (new) end again until the oldest row is rendered
      await expect
        .poll(
          async () => {
            await viewport.evaluate((el) => {
              el.scrollTop = el.scrollHeight;
            });
            return page.locator('[data-session="many-00000"]').count();
          },
          { timeout: 15_000 },
        )
        .toBe(1);
      expect(await page.locator("[data-session]").count()).toBeLessThan(100);
      await viewport.evaluate((el) => {
        el.scrollTop = el.scrollHeight / 2;
      });
      await page.locator("[data-session]").first().waitFor();
      // the filter is the server's search
      await page.getByLabel("Filter").fill("many-01234");
      await expect.poll(() => count.textContent(), { timeout: 15_000 }).toBe("1 matching live session");
      expect(await page.locator("[data-session]").getAttribute("data-session")).toBe("many-01234");
      await page.context().close();
    } finally {
      clearInterval(beating);
      await nc.close();
    }
  }, 180_000);
});
