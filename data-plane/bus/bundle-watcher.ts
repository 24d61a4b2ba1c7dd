/**
 * The data plane's side of bundle distribution (proto/bus.ts): watch the KV key `active` of
 * `portcullis_bundles`, fetch the object it points to from `portcullis_bundle_objects`, check its
 * size and SHA-256 against the pointer, and hand the bytes to `onBundle` — the proxy verifies the
 * signature there and swaps its PolicyHolder; a throw from it is reported as `load_error`.
 *
 * Also: a StatusReport on `portcullis.status.<id>` every `statusIntervalMs` and after each load;
 * the last bundle `onBundle` accepted is kept on local disk (`<stateDir>/last-good-bundle.tar` and
 * `.json`) so `loadLastGood()` can start the proxy when NATS or the control plane is down.
 *
 * The control plane also sends each new pointer with its bytes on core NATS
 * (`portcullis.bundles.live`): a data plane takes the bytes from there when they match the pointer's
 * size and SHA-256, instead of fetching the object (or as soon as they arrive while a fetch is still
 * under way). The bytes then go through `onBundle` exactly as fetched ones do, so the message needs
 * no trust of its own; a refused one is fetched from the Object Store once before it counts as refused.
 *
 * Canary rollouts (proto/canary.ts): the watcher also watches the KV key `canary`. While it holds a
 * canary whose selector picks this data plane (by region, or by a stable hash of the id), its pointer
 * is the one wanted instead of `active`; when the key goes, `active` is wanted again. The canary's
 * bytes are fetched from the Object Store (there is no live message for a canary: every data plane
 * would take it). The signed-activation checks are the same for both keys.
 *
 * NATS loss never throws into the proxy: the link reconnects forever with backoff, and every
 * (re)connection re-reads the pointer (a watch with the last value), so a change made while this
 * data plane was cut off is picked up when it is back. A periodic re-read is the safety net.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type KV, Kvm, type KvWatchEntry } from "@nats-io/kv";
import { type ObjectResult, type ObjectStore, Objm } from "@nats-io/obj";
import type {
  ConnectionOptions,
  NatsConnection,
  QueuedIterator,
  Subscription,
} from "@nats-io/transport-node";
import { startDeadline } from "../../common/deadline.js";
import { type Logger, silentLogger } from "../../common/logger.js";
import { type Backoff, backoffDelay, NatsLink } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";
import { BUNDLE_LIMITS } from "../../proto/bundle.js";
import { decodeBundle } from "../../proto/bundle-file.js";
import {
  BUS,
  type BundlePointer,
  BusMessageError,
  bundlePointerSchema,
  decodeBundlePointer,
  decodeLiveBundle,
  encodeBusMessage,
  type StatusReport,
  statusSubject,
} from "../../proto/bus.js";
import { type CanaryPointer, canarySelects, decodeCanaryPointer } from "../../proto/canary.js";

export interface BundleWatcherOptions {
  /** NATS server URL(s). */
  servers: NatsTarget;
  /** This data plane's id (unique in the fleet), region and labels, as reported. */
  id: string;
  region: string;
  labels?: Record<string, string>;
  /** Software version reported; default: the package version. */
  version?: string;
  /** Where the last good bundle is kept (created if missing). */
  stateDir: string;
  /**
   * Verify and load a bundle. Resolve once it is in use; throw to refuse it (the error message
   * is reported as load_error and the previous bundle stays).
   */
  onBundle: (bytes: Uint8Array, pointer: BundlePointer) => Promise<void>;
  /** Live client sessions, for reports. */
  sessions?: () => number;
  /** Status report period (default 10 s). */
  statusIntervalMs?: number;
  /**
   * Re-read of the pointer besides the watch (default 5 s: a watch whose consumer was on a NATS
   * node that died stays silent until its heartbeats run out, about a minute; one KV read per data
   * plane every few seconds is what bounds a rollout during such a fault).
   */
  checkIntervalMs?: number;
  kvBucket?: string;
  objectBucket?: string;
  /** Largest object accepted (default: the sum of the bundle file limits). */
  maxBundleBytes?: number;
  /**
   * Longest a bundle fetch may take (default 20 s). A fetch that stalls — e.g. its consumer was on
   * a NATS node that died — is abandoned and retried with backoff instead of holding every later
   * pointer behind it.
   */
  fetchTimeoutMs?: number;
  /**
   * How long a pointer change seen in KV waits for its live message before the bundle is fetched
   * from the Object Store (default 250 ms; the control plane sends it right after the pointer). The
   * first pointer read after a (re)connection is fetched at once: no live message follows it.
   */
  liveGraceMs?: number;
  backoff?: Backoff;
  connectTimeoutMs?: number;
  /** Authentication, TLS… for the NATS client. */
  connectionOptions?: Partial<ConnectionOptions>;
  logger?: Logger;
  /**
   * The KV key watched (default BUS.activeKey). The shadow watcher reads BUS.shadowKey, without the
   * live subject, status reports or a copy on disk (`shadow: true`).
   */
  key?: string;
  shadow?: boolean;
  /** Told when the key is deleted (a shadow revision ended); the watcher forgets what it loaded. */
  onCleared?: () => void;
}

export interface BundleWatcherState {
  connected: boolean;
  /** The revision onBundle last accepted (from NATS or from disk). */
  revision?: string;
  /** Where it came from. */
  loadedFrom?: "nats" | "disk";
  /** From NATS: in the live message, or fetched from the Object Store. */
  loadedVia?: BundleTransport;
  loadedAt?: string;
  /** The revision the KV pointer names (last seen). */
  wantedRevision?: string;
  /** Set while a canary that selects this data plane is in KV: its revision. */
  canaryRevision?: string;
  /** Why the last pointer seen is not in use. */
  loadError?: string;
}

export type BundleTransport = "live" | "object-store";

export const LAST_GOOD_BUNDLE = "last-good-bundle.tar";
export const LAST_GOOD_POINTER = "last-good-bundle.json";

const DEFAULT_MAX_BUNDLE_BYTES =
  BUNDLE_LIMITS.policyWasm +
  BUNDLE_LIMITS.dataJson +
  BUNDLE_LIMITS.manifestJson +
  BUNDLE_LIMITS.signature +
  64 * 1024;

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "portcullis" && pkg.version) return pkg.version;
    } catch {
      // not here
    }
    dir = dirname(dir);
  }
  return "unknown";
}

const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
/** A pointer's identity: its bundle and its activation (a new activation of the same bundle is new). */
const pointerKey = (p: BundlePointer) => `${p.revision}\0${p.sha256}\0${p.activation ?? ""}`;

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, data, { mode: 0o600, flag: "wx" });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** A bundle fetch that may work later (object missing or being replaced, NATS trouble). */
class FetchError extends Error {}

export class BundleWatcher {
  readonly #options: BundleWatcherOptions;
  readonly #logger: Logger;
  readonly #link: NatsLink;
  readonly #version: string;
  readonly #startedAt = new Date().toISOString();
  readonly #kvBucket: string;
  readonly #objectBucket: string;
  #kv: KV | undefined;
  #os: ObjectStore | undefined;
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #liveSub: Subscription | undefined;
  /** The bytes of the last live message not yet used, for the pointer of that key. */
  #live: { key: string; bytes: Uint8Array } | undefined;
  /** A fetch under way that the live message for its pointer may finish first. */
  #liveWaiter: { key: string; deliver: (bytes: Uint8Array) => void } | undefined;
  #loadedVia: BundleTransport | undefined;
  #loaded: BundlePointer | undefined;
  #loadedFrom: "nats" | "disk" | undefined;
  #loadedAt: string | undefined;
  #wanted: BundlePointer | undefined;
  /** The last `active` pointer seen in KV. */
  #active: BundlePointer | undefined;
  /** The canary in KV when it selects this data plane. */
  #canary: CanaryPointer | undefined;
  #canaryWatch: QueuedIterator<KvWatchEntry> | undefined;
  #pending: BundlePointer | undefined;
  /** Whether the pending pointer is a change just seen in KV (its live message is on its way). */
  #pendingIsUpdate = false;
  #processing: Promise<void> | undefined;
  #failedKey: string | undefined;
  #loadError: string | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #fetchFailures = 0;
  #stopped = false;
  #listeners = new Set<(state: BundleWatcherState) => void>();
  readonly #key: string;
  readonly #shadow: boolean;

  constructor(options: BundleWatcherOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: "bundle-watcher" });
    this.#version = options.version ?? packageVersion();
    this.#kvBucket = options.kvBucket ?? BUS.bundleKv;
    this.#objectBucket = options.objectBucket ?? BUS.bundleObjects;
    this.#key = options.key ?? BUS.activeKey;
    this.#shadow = options.shadow ?? false;
    this.#link = new NatsLink({
      servers: options.servers,
      name: `portcullis-data-plane-${options.id}`,
      logger: this.#logger,
      backoff: options.backoff,
      connectTimeoutMs: options.connectTimeoutMs,
      connectionOptions: options.connectionOptions,
      onReady: (nc) => this.#onReady(nc),
      onDown: () => this.#notify(),
    });
  }

  /** Connects in the background and starts watching and reporting; returns at once. */
  start(): void {
    if (this.#stopped) throw new Error("the bundle watcher was stopped");
    this.#link.start();
    if (!this.#shadow) {
      const status = this.#options.statusIntervalMs ?? 10_000;
      this.#statusTimer = setInterval(() => void this.reportNow(), status);
      this.#statusTimer.unref();
    }
    const check = this.#options.checkIntervalMs ?? 5_000;
    this.#checkTimer = setInterval(() => void this.checkNow(), check);
    this.#checkTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#statusTimer);
    clearInterval(this.#checkTimer);
    clearTimeout(this.#retryTimer);
    this.#watch?.stop();
    this.#watch = undefined;
    this.#canaryWatch?.stop();
    this.#canaryWatch = undefined;
    this.#liveSub?.unsubscribe();
    this.#liveSub = undefined;
    await this.#processing?.catch(() => undefined);
    await this.#link.stop();
  }

  get state(): BundleWatcherState {
    const state: BundleWatcherState = { connected: this.#link.connected };
    if (this.#loaded) state.revision = this.#loaded.revision;
    if (this.#loadedFrom) state.loadedFrom = this.#loadedFrom;
    if (this.#loadedFrom === "nats" && this.#loadedVia) state.loadedVia = this.#loadedVia;
    if (this.#loadedAt) state.loadedAt = this.#loadedAt;
    if (this.#wanted) state.wantedRevision = this.#wanted.revision;
    if (this.#canary) state.canaryRevision = this.#canary.pointer.revision;
    if (this.#loadError) state.loadError = this.#loadError;
    return state;
  }

  /** Called after every change of state (a load, a refusal, a connection change). */
  onChange(listener: (state: BundleWatcherState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once connected to NATS with the buckets found; rejects after `timeoutMs`. */
  async whenConnected(timeoutMs?: number): Promise<void> {
    await this.#link.whenReady(timeoutMs);
  }

  /** Reads the files of the last good bundle without loading them; undefined when there are none. */
  static async readLastGood(
    stateDir: string,
  ): Promise<{ bytes: Uint8Array; pointer: BundlePointer; path: string } | undefined> {
    const path = join(stateDir, LAST_GOOD_BUNDLE);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const digest = sha256Hex(bytes);
    try {
      const pointer = bundlePointerSchema.parse(
        JSON.parse(await readFile(join(stateDir, LAST_GOOD_POINTER), "utf8")),
      );
      if (pointer.sha256 === digest) return { bytes, pointer, path };
    } catch {
      // missing or from another write: the tar itself says what it is
    }
    const files = await decodeBundle(bytes, path);
    const manifest = JSON.parse(Buffer.from(files.manifestJson).toString("utf8")) as { revision?: string };
    const pointer: BundlePointer = {
      revision: String(manifest.revision ?? "unknown"),
      sha256: digest,
      object: "",
      signature: files.signature,
      activated_at: (await stat(path)).mtime.toISOString(),
      size: bytes.byteLength,
      bucket: "",
    };
    return { bytes, pointer, path };
  }

  /**
   * Loads the last good bundle from local disk through `onBundle` (for start-up while NATS or the
   * control plane is down). Returns its pointer, or undefined when there is none or it is refused.
   * A newer bundle from NATS replaces it as usual.
   */
  async loadLastGood(): Promise<BundlePointer | undefined> {
    let found: Awaited<ReturnType<typeof BundleWatcher.readLastGood>>;
    try {
      found = await BundleWatcher.readLastGood(this.#options.stateDir);
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, "the last good bundle on disk is unreadable");
      return undefined;
    }
    if (!found) return undefined;
    try {
      await this.#options.onBundle(found.bytes, found.pointer);
    } catch (err) {
      this.#loadError = `last good bundle ${found.pointer.revision}: ${(err as Error).message}`;
      this.#logger.warn(
        { revision: found.pointer.revision, err: (err as Error).message },
        "last good bundle refused",
      );
      this.#notify();
      return undefined;
    }
    if (!this.#loaded) {
      this.#loaded = found.pointer;
      this.#loadedFrom = "disk";
      this.#loadedAt = new Date().toISOString();
    }
    this.#logger.info(
      { revision: found.pointer.revision, path: found.path },
      "loaded the last good bundle from disk",
    );
    this.#notify();
    return found.pointer;
  }

  /** Re-reads the KV pointer now (when connected) and loads it if it is new. */
  async checkNow(): Promise<void> {
    const kv = this.#kv;
    if (!kv || !this.#link.connected) return;
    try {
      if (!this.#shadow) {
        const canary = await kv.get(BUS.canaryKey);
        this.#considerCanary(canary?.operation === "PUT" ? canary.value : undefined, false, false);
      }
      const entry = await kv.get(this.#key);
      if (entry && entry.operation === "PUT") this.#consider(entry.value, false);
      else if (this.#shadow) this.#cleared();
    } catch (err) {
      this.#logger.debug({ err: (err as Error).message }, "reading the bundle pointer failed");
    }
    await this.#processing;
  }

  /** Publishes a status report now (when connected). */
  async reportNow(): Promise<void> {
    const nc = this.#link.connection;
    if (!nc || this.#shadow) return;
    const report: StatusReport = {
      id: this.#options.id,
      region: this.#options.region,
      version: this.#version,
      revision: this.#loaded?.revision ?? "",
      sessions: Math.max(0, Math.floor(this.#options.sessions?.() ?? 0)),
      at: new Date().toISOString(),
      started_at: this.#startedAt,
    };
    if (this.#loadError) report.load_error = this.#loadError.slice(0, 4000);
    if (this.#wanted) report.wanted_revision = this.#wanted.revision;
    if (this.#options.labels) report.labels = this.#options.labels;
    const server = this.#link.server;
    if (server) report.nats_server = server.name;
    if (server?.cluster) report.nats_cluster = server.cluster;
    try {
      nc.publish(statusSubject(this.#options.id), encodeBusMessage(report));
    } catch (err) {
      this.#logger.debug({ err: (err as Error).message }, "status report not sent");
    }
  }

  async #onReady(nc: NatsConnection): Promise<void> {
    // Object store first: open() fails while the control plane has not created the bucket, and
    // the link retries this with backoff.
    this.#os = await new Objm(nc).open(this.#objectBucket);
    const kv = await new Kvm(nc).open(this.#kvBucket);
    this.#kv = kv;
    this.#watch?.stop();
    const watch = await kv.watch({ key: this.#key });
    this.#watch = watch;
    void (async () => {
      try {
        for await (const entry of watch) {
          if (entry.operation === "PUT") this.#consider(entry.value, entry.isUpdate);
          else if (this.#shadow) this.#cleared();
        }
      } catch (err) {
        this.#logger.debug({ err: (err as Error).message }, "bundle pointer watch ended");
      }
    })();
    this.#canaryWatch?.stop();
    // a canary is the enforced revision of the data planes it selects: the shadow watcher ignores it
    if (!this.#shadow) {
      const canaryWatch = await kv.watch({ key: BUS.canaryKey });
      this.#canaryWatch = canaryWatch;
      void (async () => {
        try {
          for await (const entry of canaryWatch) {
            this.#considerCanary(entry.operation === "PUT" ? entry.value : undefined, entry.isUpdate, true);
          }
        } catch (err) {
          this.#logger.debug({ err: (err as Error).message }, "canary pointer watch ended");
        }
      })();
    }
    this.#liveSub?.unsubscribe();
    this.#liveSub = this.#shadow
      ? undefined
      : nc.subscribe(BUS.bundlesLiveSubject, {
          callback: (err, msg) => {
            if (!err) this.#onLive(msg.data);
          },
        });
    this.#notify();
    void this.reportNow();
  }

  /** The key was deleted (or is absent): nothing is wanted any more. */
  #cleared(): void {
    if (!this.#loaded && !this.#wanted && !this.#pending) return;
    this.#loaded = undefined;
    this.#wanted = undefined;
    this.#pending = undefined;
    this.#loadError = undefined;
    this.#failedKey = undefined;
    this.#logger.info({ key: this.#key }, "bundle pointer deleted");
    try {
      this.#options.onCleared?.();
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, "onCleared threw");
    }
    this.#notify();
  }

  /** A live bundle message: used when its bytes are the pointer's, ignored (with a log line) if not. */
  #onLive(message: Uint8Array): void {
    let pointer: BundlePointer;
    let bytes: Uint8Array;
    try {
      ({ pointer, bytes } = decodeLiveBundle(message));
    } catch (err) {
      if (!(err instanceof BusMessageError)) throw err;
      this.#logger.warn({ err: err.message }, "ignored an invalid live bundle message");
      return;
    }
    const max = this.#options.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
    if (bytes.byteLength > max || sha256Hex(bytes) !== pointer.sha256) {
      this.#logger.warn(
        { revision: pointer.revision, bytes: bytes.byteLength },
        "ignored a live bundle whose bytes are not its pointer's",
      );
      return;
    }
    const key = pointerKey(pointer);
    if (this.#loaded && pointerKey(this.#loaded) === key) return;
    // a copy: NATS may reuse the buffer the message is a view of
    const own = Uint8Array.from(bytes);
    if (this.#liveWaiter?.key === key) {
      this.#liveWaiter.deliver(own);
      return;
    }
    this.#live = { key, bytes: own };
    this.#want(pointer, "live");
  }

  #consider(value: Uint8Array, isUpdate: boolean): void {
    let pointer: BundlePointer;
    try {
      pointer = decodeBundlePointer(value);
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, "ignored an invalid bundle pointer");
      return;
    }
    this.#active = pointer;
    // a canary that picks this data plane wins over `active` while it is in KV
    if (this.#canary) return;
    this.#want(pointer, isUpdate ? "kv-update" : "kv");
  }

  /**
   * The canary key's value (undefined: deleted or absent). One that selects this data plane makes
   * its pointer the wanted one; when it goes (or stops selecting us), `active` is wanted again.
   * `fromWatch` is false for the periodic re-read, which only acts on a change.
   */
  #considerCanary(value: Uint8Array | undefined, isUpdate: boolean, fromWatch: boolean): void {
    let canary: CanaryPointer | undefined;
    if (value !== undefined) {
      try {
        canary = decodeCanaryPointer(value);
      } catch (err) {
        this.#logger.warn({ err: (err as Error).message }, "ignored an invalid canary pointer");
        canary = undefined;
      }
    }
    const selected =
      canary && canarySelects(canary.selector, { id: this.#options.id, region: this.#options.region })
        ? canary
        : undefined;
    const before = this.#canary;
    const same =
      (before === undefined && selected === undefined) ||
      (before !== undefined &&
        selected !== undefined &&
        pointerKey(before.pointer) === pointerKey(selected.pointer));
    if (same && !fromWatch) return;
    this.#canary = selected;
    if (selected) {
      if (!same) this.#logger.info({ revision: selected.pointer.revision }, "this data plane is in a canary");
      // no live message follows a canary pointer: fetched at once
      this.#want(selected.pointer, "kv");
    } else if (before) {
      this.#logger.info({ revision: before.pointer.revision }, "the canary is over");
      if (this.#active) this.#want(this.#active, isUpdate ? "kv-update" : "kv");
    }
  }

  /**
   * A pointer to load: from KV (what the control plane wants, reported; `kv-update` when it is a
   * change the watch just saw) or from a live message.
   */
  #want(pointer: BundlePointer, from: "kv" | "kv-update" | "live" = "kv"): void {
    if (from !== "live") this.#wanted = pointer;
    if (this.#loaded && pointerKey(this.#loaded) === pointerKey(pointer)) {
      if (this.#loadError && this.#failedKey !== pointerKey(pointer)) this.#loadError = undefined;
      return;
    }
    if (this.#failedKey === pointerKey(pointer)) return;
    if (!this.#pending || pointerKey(this.#pending) !== pointerKey(pointer)) {
      this.#pendingIsUpdate = from === "kv-update";
    }
    this.#pending = pointer;
    this.#processing ??= this.#drain().finally(() => {
      this.#processing = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending && !this.#stopped) {
      const pointer = this.#pending;
      const isUpdate = this.#pendingIsUpdate;
      this.#pending = undefined;
      this.#pendingIsUpdate = false;
      if (this.#loaded && pointerKey(this.#loaded) === pointerKey(pointer)) continue;
      await this.#load(pointer, isUpdate);
    }
  }

  async #load(pointer: BundlePointer, isUpdate = false): Promise<void> {
    const log = this.#logger.child({ revision: pointer.revision });
    const started = performance.now();
    let bytes: Uint8Array;
    let via: BundleTransport;
    try {
      ({ bytes, via } = await this.#bytesOf(pointer, isUpdate));
    } catch (err) {
      this.#loadError = `fetching bundle ${pointer.revision}: ${(err as Error).message}`;
      if (err instanceof FetchError) this.#retryLater(pointer);
      else this.#failedKey = pointerKey(pointer);
      log.warn({ err: (err as Error).message }, "bundle fetch failed");
      this.#notify();
      void this.reportNow();
      return;
    }
    const fetchedMs = performance.now() - started;
    try {
      await this.#options.onBundle(bytes, pointer);
    } catch (err) {
      // Refused from a live message: fetched from the Object Store once more before it counts.
      if (via === "live" && this.#wanted && pointerKey(this.#wanted) === pointerKey(pointer)) {
        this.#pending ??= pointer;
      } else if (via !== "live") {
        this.#failedKey = pointerKey(pointer);
      }
      this.#loadError = `bundle ${pointer.revision} refused: ${(err as Error).message}`;
      log.error({ err: (err as Error).message }, "bundle refused; the previous one stays in use");
      this.#notify();
      void this.reportNow();
      return;
    }
    if (this.#shadow && !this.#wanted) {
      // deleted while it loaded: undo
      this.#options.onCleared?.();
      return;
    }
    const loadedAt = new Date().toISOString();
    // Kept on disk before the state says it is loaded: a reported revision is one a restart can use.
    // (A shadow revision is not: it is read again from NATS.)
    await (this.#shadow ? Promise.resolve() : this.#saveLastGood(bytes, pointer)).catch((err: Error) =>
      log.warn(
        { err: err.message, stateDir: this.#options.stateDir },
        "cannot keep the last good bundle on disk",
      ),
    );
    this.#loaded = pointer;
    this.#loadedFrom = "nats";
    this.#loadedVia = via;
    this.#loadedAt = loadedAt;
    this.#loadError = undefined;
    this.#failedKey = undefined;
    this.#fetchFailures = 0;
    log.info(
      { via, fetchMs: Math.round(fetchedMs), totalMs: Math.round(performance.now() - started) },
      "bundle loaded",
    );
    this.#notify();
    void this.reportNow();
  }

  /**
   * The pointer's bytes: from the live message when it came first; for a change just seen in KV,
   * from the live message if it comes within liveGraceMs; else fetched from the Object Store,
   * unless the live message arrives while that fetch is still under way (the fetch is then
   * cancelled: the Object Store client hashes every chunk it reads, which is not free).
   */
  async #bytesOf(
    pointer: BundlePointer,
    isUpdate: boolean,
  ): Promise<{ bytes: Uint8Array; via: BundleTransport }> {
    const key = pointerKey(pointer);
    const live = this.#live;
    this.#live = undefined;
    if (live?.key === key) return { bytes: live.bytes, via: "live" };
    let superseded = false;
    const arrived = new Promise<Uint8Array>((deliver) => {
      this.#liveWaiter = {
        key,
        deliver: (bytes) => {
          superseded = true;
          deliver(bytes);
        },
      };
    });
    try {
      const grace = isUpdate ? (this.#options.liveGraceMs ?? 250) : 0;
      if (grace > 0) {
        let timer: NodeJS.Timeout | undefined;
        const early = await Promise.race([
          arrived,
          new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), grace);
          }),
        ]);
        clearTimeout(timer);
        if (early) return { bytes: early, via: "live" };
      }
      const fetching = this.#fetch(pointer, () => superseded);
      fetching.catch(() => undefined);
      return await Promise.race([
        fetching.then((bytes) => ({ bytes, via: "object-store" as const })),
        arrived.then((bytes) => ({ bytes, via: "live" as const })),
      ]);
    } finally {
      this.#liveWaiter = undefined;
    }
  }

  /**
   * The pointer's object, checked against it, within fetchTimeoutMs from the first request to the
   * last byte. Every step can stall on a dead NATS node: the info and get requests wait on a stream
   * leader being elected, and the client's read waits on an ordered consumer whose heartbeats a dead
   * node never sends (and the client re-creates that consumer without a deadline of its own). A
   * fetch past its deadline is abandoned (a late reader is cancelled) and retried with backoff,
   * instead of holding every later pointer behind it.
   */
  async #fetch(pointer: BundlePointer, superseded: () => boolean = () => false): Promise<Uint8Array> {
    const max = this.#options.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
    if (pointer.bucket !== this.#objectBucket) {
      throw new Error(
        `the pointer names bucket ${pointer.bucket}; this data plane reads ${this.#objectBucket}`,
      );
    }
    if (pointer.size > max)
      throw new Error(`the bundle is ${pointer.size} bytes, over the ${max}-byte limit`);
    const os = this.#os;
    if (!os || !this.#link.connected) throw new FetchError("NATS is not connected");
    const timeoutMs = this.#options.fetchTimeoutMs ?? 20_000;
    const deadline = startDeadline(
      timeoutMs,
      () => new FetchError(`fetching object ${pointer.object} took longer than ${timeoutMs} ms`),
    );
    const within = <T>(step: Promise<T>): Promise<T> =>
      deadline.within(
        step.catch((err: Error) => {
          throw err instanceof FetchError ? err : new FetchError(err.message);
        }),
      );
    try {
      const info = await within(os.info(pointer.object));
      if (!info || info.deleted)
        throw new FetchError(`object ${pointer.object} is not in ${this.#objectBucket}`);
      if (info.size > max)
        throw new Error(`object ${pointer.object} is ${info.size} bytes, over the ${max}-byte limit`);
      const getting = os.get(pointer.object);
      // a get that answers after the live bytes came: its stream is cancelled, nobody reads it
      void getting.then(
        (late) => {
          if (superseded()) late?.data.cancel().catch(() => undefined);
        },
        () => undefined,
      );
      // and one that answers after the deadline, likewise
      const result = await deadline.within(
        getting.catch((err: Error) => {
          throw new FetchError(err.message);
        }),
        (late) => late?.data.cancel().catch(() => undefined),
      );
      if (!result) throw new FetchError(`object ${pointer.object} vanished`);
      const bytes = await this.#readObject(result, pointer.object, info.size, within, superseded);
      const digest = sha256Hex(bytes);
      if (digest !== pointer.sha256) {
        throw new FetchError(
          `object ${pointer.object} has SHA-256 ${digest}, the pointer says ${pointer.sha256}`,
        );
      }
      return bytes;
    } finally {
      deadline.clear();
    }
  }

  /** The object's bytes, each read bounded by the fetch's deadline (`within`). */
  async #readObject(
    result: ObjectResult,
    name: string,
    size: number,
    within: <T>(step: Promise<T>) => Promise<T>,
    superseded: () => boolean,
  ): Promise<Uint8Array> {
    const reader = result.data.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        if (superseded()) throw new FetchError(`object ${name}: the live message came first`);
        const { done, value } = await within(reader.read());
        if (done) break;
        total += value.byteLength;
        if (total > size) throw new FetchError(`object ${name} is longer than its ${size}-byte record`);
        chunks.push(value);
      }
      await within(result.error.then((err) => (err ? Promise.reject(err) : undefined)));
    } catch (err) {
      await reader.cancel().catch(() => undefined);
      throw err instanceof FetchError ? err : new FetchError((err as Error).message);
    }
    return Buffer.concat(chunks, total);
  }

  /** Fetches the pointer again after a transient failure, unless a newer one came meanwhile. */
  #retryLater(pointer: BundlePointer): void {
    clearTimeout(this.#retryTimer);
    if (this.#stopped) return;
    const delay = backoffDelay(++this.#fetchFailures, this.#options.backoff);
    this.#retryTimer = setTimeout(() => {
      if (this.#stopped || !this.#wanted || pointerKey(this.#wanted) !== pointerKey(pointer)) return;
      this.#want(pointer);
    }, delay);
    this.#retryTimer.unref();
  }

  async #saveLastGood(bytes: Uint8Array, pointer: BundlePointer): Promise<void> {
    const dir = this.#options.stateDir;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(join(dir, LAST_GOOD_BUNDLE), bytes);
    await writeAtomic(join(dir, LAST_GOOD_POINTER), `${JSON.stringify(pointer, null, 2)}\n`);
  }

  #notify(): void {
    const state = this.state;
    for (const listener of this.#listeners) {
      try {
        listener(state);
      } catch {
        // listeners are told, they do not get a say
      }
    }
  }
}
