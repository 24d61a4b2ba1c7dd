import { connect as netConnect } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { forgeAll } from "../test/harness/forged-tokens.js";
import { type ProxyStack, startProxyStack, USERS } from "../test/harness/proxy-stack.js";

/** Connects with node-postgres and returns the SQLSTATE and message it was refused with (or "ok"). */
async function loginOutcome(
  stack: ProxyStack,
  password: string,
  opts: { ssl?: boolean; database?: string } = {},
) {
  const client = new pg.Client({
    host: "127.0.0.1",
    port: stack.port,
    user: "whoever@example.com",
    password,
    database: opts.database ?? "app",
    ssl: opts.ssl === false ? false : { rejectUnauthorized: false },
  });
  try {
    await client.connect();
    const { rows } = await client.query("SELECT current_user AS role");
    return { code: "ok", message: rows[0].role as string };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { code: e.code ?? "none", message: e.message };
  } finally {
    await client.end().catch(() => {});
  }
}

describe("data plane login: OIDC token as password, connection policy, upstream SCRAM", () => {
  let stack: ProxyStack;
  beforeAll(async () => {
    // a short JWKS refetch interval so the rotation test need not wait 30 s
    stack = await startProxyStack({ jwksRefetchMs: 300 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("lets psql in as the database role the policy maps the token's groups to", async () => {
    const token = await stack.token(USERS.alice);
    const result = await stack.psql(token, ["-A", "-t", "-c", "SELECT current_user, session_user"]);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("analyst|analyst");
  });

  it("maps engineers to app_rw and admins to admin for the pg driver", async () => {
    expect(await loginOutcome(stack, await stack.token(USERS.bob))).toEqual({
      code: "ok",
      message: "app_rw",
    });
    expect(await loginOutcome(stack, await stack.token(USERS.carol))).toEqual({
      code: "ok",
      message: "admin",
    });
  });

  it("refuses a user with no mapped group (28000) and a database outside the allowed set", async () => {
    const mallory = await loginOutcome(stack, await stack.token(USERS.mallory));
    expect(mallory.code).toBe("28000");
    expect(mallory.message).toMatch(/no database role is mapped/);
    const otherDb = await loginOutcome(stack, await stack.token(USERS.alice), { database: "postgres" });
    expect(otherDb.code).toBe("28000");
    expect(otherDb.message).toMatch(/database .*postgres.* is not allowed/);
  });

  it("refuses every forged token with 28P01 and a short reason", async () => {
    const forged = await forgeAll({
      issuer: stack.oidc.issuer,
      audience: stack.oidc.clientId,
      signingKey: stack.oidc.privateJwks()[0]!,
    });
    expect(forged.length).toBeGreaterThanOrEqual(10);
    for (const attack of forged) {
      const outcome = await loginOutcome(stack, attack.token);
      expect.soft(outcome.code, attack.name).toBe("28P01");
      expect
        .soft(outcome.message, attack.name)
        .toMatch(/^token rejected: (token [a-z ,]+|no token given \(.*\))$/);
    }
  });

  it("refuses a token from the right issuer with another audience, and an expired real token", async () => {
    const other = await loginOutcome(stack, await stack.token(USERS.alice, { audience: "other-app" }));
    expect(other).toMatchObject({ code: "28P01", message: "token rejected: token audience not accepted" });
  });

  it("refuses a token login without TLS, before asking for the password", async () => {
    const outcome = await loginOutcome(stack, await stack.token(USERS.alice), { ssl: false });
    expect(outcome.code).toBe("28000");
    expect(outcome.message).toMatch(/requires TLS/);
    const viaPsql = await stack.psql(await stack.token(USERS.alice), ["-c", "SELECT 1"], {
      sslmode: "disable",
    });
    expect(viaPsql.code).not.toBe(0);
    expect(viaPsql.stderr).toMatch(/requires TLS/);
  });

  it("picks up a JWKS key rotation at the provider without a restart", async () => {
    await stack.oidc.rotateSigningKey({ retainPrevious: false });
    const token = await stack.token(USERS.bob);
    await new Promise((r) => setTimeout(r, 350)); // past the refetch interval the verifier honours
    expect(await loginOutcome(stack, token)).toEqual({ code: "ok", message: "app_rw" });
  });

  it("answers malformed start-up bytes with an error and keeps serving other clients", async () => {
    const garbage = [
      Buffer.from([0, 0, 0, 3]), // length below the minimum
      Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]), // 2 GiB start-up packet
      Buffer.concat([Buffer.from([0, 0, 0, 12, 0, 3, 0, 0]), Buffer.from("user")]), // unterminated
      Buffer.from([0, 0, 0, 8, 0x12, 0x34, 0x56, 0x78]), // unknown protocol 4660.22136
      Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ];
    for (const bytes of garbage) {
      const reply = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const socket = netConnect(stack.port, "127.0.0.1", () => socket.write(bytes));
        socket.on("data", (c) => chunks.push(c));
        socket.on("close", () => resolve(Buffer.concat(chunks)));
        socket.on("error", () => resolve(Buffer.concat(chunks)));
        setTimeout(() => socket.destroy(), 3_000);
      });
      expect(reply[0], bytes.toString("hex")).toBe(0x45); // 'E' ErrorResponse
      expect(reply.toString("latin1")).toMatch(/SFATAL/);
    }
    expect(await loginOutcome(stack, await stack.token(USERS.alice))).toEqual({
      code: "ok",
      message: "analyst",
    });
  });

  it("refuses a password message larger than the 65,535-byte cap with 28P01", async () => {
    const outcome = await loginOutcome(stack, "x".repeat(70_000));
    expect(outcome.code).toBe("28P01");
    expect(outcome.message).toMatch(/too large/);
  });
});
