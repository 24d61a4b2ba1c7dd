import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Header } from "tar";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BUNDLE_FILES,
  BundleFormatError,
  type BundleManifest,
  canonicalManifest,
  parseManifest,
  sha256,
} from "./bundle.js";
import { decodeBundle, encodeBundle, readBundle, readTarFiles, writeBundle } from "./bundle-file.js";

const manifest: BundleManifest = {
  revision: "3f2a9c1",
  created_at: "2025-01-02T03:04:05.000Z",
  entrypoints: ["portcullis/query/decision", "portcullis/connection/decision"],
  opa_version: "1.22.3",
  sha256: { policy_wasm: "a".repeat(64), data_json: "b".repeat(64) },
};

describe("canonicalManifest", () => {
  it("sorts keys at every level and has no whitespace", () => {
    const text = canonicalManifest(manifest);
    expect(text).toBe(
      '{"created_at":"2025-01-02T03:04:05.000Z","entrypoints":["portcullis/query/decision","portcullis/connection/decision"],' +
        '"opa_version":"1.22.3","revision":"3f2a9c1","sha256":{"data_json":"' +
        "b".repeat(64) +
        '","policy_wasm":"' +
        "a".repeat(64) +
        '"}}',
    );
  });

  it("does not depend on the order keys were written in", () => {
    const shuffled = {
      sha256: { data_json: "b".repeat(64), policy_wasm: "a".repeat(64) },
      opa_version: "1.22.3",
      entrypoints: manifest.entrypoints,
      created_at: manifest.created_at,
      revision: manifest.revision,
    } as BundleManifest;
    expect(canonicalManifest(shuffled)).toBe(canonicalManifest(manifest));
  });

  it("refuses a manifest that does not fit the schema", () => {
    expect(() =>
      canonicalManifest({ ...manifest, sha256: { policy_wasm: "xyz", data_json: "b".repeat(64) } }),
    ).toThrow();
  });
});

describe("parseManifest", () => {
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

  it("round-trips the canonical form", () => {
    expect(parseManifest(new TextEncoder().encode(canonicalManifest(manifest)))).toEqual(manifest);
  });

  it("names the field that is wrong", () => {
    expect(() => parseManifest(enc({ ...manifest, entrypoints: [] }))).toThrow(/entrypoints/);
    expect(() => parseManifest(enc({ ...manifest, created_at: "yesterday" }))).toThrow(/created_at/);
    expect(() => parseManifest(enc({ ...manifest, extra: 1 }))).toThrow(BundleFormatError);
    expect(() => parseManifest(new TextEncoder().encode("{not json"))).toThrow(/not UTF-8 JSON/);
  });
});

describe("single-file bundle", () => {
  const files = {
    policyWasm: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 9, 9, 9]),
    dataJson: new TextEncoder().encode('{"portcullis":{}}'),
    manifestJson: new TextEncoder().encode(canonicalManifest(manifest)),
    signature: "eyJhbGciOiJFZERTQSJ9.e30.c2ln",
  };
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "portcullis-bundle-test-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("round-trips through bytes and is deterministic", async () => {
    const bytes = encodeBundle(files);
    expect(bytes.length % 512).toBe(0);
    expect(encodeBundle(files).equals(bytes)).toBe(true);
    const back = await decodeBundle(bytes);
    expect(Buffer.from(back.policyWasm).equals(Buffer.from(files.policyWasm))).toBe(true);
    expect(Buffer.from(back.dataJson).toString()).toBe('{"portcullis":{}}');
    expect(Buffer.from(back.manifestJson).toString()).toBe(canonicalManifest(manifest));
    expect(back.signature).toBe(files.signature);
  });

  it("lists the four files at the tar root", async () => {
    const names = [
      ...(await readTarFiles(encodeBundle(files), { limits: {}, unexpected: "ignore", what: "t" })),
    ];
    expect(names).toEqual([]);
    const all = await readTarFiles(encodeBundle(files), {
      limits: Object.fromEntries(Object.values(BUNDLE_FILES).map((n) => [n, 1 << 20])),
      unexpected: "reject",
      what: "t",
    });
    expect([...all.keys()].sort()).toEqual(["data.json", "manifest.json", "manifest.jws", "policy.wasm"]);
  });

  it("writes atomically and reads back from the file", async () => {
    const path = join(dir, "bundle.tar");
    await writeBundle(path, files);
    await writeBundle(path, { ...files, signature: "x.y.z" });
    expect(await readdir(dir)).toEqual(["bundle.tar"]);
    expect((await readBundle(path)).signature).toBe("x.y.z");
  });

  it("reads a directory holding the four files", async () => {
    const unpacked = join(dir, "unpacked");
    await mkdir(unpacked);
    await writeFile(join(unpacked, BUNDLE_FILES.policyWasm), files.policyWasm);
    await writeFile(join(unpacked, BUNDLE_FILES.dataJson), files.dataJson);
    await writeFile(join(unpacked, BUNDLE_FILES.manifestJson), files.manifestJson);
    await writeFile(join(unpacked, BUNDLE_FILES.signature), `${files.signature}\n`);
    const back = await readBundle(unpacked);
    expect(back.signature).toBe(files.signature);
    expect(sha256(back.policyWasm)).toBe(sha256(files.policyWasm));
    await rm(join(unpacked, BUNDLE_FILES.signature));
    await expect(readBundle(unpacked)).rejects.toThrow(/missing manifest.jws/);
  });

  it("rejects archives that are not exactly a bundle", async () => {
    const bytes = encodeBundle(files);
    const extra = Buffer.concat([
      bytes.subarray(0, bytes.length - 1024),
      entry("evil.sh", "rm -rf /"),
      Buffer.alloc(1024),
    ]);
    await expect(decodeBundle(extra)).rejects.toThrow(/unexpected entry "evil.sh"/);
    const twice = Buffer.concat([
      bytes.subarray(0, bytes.length - 1024),
      entry("data.json", "{}"),
      Buffer.alloc(1024),
    ]);
    await expect(decodeBundle(twice)).rejects.toThrow(/data.json appears twice/);
    const missing = encodeBundle({ ...files }).subarray(0, 512 + 512); // only manifest.jws
    await expect(decodeBundle(Buffer.concat([missing, Buffer.alloc(1024)]))).rejects.toThrow(/missing/);
    await expect(decodeBundle(Buffer.from("this is not a tar archive at all"))).rejects.toThrow(
      BundleFormatError,
    );
    await expect(readBundle(join(dir, "nope.tar"))).rejects.toThrow(/cannot read bundle .*nope.tar: ENOENT/);
  });

  it("checks declared sizes before buffering", async () => {
    await expect(
      readTarFiles(encodeBundle(files), {
        limits: { "policy.wasm": 4 },
        unexpected: "ignore",
        what: "bundle",
      }),
    ).rejects.toThrow(/policy.wasm is 11 bytes, over the 4-byte limit/);
  });

  it("rejects links posing as bundle files", async () => {
    const link = Buffer.alloc(512);
    new Header({
      path: "policy.wasm",
      type: "SymbolicLink",
      linkpath: "/etc/passwd",
      mode: 0o777,
      size: 0,
    }).encode(link, 0);
    await expect(decodeBundle(Buffer.concat([link, Buffer.alloc(1024)]))).rejects.toThrow(
      /SymbolicLink, not a regular file/,
    );
  });

  it("leaves no temporary file when the write fails", async () => {
    await expect(writeBundle(join(dir, "missing-dir", "b.tar"), files)).rejects.toThrow();
    expect(await readdir(dir)).toEqual([]);
    const path = join(dir, "ok.tar");
    await writeBundle(path, files);
    expect((await stat(path)).size).toBe(encodeBundle(files).length);
    expect(await readFile(path)).toEqual(encodeBundle(files));
  });
});

function entry(name: string, body: string): Buffer {
  const header = Buffer.alloc(512);
  new Header({ path: name, type: "File", mode: 0o644, size: body.length, mtime: new Date(0) }).encode(
    header,
    0,
  );
  const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  data.write(body);
  return Buffer.concat([header, data]);
}
