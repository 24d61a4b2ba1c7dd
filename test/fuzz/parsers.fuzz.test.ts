/**
 * Bounded, seeded fuzzing (fast-check) of the in-process parsers and verifiers: the frontend framer and
 * message decoders, start-up packets, the SQL analyzer, the bundle and revocation signature checks.
 * Each property's failure prints its seed and shrunk counterexample; PORTCULLIS_FUZZ_SEED replays one.
 * `make bench-hardening` runs the same targets about a million times.
 */
import { generateKeyPairSync } from "node:crypto";
import fc from "fast-check";
import { serialize } from "pg-protocol";
import { beforeAll, describe, expect, it } from "vitest";
import { BundleVerificationError, verifyBundle } from "../../common/policy/bundle-verify.js";
import { signBundle } from "../../control-plane/bundle/sign.js";
import { signRevocation } from "../../control-plane/revocation/sign.js";
import { FrontendFramer } from "../../data-plane/protocol/frontend-messages.js";
import { RevocationSignatureError, verifyRevocation } from "../../data-plane/revocation/verify.js";
import { loadParser } from "../../data-plane/sql/index.js";
import type { BundleFiles } from "../../proto/bundle.js";
import type { Revocation } from "../../proto/bus.js";
import {
  bytesMutation,
  frontendMessage,
  frontendStream,
  fuzzBundle,
  fuzzFramer,
  fuzzRevocation,
  fuzzSql,
  fuzzStartup,
  fuzzUnknownNode,
  revocationMutation,
  sqlText,
  startupBytes,
} from "./targets.js";

const seed = Number(process.env.PORTCULLIS_FUZZ_SEED ?? 4242);
const opts = (numRuns: number) => ({ seed, numRuns });

const signer = { ...generateKeyPairSync("ed25519"), kid: "k1", path: "-", generated: true };
const stranger = generateKeyPairSync("ed25519");
let bundle: BundleFiles;
let revocation: Revocation;

beforeAll(async () => {
  await loadParser();
  bundle = await signBundle(
    {
      policyWasm: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 2, 3]),
      dataJson: new TextEncoder().encode('{"portcullis":{}}'),
      revision: "r1",
      entrypoints: ["portcullis/query/decision"],
      opaVersion: "1.0.0",
    },
    signer,
  );
  const now = Date.now();
  revocation = await signRevocation(
    {
      id: "r-1",
      kind: "subject",
      value: "alice",
      reason: "fuzz",
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + 3600_000).toISOString(),
    },
    signer,
  );
});

describe("frontend framer and decoders", () => {
  it("valid messages split across any reads come back exactly, in order", () => {
    fc.assert(
      fc.property(
        fc.array(frontendMessage, { maxLength: 10 }),
        fc.array(fc.nat({ max: 4000 }), { maxLength: 8 }),
        (messages, cuts) => {
          const all = Buffer.concat(messages);
          const framer = new FrontendFramer();
          const out: Buffer[] = [];
          let at = 0;
          for (const cut of [...cuts.sort((a, b) => a - b), all.length]) {
            const end = Math.min(cut, all.length);
            if (end > at) framer.push(all.subarray(at, end));
            at = Math.max(at, end);
            for (let m = framer.next(); m; m = framer.next()) out.push(Buffer.from(m.raw));
          }
          expect(out).toEqual(messages);
          expect(framer.bufferedBytes).toBe(0);
        },
      ),
      opts(1500),
    );
  });

  it("mutated and random streams are framed or refused with a ProtocolError, bytes accounted for", () => {
    fc.assert(
      fc.property(frontendStream, ({ bytes, cuts }) => {
        fuzzFramer(bytes, cuts);
      }),
      opts(4000),
    );
  });

  it("before login (the password-message cap) the same holds", () => {
    fc.assert(
      fc.property(frontendStream, ({ bytes, cuts }) => {
        fuzzFramer(bytes, cuts, 65_535);
      }),
      opts(1000),
    );
  });

  it("start-up packets (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest): parsed, incomplete or refused", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(startupBytes, (bytes) => {
        seen.add(fuzzStartup(bytes));
      }),
      opts(4000),
    );
    expect([...seen].sort()).toEqual(["more", "packet", "refused"]);
  });

  it("a Sync is framed however it is cut", () => {
    const framer = new FrontendFramer();
    for (const b of serialize.sync()) framer.push(Buffer.from([b]));
    expect(framer.next()?.type).toBe("S");
  });
});

describe("SQL analyzer", () => {
  it("random and mutated SQL: analysed into known kinds or a typed parse error, never a crash", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(sqlText, (text) => {
        seen.add(fuzzSql(text));
      }),
      opts(2500),
    );
    expect(seen.has("analysed")).toBe(true);
    expect(seen.has("syntax_error")).toBe(true);
  });

  it("a node type it has never seen is kind unknown", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }).map((s) => `Future${s}Stmt`),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<unknown>, {
          maxKeys: 4,
        }),
        (type, node) => {
          expect(fuzzUnknownNode(type, node as Record<string, unknown>)).toBe("unknown");
        },
      ),
      opts(500),
    );
  });
});

describe("signed inputs", () => {
  it("a mutated bundle (signature, manifest, policy or data) is refused with a typed error", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("signature", "manifestJson", "policyWasm", "dataJson" as const),
        bytesMutation,
        async (part, m) => {
          await fuzzBundle(bundle, [signer.publicKey], part as "signature", m);
        },
      ),
      opts(600),
    );
  });

  it("a bundle signed by another key is refused", async () => {
    expect(
      await fuzzBundle(bundle, [stranger.publicKey], "dataJson", { at: 0, value: 0, op: "insert" }),
    ).toBe("refused");
  });

  // found by bench-hardening: whitespace inside the signature segment (and non-zero unused bits of its
  // last character) decoded to the same bytes, so one signature had many accepted spellings
  it("regression: a signature spelled other than as canonical base64url is refused", async () => {
    const [h, p, sig] = revocation.signature.split(".") as [string, string, string];
    const last = sig.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const sibling = alphabet[alphabet.indexOf(last) ^ 1]!; // same leading bits, another unused bit
    for (const spelled of [
      `${h}.${p}.${sig.slice(0, 10)}\n${sig.slice(10)}`,
      `${h}.${p}.${sig.slice(0, 10)} ${sig.slice(10)}`,
      `${h}.${p}.${sig}=`,
      `${h}.${p}.${sig.slice(0, -1)}${sibling}`,
      `${h} .${p}.${sig}`,
    ]) {
      await expect(
        verifyRevocation({ ...revocation, signature: spelled }, [signer.publicKey]),
      ).rejects.toBeInstanceOf(RevocationSignatureError);
      await expect(
        verifyBundle({ ...bundle, signature: `${spelled}` }, [signer.publicKey]),
      ).rejects.toBeInstanceOf(BundleVerificationError);
    }
    await expect(verifyRevocation(revocation, [signer.publicKey])).resolves.toBeUndefined();
  });

  it("a mutated revocation (any field or its signature) is refused with a typed error", async () => {
    await fc.assert(
      fc.asyncProperty(revocationMutation, async (mutation) => {
        await fuzzRevocation(revocation, [signer.publicKey], mutation);
      }),
      opts(600),
    );
  });
});
