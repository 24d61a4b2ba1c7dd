/**
 * The compact JWS check both planes rely on (node:crypto's one-shot Ed25519): it accepts only alg
 * EdDSA with the expected typ, refuses alg none and every other alg, crit and b64 headers, any
 * spelling of a segment but its canonical base64url, and a signature made for one kind of message
 * (a revocation) offered as another (a grant), even when the bytes signed are the same.
 */
import { createHmac, sign as cryptoSign, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { GRANT_JWS_TYPE } from "../proto/grant.js";
import { REVOCATION_JWS_TYPE } from "../proto/revocation.js";
import { JwsError, signJws, verifyJws } from "./jws.js";

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const other = generateKeyPairSync("ed25519");
const key = { privateKey, kid: "k1" };
const payload = new TextEncoder().encode('{"id":"g1"}');

const b64 = (value: string | Buffer) => Buffer.from(value).toString("base64url");

/** A JWS with the given header, signed with Ed25519 over header.payload (a valid signature). */
function signedWith(header: Record<string, unknown>): string {
  const input = `${b64(JSON.stringify(header))}.${b64(Buffer.from(payload))}`;
  return `${input}.${cryptoSign(null, Buffer.from(input), privateKey).toString("base64url")}`;
}

async function code(jws: string, typ = GRANT_JWS_TYPE): Promise<string> {
  try {
    await verifyJws(jws, [publicKey], typ);
    return "accepted";
  } catch (err) {
    if (err instanceof JwsError) return err.code;
    throw err;
  }
}

describe("verifyJws", () => {
  it("accepts its own signature of the expected typ, and returns the payload and kid", async () => {
    const jws = await signJws(payload, key, GRANT_JWS_TYPE);
    const verified = await verifyJws(jws, [publicKey], GRANT_JWS_TYPE);
    expect(Buffer.from(verified.payload).toString()).toBe('{"id":"g1"}');
    expect(verified.kid).toBe("k1");
  });

  it("refuses a revocation's signature offered as a grant's (same bytes, other typ)", async () => {
    const jws = await signJws(payload, key, REVOCATION_JWS_TYPE);
    expect(await code(jws, GRANT_JWS_TYPE)).toBe("wrong_type");
    expect(await code(signedWith({ alg: "EdDSA", kid: "k1" }))).toBe("wrong_type");
  });

  it("refuses alg none (empty signature) and every alg but EdDSA, before trying a key", async () => {
    const none = `${b64(JSON.stringify({ alg: "none", typ: GRANT_JWS_TYPE }))}.${b64(Buffer.from(payload))}.`;
    expect(await code(none)).toMatch(/wrong_algorithm|malformed_signature/);
    expect(await code(none)).not.toBe("accepted");
    for (const alg of ["none", "HS256", "RS256", "ES256", "Ed25519", "eddsa", ""]) {
      expect(await code(signedWith({ alg, typ: GRANT_JWS_TYPE }))).toBe("wrong_algorithm");
    }
    // an HMAC keyed with the public key's bytes (the classic confusion) is refused too
    const header = b64(JSON.stringify({ alg: "HS256", typ: GRANT_JWS_TYPE }));
    const input = `${header}.${b64(Buffer.from(payload))}`;
    const mac = createHmac("sha256", publicKey.export({ format: "der", type: "spki" }))
      .update(input)
      .digest("base64url");
    expect(await code(`${input}.${mac}`)).toBe("wrong_algorithm");
  });

  it("refuses crit and b64 headers, whatever their value", async () => {
    for (const extra of [
      { crit: ["b64"], b64: false },
      { crit: [] },
      { b64: true },
      { crit: ["exp"], exp: 1 },
    ]) {
      expect(await code(signedWith({ alg: "EdDSA", typ: GRANT_JWS_TYPE, ...extra }))).toBe(
        "malformed_signature",
      );
    }
  });

  it("refuses any spelling of a segment but its canonical base64url", async () => {
    const jws = await signJws(payload, key, GRANT_JWS_TYPE);
    const [h, p, s] = jws.split(".") as [string, string, string];
    // the last character of an Ed25519 signature (64 bytes) carries 4 unused bits: flip one
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(s.at(-1)!);
    const twin = `${s.slice(0, -1)}${alphabet[last ^ 1]}`;
    expect(Buffer.from(twin, "base64url").equals(Buffer.from(s, "base64url"))).toBe(true);
    for (const spelled of [
      `${h}.${p}.${twin}`,
      `${h}.${p}.${s}=`,
      `${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`,
      `${h}.${p}.${s.replace(/-/g, "+").replace(/_/g, "/")}${s.includes("-") || s.includes("_") ? "" : "+"}`,
      `${h}=.${p}.${s}`,
      `${h}.${p}.${s}.`,
    ]) {
      expect(await code(spelled)).not.toBe("accepted");
    }
    expect(await code(`${h}.${p}.${s}`)).toBe("accepted");
  });

  it("refuses a signature of another key, a changed payload and a truncated signature", async () => {
    const jws = await signJws(payload, { privateKey: other.privateKey, kid: "k2" }, GRANT_JWS_TYPE);
    expect(await code(jws)).toBe("bad_signature");
    const mine = await signJws(payload, key, GRANT_JWS_TYPE);
    const [h, , s] = mine.split(".") as [string, string, string];
    expect(await code(`${h}.${b64('{"id":"g2"}')}.${s}`)).toBe("bad_signature");
    expect(await code(`${h}.${mine.split(".")[1]}.${s.slice(0, 40)}`)).not.toBe("accepted");
  });
});
