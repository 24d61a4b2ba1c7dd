/** Revocations: what was revoked, by whom, why, until when, and what it cut. */
import type { Revocation } from "../admin-types";
import { call } from "../api";
import { h, time } from "../dom";
import type { ViewContext } from "../main";
import { table } from "./table";

export function revocationsView(ctx: ViewContext): HTMLElement {
  const expired = h("input", { id: "include-expired", type: "checkbox" });
  const body = h("div", {});
  const refresh = async (): Promise<void> => {
    try {
      const res = await call<{ revocations: Revocation[] }>("ListRevocations", {
        include_expired: expired.checked,
        limit: 500,
      });
      body.replaceChildren(
        table(
          `${res.revocations.length} revocation${res.revocations.length === 1 ? "" : "s"}`,
          [
            { title: "Kind", cell: (r) => r.kind },
            { title: "Value", cell: (r) => h("code", {}, r.value) },
            { title: "Reason", cell: (r) => r.reason },
            { title: "By", cell: (r) => r.created_by },
            { title: "At", cell: (r) => time(r.created_at) },
            { title: "Expires", cell: (r) => time(r.expires_at) },
            { title: "Published", cell: (r) => (r.published_at ? "yes" : "not yet") },
            { title: "Acks", cell: (r) => r.acks },
            { title: "Sessions cut", cell: (r) => r.sessions_cut },
          ],
          res.revocations,
        ),
      );
    } catch (err) {
      ctx.fail(err);
    }
  };
  expired.addEventListener("change", () => void refresh());
  ctx.onEvent((e) => {
    if (e.kind === "revocation") void refresh();
  });
  void refresh();
  return h(
    "section",
    {},
    h("div", { class: "toolbar" }, h("label", { for: "include-expired" }, expired, " include expired")),
    body,
  );
}
