import { z } from "zod";

/**
 * What both planes' configuration files share: YAML + zod, environment overrides named
 * PORTCULLIS_<SECTION>__<KEY> (only for the sections the file has), and value types that read the
 * same from YAML and from the environment.
 */

/** A boolean that reads "false"/"0"/"no"/"off" from the environment as false (z.coerce.boolean would say true). */
export const bool = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  const s = v.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(s)) return true;
  if (["false", "0", "no", "off", ""].includes(s)) return false;
  return v;
}, z.boolean());

/** One URL or a list; from the environment, a comma-separated list. */
export const urlList = z.preprocess(
  (v) =>
    typeof v === "string"
      ? v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(z.string().min(1)).min(1, "give at least one server URL"),
);

/** Applies PORTCULLIS_A__B=value overrides onto a parsed object, for the given top-level sections. */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  sections: ReadonlySet<string>,
): Record<string, unknown> {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("PORTCULLIS_") || value === undefined || !name.includes("__")) continue;
    const path = name.slice("PORTCULLIS_".length).toLowerCase().split("__");
    if (!sections.has(path[0] ?? "") || path.some((p) => p === "")) continue;
    let node: Record<string, unknown> = raw;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return raw;
}

export function formatZodError(error: z.ZodError): string {
  return error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`).join("\n");
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration: a number (ms) or text like "500ms", "30s", "15m", "24h", "7d". */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!match) return Number.NaN;
  return Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2] ?? "ms"]!);
}

/** A duration in milliseconds, written as a number of ms or as "30s", "15m", "24h", "7d"… */
export const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (!Number.isFinite(ms) || ms < 0) {
    ctx.addIssue({ code: "custom", message: `"${v}" is not a duration (e.g. 500ms, 30s, 15m, 24h, 7d)` });
    return z.NEVER;
  }
  return ms;
});
