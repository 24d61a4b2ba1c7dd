import { createHash, generateKeyPairSync } from "node:crypto";
import { calculateJwkThumbprint, exportJWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { signJws } from "../../common/jws.js";
import { signActivation, signShadowActivation } from "../../control-plane/bundle/sign-activation.js";
import type { SigningKey } from "../../control-plane/bundle/signing-key.js";
import { type Activation, SHADOW_ACTIVATION_JWS_TYPE } from "../../proto/activation.js";
import type { BundleManifest } from "../../proto/bundle.js";
import { ActivationGuard, ActivationRefusedError } from "./activation-guard.js";

async function key(): Promise<SigningKey> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKey,
    publicKey,
    kid: await calculateJwkThumbprint(await exportJWK(publicKey)),
    path: "-",
    generated: true,
  };
}

/** A bundle as the guard sees it: its bytes and its (already verified) manifest. */
function bundle(revision: string, sequence: number) {
  const bytes = new TextEncoder().encode(`bundle ${revision}`);
  const manifest: BundleManifest = {
    revision,
    created_at: new Date(sequence).toISOString(),
    sequence,
    entrypoints: ["portcullis/query/decision"],
    opa_version: "1.22.3",
    sha256: { policy_wasm: "0".repeat(64), data_json: "0".repeat(64) },
  };
  return { bytes, manifest, sha256: createHash("sha256").update(bytes).digest("hex") };
}

type Bundle = ReturnType<typeof bundle>;

function activationOf(b: Bundle, sequence: number, rollback = false): Activation {
  return {
    revision: b.manifest.revision,
    bundle_sha256: b.sha256,
    manifest_sequence: b.manifest.sequence ?? 0,
    sequence,
    issued_at: new Date().toISOString(),
    rollback,
  };
}

let cp: SigningKey;
let stranger: SigningKey;
const r1 = bundle("r1", 100);
const r2 = bundle("r2", 200);

beforeAll(async () => {
  cp = await key();
  stranger = await key();
});

async function refusal(
  guard: ActivationGuard,
  jws: string | undefined,
  b: Bundle,
): Promise<ActivationRefusedError> {
  const err = await guard.check(jws, b.bytes, b.manifest).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ActivationRefusedError);
  return err as ActivationRefusedError;
}

async function enforce(guard: ActivationGuard, activation: Activation, b: Bundle): Promise<void> {
  guard.accept(await guard.check(await signActivation(activation, cp), b.bytes, b.manifest));
}

describe("ActivationGuard: no policy rollback by replay", () => {
  it("enforces a signed activation of the fetched bundle, and moves forward", async () => {
    const guard = new ActivationGuard([cp.publicKey]);
    await enforce(guard, activationOf(r1, 1), r1);
    await enforce(guard, activationOf(r2, 2), r2);
    expect(guard.enforced).toMatchObject({ sequence: 2, revision: "r2", manifestSequence: 200 });
  });

  it("refuses a re-published older activation (a validly signed rollback by replay)", async () => {
    const guard = new ActivationGuard([cp.publicKey]);
    const old = await signActivation(activationOf(r1, 1), cp);
    guard.accept(await guard.check(old, r1.bytes, r1.manifest));
    await enforce(guard, activationOf(r2, 2), r2);
    const err = await refusal(guard, old, r1);
    expect(err.code).toBe("replayed_activation");
    expect(err.message).toMatch(/activation 1 of r1 is not newer than activation 2 of r2/);
    expect(guard.enforced?.revision).toBe("r2");
  });

  it("accepts the activation in force again (a restart from the bundle kept on disk)", async () => {
    const guard = new ActivationGuard([cp.publicKey]);
    const jws = await signActivation(activationOf(r2, 7), cp);
    guard.accept(await guard.check(jws, r2.bytes, r2.manifest));
    await expect(guard.check(jws, r2.bytes, r2.manifest)).resolves.toMatchObject({ sequence: 7 });
  });

  it("goes back to an older bundle only with a newer activation signed as a rollback", async () => {
    const guard = new ActivationGuard([cp.publicKey]);
    await enforce(guard, activationOf(r2, 5), r2);
    const notFlagged = await refusal(guard, await signActivation(activationOf(r1, 6, false), cp), r1);
    expect(notFlagged.code).toBe("older_bundle");
    await enforce(guard, activationOf(r1, 6, true), r1);
    expect(guard.enforced).toMatchObject({ revision: "r1", sequence: 6, manifestSequence: 100 });
    // and forward again: a newer bundle needs no flag
    await enforce(guard, activationOf(r2, 7), r2);
  });

  it("refuses a pointer without an activation, one signed by another key, and one of another type", async () => {
    const guard = new ActivationGuard([cp.publicKey]);
    expect((await refusal(guard, undefined, r1)).code).toBe("unsigned_activation");
    const foreign = await signActivation(activationOf(r1, 1), stranger);
    expect((await refusal(guard, foreign, r1)).code).toBe("bad_activation_signature");
    const bytes = new TextEncoder().encode(JSON.stringify(activationOf(r1, 1)));
    const asRevocation = await signJws(bytes, cp, "portcullis-revocation+jws");
    const err = await refusal(guard, asRevocation, r1);
    expect(err.code).toBe("bad_activation_signature");
    expect(err.message).toMatch(/typ "portcullis-revocation\+jws" is not portcullis-activation\+jws/);
    expect((await refusal(guard, "garbage", r1)).code).toBe("bad_activation_signature");
    const extra = await signJws(
      new TextEncoder().encode('{"revision":"r1"}'),
      cp,
      "portcullis-activation+jws",
    );
    expect((await refusal(guard, extra, r1)).code).toBe("bad_activation");
  });

  it("refuses an activation of one bundle carried by the pointer of another", async () => {
    const guard = new ActivationGuard([cp.publicKey]);
    const forR2 = await signActivation(activationOf(r2, 1), cp);
    const err = await refusal(guard, forR2, r1);
    expect(err.code).toBe("activation_mismatch");
    // same revision, other bytes
    const tampered = { ...r1, bytes: new TextEncoder().encode("other bytes") };
    expect((await refusal(guard, await signActivation(activationOf(r1, 1), cp), tampered)).code).toBe(
      "activation_mismatch",
    );
  });
});

describe("shadow activations", () => {
  it("never pass for an active one, nor an active one for a shadow", async () => {
    const shadowSigned = await signShadowActivation(activationOf(r2, 5), cp);
    const activeSigned = await signActivation(activationOf(r2, 6), cp);
    expect((await refusal(new ActivationGuard([cp.publicKey]), shadowSigned, r2)).code).toBe(
      "bad_activation_signature",
    );
    const shadowGuard = new ActivationGuard([cp.publicKey], SHADOW_ACTIVATION_JWS_TYPE);
    expect((await refusal(shadowGuard, activeSigned, r2)).code).toBe("bad_activation_signature");
    await expect(shadowGuard.check(shadowSigned, r2.bytes, r2.manifest)).resolves.toMatchObject({
      sequence: 5,
    });
  });

  it("may name an older bundle than the shadow before it (never enforced), but not replay an older activation", async () => {
    const guard = new ActivationGuard([cp.publicKey], SHADOW_ACTIVATION_JWS_TYPE);
    guard.accept(
      await guard.check(await signShadowActivation(activationOf(r2, 5), cp), r2.bytes, r2.manifest),
    );
    const older = await guard.check(
      await signShadowActivation(activationOf(r1, 6), cp),
      r1.bytes,
      r1.manifest,
    );
    expect(older.revision).toBe("r1");
    guard.accept(older);
    const replayed = await signShadowActivation(activationOf(r2, 4), cp);
    expect((await refusal(guard, replayed, r2)).code).toBe("replayed_activation");
  });
});
