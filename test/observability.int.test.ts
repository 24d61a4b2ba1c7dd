/**
 * What operators scrape: both planes' /metrics, /healthz and /readyz, with a data plane that has
 * served a session (allowed and denied statements) and a control plane that has stored its
 * decisions. Every series the dashboards rely on must be there by name.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalNats, startNats } from "../devstack/nats.js";
import { startTestControlPlane, type TestControlPlane } from "./harness/control-plane.js";
import { eventually } from "./harness/git-repo.js";
import { type ProxyStack, startProxyStack, USERS } from "./harness/proxy-stack.js";

let nats: LocalNats;
let cp: TestControlPlane;
let stack: ProxyStack;

beforeAll(async () => {
  nats = await startNats();
  cp = await startTestControlPlane({
    natsUrl: nats.url,
    config: { metrics: { host: "127.0.0.1", port: 0 } },
  });
  stack = await startProxyStack({
    config: {
      proxy: { id: "dp-metrics-1", region: "eu" },
      bus: { servers: [nats.url], status_interval_ms: 500 },
      metrics: { host: "127.0.0.1", port: 0 },
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await cp?.destroy();
  await nats?.destroy();
});

async function get(port: number | undefined, path: string): Promise<{ status: number; body: string }> {
  if (port === undefined) throw new Error("no status server");
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

/** The value of the first sample of `name` whose labels include every one of `labels`. */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const text = match[3] ?? "";
    if (Object.entries(labels).every(([k, v]) => text.includes(`${k}="${v}"`))) return Number(match[4]);
  }
  return undefined;
}

const declared = (body: string, name: string) => body.includes(`# TYPE ${name} `);

describe("metrics and health", () => {
  it("the data plane exposes connections, statements, decisions, latency, revision, NATS, revocation lag and the decision log", async () => {
    const client = await stack.client(await stack.token(USERS.alice));
    try {
      await client.query("SELECT * FROM sales.orders WHERE id = 1");
      await client.query("DELETE FROM sales.orders WHERE id = 1").catch(() => undefined);
    } finally {
      await client.end();
    }
    await eventually(() => stack.proxy.decisionLog?.connected, "the decision log to connect");

    const port = stack.proxy.metricsPort;
    expect(await get(port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await get(port, "/readyz")).toEqual({ status: 200, body: "ready\n" });
    const { status, body } = await get(port, "/metrics");
    expect(status).toBe(200);

    expect(sample(body, "portcullis_connections_total", { result: "accepted" })).toBeGreaterThanOrEqual(1);
    expect(sample(body, "portcullis_sessions_active")).toBeDefined();
    expect(sample(body, "portcullis_statements_total", { result: "allowed" })).toBeGreaterThanOrEqual(1);
    expect(sample(body, "portcullis_statements_total", { result: "denied" })).toBeGreaterThanOrEqual(1);
    expect(
      sample(body, "portcullis_decisions_total", { entrypoint: "query", result: "deny" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(body, "portcullis_decisions_total", { entrypoint: "connection", result: "allow" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(body, "portcullis_policy_evaluation_seconds_count", { entrypoint: "portcullis/query/decision" }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      sample(body, "portcullis_policy_evaluation_seconds_bucket", { le: "+Inf" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(body, "portcullis_policy_revision_info", { revision: stack.proxy.policy.current()!.revision }),
    ).toBe(1);
    expect(sample(body, "portcullis_revocation_lag_seconds")).toBeDefined();
    expect(sample(body, "portcullis_nats_connected", { link: "decision_log" })).toBe(1);
    expect(sample(body, "portcullis_nats_connected", { link: "bundles" })).toBe(1);
    expect(declared(body, "portcullis_upstream_errors_total")).toBe(true);
    expect(sample(body, "portcullis_decision_log_queue_depth")).toBeDefined();
    expect(declared(body, "portcullis_decision_log_dropped_total")).toBe(true);
    expect(declared(body, "portcullis_decision_log_published_total")).toBe(true);
    // every series carries the data plane's identity
    expect(body).toMatch(/portcullis_sessions_active\{[^}]*proxy="dp-metrics-1"[^}]*region="eu"/);
  });

  it("the control plane exposes NATS state, stored decisions by result, the fleet and revocation lag", async () => {
    const port = cp.metricsPort;
    expect(await get(port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await get(port, "/readyz")).toEqual({ status: 200, body: "ready\n" });
    const body = await eventually(async () => {
      const { body } = await get(port, "/metrics");
      const stored = sample(body, "portcullis_control_plane_decisions_stored_total", {
        kind: "query",
        result: "denied",
      });
      const live = sample(body, "portcullis_control_plane_data_planes", { state: "live" });
      return stored && stored >= 1 && live && live >= 1 ? body : undefined;
    }, "the control plane to store the data plane's decisions and see it live");

    expect(sample(body, "portcullis_control_plane_nats_connected")).toBe(1);
    expect(sample(body, "portcullis_control_plane_decision_consumer_connected")).toBe(1);
    expect(
      sample(body, "portcullis_control_plane_decisions_stored_total", { kind: "query", result: "allowed" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(body, "portcullis_control_plane_decisions_stored_total", {
        kind: "connection",
        result: "allowed",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(body, "portcullis_control_plane_decisions_pending")).toBeDefined();
    expect(declared(body, "portcullis_control_plane_decisions_pruned_total")).toBe(true);
    expect(sample(body, "portcullis_control_plane_revocation_lag_seconds")).toBeDefined();
    expect(declared(body, "portcullis_control_plane_active_revision")).toBe(true);
    expect(declared(body, "portcullis_control_plane_bundle_builds_total")).toBe(true);
  });
});
