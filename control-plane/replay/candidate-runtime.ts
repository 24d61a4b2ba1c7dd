/**
 * A stored revision as a policy runtime, for impact replay: its bytes from the store, verified
 * with the control plane's own public key and loaded like a data plane loads it. The last few are
 * kept (a CI run replays one candidate several times).
 */
import type { KeyObject } from "node:crypto";
import { verifyBundle } from "../../common/policy/bundle-verify.js";
import { PolicyRuntime } from "../../common/policy/runtime.js";
import { decodeBundle } from "../../proto/bundle-file.js";
import type { ControlPlaneStore } from "../store/index.js";

export function candidateRuntimes(
  store: ControlPlaneStore,
  publicKey: KeyObject,
  keep = 4,
): (revision: string) => Promise<PolicyRuntime> {
  const loaded = new Map<string, Promise<PolicyRuntime>>();
  return (revision) => {
    const hit = loaded.get(revision);
    if (hit) return hit;
    const bytes = store.bundles.bytes(revision);
    if (!bytes) return Promise.reject(new Error(`revision ${revision} has no bundle (not built)`));
    const runtime = decodeBundle(bytes)
      .then((files) => verifyBundle(files, publicKey))
      .then((verified) => PolicyRuntime.load(verified));
    runtime.catch(() => loaded.delete(revision));
    loaded.set(revision, runtime);
    while (loaded.size > keep) loaded.delete(loaded.keys().next().value as string);
    return runtime;
  };
}
