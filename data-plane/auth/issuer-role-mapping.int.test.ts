/**
 * With two trusted issuers, groups asserted by one must not map through the other's entries: a
 * role_mapping entry may name its `issuer`, and data.portcullis.group_issuers says whose groups
 * the entries without one trust. Proven through real logins against two real OIDC providers.
 */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../common/toolchain.js";
import { type OidcHarness, type OidcUser, startOidcProvider } from "../../test/harness/oidc.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";

const ERIN: OidcUser = { sub: "erin", email: "erin@example.com", groups: [] };

let corporate: OidcHarness;
let partner: OidcHarness;
let stack: ProxyStack;
let policyDir: string;

async function login(token: string): Promise<{ code: string; role?: string; message?: string }> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port: stack.port,
    user: "whoever@example.com",
    password: token,
    database: "app",
    ssl: { rejectUnauthorized: false },
  });
  try {
    await client.connect();
    const { rows } = await client.query("SELECT current_user AS role");
    return { code: "ok", role: rows[0].role as string };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { code: e.code ?? "none", message: e.message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

beforeAll(async () => {
  [corporate, partner] = await Promise.all([startOidcProvider(), startOidcProvider()]);
  policyDir = await mkdtemp(join(tmpdir(), "portcullis-issuer-mapping-"));
  await cp(join(projectRoot(), "policies"), policyDir, { recursive: true });
  // The shipped opa tests assert the shipped data; this copy changes it on purpose.
  for (const file of await readdir(policyDir)) {
    if (file.endsWith("_test.rego")) await rm(join(policyDir, file));
  }
  const dataFile = join(policyDir, "data.json");
  const data = JSON.parse(await readFile(dataFile, "utf8")) as {
    portcullis: { role_mapping: unknown[]; group_issuers?: string[]; grants?: unknown };
  };
  // Only the corporate issuer's groups map through the shared entries; the partner issuer's
  // "contractors" group maps to the analyst role through an entry tied to that issuer alone.
  data.portcullis.group_issuers = [corporate.issuer];
  data.portcullis.role_mapping.unshift({
    claim: "groups",
    value: "contractors",
    db_role: "analyst",
    issuer: partner.issuer,
  });
  // A grant names a sub; erin of the corporate issuer holds one (no mapping of her own).
  data.portcullis.grants = {
    [ERIN.sub]: [{ id: "g-erin", role: "app_rw", expires_at: "2100-01-01T00:00:00Z" }],
    // mallory of the corporate issuer may read hr; the partner's mallory (an analyst) may not
    [USERS.mallory.sub]: [{ id: "g-mallory", schema: "hr", expires_at: "2100-01-01T00:00:00Z" }],
  };
  await writeFile(dataFile, JSON.stringify(data, null, 2));
  stack = await startProxyStack({
    policyDir,
    oidc: corporate,
    config: {
      oidc: {
        issuers: [
          { issuer: corporate.issuer, audience: corporate.clientId },
          { issuer: partner.issuer, audience: partner.clientId },
        ],
        allow_insecure_issuer: true,
      },
    },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await partner?.stop();
  if (policyDir) await rm(policyDir, { recursive: true, force: true });
});

describe("role mapping per issuer", () => {
  it("maps the admins group asserted by the trusted issuer", async () => {
    expect(await login(await corporate.token(USERS.carol))).toEqual({ code: "ok", role: "admin" });
  });

  it("refuses the same admins group asserted by the other issuer (no role is mapped)", async () => {
    const outcome = await login(await partner.token(USERS.carol));
    expect(outcome.code).toBe("28000");
    expect(outcome.message).toMatch(/no database role is mapped/);
  });

  it("maps an entry tied to an issuer only for that issuer's tokens", async () => {
    expect(await login(await partner.token(USERS.mallory))).toEqual({ code: "ok", role: "analyst" });
    const fromCorporate = await login(await corporate.token(USERS.mallory));
    expect(fromCorporate.code).toBe("28000");
  });

  it("gives a grant to its subject of the trusted issuer only, never to the same sub of another issuer", async () => {
    expect(await login(await corporate.token(ERIN))).toEqual({ code: "ok", role: "app_rw" });
    const fromPartner = await login(await partner.token(ERIN));
    expect(fromPartner.code).toBe("28000");
    expect(fromPartner.message).toMatch(/no database role is mapped/);
  });

  it("never lets a schema grant read for the same sub of another issuer", async () => {
    const client = new pg.Client({
      host: "127.0.0.1",
      port: stack.port,
      user: "whoever@example.com",
      password: await partner.token(USERS.mallory),
      database: "app",
      ssl: { rejectUnauthorized: false },
    });
    await client.connect();
    try {
      const err = (await client.query("SELECT name FROM hr.employees").then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string } | undefined;
      expect(err?.code).toBe("42501");
      const { rows } = await client.query("SELECT current_user AS role");
      expect(rows[0].role).toBe("analyst");
    } finally {
      await client.end().catch(() => undefined);
    }
  });
});
