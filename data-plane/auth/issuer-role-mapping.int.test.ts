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
import { type OidcHarness, startOidcProvider } from "../../test/harness/oidc.js";
import { type ProxyStack, startProxyStack, USERS } from "../../test/harness/proxy-stack.js";

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
    portcullis: { role_mapping: unknown[]; group_issuers?: string[] };
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
});
