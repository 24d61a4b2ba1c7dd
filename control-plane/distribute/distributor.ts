/**
 * Distribution over NATS JetStream: the active bundle's bytes go into the Object Store bucket, its
 * pointer (proto/bus.ts BundlePointer) into the KV bucket under `active`; data planes watch that key.
 *
 * SQLite is the source of truth: `reconcile()` makes NATS match the store's active bundle (object
 * present, pointer equal), so the same code publishes an activation, republishes on start, and
 * repairs NATS after it lost its data or was unreachable. NATS being down never fails the control
 * plane: the link retries in the background and reconciles as soon as it is back.
 *
 * Each new pointer is then also sent with its bytes on core NATS (`portcullis.bundles.live`), so
 * connected data planes switch without an Object Store fetch each: one message fanned out by the
 * servers instead of a consumer per data plane. A data plane that misses it reads KV as before.
 *
 * The distributor also listens to `portcullis.status.>` and hands valid reports to the fleet view.
 */
import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { ObjectStore } from "@nats-io/obj";
import { Objm } from "@nats-io/obj";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../../common/logger.js";
import { type Backoff, NatsLink } from "../../common/nats-link.js";
import type { NatsTarget } from "../../common/nats-settings.js";
import type { Activation } from "../../proto/activation.js";
import {
  BUS,
  type BundlePointer,
  BusMessageError,
  decodeBundlePointer,
  decodeStatusReport,
  encodeBusMessage,
  encodeLiveBundle,
  STATUS_WILDCARD,
  type StatusReport,
} from "../../proto/bus.js";
import type { CanaryPointer, CanarySelector } from "../../proto/canary.js";
import type { ActiveBundle, ShadowBundle } from "../store/index.js";

export interface DistributorOptions {
  servers: NatsTarget;
  /** Client name on the NATS server. */
  name?: string;
  logger: Logger;
  kvBucket?: string;
  objectBucket?: string;
  /** JetStream replicas of both buckets (1 for a single server, 3 for a cluster). */
  replicas?: number;
  /** The JetStream cluster both buckets are created in (a region's cluster in a supercluster). */
  placementCluster?: string;
  /** Pointer history kept in the KV bucket. */
  kvHistory?: number;
  /** Bundle objects kept besides the active one (older ones are deleted; SQLite keeps every bundle). */
  keepObjects?: number;
  backoff?: Backoff;
  connectTimeoutMs?: number;
  /** The store's active bundle (with bytes), or undefined when none was ever activated. */
  active: () => ActiveBundle | undefined;
  /**
   * Signs the active bundle's activation (proto/activation.ts): the pointer's `activation`, what
   * makes a data plane switch and lets it refuse a replayed older pointer.
   */
  signActivation: (activation: Activation) => Promise<string>;
  /**
   * The store's shadow bundle (evaluated beside the active one, never enforced), published under
   * BUS.shadowKey with its activation signed by `signShadowActivation`; the key is deleted when
   * there is none.
   */
  shadow?: () => ShadowBundle | undefined;
  signShadowActivation?: (activation: Activation) => Promise<string>;
  /** Told when an activation has reached NATS. */
  onPublished?: (bundle: ActiveBundle, at: string) => void;
  /** Valid status reports from data planes. */
  onStatus?: (report: StatusReport) => void;
  /** Told about the connection state (metrics). */
  onConnectionChange?: (connected: boolean) => void;
}

export interface PublishResult {
  published: boolean;
  /** Why not, when not published. */
  error?: string;
  durationMs: number;
  /** The pointer now in KV (when published). */
  pointer?: BundlePointer;
}

/** The object name of a revision's bundle in the object store. */
export function bundleObjectName(revision: string): string {
  return `bundles/${revision}.tar`;
}

interface Handles {
  nc: NatsConnection;
  kv: KV;
  os: ObjectStore;
}

export class Distributor {
  readonly #options: DistributorOptions;
  readonly #kvBucket: string;
  readonly #objectBucket: string;
  readonly #link: NatsLink;
  readonly #logger: Logger;
  #handles: Handles | undefined;
  #statusSub: { nc: NatsConnection; sub: Subscription } | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: DistributorOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#kvBucket = options.kvBucket ?? BUS.bundleKv;
    this.#objectBucket = options.objectBucket ?? BUS.bundleObjects;
    this.#link = new NatsLink({
      servers: options.servers,
      name: options.name ?? "portcullis-control-plane",
      logger: options.logger,
      backoff: options.backoff,
      connectTimeoutMs: options.connectTimeoutMs,
      onReady: (nc) => this.#onReady(nc),
      onDown: () => options.onConnectionChange?.(false),
    });
  }

  /** Connects in the background; returns at once. */
  start(): void {
    this.#link.start();
  }

  get connected(): boolean {
    return this.#link.connected;
  }

  /** Resolves once connected with buckets ready; rejects after `timeoutMs`. */
  async whenReady(timeoutMs?: number): Promise<void> {
    await this.#link.whenReady(timeoutMs);
  }

  async stop(): Promise<void> {
    await this.#link.stop();
    this.#handles = undefined;
    this.#statusSub = undefined;
  }

  /**
   * Makes NATS carry the store's active bundle now. Does not throw: when NATS is unreachable the
   * result says so, and the bundle is published when the connection comes back.
   */
  async publishActive(): Promise<PublishResult> {
    const started = performance.now();
    if (!this.#link.connected) {
      return {
        published: false,
        error: "NATS is not reachable: the activation is published when it comes back",
        durationMs: performance.now() - started,
      };
    }
    try {
      const pointer = await this.#serial(() => this.#reconcile());
      return pointer
        ? { published: true, pointer, durationMs: performance.now() - started }
        : { published: false, error: "no bundle is active", durationMs: performance.now() - started };
    } catch (err) {
      this.#logger.warn(
        { err: (err as Error).message },
        "publishing the active bundle failed; will retry on reconnect",
      );
      void this.#link.refresh();
      return { published: false, error: (err as Error).message, durationMs: performance.now() - started };
    }
  }

  /**
   * Sends a canary (proto/canary.ts): the bundle's object, then the `canary` key with its pointer
   * and selector. No live message: every data plane would take it. Throws when NATS is unreachable
   * (a canary is not started blind).
   */
  async publishCanary(
    bundle: ActiveBundle,
    selector: CanarySelector,
    previousRevision: string,
  ): Promise<CanaryPointer> {
    if (!this.#link.connected) throw new Error("NATS is not reachable: the canary was not sent");
    return this.#serial(async () => {
      const handles = this.#handles;
      if (!handles) throw new Error("NATS buckets are not ready");
      const pointer = await this.#pointerOf(bundle);
      await this.#ensureObject(handles, bundle, pointer.object);
      const canary: CanaryPointer = {
        selector,
        pointer,
        previous_revision: previousRevision,
        started_at: bundle.activatedAt,
      };
      await handles.kv.put(BUS.canaryKey, encodeBusMessage(canary));
      this.#logger.info({ revision: bundle.revision, selector }, "canary pointer published");
      return canary;
    });
  }

  /** Deletes the `canary` key (after the canary's end was published on `active`). */
  async clearCanary(): Promise<void> {
    const handles = this.#handles;
    if (!handles || !this.#link.connected) throw new Error("NATS is not reachable: the canary key stays");
    await this.#serial(() => handles.kv.delete(BUS.canaryKey));
    this.#logger.info("canary pointer deleted");
  }

  /** The canary in KV (undefined when none or NATS is unreachable). */
  async readCanary(): Promise<Uint8Array | undefined> {
    const handles = this.#handles;
    if (!handles || !this.#link.connected) return undefined;
    const entry = await handles.kv.get(BUS.canaryKey);
    return entry?.operation === "PUT" ? entry.value : undefined;
  }

  /** Makes NATS carry the store's shadow revision (or none) now. Does not throw. */
  async publishShadow(): Promise<PublishResult> {
    const started = performance.now();
    if (!this.#link.connected) {
      return {
        published: false,
        error: "NATS is not reachable: the shadow revision is published when it comes back",
        durationMs: performance.now() - started,
      };
    }
    try {
      const pointer = await this.#serial(() => this.#reconcileShadow());
      return { published: true, ...(pointer ? { pointer } : {}), durationMs: performance.now() - started };
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, "publishing the shadow revision failed");
      void this.#link.refresh();
      return { published: false, error: (err as Error).message, durationMs: performance.now() - started };
    }
  }

  /** The pointer currently in KV (undefined when absent or NATS is unreachable). */
  async readPointer(): Promise<BundlePointer | undefined> {
    const handles = this.#handles;
    if (!handles || !this.#link.connected) return undefined;
    const entry = await handles.kv.get(BUS.activeKey);
    if (entry?.operation !== "PUT") return undefined;
    return decodeBundlePointer(entry.value);
  }

  /** Reads an object's bytes back (tests and diagnostics). */
  async readObject(name: string): Promise<Uint8Array | undefined> {
    const handles = this.#handles;
    if (!handles || !this.#link.connected) return undefined;
    return (await handles.os.getBlob(name)) ?? undefined;
  }

  /** Runs tasks one at a time, so two reconciliations never interleave their puts. */
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #onReady(nc: NatsConnection): Promise<void> {
    if (this.#handles?.nc !== nc) {
      const kv = await new Kvm(nc).create(this.#kvBucket, {
        history: this.#options.kvHistory ?? 10,
        replicas: this.#options.replicas ?? 1,
        ...(this.#options.placementCluster
          ? { placement: { cluster: this.#options.placementCluster, tags: [] } }
          : {}),
        description:
          "Portcullis: the active policy bundle pointer (key `active`) and a canary's (key `canary`)",
      });
      const os = await new Objm(nc).create(this.#objectBucket, {
        replicas: this.#options.replicas ?? 1,
        ...(this.#options.placementCluster
          ? { placement: { cluster: this.#options.placementCluster, tags: [] } }
          : {}),
        description: "Portcullis: signed policy bundles (single-file form)",
      });
      this.#handles = { nc, kv, os };
    } else {
      // After a server restart the buckets may be gone (a server without persistent storage).
      await new Kvm(nc).create(this.#kvBucket, {
        history: this.#options.kvHistory ?? 10,
        replicas: this.#options.replicas ?? 1,
        ...(this.#options.placementCluster
          ? { placement: { cluster: this.#options.placementCluster, tags: [] } }
          : {}),
      });
      await new Objm(nc).create(this.#objectBucket, {
        replicas: this.#options.replicas ?? 1,
        ...(this.#options.placementCluster
          ? { placement: { cluster: this.#options.placementCluster, tags: [] } }
          : {}),
      });
    }
    if (this.#statusSub?.nc !== nc) {
      const sub = nc.subscribe(STATUS_WILDCARD, {
        callback: (err, msg) => this.#onStatusMessage(err, msg.data),
      });
      this.#statusSub = { nc, sub };
    }
    await this.#serial(() => this.#reconcile());
    await this.#serial(() => this.#reconcileShadow());
    this.#options.onConnectionChange?.(true);
  }

  #onStatusMessage(err: Error | null, data: Uint8Array): void {
    if (err) {
      this.#logger.warn({ err: err.message }, "status subscription error");
      return;
    }
    let report: StatusReport;
    try {
      report = decodeStatusReport(data);
    } catch (e) {
      if (e instanceof BusMessageError)
        this.#logger.warn({ err: e.message }, "dropped an invalid status report");
      return;
    }
    try {
      this.#options.onStatus?.(report);
    } catch (e) {
      this.#logger.error({ err: e }, "recording a status report failed");
    }
  }

  /** Puts the active bundle's object (when missing) and pointer (when different). */
  async #reconcile(): Promise<BundlePointer | undefined> {
    const handles = this.#handles;
    if (!handles) throw new Error("NATS buckets are not ready");
    const active = this.#options.active();
    if (!active) return undefined;
    const pointer = await this.#pointerOf(active);
    const object = pointer.object;
    await this.#ensureObject(handles, active, object);
    const current = await handles.kv.get(BUS.activeKey);
    let same = false;
    if (current && current.operation === "PUT") {
      try {
        const existing = decodeBundlePointer(current.value);
        same =
          existing.revision === pointer.revision &&
          existing.sha256 === pointer.sha256 &&
          existing.activated_at === pointer.activated_at &&
          existing.activation === pointer.activation &&
          existing.object === pointer.object &&
          existing.bucket === pointer.bucket;
      } catch {
        same = false;
      }
    }
    if (!same) {
      await handles.kv.put(BUS.activeKey, encodeBusMessage(pointer));
      this.#logger.info(
        { revision: pointer.revision, activatedAt: pointer.activated_at },
        "active bundle pointer published",
      );
      this.#publishLive(handles.nc, pointer, active.bytes);
    }
    this.#options.onPublished?.(active, new Date().toISOString());
    await this.#prune(handles, object).catch((err: Error) =>
      this.#logger.warn({ err: err.message }, "pruning old bundle objects failed"),
    );
    return pointer;
  }

  /** A bundle's pointer with its signed activation. */
  async #pointerOf(bundle: ActiveBundle): Promise<BundlePointer> {
    return {
      revision: bundle.revision,
      sha256: bundle.sha256,
      object: bundleObjectName(bundle.revision),
      signature: bundle.signature,
      activated_at: bundle.activatedAt,
      size: bundle.sizeBytes,
      bucket: this.#objectBucket,
      activation: await this.#options.signActivation({
        revision: bundle.revision,
        bundle_sha256: bundle.sha256,
        manifest_sequence: bundle.manifestSequence,
        sequence: bundle.activationSequence,
        issued_at: bundle.activatedAt,
        rollback: bundle.rollback,
      }),
    };
  }

  /** Stores the bundle's object unless the Object Store already holds exactly it. */
  async #ensureObject(handles: Handles, bundle: ActiveBundle, object: string): Promise<void> {
    const info = await handles.os.info(object);
    if (!info || info.deleted || info.size !== bundle.sizeBytes || info.metadata?.sha256 !== bundle.sha256) {
      await handles.os.putBlob(
        { name: object, description: `bundle ${bundle.revision}`, metadata: { sha256: bundle.sha256 } },
        bundle.bytes,
      );
      this.#logger.debug(
        { revision: bundle.revision, object, bytes: bundle.sizeBytes },
        "bundle object stored",
      );
    }
  }

  /** Puts the shadow bundle's object and pointer under BUS.shadowKey, or deletes the key. */
  async #reconcileShadow(): Promise<BundlePointer | undefined> {
    const handles = this.#handles;
    if (!handles) throw new Error("NATS buckets are not ready");
    const shadow = this.#options.shadow?.();
    const current = await handles.kv.get(BUS.shadowKey);
    if (!shadow || !this.#options.signShadowActivation) {
      if (current && current.operation === "PUT") {
        await handles.kv.delete(BUS.shadowKey);
        this.#logger.info("shadow revision ended: pointer deleted");
      }
      return undefined;
    }
    const object = bundleObjectName(shadow.revision);
    const pointer: BundlePointer = {
      revision: shadow.revision,
      sha256: shadow.sha256,
      object,
      signature: shadow.signature,
      activated_at: shadow.at,
      size: shadow.sizeBytes,
      bucket: this.#objectBucket,
      activation: await this.#options.signShadowActivation({
        revision: shadow.revision,
        bundle_sha256: shadow.sha256,
        manifest_sequence: shadow.manifestSequence,
        sequence: shadow.sequence,
        issued_at: shadow.at,
        rollback: false,
      }),
    };
    const info = await handles.os.info(object);
    if (!info || info.deleted || info.size !== shadow.sizeBytes || info.metadata?.sha256 !== shadow.sha256) {
      await handles.os.putBlob(
        { name: object, description: `bundle ${shadow.revision}`, metadata: { sha256: shadow.sha256 } },
        shadow.bytes,
      );
    }
    let same = false;
    if (current && current.operation === "PUT") {
      try {
        const existing = decodeBundlePointer(current.value);
        same = existing.activation === pointer.activation && existing.object === pointer.object;
      } catch {
        same = false;
      }
    }
    if (!same) {
      await handles.kv.put(BUS.shadowKey, encodeBusMessage(pointer));
      this.#logger.info({ revision: pointer.revision }, "shadow bundle pointer published");
    }
    return pointer;
  }

  /** The fast path: pointer and bytes in one core NATS message, when it fits the server's limit. */
  #publishLive(nc: NatsConnection, pointer: BundlePointer, bytes: Uint8Array): void {
    const message = encodeLiveBundle(pointer, bytes);
    const limit = nc.info?.max_payload ?? 0;
    if (message.byteLength > limit) {
      this.#logger.info(
        { revision: pointer.revision, bytes: message.byteLength, maxPayload: limit },
        "bundle over the server's max_payload: data planes fetch it from the Object Store",
      );
      return;
    }
    try {
      nc.publish(BUS.bundlesLiveSubject, message);
    } catch (err) {
      this.#logger.debug({ err: (err as Error).message }, "live bundle not sent");
    }
  }

  async #prune(handles: Handles, activeObject: string): Promise<void> {
    const keep = this.#options.keepObjects ?? 10;
    const shadowRevision = this.#options.shadow?.()?.revision;
    const shadowObject = shadowRevision ? bundleObjectName(shadowRevision) : "";
    const objects = (await handles.os.list())
      .filter((o) => !o.deleted && o.name !== activeObject && o.name !== shadowObject)
      .sort((a, b) => Date.parse(b.mtime) - Date.parse(a.mtime));
    for (const old of objects.slice(keep)) {
      await handles.os.delete(old.name);
      this.#logger.debug({ object: old.name }, "old bundle object deleted");
    }
  }
}
