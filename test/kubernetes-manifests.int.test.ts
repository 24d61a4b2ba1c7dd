/**
 * deploy/kubernetes, rendered and validated the way a cluster would take it: `kustomize build` of
 * every overlay, then `kubeconform -strict` against the Kubernetes JSON schemas `make setup` made
 * from the official OpenAPI document (scripts/k8s-json-schemas.mjs: no download at test time), so
 * an unknown field, a wrong type or a missing required field fails. Then what matters beyond the
 * schema, per overlay:
 *   - every pod runs as non-root with a read-only root file system, no privilege escalation, all
 *     capabilities dropped, and resource requests and limits;
 *   - liveness/startup probes on /healthz and readiness on /readyz, on the port the plane's
 *     config file serves them on (metrics.port, common/status-server.ts);
 *   - every Secret and ConfigMap a pod names (volumes, envFrom, env) is in the render, with
 *     every key a volume item names;
 *   - the config files in the ConfigMaps load with the planes' own loaders under the container's
 *     environment, give the overlay's region and NATS servers, and every file they name is under
 *     a mount, backed by a key of that mount's Secret or ConfigMap;
 *   - the PodDisruptionBudget and the HorizontalPodAutoscaler select the data-plane pods;
 *   - the data planes' egress reaches only NATS, the databases, the OIDC issuers and DNS;
 *   - only the home region (eu) runs the control plane: one replica, its data_dir on a PVC.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { projectRoot, toolchain } from "../common/toolchain.js";
import { loadControlPlaneConfig } from "../control-plane/config.js";
import { loadDataPlaneConfig } from "../data-plane/config.js";

const run = promisify(execFile);
const OVERLAYS = ["eu", "us", "ap"] as const;
const HOME = "eu";

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field below
type Obj = any;

interface Rendered {
  text: string;
  objects: Obj[];
}

const rendered = new Map<string, Rendered>();
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "portcullis-k8s-"));
  for (const overlay of OVERLAYS) {
    const { stdout } = await run(
      toolchain().kustomize,
      ["build", join(projectRoot(), "deploy", "kubernetes", "overlays", overlay)],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const objects = parseAllDocuments(stdout).map((d) => d.toJS());
    rendered.set(overlay, { text: stdout, objects });
  }
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function find(objects: Obj[], kind: string, name?: string): Obj[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

function one(objects: Obj[], kind: string, name: string): Obj {
  const found = find(objects, kind, name);
  expect(found, `${kind} ${name}`).toHaveLength(1);
  return found[0];
}

/** A generated ConfigMap's rendered name carries a hash suffix: the one whose name starts with `name-`. */
function configMapNamed(objects: Obj[], name: string): Obj | undefined {
  return objects.find(
    (o) =>
      o.kind === "ConfigMap" &&
      (o.metadata.name === name || new RegExp(`^${name}-[a-z0-9]{10}$`).test(o.metadata.name)),
  );
}

function workloads(objects: Obj[]): Obj[] {
  return objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The container's environment as the plane sees it: envFrom ConfigMaps, then env values. */
function containerEnv(objects: Obj[], container: Obj): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const from of container.envFrom ?? []) {
    const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === from.configMapRef?.name);
    Object.assign(env, cm?.data ?? {});
  }
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

/** Every absolute file path in a parsed config (keys ending in _file, and state/data dirs). */
function filePaths(value: unknown, path = ""): { key: string; file: string }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => filePaths(v, `${path}[${i}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => {
      const key = path ? `${path}.${k}` : k;
      if (typeof v === "string" && /(_file|_out)$/.test(k)) return [{ key, file: v }];
      return filePaths(v, key);
    });
  }
  return [];
}

/**
 * Each file the config names is under one of the container's mounts; when that mount is a Secret
 * or ConfigMap, the file's name is one of its keys (a missing key would be a missing file).
 */
function checkFilesMounted(objects: Obj[], pod: Obj, container: Obj, config: unknown, writable: string[]) {
  for (const { key, file } of filePaths(config)) {
    const mount = (container.volumeMounts as Obj[]).find(
      (m) => file === m.mountPath || file.startsWith(`${m.mountPath}/`),
    );
    expect(mount, `${key}: ${file} is under a mount of ${container.name}`).toBeDefined();
    const volume = (pod.volumes as Obj[]).find((v) => v.name === mount.name);
    const relative = file.slice(mount.mountPath.length + 1);
    if (!volume) {
      // a StatefulSet's volumeClaimTemplates: a persistent, writable volume
      expect(writable, `${key}: ${file} is on a writable volume`).toContain(mount.mountPath);
    } else if (volume.secret) {
      const secret = one(objects, "Secret", volume.secret.secretName);
      expect(Object.keys({ ...secret.data, ...secret.stringData }), `${key}: key ${relative}`).toContain(
        relative,
      );
    } else if (volume.configMap) {
      const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === volume.configMap.name);
      expect(Object.keys(cm.data ?? {}), `${key}: key ${relative}`).toContain(relative);
    } else {
      expect(writable, `${key}: ${file} is on a writable volume`).toContain(mount.mountPath);
      expect(mount.readOnly ?? false).toBe(false);
    }
  }
}

describe.each(OVERLAYS)("deploy/kubernetes/overlays/%s", (overlay) => {
  const objects = () => rendered.get(overlay)!.objects;

  it("is valid for the Kubernetes schemas (kubeconform -strict, offline)", async () => {
    const file = join(scratch, `${overlay}.yaml`);
    await writeFile(file, rendered.get(overlay)!.text);
    const { stdout } = await run(
      toolchain().kubeconform,
      [
        "-strict",
        "-summary",
        "-output",
        "json",
        "-kubernetes-version",
        "master",
        "-schema-location",
        toolchain().k8sSchemas,
        file,
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    ).catch((err: { stdout?: string }) => {
      throw new Error(`kubeconform refused the ${overlay} overlay:\n${err.stdout ?? String(err)}`);
    });
    const summary = JSON.parse(stdout).summary;
    expect(summary).toEqual({ valid: objects().length, invalid: 0, errors: 0, skipped: 0 });
  });

  it("runs every container as non-root, read-only, without privileges, with requests and limits", () => {
    const found = workloads(objects());
    expect(found.length).toBeGreaterThan(0);
    for (const w of found) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, w.metadata.name).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.securityContext.seccompProfile.type).toBe("RuntimeDefault");
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const c of pod.containers) {
        expect(c.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ["ALL"] },
        });
        for (const kind of ["requests", "limits"]) {
          expect(c.resources[kind].cpu, `${c.name} ${kind}.cpu`).toBeDefined();
          expect(c.resources[kind].memory, `${c.name} ${kind}.memory`).toBeDefined();
        }
      }
    }
  });

  it("names only Secrets and ConfigMaps that are in the render", () => {
    for (const w of workloads(objects())) {
      const pod = w.spec.template.spec;
      for (const v of pod.volumes ?? []) {
        if (v.secret) {
          const secret = one(objects(), "Secret", v.secret.secretName);
          for (const item of v.secret.items ?? []) {
            expect(Object.keys({ ...secret.data, ...secret.stringData })).toContain(item.key);
          }
        }
        if (v.configMap) {
          expect(find(objects(), "ConfigMap", v.configMap.name), v.configMap.name).toHaveLength(1);
        }
      }
      for (const c of pod.containers) {
        for (const from of c.envFrom ?? []) {
          if (from.secretRef) expect(find(objects(), "Secret", from.secretRef.name)).toHaveLength(1);
          if (from.configMapRef) expect(find(objects(), "ConfigMap", from.configMapRef.name)).toHaveLength(1);
        }
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
          if (ref) {
            const kind = e.valueFrom.secretKeyRef ? "Secret" : "ConfigMap";
            const target = one(objects(), kind, ref.name);
            expect(Object.keys({ ...target.data, ...target.stringData })).toContain(ref.key);
          }
        }
      }
    }
    // no Secret carries a value: they are filled outside git
    for (const secret of find(objects(), "Secret")) {
      for (const value of Object.values({ ...secret.data, ...secret.stringData })) expect(value).toBe("");
    }
  });

  it("runs data planes whose config loads, with the region's NATS servers and probes on its status port", async () => {
    const deployment = one(objects(), "Deployment", "portcullis-data-plane");
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const configMap = configMapNamed(objects(), "portcullis-data-plane-config");
    const file = join(scratch, overlay, "data-plane.yaml");
    await writeFile(join(scratch, `${overlay}-dp.yaml`), configMap.data["data-plane.yaml"]);
    const config = loadDataPlaneConfig(
      join(scratch, `${overlay}-dp.yaml`),
      containerEnv(objects(), container),
    );
    expect(container.args).toEqual([
      "data-plane",
      "--config",
      join("/etc/portcullis/config", basename(file)),
    ]);
    expect(
      (container.volumeMounts as Obj[]).find((m) => m.mountPath === dirname(container.args[2]))?.name,
    ).toBe("config");
    expect(config.proxy.region).toBe(overlay);
    expect(config.bus!.servers).toHaveLength(3);
    for (const server of config.bus!.servers)
      expect(server).toMatch(new RegExp(`^tls://nats-${overlay}-\\d\\.`));
    expect(config.bus!.user).toBe("data-plane");
    expect(config.upstream.tls).toBe("verify-full");
    expect(config.tls.allow_plaintext_loopback).toBe(false);
    expect(deployment.metadata.labels["portcullis.io/region"]).toBe(overlay);
    expect(deployment.spec.template.metadata.labels["portcullis.io/region"]).toBe(overlay);

    const port = (name: string) =>
      (container.ports as Obj[]).find((p) => p.name === name)?.containerPort as number | undefined;
    expect(port("postgres")).toBe(config.listen.port);
    expect(port("metrics")).toBe(config.metrics.port);
    for (const probe of ["livenessProbe", "startupProbe"]) {
      expect(container[probe].httpGet).toEqual({ path: "/healthz", port: "metrics" });
    }
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    checkFilesMounted(objects(), pod, container, config, ["/var/lib/portcullis"]);
    expect(config.bus!.state_dir.startsWith("/var/lib/portcullis/")).toBe(true);
    const service = one(objects(), "Service", "portcullis-data-plane");
    expect(matches(service.spec.selector, deployment.spec.template.metadata.labels)).toBe(true);
  });

  it("selects the data-plane pods with its PodDisruptionBudget and HorizontalPodAutoscaler", () => {
    const deployment = one(objects(), "Deployment", "portcullis-data-plane");
    const labels = deployment.spec.template.metadata.labels;
    const pdb = one(objects(), "PodDisruptionBudget", "portcullis-data-plane");
    expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true);
    // the PDB selects nothing but data planes
    for (const w of workloads(objects()).filter((o) => o !== deployment)) {
      expect(matches(pdb.spec.selector.matchLabels, w.spec.template.metadata.labels)).toBe(false);
    }
    const hpa = one(objects(), "HorizontalPodAutoscaler", "portcullis-data-plane");
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: deployment.metadata.name,
    });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(matches(deployment.spec.selector.matchLabels, labels)).toBe(true);
  });

  it("lets data planes reach only NATS, the databases, the OIDC issuers and DNS", () => {
    const deployment = one(objects(), "Deployment", "portcullis-data-plane");
    const labels = deployment.spec.template.metadata.labels;
    const policies = find(objects(), "NetworkPolicy").filter((p) =>
      matches(p.spec.podSelector.matchLabels ?? {}, labels),
    );
    // the namespace's default deny, and the data planes' own
    expect(policies.map((p) => p.metadata.name).sort()).toEqual([
      "portcullis-data-plane",
      "portcullis-default-deny",
    ]);
    const own = policies.find((p) => p.metadata.name === "portcullis-data-plane");
    const egress = own.spec.egress as Obj[];
    const ports = egress.flatMap((r) => r.ports.map((p: Obj) => p.port)).sort((a, b) => a - b);
    expect(ports).toEqual([53, 53, 443, 4222, 5432]);
    const nats = egress.find((r) => r.ports.some((p: Obj) => p.port === 4222));
    expect(nats.to).toEqual([{ podSelector: { matchLabels: { "app.kubernetes.io/name": "nats" } } }]);
    for (const r of egress.filter((r) => r.ports.some((p: Obj) => p.port === 5432 || p.port === 443))) {
      expect(r.to).toHaveLength(1);
      expect(r.to[0].ipBlock.cidr).not.toBe("0.0.0.0/0");
    }
    const db = egress.find((r) => r.ports.some((p: Obj) => p.port === 5432));
    expect(db.to[0].ipBlock.cidr).toBe(
      { eu: "10.10.0.0/16", us: "10.20.0.0/16", ap: "10.30.0.0/16" }[overlay],
    );
    // NATS: clients, routes, gateways and monitoring
    const natsPolicy = one(objects(), "NetworkPolicy", "portcullis-nats");
    expect(natsPolicy.spec.ingress.flatMap((r: Obj) => r.ports.map((p: Obj) => p.port)).sort()).toEqual([
      4222, 6222, 7222, 8222,
    ]);
  });

  it(
    overlay === HOME ? "runs the one control plane, its data on a PVC" : "has no control plane",
    async () => {
      const sets = find(objects(), "StatefulSet", "portcullis-control-plane");
      if (overlay !== HOME) {
        expect(sets).toHaveLength(0);
        return;
      }
      const [set] = sets;
      expect(set.spec.replicas).toBe(1);
      const pod = set.spec.template.spec;
      const container = pod.containers[0];
      const configMap = configMapNamed(objects(), "portcullis-control-plane-config");
      const file = join(scratch, `${overlay}-cp.yaml`);
      await writeFile(file, configMap.data["control-plane.yaml"]);
      const config = loadControlPlaneConfig(file, containerEnv(objects(), container));
      expect(container.args).toEqual([
        "control-plane",
        "--config",
        "/etc/portcullis/config/control-plane.yaml",
      ]);
      expect(config.nats.servers).toHaveLength(3);
      for (const server of config.nats.servers) expect(server).toMatch(/^tls:\/\/nats-eu-\d\./);
      expect(config.distribution.placement_cluster).toBe(HOME);
      expect(config.distribution.replicas).toBe(3);
      const claim = set.spec.volumeClaimTemplates.find((c: Obj) => c.metadata.name === "data");
      expect(claim.spec.accessModes).toEqual(["ReadWriteOnce"]);
      const dataMount = container.volumeMounts.find((m: Obj) => m.name === "data");
      expect(dataMount.mountPath).toBe(config.data_dir);
      expect(config.store.path.startsWith(`${config.data_dir}/`)).toBe(true);
      const port = (name: string) => container.ports.find((p: Obj) => p.name === name)?.containerPort;
      expect(port("admin")).toBe(config.admin.port);
      expect(port("metrics")).toBe(config.metrics.port);
      expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
      expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
      checkFilesMounted(objects(), pod, container, config, ["/var/lib/portcullis"]);
      // operators reach the admin port; nothing else reaches it
      const policy = one(objects(), "NetworkPolicy", "portcullis-control-plane");
      const admin = policy.spec.ingress.find((r: Obj) =>
        r.ports.some((p: Obj) => p.port === config.admin.port),
      );
      expect(admin.from.length).toBeGreaterThan(0);
      const service = one(objects(), "Service", set.spec.serviceName);
      expect(matches(service.spec.selector, set.spec.template.metadata.labels)).toBe(true);
    },
  );
});
