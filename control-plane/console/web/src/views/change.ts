/**
 * Safe policy change and just-in-time access on one page: the canary running (or the last one, with
 * how it ended and its measures against the baseline), the shadow revision's disagreements, access
 * requests waiting for a second person (approve or deny), and the grants in force (revoke).
 * Approving one's own request is refused by the control plane, whatever the console shows.
 */
import type { AccessRequest, FleetStatus, Grant, ShadowReport } from "../admin-types";
import { ApiError, call } from "../api";
import { ago, confirmDialog, h, time } from "../dom";
import type { ViewContext } from "../main";
import { table } from "./table";

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
const duration = (seconds: number) =>
  seconds >= 3600 ? `${Math.round((seconds / 3600) * 10) / 10} h` : `${Math.round(seconds / 60)} min`;

function canarySection(f: FleetStatus): HTMLElement {
  const c = f.canary;
  if (!c) return h("section", { id: "canary" }, h("h2", {}, "Canary"), h("p", {}, "No canary has run."));
  const state =
    c.state === "running"
      ? h("span", { class: "warn" }, "running")
      : c.state === "promoted"
        ? h("span", { class: "ok" }, "promoted")
        : h("span", { class: "warn" }, c.state.replace("_", " "));
  return h(
    "section",
    { id: "canary", "data-state": c.state },
    h("h2", {}, "Canary"),
    h(
      "p",
      { class: "summary" },
      h("code", {}, c.revision.slice(0, 12)),
      ` on ${c.selector} · `,
      state,
      ` · started ${ago(c.started_at)} by ${c.by || "?"}`,
      c.ended_at ? ` · ended ${ago(c.ended_at)}` : ` · bake ${c.bake_seconds} s`,
      c.reason ? ` · ${c.reason}` : "",
    ),
    table(
      "Canary against the revision it replaces",
      [
        { title: "", cell: (r: { name: string }) => r.name },
        { title: "Decisions", cell: (r: { decisions: number }) => r.decisions },
        { title: "Deny rate", cell: (r: { rate: number }) => pct(r.rate) },
      ],
      [
        { name: `canary ${c.revision.slice(0, 12)}`, decisions: Number(c.decisions), rate: c.deny_rate },
        {
          name: `baseline ${c.previous_revision.slice(0, 12)}`,
          decisions: Number(c.baseline_decisions),
          rate: c.baseline_deny_rate,
        },
      ],
    ),
    h(
      "p",
      {},
      `${c.evaluation_errors} evaluation error${Number(c.evaluation_errors) === 1 ? "" : "s"}, ${c.load_errors} load error${Number(c.load_errors) === 1 ? "" : "s"}`,
    ),
  );
}

function shadowSection(report: ShadowReport | undefined, why: string | undefined): HTMLElement {
  if (!report)
    return h("section", { id: "shadow" }, h("h2", {}, "Shadow revision"), h("p", {}, why ?? "None."));
  return h(
    "section",
    { id: "shadow" },
    h("h2", {}, "Shadow revision"),
    h(
      "p",
      { class: "summary" },
      h("code", {}, report.revision.slice(0, 12)),
      report.current
        ? " (evaluated now beside the active revision, never enforced)"
        : " (no longer evaluated)",
      ` · ${report.disagreements} disagreements: ${report.allow_to_deny} allow→deny, ${report.deny_to_allow} deny→allow, ${report.mask_change} mask changes`,
    ),
    table(
      "Disagreements by subject, role, relation and reason",
      [
        { title: "By", cell: (g) => g.by },
        { title: "Key", cell: (g) => h("code", {}, g.key) },
        { title: "Count", cell: (g) => g.count },
      ],
      report.groups,
    ),
  );
}

export function changeView(ctx: ViewContext): HTMLElement {
  const body = h("div", {});
  const act = async (method: string, request: object): Promise<void> => {
    try {
      await call(method, request);
    } catch (err) {
      ctx.fail(err);
    }
    await refresh();
  };
  const decide = async (r: AccessRequest, approve: boolean): Promise<void> => {
    const note = await confirmDialog(
      approve ? "Approve access" : "Deny access",
      `${approve ? "Grant" : "Refuse"} ${r.subject} ${r.kind} ${r.value} for ${duration(Number(r.seconds))}?`,
      true,
    );
    if (note === undefined) return;
    await act(approve ? "ApproveRequest" : "DenyRequest", { id: r.id, note });
  };
  const revoke = async (g: Grant): Promise<void> => {
    const reason = await confirmDialog(
      "End grant",
      `End ${g.subject}'s ${g.kind} ${g.value} now on every data plane?`,
      true,
    );
    if (reason === undefined) return;
    await act("RevokeGrant", { id: g.id, reason });
  };
  const refresh = async (): Promise<void> => {
    try {
      const [fleet, requests, grants] = await Promise.all([
        call<FleetStatus>("GetFleetStatus", {}),
        call<{ requests: AccessRequest[] }>("ListRequests", { status: "pending", limit: 200 }),
        call<{ grants: Grant[] }>("ListGrants", { limit: 200 }),
      ]);
      let shadow: ShadowReport | undefined;
      let why: string | undefined;
      try {
        shadow = await call<ShadowReport>("ShadowReport", { since: "24h" });
      } catch (err) {
        if (!(err instanceof ApiError) || err.httpStatus >= 500) throw err;
        why = /^no shadow revision/i.test(err.message) ? "No shadow revision is set." : err.message;
      }
      body.replaceChildren(
        canarySection(fleet),
        shadowSection(shadow, why),
        h(
          "section",
          { id: "requests" },
          h("h2", {}, "Access requests"),
          table(
            `${requests.requests.length} waiting for approval`,
            [
              { title: "Subject", cell: (r) => r.subject },
              { title: "Asks for", cell: (r) => `${r.kind} ${r.value}` },
              { title: "For", cell: (r) => duration(Number(r.seconds)) },
              { title: "Reason", cell: (r) => r.reason },
              { title: "Asked", cell: (r) => time(r.created_at) },
              {
                title: "",
                cell: (r) =>
                  h(
                    "span",
                    { class: "buttons" },
                    h(
                      "button",
                      {
                        type: "button",
                        "aria-label": `Approve ${r.subject}`,
                        onclick: () => void decide(r, true),
                      },
                      "Approve",
                    ),
                    h(
                      "button",
                      {
                        type: "button",
                        "aria-label": `Deny ${r.subject}`,
                        onclick: () => void decide(r, false),
                      },
                      "Deny",
                    ),
                  ),
              },
            ],
            requests.requests,
            (r) => ({ "data-request": r.id, "data-subject": r.subject }),
          ),
        ),
        h(
          "section",
          { id: "grants" },
          h("h2", {}, "Grants in force"),
          table(
            `${grants.grants.length} grant${grants.grants.length === 1 ? "" : "s"}`,
            [
              { title: "Subject", cell: (g) => g.subject },
              { title: "Access", cell: (g) => `${g.kind} ${g.value}` },
              { title: "Until", cell: (g) => time(g.expires_at) },
              { title: "By", cell: (g) => g.created_by },
              { title: "Reason", cell: (g) => g.reason },
              { title: "Published", cell: (g) => (g.published_at ? "yes" : "not yet") },
              {
                title: "",
                cell: (g) =>
                  h(
                    "button",
                    {
                      type: "button",
                      class: "danger",
                      "aria-label": `End ${g.subject}'s grant`,
                      onclick: () => void revoke(g),
                    },
                    "End",
                  ),
              },
            ],
            grants.grants,
            (g) => ({ "data-grant": g.id, "data-subject": g.subject }),
          ),
        ),
      );
    } catch (err) {
      ctx.fail(err);
    }
  };
  ctx.onEvent((e) => {
    if (["canary", "grant", "activation", "shadow"].includes(e.kind)) void refresh();
  });
  const timer = setInterval(() => void refresh(), 5_000);
  ctx.signal.addEventListener("abort", () => clearInterval(timer));
  void refresh();
  return h("section", { class: "change" }, body);
}
