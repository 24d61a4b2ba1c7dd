/**
 * Test helpers around the real opa pipeline: compile a policy folder (throwing with opa's
 * structured errors), turn it into a loaded PolicyRuntime through the same sign → verify path the
 * planes use (with a throwaway key), and make temporary policy folders from a file map.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, normalize, resolve } from "node:path";
import { calculateJwkThumbprint, exportJWK } from "jose";
import { verifyBundle } from "../../common/policy/bundle-verify.js";
import { PolicyRuntime, type PolicyRuntimeOptions } from "../../common/policy/runtime.js";
import { signBundle } from "../../control-plane/bundle/sign.js";
import type { SigningKey } from "../../control-plane/bundle/signing-key.js";
import {
  type CompiledPolicy,
  type CompileOptions,
  type CompileResult,
  compilePolicies,
  describeCompileFailure,
} from "../../control-plane/compile/index.js";

/** The compile failed: `result` holds the stage, opa's located errors and failing tests. */
export class PolicyCompileError extends Error {
  override name = "PolicyCompileError";
  constructor(readonly result: Extract<CompileResult, { ok: false }>) {
    super(`policy compile failed at ${result.stage}:\n${describeCompileFailure(result)}`);
  }
}

/** Compiles `dir` with the real opa (check → test → build) or throws PolicyCompileError. */
export async function compileFolder(dir: string, options: CompileOptions = {}): Promise<CompiledPolicy> {
  const result = await compilePolicies(dir, options);
  if (!result.ok) throw new PolicyCompileError(result);
  return result.compiled;
}

/** A fresh Ed25519 signing key that lives only in memory. */
export async function throwawaySigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
  return { privateKey, publicKey, kid, path: "(memory)", generated: true };
}

/** Compile, sign with a throwaway key, verify with its public key, load into opa-wasm. */
export async function loadRuntime(
  dir: string,
  options: CompileOptions & PolicyRuntimeOptions = {},
): Promise<PolicyRuntime> {
  const compiled = await compileFolder(dir, options);
  const key = await throwawaySigningKey();
  const signed = await signBundle(compiled, key);
  const verified = await verifyBundle(signed, key.publicKey);
  return PolicyRuntime.load(verified, options);
}

export interface TempPolicyFolder {
  dir: string;
  remove(): Promise<void>;
}

/** Writes `files` (relative path → content; objects are written as JSON) into a new temp folder. */
export async function makePolicyFolder(files: Record<string, string | object>): Promise<TempPolicyFolder> {
  const dir = await mkdtemp(join(tmpdir(), "portcullis-policy-"));
  for (const [name, content] of Object.entries(files)) {
    const rel = normalize(name);
    if (isAbsolute(rel) || rel.startsWith("..")) throw new Error(`policy file ${name} is outside the folder`);
    const path = resolve(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, typeof content === "string" ? content : `${JSON.stringify(content, null, 2)}\n`);
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `fn` with a temp policy folder made from `files`, removing it afterwards. */
export async function withPolicyFolder<T>(
  files: Record<string, string | object>,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const folder = await makePolicyFolder(files);
  try {
    return await fn(folder.dir);
  } finally {
    await folder.remove();
  }
}
