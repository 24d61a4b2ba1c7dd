import { describe, expect, it } from "vitest";
import { encodeBusMessage } from "./bus.js";
import {
  canonicalGrantBytes,
  decodeGrant,
  type Grant,
  grantInForce,
  grantSubject,
  policyGrants,
} from "./grant.js";

const T0 = Date.parse("2030-01-01T00:00:00Z");

function grant(overrides: Partial<Grant> = {}): Grant {
  return {
    id: "g1",
    sequence: 1,
    issued_at: new Date(T0).toISOString(),
    subject: "alice",
    kind: "role",
    value: "app_rw",
    starts_at: new Date(T0).toISOString(),
    expires_at: new Date(T0 + 60_000).toISOString(),
    reason: "incident",
    created_by: "carol",
    status: "active",
    signature: "sig",
    ...overrides,
  };
}

describe("grants on the bus", () => {
  it("are in force from their start to (not including) their end, unless revoked", () => {
    expect(grantInForce(grant(), T0 - 1)).toBe(false);
    expect(grantInForce(grant(), T0)).toBe(true);
    expect(grantInForce(grant(), T0 + 59_999)).toBe(true);
    expect(grantInForce(grant(), T0 + 60_000)).toBe(false);
    expect(grantInForce(grant({ status: "revoked" }), T0 + 1)).toBe(false);
  });

  it("become the policy data by subject, role or schema, in force only", () => {
    const data = policyGrants(
      [
        grant({ id: "b" }),
        grant({ id: "a", kind: "schema", value: "hr" }),
        grant({ id: "c", subject: "bob", status: "revoked" }),
        grant({ id: "d", subject: "__proto__" }),
      ],
      T0 + 1,
    );
    const until = "2030-01-01T00:01:00.000Z";
    // a subject named __proto__ is a key like any other (no prototype)
    expect(JSON.stringify(data)).toBe(
      JSON.stringify({
        alice: [
          { id: "a", schema: "hr", expires_at: until },
          { id: "b", role: "app_rw", expires_at: until },
        ],
      }).replace(/}$/, `,"__proto__":[{"id":"d","role":"app_rw","expires_at":"${until}"}]}`),
    );
    expect(Object.keys(policyGrants([grant()], T0 + 60_000))).toEqual([]);
  });

  it("sign every field but the signature, in one canonical form", () => {
    const bytes = new TextDecoder().decode(canonicalGrantBytes(grant()));
    expect(bytes).not.toContain("signature");
    expect(bytes.startsWith('{"created_by":"carol","expires_at"')).toBe(true);
    expect(canonicalGrantBytes(grant({ signature: "other" }))).toEqual(canonicalGrantBytes(grant()));
    expect(canonicalGrantBytes(grant({ sequence: 2 }))).not.toEqual(canonicalGrantBytes(grant()));
  });

  it("are decoded only when well-formed", () => {
    expect(decodeGrant(encodeBusMessage(grant()))).toEqual(grant());
    expect(() => decodeGrant(encodeBusMessage(grant({ value: "app_rw; DROP" })))).toThrow(/grant/);
    expect(() => decodeGrant(encodeBusMessage(grant({ sequence: 0 })))).toThrow(/grant/);
    expect(() => decodeGrant(encodeBusMessage({ ...grant(), kind: "table" }))).toThrow(/grant/);
    expect(() => decodeGrant(encodeBusMessage(grant({ expires_at: grant().starts_at })))).toThrow(/after/);
    expect(grantSubject("a.b*c")).toBe("portcullis.grants.state.a_b_c");
  });
});
