/** A tiny element builder: h("button", { onclick, "aria-label": "…" }, "text", child). */
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "class") el.className = String(v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function ago(iso: string): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function time(iso: string): string {
  return iso ? new Date(iso).toLocaleString() : "";
}

/** Asks for confirmation (and a reason) in a modal dialog; resolves undefined when cancelled. */
export function confirmDialog(title: string, text: string, withReason: boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    const reason = h("input", {
      id: "confirm-reason",
      type: "text",
      value: "console",
      "aria-label": "Reason",
    });
    const dialog = h(
      "dialog",
      { "aria-labelledby": "confirm-title", class: "confirm" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "confirm-title" }, title),
        h("p", {}, text),
        withReason ? h("label", { for: "confirm-reason" }, "Reason ", reason) : null,
        h(
          "div",
          { class: "actions" },
          h("button", { type: "submit", value: "cancel" }, "Cancel"),
          h("button", { type: "submit", value: "ok", class: "danger", autofocus: true }, "Confirm"),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "ok";
      dialog.remove();
      resolve(ok ? reason.value || "console" : undefined);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
