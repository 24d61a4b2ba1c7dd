/** A plain accessible table. */
import { h } from "../dom";

export function table<T>(
  caption: string,
  columns: { title: string; cell: (row: T) => Node | string | number }[],
  rows: T[],
  rowAttrs: (row: T) => Record<string, string> = () => ({}),
): HTMLTableElement {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((c) => h("th", { scope: "col" }, c.title)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h(
          "tr",
          rowAttrs(r),
          columns.map((c) => h("td", {}, c.cell(r))),
        ),
      ),
    ),
  );
}
