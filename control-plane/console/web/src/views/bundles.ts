/** Bundles: every revision, its commit, test results, compile errors (file:line), activate / roll back. */
import type { Bundle, BundleSources as Sources } from "../admin-types";
import { call } from "../api";
import { diffLines, hunks } from "../diff";
import { confirmDialog, h, time } from "../dom";
import type { ViewContext } from "../main";
import { table } from "./table";

const text = (base64: string): string =>
  new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));

export function bundlesView(ctx: ViewContext): HTMLElement {
  const body = h("div", {});
  const detail = h("div", { class: "detail", "aria-live": "polite" });
  const from = h("select", { id: "diff-from" });
  const to = h("select", { id: "diff-to" });
  for (const select of [from, to]) select.addEventListener("change", () => (select.dataset.chosen = "1"));
  const diffOut = h("div", { class: "diff", "aria-live": "polite" });
  const compare = async (): Promise<void> => {
    if (!from.value || !to.value) return;
    try {
      const [a, b] = await Promise.all([
        call<Sources>("GetBundleSources", { revision: from.value }),
        call<Sources>("GetBundleSources", { revision: to.value }),
      ]);
      const before = new Map(a.files.map((f) => [f.path, text(f.content)]));
      const after = new Map(b.files.map((f) => [f.path, text(f.content)]));
      const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
      const changed = paths.filter((p) => before.get(p) !== after.get(p));
      diffOut.replaceChildren(
        h(
          "p",
          { id: "diff-summary" },
          `${changed.length} file${changed.length === 1 ? "" : "s"} changed between ${a.source_commit.slice(0, 12)} and ${b.source_commit.slice(0, 12)}`,
        ),
        ...changed.map((path) =>
          h(
            "section",
            { class: "diff-file", "aria-label": `Changes to ${path}` },
            h(
              "h3",
              {},
              h("code", {}, path),
              before.has(path) ? (after.has(path) ? "" : " (deleted)") : " (new)",
            ),
            h(
              "pre",
              {},
              hunks(diffLines(before.get(path) ?? "", after.get(path) ?? "")).map((l) =>
                l === "gap"
                  ? h("span", { class: "gap" }, "…")
                  : h(
                      "span",
                      { class: l.kind === "+" ? "add" : l.kind === "-" ? "del" : "" },
                      `${l.kind} ${l.text}`,
                    ),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      ctx.fail(err);
    }
  };
  const diffForm = h(
    "form",
    {
      class: "toolbar",
      "aria-label": "Compare two revisions",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void compare();
      },
    },
    h("label", { for: "diff-from" }, "Compare ", from),
    h("label", { for: "diff-to" }, " with ", to),
    h("button", { type: "submit", id: "diff-show" }, "Show Rego diff"),
  );
  let active = "";

  const activate = async (b: Bundle): Promise<void> => {
    const rollback = b.created_at < (body.dataset.activeCreated ?? "");
    const reason = await confirmDialog(
      `${rollback ? "Roll back to" : "Activate"} ${b.revision.slice(0, 12)}?`,
      `Every data plane will enforce revision ${b.revision.slice(0, 12)} (${b.commit_message || b.source}).`,
      true,
    );
    if (reason === undefined) return;
    try {
      const res = await call<{ revision: string; previous_revision: string; published: boolean }>(
        "ActivateBundle",
        {
          revision: b.revision,
          reason,
        },
      );
      detail.replaceChildren(
        h(
          "p",
          { class: "ok", id: "activation-result" },
          `Activated ${res.revision.slice(0, 12)} (was ${res.previous_revision.slice(0, 12) || "none"})`,
          res.published ? ": published, see the fleet converge." : ": not yet published.",
          " ",
          h("a", { href: "#/fleet" }, "Fleet →"),
        ),
      );
      void refresh();
    } catch (err) {
      ctx.fail(err);
    }
  };

  const show = (b: Bundle): void => {
    detail.replaceChildren(
      h(
        "div",
        {},
        h("h2", {}, `Revision ${b.revision.slice(0, 12)}`),
        h(
          "dl",
          {},
          h("dt", {}, "Status"),
          h("dd", {}, b.status, b.failed_stage ? ` (failed at ${b.failed_stage})` : ""),
          h("dt", {}, "Commit"),
          h(
            "dd",
            {},
            h("code", {}, b.source_commit.slice(0, 12) || b.source),
            " ",
            b.commit_message,
            b.commit_author ? ` — ${b.commit_author}` : "",
          ),
          h("dt", {}, "Tests"),
          h("dd", {}, `${b.tests_passed} passed, ${b.tests_skipped} skipped`),
          h("dt", {}, "Built"),
          h("dd", {}, time(b.created_at), b.requested_by ? ` by ${b.requested_by}` : ""),
        ),
        b.errors.length
          ? h(
              "ul",
              { class: "errors", "aria-label": "Compile errors" },
              b.errors.map((e) =>
                h(
                  "li",
                  {},
                  h("code", {}, `${e.file || "?"}:${e.row}${e.col ? `:${e.col}` : ""}`),
                  ` ${e.stage}: ${e.message}`,
                ),
              ),
            )
          : null,
        b.test_output ? h("details", {}, h("summary", {}, "Test output"), h("pre", {}, b.test_output)) : null,
      ),
    );
  };

  const refresh = async (): Promise<void> => {
    try {
      const res = await call<{ bundles: Bundle[]; active_revision: string }>("ListBundles", { limit: 100 });
      active = res.active_revision;
      const withCommit = res.bundles.filter((b) => b.source_commit && b.status !== "failed");
      const options = (selected: string) =>
        withCommit.map((b) =>
          h(
            "option",
            { value: b.revision, selected: b.revision === selected },
            `${b.revision.slice(0, 12)} ${b.commit_message}`,
          ),
        );
      // the latest two, until the user picks others
      const keepFrom = (from.dataset.chosen && from.value) || withCommit[1]?.revision || "";
      const keepTo = (to.dataset.chosen && to.value) || withCommit[0]?.revision || "";
      from.replaceChildren(...options(keepFrom));
      to.replaceChildren(...options(keepTo));
      body.dataset.activeCreated = res.bundles.find((b) => b.revision === active)?.created_at ?? "";
      body.replaceChildren(
        table(
          `${res.bundles.length} bundles`,
          [
            {
              title: "Revision",
              cell: (b) =>
                h(
                  "button",
                  { type: "button", class: "link", onclick: () => show(b) },
                  b.revision.slice(0, 12),
                ),
            },
            {
              title: "Status",
              cell: (b) =>
                h(
                  "span",
                  { class: b.status === "active" ? "ok" : b.status === "failed" ? "warn" : "" },
                  b.status,
                ),
            },
            {
              title: "Commit",
              cell: (b) => h("span", { title: b.source_commit }, b.commit_message || b.source),
            },
            {
              title: "Tests",
              cell: (b) => (b.failed_stage ? `failed: ${b.failed_stage}` : `${b.tests_passed} passed`),
            },
            { title: "Built", cell: (b) => time(b.created_at) },
            {
              title: "",
              cell: (b) =>
                b.status === "built" ||
                b.status === "inactive" ||
                (b.status !== "active" && b.status !== "failed" && b.status !== "building")
                  ? h(
                      "button",
                      {
                        type: "button",
                        "aria-label": `Activate ${b.revision.slice(0, 12)}`,
                        onclick: () => void activate(b),
                      },
                      b.created_at < (body.dataset.activeCreated ?? "") ? "Roll back" : "Activate",
                    )
                  : b.revision === active
                    ? "active"
                    : "",
            },
          ],
          res.bundles,
          (b) => ({ "data-revision": b.revision, "data-status": b.status }),
        ),
      );
    } catch (err) {
      ctx.fail(err);
    }
  };
  ctx.onEvent((e) => {
    if (e.kind === "bundle" || e.kind === "activation") void refresh();
  });
  void refresh();
  return h("section", { class: "bundles" }, body, detail, h("h2", {}, "Rego diff"), diffForm, diffOut);
}
