/** The decision log: search by subject, relation, result and time; reasons and the SQL with placeholders. */
import type { Decision } from "../admin-types";
import { call } from "../api";
import { h, time } from "../dom";
import type { ViewContext } from "../main";
import { table } from "./table";

export function decisionsView(ctx: ViewContext): HTMLElement {
  const field = (id: string, label: string, input: HTMLElement): HTMLElement =>
    h("label", { for: id }, `${label} `, input);
  const subject = h("input", { id: "q-subject", type: "text" });
  const relation = h("input", { id: "q-relation", type: "text", placeholder: "sales.orders" });
  const result = h(
    "select",
    { id: "q-result" },
    h("option", { value: "" }, "any"),
    h("option", { value: "allowed" }, "allowed"),
    h("option", { value: "denied" }, "denied"),
  );
  const since = h("input", { id: "q-since", type: "text", value: "1h", placeholder: "1h, 30m, or a time" });
  const results = h("div", { "aria-live": "polite" });
  let pageToken = "";
  let rows: Decision[] = [];
  const more = h("button", { type: "button", hidden: true, onclick: () => void search(false) }, "More");

  const search = async (fresh: boolean): Promise<void> => {
    if (fresh) {
      rows = [];
      pageToken = "";
    }
    try {
      const res = await call<{ decisions: Decision[]; next_page_token: string }>("QueryDecisions", {
        subject: subject.value.trim(),
        relation: relation.value.trim(),
        result: result.value,
        since: since.value.trim(),
        page_size: 100,
        page_token: pageToken,
      });
      rows = rows.concat(res.decisions);
      pageToken = res.next_page_token;
      more.hidden = !pageToken;
      results.replaceChildren(
        table(
          `${rows.length} decision${rows.length === 1 ? "" : "s"}`,
          [
            { title: "Time", cell: (d) => time(d.at) },
            { title: "Subject", cell: (d) => d.subject },
            {
              title: "Result",
              cell: (d) =>
                h("span", { class: d.allow ? "ok" : "warn" }, d.result || (d.allow ? "allowed" : "denied")),
            },
            { title: "Kind", cell: (d) => d.statement_command || d.kind },
            { title: "Relations", cell: (d) => d.relations.join(", ") },
            { title: "SQL", cell: (d) => h("code", {}, d.statement_text) },
            { title: "Reasons", cell: (d) => d.reasons.join("; ") },
            { title: "Data plane", cell: (d) => d.data_plane_id },
          ],
          rows,
          (d) => ({ "data-result": d.allow ? "allowed" : "denied" }),
        ),
      );
    } catch (err) {
      ctx.fail(err);
    }
  };
  const form = h(
    "form",
    {
      class: "toolbar",
      role: "search",
      "aria-label": "Search decisions",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void search(true);
      },
    },
    field("q-subject", "Subject", subject),
    field("q-relation", "Relation", relation),
    field("q-result", "Result", result),
    field("q-since", "Since", since),
    h("button", { type: "submit", id: "q-search" }, "Search"),
  );
  void search(true);
  return h("section", {}, form, results, more);
}
