// What every page of the dashboard shares: the element builder, formatting, the JSON API, the
// flags the event stream keeps current, and who is signed in.

const main = document.getElementById("main");
/** "ns/name" -> FlagRow, kept current by the event stream (app.js). */
export const rows = new Map();
/** GET /api/info: the user, the context, the namespaces shown and the controls offered. */
export let info = { user: "", namespaces: [], refsGiven: false, controls: [] };

export function setInfo(next) {
  info = next;
}

/** Element builder: h("td", { class: "num" }, "42"). Strings become text nodes (never HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c);
  return el;
}

/** main.replaceChildren without the null/false placeholders of optional parts. */
export function show(...nodes) {
  main.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

export const pct = (x) => (x === null || x === undefined ? "–" : `${x}%`);
export const ratio = (x, digits = 2) => (typeof x === "number" ? `${(x * 100).toFixed(digits)}%` : "–");
export const key = (r) => `${r.namespace}/${r.name}`;

export function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function age(ms) {
  const d = Math.floor(ms / 86400000);
  const hrs = Math.floor((ms % 86400000) / 3600000);
  if (d > 0) return `${d}d ${hrs}h`;
  const m = Math.floor((ms % 3600000) / 60000);
  return hrs > 0 ? `${hrs}h ${m}m` : `${m}m`;
}

export async function api(path, body) {
  const init =
    body === undefined
      ? {}
      : {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = new Error(data.error?.message ?? `HTTP ${res.status}`);
    error.detail = data.error ?? {};
    error.status = res.status;
    throw error;
  }
  return data;
}

/** "You (user) may not patch featureflags/status in namespace ns": the RBAC refusal, explained. */
export function refusalText(error) {
  const d = error.detail ?? {};
  if (d.kind === "forbidden") {
    return `Forbidden by RBAC: ${info.user} may not ${d.verb} ${d.resource}${d.name ? ` "${d.name}"` : ""} in namespace ${d.namespace}. Ask for a role that allows it (for controls, flagwright-release-manager). The API server said: ${d.message}`;
  }
  return error.message;
}

export function phaseBadge(row) {
  const tone =
    {
      Completed: "b-ok",
      Progressing: "b-info",
      RolledBack: "b-bad",
      Disabled: "b-warn",
    }[row.phase] ?? (row.phase.startsWith("Paused") ? "b-warn" : "b-info");
  return h("span", { class: `badge ${tone}` }, row.phase);
}

export function flagBadges(row) {
  return [
    row.killed ? h("span", { class: "badge b-bad" }, "killed") : null,
    row.paused ? h("span", { class: "badge b-person" }, "paused") : null,
    row.stale
      ? h("span", { class: "badge b-warn", title: row.stale.message }, `stale: ${row.stale.reason}`)
      : null,
    row.enabled ? null : h("span", { class: "badge b-warn" }, "disabled"),
  ];
}
