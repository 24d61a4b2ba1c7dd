/**
 * No policy rollback by replay: the data plane's check of a bundle pointer's signed activation
 * (proto/activation.ts) before it enforces the bundle.
 *
 * Whoever can write to NATS can re-publish an older pointer, and an older bundle is still validly
 * signed. So a bundle from NATS is enforced only when:
 *   1. the pointer carries an activation signed by the control plane (typ portcullis-activation+jws);
 *   2. the activation names this very bundle: its revision and the SHA-256 of its bytes, and the
 *      manifest's sequence;
 *   3. its sequence is above the activation this data plane enforces (the same activation again,
 *      as after a restart from disk, is accepted as it is);
 *   4. the bundle's manifest sequence is not below the enforced one, unless the activation is a
 *      rollback the control plane signed as such.
 * Refusals are ActivationRefusedError with a `code`; the previous bundle stays in force.
 */
import { createHash, type KeyObject } from "node:crypto";
import { JwsError, verifyJws } from "../../common/jws.js";
import {
  ACTIVATION_JWS_TYPE,
  type Activation,
  ActivationFormatError,
  parseActivation,
} from "../../proto/activation.js";
import type { BundleManifest } from "../../proto/bundle.js";

export type ActivationRefusal =
  | "unsigned_activation"
  | "bad_activation_signature"
  | "bad_activation"
  | "activation_mismatch"
  | "replayed_activation"
  | "older_bundle";

export class ActivationRefusedError extends Error {
  override name = "ActivationRefusedError";
  constructor(
    readonly code: ActivationRefusal,
    message: string,
  ) {
    super(`activation refused: ${message}`);
  }
}

/** What the guard holds: the activation in force. */
export interface EnforcedActivation {
  sequence: number;
  manifestSequence: number;
  revision: string;
  bundleSha256: string;
}

export class ActivationGuard {
  readonly #keys: readonly KeyObject[];
  readonly #jwsType: string;
  #enforced: EnforcedActivation | undefined;

  /** `jwsType`: ACTIVATION_JWS_TYPE (the active pointer) or SHADOW_ACTIVATION_JWS_TYPE. */
  constructor(keys: readonly KeyObject[], jwsType: string = ACTIVATION_JWS_TYPE) {
    this.#keys = keys;
    this.#jwsType = jwsType;
  }

  get enforced(): EnforcedActivation | undefined {
    return this.#enforced;
  }

  /**
   * Checks that `activation` (the pointer's JWS) lets this data plane enforce the bundle whose
   * bytes and verified manifest are given; returns the activation, or throws. Nothing changes
   * until `accept`.
   */
  async check(
    activation: string | undefined,
    bundleBytes: Uint8Array,
    manifest: BundleManifest,
  ): Promise<Activation> {
    if (!activation) {
      throw new ActivationRefusedError(
        "unsigned_activation",
        "the bundle pointer carries no signed activation (an older control plane, or a pointer not written by it)",
      );
    }
    let payload: Uint8Array;
    try {
      ({ payload } = await verifyJws(activation, this.#keys, this.#jwsType));
    } catch (err) {
      if (err instanceof JwsError) throw new ActivationRefusedError("bad_activation_signature", err.message);
      throw err;
    }
    let signed: Activation;
    try {
      signed = parseActivation(payload);
    } catch (err) {
      if (err instanceof ActivationFormatError)
        throw new ActivationRefusedError("bad_activation", err.message);
      throw err;
    }
    const digest = createHash("sha256").update(bundleBytes).digest("hex");
    const manifestSequence = manifest.sequence ?? 0;
    if (
      signed.revision !== manifest.revision ||
      signed.bundle_sha256 !== digest ||
      signed.manifest_sequence !== manifestSequence
    ) {
      throw new ActivationRefusedError(
        "activation_mismatch",
        `the signed activation names bundle ${signed.revision} (${signed.bundle_sha256.slice(0, 12)}…), ` +
          `not the bundle fetched, ${manifest.revision} (${digest.slice(0, 12)}…)`,
      );
    }
    const held = this.#enforced;
    if (held) {
      const same =
        signed.sequence === held.sequence &&
        signed.revision === held.revision &&
        digest === held.bundleSha256;
      if (!same && signed.sequence <= held.sequence) {
        throw new ActivationRefusedError(
          "replayed_activation",
          `activation ${signed.sequence} of ${signed.revision} is not newer than activation ${held.sequence} ` +
            `of ${held.revision} in force: an older pointer re-published`,
        );
      }
      // (a shadow revision may be any built bundle, older ones included: it is never enforced)
      const shadow = this.#jwsType !== ACTIVATION_JWS_TYPE;
      if (!same && !shadow && manifestSequence < held.manifestSequence && !signed.rollback) {
        throw new ActivationRefusedError(
          "older_bundle",
          `bundle ${signed.revision} (sequence ${manifestSequence}) is older than ${held.revision} ` +
            `(sequence ${held.manifestSequence}) and the activation is not a signed rollback`,
        );
      }
    }
    return signed;
  }

  /** Records `activation` as the one in force (after its bundle was swapped in). */
  accept(activation: Activation): void {
    this.#enforced = {
      sequence: activation.sequence,
      manifestSequence: activation.manifest_sequence,
      revision: activation.revision,
      bundleSha256: activation.bundle_sha256,
    };
  }
}
