/**
 * Running the real `opa` binary for the compile pipeline, and turning what it prints into
 * structured errors. The binary comes from (first found): the caller's `opaPath`, PORTCULLIS_OPA,
 * the toolchain recorded by `make setup`.
 *
 * Infrastructure problems are thrown (OpaNotFoundError, OpaTimeoutError, PolicyFolderError);
 * problems in the policy are returned as PolicyError lists by the stages.
 */
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { ToolchainError, toolchain } from "../../common/toolchain.js";

/** One problem in the policy folder, located when opa says where. Paths are relative to the folder. */
export interface PolicyError {
  /** e.g. "query.rego"; absent when opa names no file. */
  file?: string;
  row?: number;
  col?: number;
  /** opa's error code, e.g. "rego_parse_error", "rego_type_error"; absent for plain messages. */
  code?: string;
  message: string;
}

export function formatPolicyError(e: PolicyError): string {
  const where = e.file ? `${e.file}${e.row ? `:${e.row}${e.col ? `:${e.col}` : ""}` : ""}: ` : "";
  return `${where}${e.code ? `${e.code}: ` : ""}${e.message}`;
}

export class OpaNotFoundError extends Error {
  override name = "OpaNotFoundError";
}

export class OpaTimeoutError extends Error {
  override name = "OpaTimeoutError";
}

export class PolicyFolderError extends Error {
  override name = "PolicyFolderError";
}

/** Options every stage takes. */
export interface OpaOptions {
  /** The opa binary; defaults to PORTCULLIS_OPA, then the recorded toolchain. */
  opaPath?: string;
  /** Kill opa and throw OpaTimeoutError after this long. */
  timeoutMs?: number;
}

export function resolveOpa(explicit?: string): string {
  const candidate = explicit ?? process.env.PORTCULLIS_OPA;
  if (candidate !== undefined) {
    if (!existsSync(candidate)) {
      throw new OpaNotFoundError(
        `opa binary not found at ${candidate}: run \`make setup\` or fix PORTCULLIS_OPA`,
      );
    }
    return resolve(candidate);
  }
  try {
    return toolchain().opa;
  } catch (err) {
    if (err instanceof ToolchainError) throw new OpaNotFoundError(`opa binary not available: ${err.message}`);
    throw err;
  }
}

/** Resolves the policy folder, throwing a clear error when it is not a directory. */
export function policyFolder(dir: string): string {
  const abs = resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    throw new PolicyFolderError(`policy folder ${abs} does not exist`);
  }
  if (!isDir) throw new PolicyFolderError(`policy folder ${abs} is not a directory`);
  return abs;
}

export interface OpaRun {
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

const OUTPUT_CAP = 32 * 1024 * 1024;

/** Runs `opa <args>` in `cwd`; resolves with its exit code and output, whatever the code. */
export function runOpa(
  args: readonly string[],
  cwd: string,
  options: OpaOptions & { stage: string; defaultTimeoutMs: number },
): Promise<OpaRun> {
  const opa = resolveOpa(options.opaPath);
  const timeoutMs = options.timeoutMs ?? options.defaultTimeoutMs;
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(opa, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size <= OUTPUT_CAP) into.push(chunk);
    };
    child.stdout.on("data", collect(out));
    child.stderr.on("data", collect(err));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(() =>
        reject(new OpaTimeoutError(`opa ${options.stage} did not finish within ${timeoutMs} ms (killed)`)),
      );
    }, timeoutMs);
    child.on("error", (e: NodeJS.ErrnoException) =>
      finish(() =>
        reject(
          e.code === "ENOENT" || e.code === "EACCES"
            ? new OpaNotFoundError(`cannot run opa at ${opa}: ${e.code}`)
            : new Error(`opa ${options.stage} could not start: ${e.message}`),
        ),
      ),
    );
    child.on("close", (code, signal) =>
      finish(() =>
        resolvePromise({
          code: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
          durationMs: performance.now() - started,
        }),
      ),
    );
  });
}

let versions = new Map<string, Promise<string>>();

/** `opa version`'s Version line, cached per binary. */
export function opaVersion(options: OpaOptions = {}): Promise<string> {
  const opa = resolveOpa(options.opaPath);
  let version = versions.get(opa);
  if (!version) {
    version = runOpa(["version"], process.cwd(), {
      ...options,
      stage: "version",
      defaultTimeoutMs: 10_000,
    }).then((run) => {
      const match = /^Version:\s*(\S+)/m.exec(run.stdout);
      if (run.code !== 0 || !match?.[1]) {
        throw new OpaNotFoundError(
          `${opa} did not report a version: ${run.stderr.trim() || run.stdout.trim()}`,
        );
      }
      return match[1];
    });
    version.catch(() => versions.delete(opa));
    versions.set(opa, version);
  }
  return version;
}

/** For tests: forget cached versions. */
export function resetOpaVersionCache(): void {
  versions = new Map();
}

/** A path opa printed, made relative to the policy folder. */
export function relativeToFolder(file: string, folder: string): string {
  const rel = isAbsolute(file) ? relative(folder, file) : file;
  return rel.replace(/^(\.\/)+/, "");
}

interface OpaJsonError {
  message?: unknown;
  code?: unknown;
  location?: { file?: unknown; row?: unknown; col?: unknown };
}

/** One error object of opa's JSON output ({message, code, location:{file,row,col}}). */
export function fromOpaJsonError(e: OpaJsonError, folder: string): PolicyError {
  const out: PolicyError = { message: typeof e.message === "string" ? e.message : JSON.stringify(e) };
  if (typeof e.code === "string" && e.code) out.code = e.code;
  const loc = e.location;
  if (loc && typeof loc.file === "string" && loc.file) out.file = relativeToFolder(loc.file, folder);
  if (loc && typeof loc.row === "number" && loc.row > 0) out.row = loc.row;
  if (loc && typeof loc.col === "number" && loc.col > 0) out.col = loc.col;
  return out;
}

/** opa's `{"errors": [...]}` JSON, or undefined when the text is not that. */
export function parseOpaJsonErrors(text: string, folder: string): PolicyError[] | undefined {
  const start = text.indexOf("{");
  if (start < 0) return undefined;
  try {
    const json = JSON.parse(text.slice(start)) as { errors?: unknown };
    if (!Array.isArray(json.errors)) return undefined;
    return json.errors.map((e) => fromOpaJsonError(e as OpaJsonError, folder));
  } catch {
    return undefined;
  }
}

const LOCATED = /([^\s:][^:\n]*?\.(?:rego|json|ya?ml)):(\d+)(?::(\d+))?: (rego_[a-z_]+|[a-z_]+_error): (.+)$/;
const FILE_ONLY = /([^\s:][^:\n]*?\.(?:rego|json|ya?ml)): (.+)$/;

/**
 * opa's plain-text errors (load errors, `opa build`): lines like
 * `1 error occurred during loading: w.rego:3: rego_parse_error: unexpected eof token`,
 * `error: load error: … data.json: unexpected EOF`, or a bare `error: …` sentence.
 */
export function parseOpaTextErrors(text: string, folder: string): PolicyError[] {
  const errors: PolicyError[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (!line.trim() || /^\s/.test(line)) continue; // blank, or the source excerpt / caret lines
    const located = LOCATED.exec(line);
    if (located) {
      const error: PolicyError = {
        file: relativeToFolder(located[1]!, folder),
        row: Number(located[2]),
        code: located[4]!,
        message: located[5]!.trim(),
      };
      if (located[3]) error.col = Number(located[3]);
      errors.push(error);
      continue;
    }
    const message = line
      .replace(/^error:\s*/, "")
      .replace(/^load error:\s*/, "")
      .replace(/^\d+ errors? occurred( during loading)?:?\s*/, "")
      .trim();
    if (!message) continue;
    const fileOnly = FILE_ONLY.exec(message);
    if (fileOnly && message.startsWith(fileOnly[1]!)) {
      errors.push({ file: relativeToFolder(fileOnly[1]!, folder), message: fileOnly[2]!.trim() });
      continue;
    }
    errors.push({ message });
  }
  return errors;
}

/** Structured errors from a failed run: JSON when opa printed JSON, else the text lines. */
export function errorsOfRun(run: OpaRun, folder: string, stage: string): PolicyError[] {
  const text = `${run.stderr}\n${run.stdout}`;
  const parsed = parseOpaJsonErrors(run.stderr, folder) ?? parseOpaJsonErrors(run.stdout, folder);
  if (parsed && parsed.length > 0) return parsed;
  const lines = parseOpaTextErrors(text, folder);
  if (lines.length > 0) return lines;
  return [{ message: `opa ${stage} failed with exit code ${run.code} and no message` }];
}
