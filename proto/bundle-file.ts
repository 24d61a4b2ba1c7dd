/**
 * The single-file form of a bundle, for `--bundle PATH`, the data plane's last-good copy on disk
 * and the bytes in the NATS object store: an uncompressed POSIX tar holding exactly the four files
 * of proto/bundle.ts at its root (manifest.jws, manifest.json, policy.wasm, data.json), each a
 * regular file, none twice, nothing else. Written with fixed owner/mode/mtime so the same bundle
 * always gives the same bytes. It can be inspected with `tar -tvf` and built by hand with
 * `tar -cf bundle.tar manifest.jws manifest.json policy.wasm data.json`.
 *
 * readBundle also accepts a directory holding the four files (an unpacked tar).
 * Nothing here verifies anything: pass the result to the data plane's verifyBundle.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Header, Parser, type ReadEntry } from "tar";
import { BUNDLE_FILES, BUNDLE_LIMITS, type BundleFiles, BundleFormatError } from "./bundle.js";

const BLOCK = 512;

function tarEntry(name: string, data: Uint8Array): Buffer[] {
  const header = new Header({
    path: name,
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: "",
    gname: "",
    size: data.byteLength,
    mtime: new Date(0),
    type: "File",
  });
  const block = Buffer.alloc(BLOCK);
  header.encode(block, 0);
  if (header.needPax)
    throw new BundleFormatError(`tar entry ${name} needs a pax header (name or size too large)`);
  const padding = (BLOCK - (data.byteLength % BLOCK)) % BLOCK;
  return [block, Buffer.from(data.buffer, data.byteOffset, data.byteLength), Buffer.alloc(padding)];
}

/** The single-file (tar) bytes of a bundle. */
export function encodeBundle(files: BundleFiles): Buffer {
  const parts: Buffer[] = [
    ...tarEntry(BUNDLE_FILES.signature, new TextEncoder().encode(files.signature)),
    ...tarEntry(BUNDLE_FILES.manifestJson, files.manifestJson),
    ...tarEntry(BUNDLE_FILES.policyWasm, files.policyWasm),
    ...tarEntry(BUNDLE_FILES.dataJson, files.dataJson),
    Buffer.alloc(BLOCK * 2),
  ];
  return Buffer.concat(parts);
}

export interface TarReadOptions {
  /** Name (relative, no leading "/" or "./") → the largest size accepted. */
  limits: Record<string, number>;
  /** What to do with a file not in `limits`: reject the archive, or skip it. */
  unexpected: "reject" | "ignore";
  /** For error messages: "bundle", "opa build output", … */
  what: string;
}

/**
 * Reads the regular files of a tar (plain, or gzip-compressed: detected from the bytes) into memory,
 * checking each entry's declared size against its limit before buffering it. Duplicate names,
 * links, devices and unexpected files (when `unexpected` is "reject") are errors.
 */
export function readTarFiles(bytes: Uint8Array, options: TarReadOptions): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    const files = new Map<string, Buffer>();
    let failure: Error | undefined;
    const fail = (message: string): void => {
      failure ??= new BundleFormatError(`${options.what}: ${message}`);
    };
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const name = entry.path.replace(/^(\.?\/)+/, "");
        if (failure) return void entry.resume();
        if (entry.type === "Directory" && (name === "" || name === ".")) return void entry.resume();
        const limit = Object.hasOwn(options.limits, name) ? options.limits[name] : undefined;
        if (limit === undefined) {
          if (options.unexpected === "reject") fail(`unexpected entry ${JSON.stringify(entry.path)}`);
          return void entry.resume();
        }
        if (entry.type !== "File" && entry.type !== "OldFile") {
          fail(`${name} is a ${entry.type}, not a regular file`);
          return void entry.resume();
        }
        if (files.has(name)) {
          fail(`${name} appears twice`);
          return void entry.resume();
        }
        if (entry.size > limit) {
          fail(`${name} is ${entry.size} bytes, over the ${limit}-byte limit`);
          return void entry.resume();
        }
        const chunks: Buffer[] = [];
        entry.on("data", (chunk: Buffer) => chunks.push(chunk));
        entry.on("end", () => files.set(name, Buffer.concat(chunks)));
      },
    });
    parser.on("error", (err: Error) => fail(`not a readable tar archive (${err.message})`));
    parser.on("close", () => (failure ? reject(failure) : resolve(files)));
    parser.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
}

function assemble(found: Map<string, Uint8Array>, where: string): BundleFiles {
  const missing = Object.values(BUNDLE_FILES).filter((name) => !found.has(name));
  if (missing.length > 0) throw new BundleFormatError(`${where}: missing ${missing.join(", ")}`);
  const signature = found.get(BUNDLE_FILES.signature)!;
  return {
    policyWasm: found.get(BUNDLE_FILES.policyWasm)!,
    dataJson: found.get(BUNDLE_FILES.dataJson)!,
    manifestJson: found.get(BUNDLE_FILES.manifestJson)!,
    signature: Buffer.from(signature).toString("ascii").trim(),
  };
}

const LIMITS_BY_NAME: Record<string, number> = {
  [BUNDLE_FILES.policyWasm]: BUNDLE_LIMITS.policyWasm,
  [BUNDLE_FILES.dataJson]: BUNDLE_LIMITS.dataJson,
  [BUNDLE_FILES.manifestJson]: BUNDLE_LIMITS.manifestJson,
  [BUNDLE_FILES.signature]: BUNDLE_LIMITS.signature,
};

/** Parses the single-file bytes back into the four files (unverified). */
export async function decodeBundle(bytes: Uint8Array, where = "bundle"): Promise<BundleFiles> {
  const files = await readTarFiles(bytes, { limits: LIMITS_BY_NAME, unexpected: "reject", what: where });
  return assemble(files, where);
}

/**
 * Writes the single-file form to `path` atomically (a temporary sibling, then rename), so a reader
 * sees the old bundle or the new one, never half of one.
 */
export async function writeBundle(path: string, files: BundleFiles): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, encodeBundle(files), { mode: 0o644, flag: "wx" });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Reads a bundle from a single-file tar or from a directory holding the four files (unverified). */
export async function readBundle(path: string): Promise<BundleFiles> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (err) {
    throw new BundleFormatError(`cannot read bundle ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (info.isDirectory()) {
    const found = new Map<string, Uint8Array>();
    for (const [name, limit] of Object.entries(LIMITS_BY_NAME)) {
      const file = join(path, name);
      const size = await stat(file).then(
        (s) => (s.isFile() ? s.size : -1),
        () => undefined,
      );
      if (size === undefined) continue;
      if (size < 0) throw new BundleFormatError(`bundle ${path}: ${name} is not a regular file`);
      if (size > limit)
        throw new BundleFormatError(`bundle ${path}: ${name} is ${size} bytes, over ${limit}`);
      found.set(name, await readFile(file));
    }
    return assemble(found, `bundle ${path}`);
  }
  const limit = Object.values(BUNDLE_LIMITS).reduce((a, b) => a + b, 0) + 64 * 1024;
  if (info.size > limit) throw new BundleFormatError(`bundle ${path} is ${info.size} bytes, over ${limit}`);
  return decodeBundle(await readFile(path), `bundle ${path}`);
}
