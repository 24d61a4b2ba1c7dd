/**
 * Flips (a decision a candidate revision makes otherwise than the recorded one) counted by subject,
 * database role, relation and reason: what ShadowReport and ReplayDecisions print.
 */
export type FlipChange = "allow-to-deny" | "deny-to-allow" | "mask-change";
export const FLIP_CHANGES: readonly FlipChange[] = ["allow-to-deny", "deny-to-allow", "mask-change"];

export interface FlipGroup {
  by: "subject" | "role" | "relation" | "reason";
  key: string;
  count: number;
  allow_to_deny: number;
  deny_to_allow: number;
  mask_change: number;
}

export interface FlipTotals {
  allow_to_deny: number;
  deny_to_allow: number;
  mask_change: number;
}

const field = {
  "allow-to-deny": "allow_to_deny",
  "deny-to-allow": "deny_to_allow",
  "mask-change": "mask_change",
} as const;

export class FlipGroups {
  readonly #groups = new Map<string, FlipGroup>();
  readonly totals: FlipTotals = { allow_to_deny: 0, deny_to_allow: 0, mask_change: 0 };

  add(
    change: FlipChange,
    flip: { subject: string; dbRole: string; relations: readonly string[]; reasons: readonly string[] },
  ): void {
    this.totals[field[change]]++;
    this.#count("subject", flip.subject, change);
    this.#count("role", flip.dbRole, change);
    for (const relation of new Set(flip.relations)) this.#count("relation", relation, change);
    for (const reason of new Set(flip.reasons)) this.#count("reason", reason, change);
  }

  get total(): number {
    return this.totals.allow_to_deny + this.totals.deny_to_allow + this.totals.mask_change;
  }

  /** The largest `top` groups of each dimension, largest first. */
  top(top: number): FlipGroup[] {
    const out: FlipGroup[] = [];
    for (const by of ["subject", "role", "relation", "reason"] as const) {
      out.push(
        ...[...this.#groups.values()]
          .filter((g) => g.by === by)
          .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
          .slice(0, top),
      );
    }
    return out;
  }

  #count(by: FlipGroup["by"], key: string, change: FlipChange): void {
    const id = `${by}\u0000${key}`;
    let group = this.#groups.get(id);
    if (!group) {
      group = { by, key, count: 0, allow_to_deny: 0, deny_to_allow: 0, mask_change: 0 };
      this.#groups.set(id, group);
    }
    group.count++;
    group[field[change]]++;
  }
}

/** "schema.name" of a stored decision's relations (relations_json). */
export function relationNames(relationsJson: string): string[] {
  try {
    const relations = JSON.parse(relationsJson) as { schema: string | null; name: string }[];
    return relations.map((r) => (r.schema ? `${r.schema}.${r.name}` : r.name));
  } catch {
    return [];
  }
}
