import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ControlPlaneConfigError, parseControlPlaneConfig } from "../control-plane/config.js";
import { parseDataPlaneConfig } from "../data-plane/config.js";
import { natsAccessSchema, natsConnectionOptions, natsServers } from "./nats-settings.js";

describe("NATS access settings", () => {
  it("keep a single URL or a plain list working, with no credentials and no TLS", () => {
    expect(natsServers("nats://127.0.0.1:4222")).toEqual(["nats://127.0.0.1:4222"]);
    expect(natsConnectionOptions(["nats://a:4222", "nats://b:4222"])).toEqual({});
    const parsed = natsAccessSchema.parse({ servers: "nats://a:4222,nats://b:4222" });
    expect(natsServers(parsed)).toEqual(["nats://a:4222", "nats://b:4222"]);
    expect(natsConnectionOptions(parsed)).toEqual({});
  });

  it("refuse two kinds of credential, a password without a user, a certificate without its key", () => {
    const base = { servers: ["nats://a:4222"] };
    expect(
      natsAccessSchema.safeParse({ ...base, user: "u", password_env: "P", token_file: "t" }).success,
    ).toBe(false);
    expect(natsAccessSchema.safeParse({ ...base, password_file: "p" }).success).toBe(false);
    expect(natsAccessSchema.safeParse({ ...base, tls: { cert_file: "c" } }).success).toBe(false);
    expect(() =>
      parseControlPlaneConfig({ nats: { servers: ["nats://a:4222"], creds_file: "a", nkey_seed_file: "b" } }),
    ).toThrow(ControlPlaneConfigError);
  });

  it("read the password, give TLS by file, and name an empty password variable without its value", () => {
    const dir = mkdtempSync(join(tmpdir(), "nats-settings-"));
    writeFileSync(join(dir, "pw"), "s3cret\n");
    const config = parseDataPlaneConfig(
      {
        proxy: { id: "dp-1", region: "eu" },
        listen: { port: 0 },
        oidc: { issuers: [{ issuer: "https://login.example.com", audience: "x" }] },
        policy: { public_key_file: "key.pem" },
        upstream: { host: "db", port: 5432, roles: {} },
        bus: {
          servers: ["tls://a:4222"],
          user: "data-plane",
          password_file: "pw",
          tls: { ca_file: "ca.pem" },
        },
      },
      dir,
    );
    const bus = config.bus!;
    expect(bus.password_file).toBe(join(dir, "pw"));
    const options = natsConnectionOptions(bus);
    expect(options.tls).toEqual({ caFile: join(dir, "ca.pem") });
    expect(options.authenticator).toBeTypeOf("function");
    const auth = (options.authenticator as unknown as (nonce?: string) => Record<string, unknown>)();
    expect(auth).toMatchObject({ user: "data-plane", pass: "s3cret" });
    expect(() =>
      natsConnectionOptions({ servers: ["nats://a"], user: "u", password_env: "NATS_PW_EMPTY" }, {}),
    ).toThrow(/NATS_PW_EMPTY \(the NATS password\) is empty/);
  });
});
