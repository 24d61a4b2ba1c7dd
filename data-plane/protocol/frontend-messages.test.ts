import { serialize } from "pg-protocol";
import { describe, expect, it } from "vitest";
import { ProtocolError } from "./errors.js";
import {
  decodeBind,
  decodeExecute,
  decodeParse,
  decodeQuery,
  decodeTarget,
  FrontendFramer,
  parseStartupPacket,
} from "./frontend-messages.js";

function frame(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

describe("FrontendFramer", () => {
  it("splits a batch of pg-protocol messages and reassembles a message split at every byte", () => {
    const batch = Buffer.concat([
      serialize.parse({ name: "s1", text: "SELECT $1::int", types: [23] }),
      serialize.bind({ statement: "s1", values: ["42"] }),
      serialize.execute({}),
      serialize.sync(),
    ]);
    for (let cut = 0; cut <= batch.length; cut++) {
      const framer = new FrontendFramer();
      framer.push(batch.subarray(0, cut));
      const types: string[] = [];
      for (let m = framer.next(); m; m = framer.next()) types.push(m.type);
      framer.push(batch.subarray(cut));
      for (let m = framer.next(); m; m = framer.next()) types.push(m.type);
      expect(types).toEqual(["P", "B", "E", "S"]);
    }
  });

  it("rejects lengths below 4 and over the per-type limit before buffering the body", () => {
    const framer = new FrontendFramer();
    const bad = Buffer.from([0x51, 0, 0, 0, 2]);
    framer.push(bad);
    expect(() => framer.next()).toThrow(ProtocolError);

    const huge = new FrontendFramer();
    const header = Buffer.from([0x53, 0x7f, 0xff, 0xff, 0xff]); // Sync claiming 2 GiB
    huge.push(header);
    expect(() => huge.next()).toThrow(/too large/);

    const capped = new FrontendFramer(65_540);
    capped.push(Buffer.from([0x70, 0x00, 0x02, 0x00, 0x00])); // password message claiming 128 KiB
    expect(() => capped.next()).toThrow(/too large/);
  });

  it("decodes the messages the proxy looks inside", () => {
    const parse = decodeParse(serialize.parse({ name: "st", text: "SELECT 1", types: [23, 25] }).subarray(5));
    expect(parse).toEqual({ name: "st", text: "SELECT 1", parameterTypes: [23, 25] });
    expect(decodeQuery(serialize.query("SELECT 'a;b'").subarray(5))).toBe("SELECT 'a;b'");
    expect(
      decodeBind(serialize.bind({ portal: "p1", statement: "st", values: ["x", null] }).subarray(5)),
    ).toEqual({
      portal: "p1",
      statement: "st",
    });
    expect(decodeExecute(serialize.execute({ portal: "p1", rows: 10 }).subarray(5))).toEqual({
      portal: "p1",
      maxRows: 10,
    });
    expect(decodeTarget(serialize.describe({ type: "S", name: "st" }).subarray(5), "Describe")).toEqual({
      target: "S",
      name: "st",
    });
  });

  it("rejects truncated and padded bodies", () => {
    expect(() => decodeQuery(Buffer.from("SELECT 1"))).toThrow(/unterminated/);
    expect(() => decodeQuery(Buffer.from("SELECT 1\0junk"))).toThrow(/trailing/);
    const bind = serialize.bind({ statement: "st", values: ["abc"] }).subarray(5);
    expect(() => decodeBind(bind.subarray(0, bind.length - 3))).toThrow(/too short/);
    const negative = Buffer.from("\0st\0\xff\xff", "latin1");
    expect(() => decodeBind(negative)).toThrow(/negative/);
    expect(() => decodeTarget(Buffer.from("Xname\0"), "Close")).toThrow(/invalid target/);
    expect(() => decodeParse(frame("P", Buffer.from("n\0q\0")).subarray(5))).toThrow(/too short/);
  });
});

describe("parseStartupPacket", () => {
  it("reads SSLRequest, GSSENCRequest, CancelRequest and StartupMessage", () => {
    expect(parseStartupPacket(serialize.requestSsl())?.packet).toEqual({ kind: "ssl" });
    const gss = Buffer.alloc(8);
    gss.writeInt32BE(8);
    gss.writeInt32BE(80877104, 4);
    expect(parseStartupPacket(gss)?.packet).toEqual({ kind: "gssenc" });
    expect(parseStartupPacket(serialize.cancel(1234, -5))?.packet).toEqual({
      kind: "cancel",
      processId: 1234,
      secretKey: -5,
    });
    const startup = serialize.startup({ user: "alice@example.com", database: "app" });
    expect(parseStartupPacket(startup)).toEqual({
      packet: {
        kind: "startup",
        major: 3,
        minor: 0,
        parameters: { user: "alice@example.com", database: "app", client_encoding: "UTF8" },
      },
      consumed: startup.length,
    });
  });

  it("waits for more bytes, and rejects bad lengths and unterminated parameters", () => {
    const startup = serialize.startup({ user: "a" });
    expect(parseStartupPacket(startup.subarray(0, 3))).toBeUndefined();
    expect(parseStartupPacket(startup.subarray(0, startup.length - 1))).toBeUndefined();
    const tiny = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0]);
    expect(() => parseStartupPacket(tiny)).toThrow(/invalid length/);
    const huge = Buffer.from([0, 1, 0, 0, 0, 3, 0, 0]);
    expect(() => parseStartupPacket(huge)).toThrow(/invalid length/);
    const unterminated = Buffer.concat([Buffer.from([0, 0, 0, 14, 0, 3, 0, 0]), Buffer.from("user\0a")]);
    expect(() => parseStartupPacket(unterminated)).toThrow(ProtocolError);
  });

  it("survives random bytes: every input either parses, waits, or throws a ProtocolError", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 5_000; i++) {
      const len = random() % 64;
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = random() & 0xff;
      if (len >= 4 && random() % 2 === 0) buf.writeInt32BE(Math.min(len, 8 + (random() % 56)), 0);
      try {
        parseStartupPacket(buf);
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
      }
      const framer = new FrontendFramer();
      framer.push(buf);
      try {
        while (framer.next()) {
          // drain
        }
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
      }
    }
  });
});
