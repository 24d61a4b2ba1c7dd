/** Live sessions across the fleet, with revoke session / subject / token and the cut shown live. */
import type { RevokeResponse, Session } from "../admin-types";
import { call } from "../api";
import { ago, confirmDialog, h, time } from "../dom";
import type { ViewContext } from "../main";
import { virtualList } from "../virtual-list";

const KINDS = {
  session: { method: "RevokeSession", field: "session_id", label: "session" },
  subject: { method: "RevokeSubject", field: "subject", label: "subject" },
  token: { method: "RevokeToken", field: "jti", label: "token" },
} as const;

const PAGE_SIZE = 200;

export function sessionsView(ctx: ViewContext): HTMLElement {
  let sessions: Session[] = [];
  const filter = h("input", {
    id: "session-filter",
    type: "search",
    placeholder: "subject, data plane, role…",
  });
  const count = h("span", { class: "count", "aria-live": "polite" });
  const cutLog = h("ol", {
    class: "cut-log",
    "aria-label": "Revocations in progress",
    "aria-live": "polite",
  });
  const header = h(
    "div",
    { class: "row head", "aria-hidden": "true" },
    ["Subject", "Role", "Database", "Data plane", "Client", "Since", "Statements", "Revoke"].map((t) =>
      h("span", {}, t),
    ),
  );

  const revoke = async (kind: keyof typeof KINDS, value: string): Promise<void> => {
    const k = KINDS[kind];
    const reason = await confirmDialog(
      `Revoke ${k.label} ${value}?`,
      kind === "subject"
        ? `Every session of ${value} ends on every data plane, and ${value}'s logins are refused until the revocation expires.`
        : `The matching sessions end on every data plane (57P01) and the ${k.label} cannot log in again.`,
      true,
    );
    if (reason === undefined) return;
    const item = h("li", { class: "cut" }, `Revoking ${k.label} ${value}…`);
    cutLog.prepend(item);
    try {
      const res = await call<RevokeResponse>(k.method, { [k.field]: value, reason });
      const cut = res.acks.reduce((n, a) => n + a.sessions_cut, 0);
      item.textContent =
        `Revoked ${k.label} ${value}: ${cut} session${cut === 1 ? "" : "s"} cut` +
        (res.acks.length
          ? ` (${res.acks.map((a) => `${a.data_plane_id}: ${a.sessions_cut}`).join(", ")})`
          : "") +
        (res.missing.length ? `; no answer from ${res.missing.join(", ")}` : "") +
        (res.published ? "" : "; not yet published (NATS unreachable)");
      item.className = "cut done";
    } catch (err) {
      item.textContent = `Revoking ${k.label} ${value} failed`;
      ctx.fail(err);
    }
    void refresh();
  };

  const row = (s: Session): HTMLElement =>
    h(
      "div",
      { class: "row", "data-session": s.id, "aria-label": `${s.subject} on ${s.data_plane_id}` },
      h("span", { class: "subject" }, s.subject),
      h("span", {}, s.db_role),
      h("span", {}, s.database),
      h("span", {}, `${s.data_plane_id} (${s.region})`),
      h("span", { title: s.application_name }, s.client_addr),
      h("span", { title: time(s.started_at) }, ago(s.started_at)),
      h("span", {}, `${s.statements}${s.denied ? ` (${s.denied} denied)` : ""}`),
      h(
        "span",
        { class: "buttons" },
        h(
          "button",
          {
            type: "button",
            "aria-label": `Revoke session ${s.id}`,
            onclick: () => void revoke("session", s.id),
          },
          "session",
        ),
        h(
          "button",
          {
            type: "button",
            "aria-label": `Revoke subject ${s.subject}`,
            onclick: () => void revoke("subject", s.subject),
          },
          "subject",
        ),
        s.jti
          ? h(
              "button",
              {
                type: "button",
                "aria-label": `Revoke token ${s.jti}`,
                onclick: () => void revoke("token", s.jti),
              },
              "token",
            )
          : null,
      ),
    );

  // Server-side paging (ListSessions page_size / page_token, newest first): the first page now,
  // the next one when the list is scrolled near its end; a refresh reloads as many sessions as
  // are loaded, so the scroll position holds. The filter is the server's `search`.
  let pending: ReturnType<typeof setTimeout> | undefined;
  let nextToken = "";
  let total = 0;
  let loading = false;
  let generation = 0;
  const list = virtualList<Session>(36, row, "Live sessions", () => void loadMore());
  const show = (): void => {
    const q = filter.value.trim();
    count.textContent =
      `${total} ${q ? "matching " : ""}live session${total === 1 ? "" : "s"}` +
      (sessions.length < total ? `, ${sessions.length} loaded (scroll for more)` : "");
    list.set(sessions);
  };
  const page = (token: string, size: number) =>
    call<{ sessions: Session[]; next_page_token: string; total_size: number }>("ListSessions", {
      page_size: size,
      page_token: token,
      newest_first: true,
      search: filter.value.trim(),
    });
  const loadMore = async (): Promise<void> => {
    if (loading || !nextToken) return;
    loading = true;
    const mine = generation;
    try {
      const res = await page(nextToken, PAGE_SIZE);
      if (mine !== generation) return;
      sessions = sessions.concat(res.sessions);
      nextToken = res.next_page_token;
      total = res.total_size;
      show();
    } catch (err) {
      ctx.fail(err);
    } finally {
      loading = false;
    }
  };
  filter.addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      sessions = [];
      void refresh();
    }, 200);
  });

  const refresh = async (): Promise<void> => {
    const mine = ++generation;
    const keep = Math.max(PAGE_SIZE, sessions.length);
    try {
      let loaded: Session[] = [];
      let token = "";
      let size = 0;
      do {
        const res = await page(token, Math.min(1000, keep - loaded.length));
        if (mine !== generation) return;
        loaded = loaded.concat(res.sessions);
        token = res.next_page_token;
        size = res.total_size;
      } while (token && loaded.length < keep);
      sessions = loaded;
      nextToken = token;
      total = size;
      loading = false;
      show();
    } catch (err) {
      ctx.fail(err);
    }
  };
  ctx.onEvent((event) => {
    if (event.kind === "session" || event.kind === "revocation") {
      if (event.kind === "revocation" || event.type.includes("end")) {
        const payload = JSON.parse(event.json) as Record<string, unknown>;
        const who =
          event.type === "revocation.ack"
            ? `${String(payload.data_plane_id)} cut ${String(payload.sessions_cut)}`
            : [payload.subject ?? payload.value, payload.session_id, payload.reason]
                .filter(Boolean)
                .join(" ");
        cutLog.prepend(h("li", { class: "event" }, `${time(event.at)} ${event.kind} ${event.type} ${who}`));
        while (cutLog.children.length > 30) cutLog.lastElementChild?.remove();
      }
      clearTimeout(pending);
      pending = setTimeout(() => void refresh(), 150);
    }
  });
  const timer = setInterval(() => void refresh(), 10_000);
  ctx.signal.addEventListener("abort", () => clearInterval(timer));
  void refresh();
  return h(
    "section",
    { class: "sessions" },
    h("div", { class: "toolbar" }, h("label", { for: "session-filter" }, "Filter "), filter, count),
    header,
    list.element,
    h("h2", {}, "Cuts and session ends, as they happen"),
    cutLog,
  );
}
