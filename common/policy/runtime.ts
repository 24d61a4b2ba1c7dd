/**
 * The policy runtime: one verified bundle loaded into @open-policy-agent/opa-wasm.
 *
 * Fail closed, never throw: an undefined result, an evaluation error (a wasm abort, a builtin the
 * SDK lacks, a conflict) or a result that does not have the contract's shape (proto/policy.ts,
 * checked with zod) becomes `{allow: false, reasons: ["policy error: …"]}`. The data document is
 * set once per bundle (opa-wasm re-serializes all data on setData). Each call is timed; the
 * numbers go to an optional observer (metrics) and to per-entrypoint running stats.
 *
 * PolicyHolder is the atomic swap point: callers take `holder.current()` once at the start of a
 * statement (or connection) and use that runtime to the end, so a swap never changes the policy
 * under work already in flight.
 */
import { createHash } from "node:crypto";
import { type LoadedPolicy, loadPolicy } from "@open-policy-agent/opa-wasm";
import { z } from "zod";
import type { BundleManifest } from "../../proto/bundle.js";
import {
  type AdminDecision,
  type AdminInput,
  type ConnectionDecision,
  type ConnectionInput,
  ENTRYPOINTS,
  type EntrypointName,
  type QueryDecision,
  type QueryInput,
} from "../../proto/policy.js";
import type { Logger } from "../logger.js";
import { isVerifiedBundle, type VerifiedBundle } from "./bundle-verify.js";

/**
 * Compiled policy modules by the SHA-256 of their bytes (a few, most recent last): data planes that
 * share a process (worker threads, the fleet benchmark's packing) compile each bundle's wasm once
 * and instantiate it each, with their own memory. The hash is over the verified bytes.
 */
type CompiledModule = Parameters<typeof loadPolicy>[0];
/** Node's WebAssembly global (the project's lib setting has no WebAssembly types). */
const wasm = (
  globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<CompiledModule> } }
).WebAssembly;
const compiledModules = new Map<string, Promise<CompiledModule>>();
const COMPILED_MODULES_KEPT = 4;

function compiledModule(bytes: Uint8Array): Promise<CompiledModule> {
  const key = createHash("sha256").update(bytes).digest("hex");
  const module = compiledModules.get(key) ?? wasm.compile(bytes);
  compiledModules.delete(key);
  compiledModules.set(key, module);
  module.catch(() => compiledModules.delete(key));
  while (compiledModules.size > COMPILED_MODULES_KEPT) {
    compiledModules.delete(compiledModules.keys().next().value as string);
  }
  return module;
}

export class PolicyLoadError extends Error {
  override name = "PolicyLoadError";
}

export class NoPolicyError extends Error {
  override name = "NoPolicyError";
  constructor() {
    super("no policy bundle is loaded");
  }
}

/** How one evaluation ended. "denied_by_error" covers undefined, errors and invalid shapes. */
export type EvalOutcome = "ok" | "undefined" | "error" | "invalid";

export interface EvalSample {
  entrypoint: EntrypointName;
  revision: string;
  /** Wall time of the whole call: input serialization, wasm evaluation, result validation. */
  durationNs: number;
  outcome: EvalOutcome;
}

export type EvalObserver = (sample: EvalSample) => void;

export interface EvalStats {
  count: number;
  failures: number;
  totalNs: number;
  maxNs: number;
  lastNs: number;
}

export interface PolicyRuntimeOptions {
  observer?: EvalObserver;
  logger?: Logger;
}

/** The entrypoints a bundle must have; `cacheable` is optional (absent = never cache). */
export const REQUIRED_ENTRYPOINTS: readonly EntrypointName[] = [
  ENTRYPOINTS.connection,
  ENTRYPOINTS.query,
  ENTRYPOINTS.admin,
];

const reasons = z.array(z.string());

export const connectionDecisionSchema = z
  .object({
    allow: z.boolean(),
    reasons,
    db_role: z.string().min(1).optional(),
    max_session_seconds: z.number().positive().finite().optional(),
  })
  .refine((d) => !d.allow || d.db_role !== undefined, {
    message: "an allowed connection needs a db_role",
    path: ["db_role"],
  });

export const queryDecisionSchema = z.object({
  allow: z.boolean(),
  reasons,
  mask: z
    .array(
      z.object({
        relation: z.string().min(1).optional(),
        column: z.string().min(1),
        with: z.enum(["null", "redact", "hash"]),
      }),
    )
    .optional(),
});

export const adminDecisionSchema = z.object({ allow: z.boolean(), reasons });

type Evaluated<T> =
  | { ok: true; value: T }
  | { ok: false; outcome: Exclude<EvalOutcome, "ok">; reason: string };

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  return `${issue.path.length ? issue.path.join(".") : "result"}: ${issue.message}`;
}

/** opa-wasm throws Errors, strings (aborts) and plain `{message}` objects (missing builtins). */
function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === "string") return err;
  if (err && typeof err === "object" && typeof (err as { message?: unknown }).message === "string") {
    return (err as { message: string }).message;
  }
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

export class PolicyRuntime {
  readonly revision: string;
  readonly manifest: BundleManifest;
  readonly hasCacheable: boolean;
  readonly hasCacheableByShape: boolean;
  readonly #policy: LoadedPolicy;
  readonly #observer: EvalObserver | undefined;
  readonly #logger: Logger | undefined;
  readonly #stats = new Map<EntrypointName, EvalStats>();
  readonly #baseData: Record<string, unknown>;
  #liveData: LiveData | undefined;

  private constructor(
    bundle: VerifiedBundle,
    policy: LoadedPolicy,
    data: Record<string, unknown>,
    options: PolicyRuntimeOptions,
  ) {
    this.#baseData = data;
    this.revision = bundle.revision;
    this.manifest = bundle.manifest;
    this.#policy = policy;
    this.#observer = options.observer;
    this.#logger = options.logger;
    this.hasCacheable = Object.hasOwn(policy.entrypoints as object, ENTRYPOINTS.queryCacheable);
    this.hasCacheableByShape = Object.hasOwn(policy.entrypoints as object, ENTRYPOINTS.queryCacheableByShape);
  }

  /** Loads a verified bundle. Throws PolicyLoadError when it cannot serve the contract. */
  static async load(bundle: VerifiedBundle, options: PolicyRuntimeOptions = {}): Promise<PolicyRuntime> {
    if (!isVerifiedBundle(bundle)) {
      throw new PolicyLoadError("refusing to load a bundle that did not come from verifyBundle");
    }
    let data: unknown;
    try {
      data = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bundle.dataJson));
    } catch (err) {
      throw new PolicyLoadError(
        `bundle ${bundle.revision}: data.json is not JSON: ${(err as Error).message}`,
      );
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new PolicyLoadError(`bundle ${bundle.revision}: data.json must hold an object`);
    }
    let policy: LoadedPolicy;
    try {
      policy = await loadPolicy(await compiledModule(bundle.policyWasm));
    } catch (err) {
      throw new PolicyLoadError(
        `bundle ${bundle.revision}: policy.wasm does not load: ${(err as Error).message}`,
      );
    }
    const present = Object.keys(policy.entrypoints as object);
    const missing = REQUIRED_ENTRYPOINTS.filter((e) => !present.includes(e));
    if (missing.length > 0) {
      throw new PolicyLoadError(
        `bundle ${bundle.revision}: policy.wasm lacks entrypoint${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`,
      );
    }
    try {
      policy.setData(data);
    } catch (err) {
      throw new PolicyLoadError(`bundle ${bundle.revision}: setting data failed: ${(err as Error).message}`);
    }
    return new PolicyRuntime(bundle, policy, data as Record<string, unknown>, options);
  }

  /**
   * Patches the live policy data without a new bundle: `data.portcullis.grants` becomes
   * `live.grants` (the bundle's own value of that key is replaced). opa-wasm serializes the whole
   * document again, so this is for rare changes (a grant issued, revoked or expired). Throws when
   * the data cannot be set; the runtime then keeps the data it had.
   */
  setLiveData(live: LiveData): void {
    if (this.#liveData === live) return;
    const base = this.#baseData.portcullis;
    const portcullis = base && typeof base === "object" && !Array.isArray(base) ? base : {};
    this.#policy.setData({ ...this.#baseData, portcullis: { ...portcullis, grants: live.grants } });
    this.#liveData = live;
  }

  evaluateConnection(input: ConnectionInput): ConnectionDecision {
    const result = this.#evaluate(ENTRYPOINTS.connection, input, connectionDecisionSchema);
    return result.ok ? result.value : { allow: false, reasons: [result.reason] };
  }

  evaluateQuery(input: QueryInput): QueryDecision {
    const result = this.#evaluate(ENTRYPOINTS.query, input, queryDecisionSchema);
    return result.ok ? result.value : { allow: false, reasons: [result.reason] };
  }

  /** Whether the proxy may cache this input's query decision: false unless the policy says exactly true. */
  isCacheable(input: QueryInput): boolean {
    if (!this.hasCacheable) return false;
    const result = this.#evaluate(ENTRYPOINTS.queryCacheable, input, z.boolean());
    return result.ok && result.value;
  }

  /** Whether this input's decision holds for every statement of the same shape: false unless exactly true. */
  isCacheableByShape(input: QueryInput): boolean {
    if (!this.hasCacheableByShape) return false;
    const result = this.#evaluate(ENTRYPOINTS.queryCacheableByShape, input, z.boolean());
    return result.ok && result.value;
  }

  evaluateAdmin(input: AdminInput): AdminDecision {
    const result = this.#evaluate(ENTRYPOINTS.admin, input, adminDecisionSchema);
    return result.ok ? result.value : { allow: false, reasons: [result.reason] };
  }

  /** Running totals per entrypoint since load. */
  stats(): Partial<Record<EntrypointName, EvalStats>> {
    return Object.fromEntries([...this.#stats].map(([k, v]) => [k, { ...v }]));
  }

  #evaluate<T>(entrypoint: EntrypointName, input: unknown, schema: z.ZodType<T>): Evaluated<T> {
    const started = process.hrtime.bigint();
    let result: Evaluated<T>;
    try {
      const resultSet: unknown = this.#policy.evaluate(input, entrypoint);
      if (!Array.isArray(resultSet) || resultSet.length === 0) {
        result = {
          ok: false,
          outcome: "undefined",
          reason: `policy error: ${entrypoint} is undefined for this input`,
        };
      } else if (resultSet.length > 1) {
        result = {
          ok: false,
          outcome: "invalid",
          reason: `policy error: ${entrypoint} returned several results`,
        };
      } else {
        const parsed = schema.safeParse((resultSet[0] as { result?: unknown }).result);
        result = parsed.success
          ? { ok: true, value: parsed.data }
          : {
              ok: false,
              outcome: "invalid",
              reason: `policy error: ${entrypoint} returned an invalid result (${describeIssue(parsed.error)})`,
            };
      }
    } catch (err) {
      const message = errorText(err);
      result = { ok: false, outcome: "error", reason: `policy error: ${entrypoint} failed: ${message}` };
    }
    const durationNs = Number(process.hrtime.bigint() - started);
    this.#record(entrypoint, durationNs, result);
    return result;
  }

  #record(entrypoint: EntrypointName, durationNs: number, result: Evaluated<unknown>): void {
    const stats = this.#stats.get(entrypoint) ?? { count: 0, failures: 0, totalNs: 0, maxNs: 0, lastNs: 0 };
    stats.count += 1;
    stats.totalNs += durationNs;
    stats.lastNs = durationNs;
    stats.maxNs = Math.max(stats.maxNs, durationNs);
    if (!result.ok) {
      stats.failures += 1;
      this.#logger?.warn(
        { entrypoint, revision: this.revision, reason: result.reason },
        "policy evaluation failed closed",
      );
    }
    this.#stats.set(entrypoint, stats);
    if (this.#observer) {
      try {
        this.#observer({
          entrypoint,
          revision: this.revision,
          durationNs,
          outcome: result.ok ? "ok" : result.outcome,
        });
      } catch (err) {
        this.#logger?.warn({ err }, "policy evaluation observer threw");
      }
    }
  }
}

export type SwapListener = (next: PolicyRuntime, previous: PolicyRuntime | undefined) => void;

/** What a data plane patches into a bundle's data while it runs (proto/grant.ts policyGrants). */
export interface LiveData {
  grants: Record<string, unknown>;
}

/**
 * Holds the active PolicyRuntime. `current()` is what a caller captures at the start of a unit of
 * work; `swap()` replaces it at once for everything that starts afterwards.
 */
export class PolicyHolder {
  #current: PolicyRuntime | undefined;
  #liveData: LiveData | undefined;
  #generation = 0;
  readonly #listeners = new Set<SwapListener>();

  constructor(initial?: PolicyRuntime) {
    this.#current = initial;
  }

  /** The active runtime, or undefined before the first bundle (callers deny then). */
  current(): PolicyRuntime | undefined {
    return this.#current;
  }

  /** The active runtime; throws NoPolicyError before the first bundle. */
  require(): PolicyRuntime {
    if (!this.#current) throw new NoPolicyError();
    return this.#current;
  }

  get revision(): string | undefined {
    return this.#current?.revision;
  }

  /**
   * Changes with every swap and every live data change: what was decided under one generation
   * (a prepared statement) is decided again under another.
   */
  get generation(): number {
    return this.#generation;
  }

  /** Makes `next` the active runtime and returns the one it replaced. */
  swap(next: PolicyRuntime): PolicyRuntime | undefined {
    if (!(next instanceof PolicyRuntime)) throw new TypeError("swap needs a PolicyRuntime");
    // the live data (grants) in force goes with the new bundle before anything evaluates it
    if (this.#liveData) next.setLiveData(this.#liveData);
    const previous = this.#current;
    this.#current = next;
    this.#generation += 1;
    for (const listener of this.#listeners) {
      try {
        listener(next, previous);
      } catch {
        // a listener is told, it does not get a say: the swap has happened
      }
    }
    return previous;
  }

  /**
   * The live data (grants) every runtime of this holder gets, the current one now and each
   * swapped in later. Throws when the current runtime cannot take it (it keeps what it had).
   */
  setLiveData(live: LiveData): void {
    this.#current?.setLiveData(live);
    this.#liveData = live;
    this.#generation += 1;
  }

  /** Called after every swap; returns a function that removes the listener. */
  onSwap(listener: SwapListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
