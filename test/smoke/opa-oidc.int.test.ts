import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as oidcClient from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot, toolchain } from "../../common/toolchain.js";
import { ENTRYPOINTS } from "../../proto/policy.js";
import { type OidcHarness, startOidcProvider } from "../harness/oidc.js";
import { loadRuntime } from "../harness/opa.js";

const run = promisify(execFile);

describe("OIDC provider", () => {
  let oidc: OidcHarness;
  beforeAll(async () => {
    oidc = await startOidcProvider();
    const { default: pkg } = await import("oidc-provider/package.json", { with: { type: "json" } });
    console.log(`oidc-provider: ${pkg.version} at ${oidc.issuer}`);
  });
  afterAll(async () => {
    await oidc?.stop();
  });

  it("serves discovery and a JWKS that verifies a token from a real grant", async () => {
    const config = await oidcClient.discovery(new URL(oidc.issuer), oidc.clientId, undefined, undefined, {
      execute: [oidcClient.allowInsecureRequests],
    });
    const jwksUri = config.serverMetadata().jwks_uri;
    expect(jwksUri).toBeDefined();
    const token = await oidc.token({ sub: "smoke", email: "smoke@example.com", groups: ["analysts"] });
    const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(jwksUri!)), {
      issuer: oidc.issuer,
      audience: oidc.clientId,
    });
    expect(payload).toMatchObject({ sub: "smoke", email: "smoke@example.com", groups: ["analysts"] });
    expect(protectedHeader.alg).toBe("RS256");
  });
});

describe("opa", () => {
  it("compiles policies/ to WebAssembly that evaluates in Node", async () => {
    const { stdout } = await run(toolchain().opa, ["version"]);
    console.log(`opa: ${stdout.split("\n")[0]}`);
    const runtime = await loadRuntime(join(projectRoot(), "policies"));
    expect(runtime.manifest.entrypoints).toContain(ENTRYPOINTS.connection);
    const decision = runtime.evaluateConnection({
      token: { iss: "https://issuer", sub: "alice", aud: "portcullis", exp: 2e9, groups: ["analysts"] },
      startup: { user: "alice", database: "app", application_name: "psql", options: "" },
      client: {
        addr: "127.0.0.1",
        port: 5000,
        tls: { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" },
      },
      proxy: { id: "smoke", region: "local", labels: {} },
      now_ns: Date.now() * 1e6,
    });
    expect(decision).toMatchObject({ allow: true, db_role: "analyst" });
  });
});
