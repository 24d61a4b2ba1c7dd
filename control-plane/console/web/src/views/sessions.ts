/** Live sessions across the fleet, with revoke session / subject / token and the cut shown live. */
import { call } from "../api";
import { ago, confirmDialog, h, time } from "../dom";
import type { ViewContext } from "../main";
import { virtualList } from "../virtual-list";

interface Session {
  id: string;
  data_plane_id: string;
  region: string;
  subject: string;
  jti: string;
  db_role: string;
  database: string;
  client_addr: string;
  application_name: string;
  started_at: string;
  statements: number;
  denied: number;
}

interface RevokeResponse {
  revocation: { id: string; kind: string; value: string } | null;
  acks: { data_plane_id: string; sessions_cut: number }[];
  missing: string[];
  published: boolean;
}

const KINDS = {
  session: { method: "RevokeSession", field: "session_id", label: "session" },
  subject: { method: "RevokeSubject", field: "subject", label: "subject" },
  token: { method: "RevokeToken", field: "jti", label: "token" },
} as const;

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

  const list = virtualList<Session>(36, row, "Live sessions");
  const show = (): void => {
    const q = filter.value.trim().toLowerCase();
    const shown = q
      ? sessions.filter((s) =>
          `${s.subject} ${s.data_plane_id} ${s.region} ${s.db_role} ${s.database}`.toLowerCase().includes(q),
        )
      : sessions;
    count.textContent = `${shown.length} of ${sessions.length} live session${sessions.length === 1 ? "" : "s"}`;
    list.set(shown);
  };
  filter.addEventListener("input", show);

  let pending: ReturnType<typeof setTimeout> | undefined;
  const refresh = async (): Promise<void> => {
    try {
      const res = await call<{ sessions: Session[] }>("ListSessions", { limit: 10_000 });
      sessions = res.sessions.sort((a, b) => b.started_at.localeCompare(a.started_at));
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
