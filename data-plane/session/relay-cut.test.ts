/**
 * How the relay cuts a session the proxy ends (revocation, expiry, shutdown): the client first,
 * the bookkeeping once its socket has closed, an idle upstream after a grace and a busy one at once.
 * Real loopback sockets; no database.
 */
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { readyForQuery } from "../protocol/backend-messages.js";
import { closeDeferredUpstreamsNow, Relay, type RelayStages } from "./relay.js";

const passThrough: RelayStages = {
  onFrontend: (message, toUpstream) => {
    toUpstream.push(message.raw);
    return true;
  },
};

/** A connected pair of loopback sockets: [the proxy's end, the peer's end]. */
async function socketPair(server: Server): Promise<[Socket, Socket]> {
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no address");
  const accepted = once(server, "connection") as Promise<[Socket]>;
  const peer = connect(address.port, "127.0.0.1");
  await once(peer, "connect");
  const [proxySide] = await accepted;
  return [proxySide, peer];
}

/** Everything a peer receives until its socket ends. */
function received(peer: Socket): { bytes: () => Buffer; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  peer.on("data", (c: Buffer) => chunks.push(c));
  return { bytes: () => Buffer.concat(chunks), ended: once(peer, "end").then(() => undefined) };
}

describe("a session the proxy ends", () => {
  let server: Server;
  const sockets: Socket[] = [];

  async function relayWithPeers() {
    server ??= await new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
    const [clientSide, client] = await socketPair(server);
    const [upstreamSide, database] = await socketPair(server);
    sockets.push(clientSide, client, upstreamSide, database);
    const relay = new Relay(clientSide, upstreamSide, passThrough);
    relay.start(Buffer.alloc(0), Buffer.alloc(0));
    return {
      relay,
      client: received(client),
      database: received(database),
      clientSocket: client,
      databaseSocket: database,
    };
  }

  afterEach(() => {
    closeDeferredUpstreamsNow();
    for (const s of sockets.splice(0)) s.destroy();
  });

  it("tells the client and closes it, and is accounted for only once the client socket has closed", async () => {
    const { relay, client } = await relayWithPeers();
    const closed: string[] = [];
    relay.onClose((reason) => closed.push(reason));
    relay.terminate("57P01", "session revoked: test");
    expect(relay.isEnded).toBe(true);
    expect(closed).toEqual([]);
    await client.ended;
    const bytes = client.bytes();
    expect(String.fromCharCode(bytes[0]!)).toBe("E");
    expect(bytes.toString("latin1")).toContain("SFATAL");
    expect(bytes.toString("latin1")).toContain("C57P01");
    expect(bytes.toString("latin1")).toContain("Msession revoked: test");
    await expect.poll(() => closed).toEqual(["session revoked: test"]);
  });

  it("leaves an idle upstream open for a grace, then sends Terminate", async () => {
    const { relay, database } = await relayWithPeers();
    relay.terminate("57P01", "session revoked: test");
    const early = await Promise.race([
      database.ended.then(() => "closed"),
      new Promise((resolve) => setTimeout(() => resolve("open"), 300)),
    ]);
    expect(early).toBe("open");
    closeDeferredUpstreamsNow();
    await database.ended;
    expect(database.bytes()).toEqual(Buffer.from([0x58, 0, 0, 0, 4]));
  });

  it("closes an upstream with a transaction open at once, so its locks go now", async () => {
    const { relay, database, databaseSocket } = await relayWithPeers();
    databaseSocket.write(readyForQuery("T"));
    await expect.poll(() => relay.status).toBe("T");
    relay.terminate("57P01", "session revoked: test");
    await database.ended;
    expect(database.bytes()).toEqual(Buffer.from([0x58, 0, 0, 0, 4]));
  });
});
