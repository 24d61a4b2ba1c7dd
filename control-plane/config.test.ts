import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../common/toolchain.js";
import {
  applyEnvOverrides,
  ControlPlaneConfigError,
  isLoopbackHost,
  loadControlPlaneConfig,
  parseControlPlaneConfig,
} from "./config.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-cp-config-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("control-plane config", () => {
  it("has working defaults: loopback admin, local NATS, everything under ./.portcullis", () => {
    const config = parseControlPlaneConfig({}, "/srv/cp");
    expect(config.data_dir).toBe("/srv/cp/.portcullis");
    expect(config.store.path).toBe("/srv/cp/.portcullis/control-plane.db");
    expect(config.signing.key_file).toBe("/srv/cp/.portcullis/bundle-signing.pem");
    expect(config.admin).toMatchObject({
      host: "127.0.0.1",
      port: 7070,
      reflection: true,
      auth: "oidc",
      oidc: { issuers: [] },
      bootstrap: { subjects: [], groups: [] },
      tls: { enabled: true },
    });
    expect(config.revocation).toEqual({
      retention: 24 * 3600 * 1000,
      ack_timeout: 5_000,
      keep_expired: 30 * 24 * 3600 * 1000,
    });
    expect(config.sessions.heartbeat_timeout).toBe(30_000);
    expect(config.nats.servers).toEqual(["nats://127.0.0.1:4222"]);
    expect(config.distribution).toMatchObject({
      kv_bucket: "portcullis_bundles",
      object_bucket: "portcullis_bundle_objects",
    });
    expect(config.source.git).toMatchObject({ branch: "main", folder: "policies", poll_interval_ms: 30_000 });
    expect(config.source.git.url).toBeUndefined();
    expect(config.pipeline.auto_activate).toBe(true);
    expect(config.metrics.port).toBeUndefined();
  });

  it("reads YAML, resolves relative paths against the file and applies env overrides", async () => {
    const file = join(dir, "cp.yaml");
    await writeFile(
      file,
      [
        "data_dir: state",
        "source:",
        "  git:",
        "    url: ../policy-repo",
        "    folder: rego",
        "nats:",
        "  servers: [nats://a:4222]",
        "signing:",
        "  public_key_out: keys/bundle.pub.pem",
      ].join("\n"),
    );
    const config = loadControlPlaneConfig(file, {
      PORTCULLIS_SOURCE__GIT__BRANCH: "release",
      PORTCULLIS_SOURCE__GIT__POLL_INTERVAL_MS: "0",
      PORTCULLIS_NATS__SERVERS: "nats://x:4222, nats://y:4222",
      PORTCULLIS_ADMIN__PORT: "7171",
      PORTCULLIS_PIPELINE__AUTO_ACTIVATE: "false",
      PORTCULLIS_UPSTREAM__PORT: "5433", // a data-plane section: ignored here
      PORTCULLIS_LOG_LEVEL: "debug",
    });
    expect(config.data_dir).toBe(join(dir, "state"));
    expect(config.store.path).toBe(join(dir, "state", "control-plane.db"));
    expect(config.signing.public_key_out).toBe(join(dir, "keys", "bundle.pub.pem"));
    expect(config.source.git).toMatchObject({
      url: join(dir, "..", "policy-repo"),
      branch: "release",
      folder: "rego",
      poll_interval_ms: 0,
    });
    expect(config.nats.servers).toEqual(["nats://x:4222", "nats://y:4222"]);
    expect(config.admin.port).toBe(7171);
    expect(config.pipeline.auto_activate).toBe(false);
  });

  it("leaves URLs alone and takes PORTCULLIS_DATA_DIR", () => {
    const raw = applyEnvOverrides(
      { source: { git: { url: "https://git.example.com/sec/policies.git" } } },
      {
        PORTCULLIS_DATA_DIR: "/var/lib/portcullis",
      },
    );
    const config = parseControlPlaneConfig(raw, "/etc/portcullis");
    expect(config.source.git.url).toBe("https://git.example.com/sec/policies.git");
    expect(config.data_dir).toBe("/var/lib/portcullis");
    expect(
      parseControlPlaneConfig({ source: { git: { url: "git@example.com:sec/p.git" } } }).source.git.url,
    ).toBe("git@example.com:sec/p.git");
  });

  it("names every invalid key", () => {
    const attempt = () =>
      parseControlPlaneConfig({
        admin: { port: "seventy" },
        nats: { servers: [] },
        typo: 1,
        pipeline: { auto_activate: "maybe" },
      });
    expect(attempt).toThrow(ControlPlaneConfigError);
    try {
      attempt();
    } catch (err) {
      const message = (err as Error).message;
      expect(message).toMatch(/admin\.port/);
      expect(message).toMatch(/nats\.servers: give at least one server URL/);
      expect(message).toMatch(/typo/);
      expect(message).toMatch(/pipeline\.auto_activate/);
    }
  });

  it("keeps admin.auth: none and plaintext to loopback; reads durations", () => {
    expect(() => parseControlPlaneConfig({ admin: { host: "0.0.0.0", auth: "none" } })).toThrow(
      /loopback development only/,
    );
    expect(() => parseControlPlaneConfig({ admin: { host: "0.0.0.0", tls: { enabled: false } } })).toThrow(
      /bearer tokens would travel in clear/,
    );
    expect(parseControlPlaneConfig({ admin: { host: "0.0.0.0" } }).admin.host).toBe("0.0.0.0");
    expect(
      parseControlPlaneConfig({ admin: { auth: "none", tls: { enabled: "false" } } }).admin,
    ).toMatchObject({ auth: "none", tls: { enabled: false } });
    const durations = parseControlPlaneConfig({
      revocation: { retention: "12h", ack_timeout: 2500 },
      sessions: { heartbeat_timeout: "45s" },
    });
    expect(durations.revocation).toMatchObject({ retention: 12 * 3600 * 1000, ack_timeout: 2500 });
    expect(durations.sessions.heartbeat_timeout).toBe(45_000);
    expect(() => parseControlPlaneConfig({ revocation: { retention: "soon" } })).toThrow(
      /revocation\.retention: "soon" is not a duration/,
    );
    expect(isLoopbackHost("127.0.0.2")).toBe(true);
    expect(isLoopbackHost("::1")).toBe(true);
    expect(isLoopbackHost("10.0.0.1")).toBe(false);
  });

  it("accepts the example in deploy/", () => {
    const config = loadControlPlaneConfig(join(projectRoot(), "deploy", "control-plane.example.yaml"), {});
    expect(config.source.git.url).toBe("https://git.example.com/security/db-policies.git");
    expect(config.distribution.replicas).toBe(3);
    expect(config.nats.servers).toHaveLength(3);
  });

  it("says when the file is missing or not a mapping", async () => {
    expect(() => loadControlPlaneConfig(join(dir, "nope.yaml"))).toThrow(/cannot read control-plane config/);
    const list = join(dir, "list.yaml");
    await writeFile(list, "- a\n- b\n");
    expect(() => loadControlPlaneConfig(list)).toThrow(/must be a YAML mapping/);
  });
});
