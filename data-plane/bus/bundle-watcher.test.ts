import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { signBundle } from "../../control-plane/bundle/sign.js";
import { sha256 } from "../../proto/bundle.js";
import { encodeBundle } from "../../proto/bundle-file.js";
import type { BundlePointer } from "../../proto/bus.js";
import { BundleWatcher, LAST_GOOD_BUNDLE, LAST_GOOD_POINTER } from "./bundle-watcher.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "portcullis-watcher-unit-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function bundleBytes(revision: string): Promise<{ bytes: Buffer; signature: string }> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
  const signed = await signBundle(
    {
      policyWasm: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]),
      dataJson: new TextEncoder().encode("{}"),
      revision,
      entrypoints: ["portcullis/query/decision"],
      opaVersion: "1.22.3",
    },
    { privateKey, publicKey, kid, path: "(memory)", generated: true },
  );
  return { bytes: encodeBundle(signed), signature: signed.signature };
}

function pointerOf(revision: string, bytes: Uint8Array, signature: string): BundlePointer {
  return {
    revision,
    sha256: sha256(bytes),
    object: `bundles/${revision}.tar`,
    signature,
    activated_at: "2025-01-02T03:04:05.000Z",
    size: bytes.byteLength,
    bucket: "portcullis_bundle_objects",
  };
}

function watcher(onBundle: (bytes: Uint8Array, pointer: BundlePointer) => Promise<void>): BundleWatcher {
  return new BundleWatcher({
    servers: "nats://127.0.0.1:1",
    id: "dp",
    region: "eu",
    stateDir: dir,
    onBundle,
  });
}

describe("last good bundle on disk", () => {
  it("is absent at first", async () => {
    expect(await BundleWatcher.readLastGood(dir)).toBeUndefined();
    expect(await watcher(async () => {}).loadLastGood()).toBeUndefined();
  });

  it("uses the pointer file when it matches the bundle, and the bundle's own manifest when not", async () => {
    const { bytes, signature } = await bundleBytes("rev-a");
    await writeFile(join(dir, LAST_GOOD_BUNDLE), bytes);
    const pointer = pointerOf("rev-a", bytes, signature);
    await writeFile(join(dir, LAST_GOOD_POINTER), JSON.stringify(pointer));
    expect((await BundleWatcher.readLastGood(dir))?.pointer).toEqual(pointer);

    // A stop between the two writes leaves a pointer of another bundle: the tar still says what it is.
    const other = await bundleBytes("rev-b");
    await writeFile(join(dir, LAST_GOOD_BUNDLE), other.bytes);
    const derived = await BundleWatcher.readLastGood(dir);
    expect(derived?.pointer).toMatchObject({
      revision: "rev-b",
      sha256: sha256(other.bytes),
      signature: other.signature,
      size: other.bytes.byteLength,
    });
  });

  it("hands the bytes to onBundle, and reports a refusal without throwing", async () => {
    const { bytes, signature } = await bundleBytes("rev-c");
    await writeFile(join(dir, LAST_GOOD_BUNDLE), bytes);
    await writeFile(join(dir, LAST_GOOD_POINTER), JSON.stringify(pointerOf("rev-c", bytes, signature)));
    const seen: string[] = [];
    const accepting = watcher(async (b, p) => {
      expect(Buffer.from(b).equals(bytes)).toBe(true);
      seen.push(p.revision);
    });
    expect((await accepting.loadLastGood())?.revision).toBe("rev-c");
    expect(seen).toEqual(["rev-c"]);
    expect(accepting.state).toMatchObject({ connected: false, revision: "rev-c", loadedFrom: "disk" });

    const refusing = watcher(async () => {
      throw new Error("signed by another key");
    });
    expect(await refusing.loadLastGood()).toBeUndefined();
    expect(refusing.state.revision).toBeUndefined();
    expect(refusing.state.loadError).toBe("last good bundle rev-c: signed by another key");
  });

  it("treats an unreadable file as no bundle", async () => {
    await writeFile(join(dir, LAST_GOOD_BUNDLE), "not a tar");
    await expect(BundleWatcher.readLastGood(dir)).rejects.toThrow();
    expect(await watcher(async () => {}).loadLastGood()).toBeUndefined();
    expect(await readFile(join(dir, LAST_GOOD_BUNDLE), "utf8")).toBe("not a tar");
  });
});
