/** Every data plane: region, revision, last report, converged or not, and rollout progress. */
import type { FleetStatus } from "../admin-types";
import { call } from "../api";
import { ago, h } from "../dom";
import type { ViewContext } from "../main";
import { table } from "./table";

export function fleetView(ctx: ViewContext): HTMLElement {
  const body = h("div", {});
  const refresh = async (): Promise<void> => {
    try {
      const f = await call<FleetStatus>("GetFleetStatus", {});
      const pct = f.live ? Math.round((100 * f.converged) / f.live) : 0;
      body.replaceChildren(
        h(
          "p",
          { class: "summary", id: "fleet-summary" },
          `Active revision `,
          h("code", {}, f.active_revision || "none"),
          ` · ${f.converged} of ${f.live} live data planes converged`,
          f.all_converged
            ? h("span", { class: "ok" }, " ✓ all converged")
            : h("span", { class: "warn" }, " rolling out…"),
          f.nats_connected ? "" : h("span", { class: "warn" }, " · NATS unreachable"),
        ),
        h("progress", { max: 100, value: pct, "aria-label": "Rollout progress" }, `${pct}%`),
        table(
          "Data planes",
          [
            { title: "Data plane", cell: (d) => d.id },
            { title: "Region", cell: (d) => d.region },
            { title: "Revision", cell: (d) => h("code", {}, d.revision || "none") },
            {
              title: "Converged",
              cell: (d) =>
                d.converged
                  ? h("span", { class: "ok" }, "yes")
                  : h("span", { class: "warn" }, d.load_error || "no"),
            },
            { title: "Live", cell: (d) => (d.live ? "yes" : "no") },
            { title: "Sessions", cell: (d) => d.sessions },
            { title: "Last report", cell: (d) => ago(d.last_seen_at) },
            { title: "Version", cell: (d) => d.version },
          ],
          f.data_planes,
          (d) => ({ "data-plane": d.id, "data-converged": String(d.converged) }),
        ),
      );
    } catch (err) {
      ctx.fail(err);
    }
  };
  ctx.onEvent((e) => {
    if (e.kind === "fleet" || e.kind === "activation") void refresh();
  });
  const timer = setInterval(() => void refresh(), 5_000);
  ctx.signal.addEventListener("abort", () => clearInterval(timer));
  void refresh();
  return h("section", { class: "fleet" }, body);
}
