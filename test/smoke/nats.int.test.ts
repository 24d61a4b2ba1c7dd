import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolchain } from "../../common/toolchain.js";
import { type LocalNats, startNats } from "../../devstack/nats.js";

const run = promisify(execFile);

describe("nats-server with JetStream", () => {
  let nats: LocalNats;
  beforeAll(async () => {
    nats = await startNats();
    const { stdout } = await run(toolchain().natsServer, ["--version"]);
    console.log(`nats-server: ${stdout.trim()}`);
  });
  afterAll(async () => {
    await nats?.destroy();
  });

  it("stores and reads a KV key and an object", async () => {
    const nc = await connect({ servers: nats.url });
    const kv = await new Kvm(nc).create("smoke_kv");
    await kv.put("active", "rev-1");
    expect((await kv.get("active"))?.string()).toBe("rev-1");
    const os = await new Objm(nc).create("smoke_objects");
    const payload = new Uint8Array(300_000).map((_, i) => i % 251);
    await os.putBlob({ name: "bundle" }, payload);
    expect(await os.getBlob("bundle")).toEqual(payload);
    await nc.close();
  });

  it("keeps JetStream data across a kill and restart on the same port", async () => {
    const nc = await connect({ servers: nats.url });
    const kv = await new Kvm(nc).create("durable_kv");
    await kv.put("k", "before");
    await nc.close();
    await nats.kill();
    expect(nats.running).toBe(false);
    await nats.restart();
    const nc2 = await connect({ servers: nats.url });
    const kv2 = await new Kvm(nc2).open("durable_kv");
    expect((await kv2.get("k"))?.string()).toBe("before");
    await nc2.close();
  });
});
