/**
 * ShadowReport: the stored decisions a shadow revision disagreed with, counted by subject, role,
 * relation and the shadow revision's reasons.
 */
import type { DecisionRepository } from "../store/decisions.js";
import { type FlipChange, FlipGroups } from "./flip-groups.js";

export function shadowReport(decisions: DecisionRepository, revision: string, since?: string): FlipGroups {
  const groups = new FlipGroups();
  for (const d of decisions.shadowDisagreements(revision, since)) {
    const shadow = d.shadow!;
    const change: FlipChange =
      d.allow === shadow.allow ? "mask-change" : d.allow ? "allow-to-deny" : "deny-to-allow";
    groups.add(change, {
      subject: d.subject,
      dbRole: d.dbRole,
      relations: d.relations.map((r) => (r.schema ? `${r.schema}.${r.name}` : r.name)),
      reasons: shadow.reasons,
    });
  }
  return groups;
}
