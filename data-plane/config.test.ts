import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  busBackoff,
  ConfigError,
  loadDataPlaneConfig,
  parseDataPlaneConfig,
  readRolePassword,
} from "./config.js";

const minimal = {
  oidc: { issuers: [{ issuer: "https://login.example.com", audience: "portcullis" }] },
  policy: { public_key_file: "key.pem" },
  upstream: { roles: { analyst: { password_env: "PG_ANALYST" } } },
};

describe("data-plane config", () => {
  it("fills safe defaults: TLS required, loopback listener, upstream TLS required", () => {
    const config = parseDataPlaneConfig(minimal, "/etc/portcullis");
    expect(config.tls.allow_plaintext_loopback).toBe(false);
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 6432 });
    expect(config.upstream.tls).toBe("require");
    expect(config.policy.public_key_file).toBe("/etc/portcullis/key.pem");
  });

  it("has safe defaults for every limit, validated, and the example sets the same", () => {
    const config = parseDataPlaneConfig(minimal, "/etc/portcullis");
    expect(config.session).toMatchObject({
      login_timeout_ms: 30_000,
      max_client_connections: 2_000,
      max_connections_per_subject: 250,
      idle_in_transaction_timeout_ms: 600_000,
      max_message_bytes: 268_435_456,
    });
    expect(config.upstream).toMatchObject({ max_scram_iterations: 100_000, max_message_bytes: 268_435_456 });
    expect(config.decision_log.max_queue).toBe(10_000);
    const over = { ...minimal, upstream: { ...minimal.upstream, max_message_bytes: 2 ** 30 } };
    expect(() => parseDataPlaneConfig(over)).toThrow(/max_message_bytes/);
    const low = { ...minimal, upstream: { ...minimal.upstream, max_scram_iterations: 100 } };
    expect(() => parseDataPlaneConfig(low)).toThrow(/max_scram_iterations/);
    const example = loadDataPlaneConfig(
      join(import.meta.dirname, "..", "deploy", "data-plane.example.yaml"),
      {},
    );
    expect(example.session).toMatchObject({
      max_connections_per_subject: 250,
      idle_in_transaction_timeout_ms: 600_000,
      max_message_bytes: 268_435_456,
    });
    expect(example.upstream.max_scram_iterations).toBe(100_000);
  });

  it("reads environment overrides, and 'false' means false", () => {
    const dir = mkdtempSync(join(tmpdir(), "dp-config-"));
    const file = join(dir, "dp.yaml");
    writeFileSync(
      file,
      "oidc:\n  issuers: [{issuer: 'https://login.example.com', audience: portcullis}]\npolicy: {public_key_file: k.pem}\nupstream:\n  roles: {analyst: {password_env: X}}\ntls: {allow_plaintext_loopback: true}\n",
    );
    const config = loadDataPlaneConfig(file, {
      PORTCULLIS_UPSTREAM__PORT: "5433",
      PORTCULLIS_TLS__ALLOW_PLAINTEXT_LOOPBACK: "false",
      PORTCULLIS_UNRELATED__THING: "ignored",
    });
    expect(config.upstream.port).toBe(5433);
    expect(config.tls.allow_plaintext_loopback).toBe(false);
  });

  it("explains what is wrong, key by key", () => {
    expect(() => parseDataPlaneConfig({ ...minimal, oidc: { issuers: [] } })).toThrow(
      /oidc.issuers: configure at least one/,
    );
    expect(() =>
      parseDataPlaneConfig({
        ...minimal,
        upstream: { roles: { analyst: { password_env: "A", password_file: "b" } } },
      }),
    ).toThrow(/exactly one of password_file or password_env/);
    expect(() =>
      parseDataPlaneConfig({ ...minimal, upstream: { ...minimal.upstream, tls: "maybe" } }),
    ).toThrow(/upstream.tls/);
    expect(() => parseDataPlaneConfig({ ...minimal, listen: { port: 70000 } })).toThrow(/listen.port/);
    expect(() => parseDataPlaneConfig({ ...minimal, surprise: 1 })).toThrow(/surprise|unrecognized/i);
  });

  it("caps the NATS reconnect backoff at bus.reconnect_max_ms (10 s unless told)", () => {
    const bus = { servers: "nats://127.0.0.1:4222" };
    const byDefault = parseDataPlaneConfig({ ...minimal, bus }).bus!;
    expect(busBackoff(byDefault)).toEqual({ initialMs: 250, maxMs: 10_000 });
    const quick = parseDataPlaneConfig({ ...minimal, bus: { ...bus, reconnect_max_ms: 1000 } }).bus!;
    expect(busBackoff(quick)).toEqual({ initialMs: 250, maxMs: 1000 });
    const tiny = parseDataPlaneConfig({ ...minimal, bus: { ...bus, reconnect_max_ms: 100 } }).bus!;
    expect(busBackoff(tiny)).toEqual({ initialMs: 100, maxMs: 100 });
    expect(() => parseDataPlaneConfig({ ...minimal, bus: { ...bus, reconnect_max_ms: 10 } })).toThrow(
      /bus.reconnect_max_ms/,
    );
  });

  it("reads role passwords from env or file and never puts the value in an error", () => {
    const config = parseDataPlaneConfig(minimal);
    expect(readRolePassword(config, "analyst", { PG_ANALYST: "s3cret" })).toBe("s3cret");
    expect(() => readRolePassword(config, "analyst", {})).toThrow(/PG_ANALYST.*is empty/);
    expect(() => readRolePassword(config, "admin", {})).toThrow(ConfigError);
  });
});
