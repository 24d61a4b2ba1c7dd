/**
 * The Portcullis console: live sessions (revoke session / subject / token, the cut shown as it
 * happens), the fleet, bundles (activate / roll back), the decision log and revocations. Routes
 * are hashes (#/sessions …); every number comes from the admin API through the gateway.
 */
import "./style.css";
import { type AdminEvent, describeError, watchEvents } from "./api";
import { type ConsoleConfig, claimsOf, completeLogin, currentToken, login, logout } from "./auth";
import { h } from "./dom";
import { bundlesView } from "./views/bundles";
import { changeView } from "./views/change";
import { decisionsView } from "./views/decisions";
import { fleetView } from "./views/fleet";
import { revocationsView } from "./views/revocations";
import { sessionsView } from "./views/sessions";

export interface ViewContext {
  /** Called with every admin event while the view is shown. */
  onEvent(listener: (event: AdminEvent) => void): void;
  /** Shows an API error where the view is (a refusal is worded for a person). */
  fail(err: unknown): void;
  signal: AbortSignal;
}

export type View = (ctx: ViewContext) => HTMLElement;

const VIEWS: { path: string; title: string; view: View }[] = [
  { path: "sessions", title: "Live sessions", view: sessionsView },
  { path: "fleet", title: "Fleet", view: fleetView },
  { path: "bundles", title: "Bundles", view: bundlesView },
  { path: "decisions", title: "Decision log", view: decisionsView },
  { path: "revocations", title: "Revocations", view: revocationsView },
  { path: "change", title: "Change & access", view: changeView },
];

const app = document.getElementById("app")!;

function loginPage(config: ConsoleConfig, message?: string): HTMLElement {
  const hint = h("input", {
    id: "login-hint",
    type: "text",
    autocomplete: "username",
    placeholder: "optional",
  });
  return h(
    "main",
    { class: "login" },
    h("h1", {}, "Portcullis console"),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    h(
      "form",
      {
        onsubmit: (e: Event) => {
          e.preventDefault();
          login(config, hint.value.trim() || undefined).catch((err: unknown) =>
            render(config, describeError(err)),
          );
        },
      },
      h("p", {}, "Sign in with ", h("code", {}, config.issuer), "."),
      h("label", { for: "login-hint" }, "User name hint "),
      hint,
      h("button", { type: "submit", id: "login" }, "Sign in"),
    ),
  );
}

let current: AbortController | undefined;

function render(config: ConsoleConfig, message?: string): void {
  current?.abort();
  const token = currentToken();
  if (!token) {
    app.replaceChildren(loginPage(config, message));
    return;
  }
  const claims = claimsOf(token);
  const route = location.hash.replace(/^#\/?/, "") || "sessions";
  const entry = VIEWS.find((v) => v.path === route) ?? VIEWS[0]!;
  document.title = `${entry.title} · Portcullis`;
  const controller = new AbortController();
  current = controller;
  const listeners: ((e: AdminEvent) => void)[] = [];
  const status = h("span", { class: "live", "aria-live": "polite" }, "connecting…");
  const errorBox = h("div", { class: "error", role: "alert", hidden: true });
  const ctx: ViewContext = {
    onEvent: (l) => listeners.push(l),
    fail: (err) => {
      errorBox.hidden = false;
      errorBox.textContent = describeError(err);
    },
    signal: controller.signal,
  };
  const nav = h(
    "nav",
    { "aria-label": "Views" },
    VIEWS.map((v, i) =>
      h(
        "a",
        {
          href: `#/${v.path}`,
          "aria-current": v === entry ? "page" : undefined,
          "aria-keyshortcuts": String(i + 1),
        },
        `${i + 1} ${v.title}`,
      ),
    ),
  );
  const header = h(
    "header",
    {},
    h("strong", { class: "brand" }, "Portcullis"),
    nav,
    status,
    h("span", { class: "who" }, `${String(claims.sub)}`),
    h(
      "button",
      {
        type: "button",
        onclick: () => {
          logout();
          render(config);
        },
      },
      "Sign out",
    ),
  );
  const main = h(
    "main",
    { id: "view", "aria-labelledby": "view-title" },
    h("h1", { id: "view-title" }, entry.title),
    errorBox,
  );
  app.replaceChildren(header, main);
  main.append(entry.view(ctx));
  void watchEvents(
    [],
    (event) => {
      for (const l of listeners) l(event);
    },
    controller.signal,
    (state) => {
      status.textContent =
        state === "open" ? "● live" : state === "closed" ? "reconnecting…" : describeError(state);
      status.className = state === "open" ? "live on" : "live";
    },
  );
}

async function start(): Promise<void> {
  const config = (await (await fetch("/console-config.json")).json()) as ConsoleConfig;
  if (location.pathname === "/callback") {
    try {
      const back = await completeLogin(config);
      history.replaceState(null, "", `/${back}`);
    } catch (err) {
      history.replaceState(null, "", "/");
      render(config, describeError(err));
      return;
    }
  }
  window.addEventListener("hashchange", () => render(config));
  document.addEventListener("keydown", (e) => {
    const target = e.target as HTMLElement;
    if (e.altKey || e.ctrlKey || e.metaKey || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName))
      return;
    const n = Number(e.key);
    if (n >= 1 && n <= VIEWS.length) location.hash = `#/${VIEWS[n - 1]!.path}`;
  });
  render(config);
}

void start();
