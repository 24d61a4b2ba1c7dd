/**
 * The whole bundle path with real parts: opa builds policies/ to wasm, the control plane signs it
 * and writes the single-file form, the data plane reads it back, verifies it and loads it into
 * opa-wasm. Tampering with the file on disk (wasm, data.json, signature) or signing with another
 * key is rejected before anything is loaded.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BundleVerificationError,
  loadBundlePublicKeys,
  verifyBundle,
} from "../../common/policy/bundle-verify.js";
import { PolicyRuntime } from "../../common/policy/runtime.js";
import { projectRoot } from "../../common/toolchain.js";
import { type SignedBundle, signBundle } from "../../control-plane/bundle/sign.js";
import {
  exportPublicKey,
  loadOrCreateSigningKey,
  type SigningKey,
} from "../../control-plane/bundle/signing-key.js";
import type { CompiledPolicy } from "../../control-plane/compile/index.js";
import { BUNDLE_FILES } from "../../proto/bundle.js";
import { readBundle, readTarFiles, writeBundle } from "../../proto/bundle-file.js";
import { compileFolder } from "../harness/opa.js";

let dir: string;
let compiled: CompiledPolicy;
let key: SigningKey;
let signed: SignedBundle;
let bundlePath: string;
let original: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-bundle-int-"));
  compiled = await compileFolder(join(projectRoot(), "policies"), { revision: "int-test" });
  key = await loadOrCreateSigningKey(join(dir, "control-plane", "signing.pem"));
  await exportPublicKey(key, join(dir, "data-plane", "bundle-key.pem"));
  signed = await signBundle(
    {
      policyWasm: compiled.policyWasm,
      dataJson: compiled.dataJson,
      revision: compiled.revision,
      entrypoints: compiled.entrypoints,
      opaVersion: compiled.opaVersion,
    },
    key,
  );
  bundlePath = join(dir, "bundle.tar");
  await writeBundle(bundlePath, signed);
  original = await readFile(bundlePath);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The byte offset of a file's contents inside the tar on disk. */
function offsetOf(tar: Buffer, name: string): number {
  for (let at = 0; at + 512 <= tar.length; ) {
    const entryName = tar
      .subarray(at, at + 100)
      .toString("utf8")
      .replace(/\0.*$/s, "");
    const size = Number.parseInt(
      tar
        .subarray(at + 124, at + 136)
        .toString("ascii")
        .replace(/\0.*$/s, "")
        .trim(),
      8,
    );
    if (entryName === name) return at + 512;
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${name} not in the tar`);
}

async function tampered(mutate: (tar: Buffer) => void): Promise<string> {
  const copy = Buffer.from(original);
  mutate(copy);
  const path = join(dir, `tampered-${Math.random().toString(16).slice(2)}.tar`);
  await writeFile(path, copy);
  return path;
}

async function verifyFile(path: string) {
  return verifyBundle(
    await readBundle(path),
    await loadBundlePublicKeys(join(dir, "data-plane", "bundle-key.pem")),
  );
}

describe("bundle on disk", () => {
  it("is a tar with the four files at its root", async () => {
    const files = await readTarFiles(original, {
      limits: Object.fromEntries(Object.values(BUNDLE_FILES).map((n) => [n, 64 << 20])),
      unexpected: "reject",
      what: "bundle",
    });
    expect([...files.keys()].sort()).toEqual(["data.json", "manifest.json", "manifest.jws", "policy.wasm"]);
  });

  it("reads back, verifies with the exported public key and loads", async () => {
    const verified = await verifyFile(bundlePath);
    expect(verified.manifest).toMatchObject({
      revision: "int-test",
      opa_version: compiled.opaVersion,
      entrypoints: compiled.entrypoints,
    });
    const runtime = await PolicyRuntime.load(verified);
    expect(runtime.revision).toBe("int-test");
    const decision = runtime.evaluateConnection({
      token: {
        iss: "https://idp",
        sub: "alice",
        aud: "portcullis",
        exp: 2_000_000_000,
        groups: ["analysts"],
      },
      startup: { user: "alice", database: "app", application_name: "psql", options: "" },
      client: { addr: "127.0.0.1", port: 5000, tls: null },
      proxy: { id: "dp", region: "eu", labels: {} },
      now_ns: Date.now() * 1e6,
    });
    expect(decision).toEqual({ allow: true, reasons: [], db_role: "analyst", max_session_seconds: 28800 });
  });

  it("rejects a flipped byte in policy.wasm", async () => {
    const path = await tampered((tar) => {
      const at = offsetOf(tar, "policy.wasm") + 1000;
      tar[at] = (tar[at] ?? 0) ^ 0x01;
    });
    await expect(verifyFile(path)).rejects.toThrow(/bundle rejected: policy.wasm has SHA-256/);
  });

  it("rejects a changed byte in data.json", async () => {
    const path = await tampered((tar) => {
      const at = offsetOf(tar, "data.json");
      const text = tar.subarray(at, at + signed.dataJson.length).toString("utf8");
      const i = text.indexOf('"app"');
      expect(i).toBeGreaterThan(0);
      tar.write('"apq"', at + i); // allowed_databases ["app"] → ["apq"]
    });
    const err = await verifyFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleVerificationError);
    expect((err as BundleVerificationError).code).toBe("digest_mismatch");
    expect((err as Error).message).toMatch(/data.json has SHA-256/);
  });

  it("rejects a flipped byte in the signature", async () => {
    const path = await tampered((tar) => {
      const at = offsetOf(tar, "manifest.jws") + signed.signature.length - 5;
      tar[at] = tar[at] === 0x41 ? 0x42 : 0x41;
    });
    const err = await verifyFile(path).catch((e: unknown) => e);
    expect((err as BundleVerificationError).code).toBe("bad_signature");
  });

  it("rejects a bundle signed with another key", async () => {
    const other = await loadOrCreateSigningKey(join(dir, "attacker.pem"));
    const forged = await signBundle(
      {
        policyWasm: compiled.policyWasm,
        dataJson: new TextEncoder().encode('{"portcullis":{"allowed_databases":["everything"]}}'),
        revision: "forged",
        entrypoints: compiled.entrypoints,
        opaVersion: compiled.opaVersion,
      },
      other,
    );
    const path = join(dir, "forged.tar");
    await writeBundle(path, forged);
    await expect(verifyFile(path)).rejects.toThrow(/does not verify with the configured public key/);
  });

  it("rejects a bundle whose signature was removed", async () => {
    const path = join(dir, "unsigned.tar");
    await writeBundle(path, { ...signed, signature: "" });
    await expect(verifyFile(path)).rejects.toThrow(/has no signature/);
  });
});
