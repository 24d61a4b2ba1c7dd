import { describe, expect, it } from "vitest";
import {
  BusMessageError,
  decodeBundlePointer,
  decodeLiveBundle,
  decodeStatusReport,
  encodeBusMessage,
  encodeLiveBundle,
  type StatusReport,
  statusSubject,
  subjectToken,
} from "./bus.js";

const pointer = {
  revision: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
  sha256: "a".repeat(64),
  object: "bundles/4b825dc642cb6eb9a060e54bf8d69288fbee4904.tar",
  signature: "eyJhbGciOiJFZERTQSJ9.e30.c2ln",
  activated_at: "2025-05-06T07:08:09.123Z",
  size: 123456,
  bucket: "portcullis_bundle_objects",
};

describe("bus messages", () => {
  it("travel as the JSON of the message and decode back", () => {
    const bytes = encodeBusMessage(pointer);
    expect(JSON.parse(new TextDecoder().decode(bytes))).toEqual(pointer);
    expect(decodeBundlePointer(bytes)).toEqual(pointer);
    const report: StatusReport = {
      id: "dp-eu-1",
      region: "eu",
      version: "0.1.0",
      revision: pointer.revision,
      sessions: 4,
      at: "2025-05-06T07:08:10Z",
      labels: { zone: "b" },
    };
    expect(decodeStatusReport(encodeBusMessage(report))).toEqual(report);
  });

  it("refuses what does not match the contract, saying where", () => {
    const bad = (value: unknown) => () => decodeBundlePointer(encodeBusMessage(value));
    expect(bad({ ...pointer, sha256: "XYZ" })).toThrow(/bundle pointer is invalid: sha256/);
    expect(bad({ ...pointer, size: -1 })).toThrow(/size/);
    expect(bad({ ...pointer, activated_at: "yesterday" })).toThrow(/activated_at/);
    expect(() => decodeBundlePointer(new TextEncoder().encode("{"))).toThrow(BusMessageError);
    expect(() => decodeBundlePointer(new Uint8Array([0xff, 0xfe]))).toThrow(/not UTF-8 JSON/);
    expect(() => decodeStatusReport(encodeBusMessage({ id: "x", sessions: 1 }))).toThrow(
      /status report is invalid/,
    );
    expect(() => decodeBundlePointer(new Uint8Array(2 * 1024 * 1024))).toThrow(/over/);
  });

  it("carry a live bundle as its pointer and exactly the bytes it describes", () => {
    const bytes = new Uint8Array(pointer.size).fill(7);
    const message = encodeLiveBundle(pointer, bytes);
    const decoded = decodeLiveBundle(message);
    expect(decoded.pointer).toEqual(pointer);
    expect(Buffer.from(decoded.bytes).equals(Buffer.from(bytes))).toBe(true);
    // a view into a larger buffer (as NATS hands messages over) decodes the same
    const framed = new Uint8Array(message.byteLength + 8);
    framed.set(message, 3);
    expect(decodeLiveBundle(framed.subarray(3, 3 + message.byteLength)).pointer).toEqual(pointer);

    expect(() => decodeLiveBundle(new Uint8Array(3))).toThrow(/shorter than its header/);
    const overrun = new Uint8Array(message);
    new DataView(overrun.buffer).setUint32(0, message.byteLength);
    expect(() => decodeLiveBundle(overrun)).toThrow(/overruns/);
    expect(() => decodeLiveBundle(message.subarray(0, message.byteLength - 1))).toThrow(
      /bundle bytes, the pointer says 123456/,
    );
    const garbled = new Uint8Array(message);
    garbled[5] = 0xff;
    expect(() => decodeLiveBundle(garbled)).toThrow(BusMessageError);
  });

  it("makes ids subject-safe", () => {
    expect(subjectToken("dp-eu_1")).toBe("dp-eu_1");
    expect(subjectToken("host.example.com:6432")).toBe("host_example_com_6432");
    expect(subjectToken("a*b>c d")).toBe("a_b_c_d");
    expect(subjectToken("")).toBe("_");
    expect(statusSubject("eu.1")).toBe("portcullis.status.eu_1");
  });
});
