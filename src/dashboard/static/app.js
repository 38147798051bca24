// The dashboard page: plain DOM, no framework. Routes by the URL hash (#/flags, #/flag/NS/NAME,
// #/experiments, #/debt), reads the server's JSON API and keeps itself current from the server's
// event stream (a FeatureFlag change in the cluster re-renders what shows it, without a reload).
// The session cookie (HttpOnly, set when the printed login URL was opened) goes with every
// same-origin request by itself; the page holds no credential of its own.
import { renderDebt } from "./debt-page.js";
import { renderExperiments } from "./experiments-page.js";
import { renderFlag } from "./flag-page.js";
import { renderFlags, renderFlagsBody } from "./flags-page.js";
import { api, h, key, refusalText, rows, setInfo, show } from "./page.js";

const main = document.getElementById("main");
let route = { page: "flags" };

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "flag" && parts[1] && parts[2])
    return { page: "flag", namespace: parts[1], name: parts[2] };
  if (parts[0] === "experiments" || parts[0] === "debt") return { page: parts[0] };
  return { page: "flags" };
}

async function render() {
  route = parseRoute();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === (route.page === "flag" ? "flags" : route.page))
      a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (route.page === "flag") await renderFlag(route.namespace, route.name);
    else if (route.page === "experiments") await renderExperiments();
    else if (route.page === "debt") await renderDebt();
    else renderFlags();
  } catch (error) {
    show(h("p", { class: "message error" }, refusalText(error)));
  }
  document.body.dataset.rendered = route.page;
}

function onFlagEvent(change) {
  if (change.type === "upsert") rows.set(key(change.row), change.row);
  else rows.delete(`${change.namespace}/${change.name}`);
  const changed = change.type === "upsert" ? key(change.row) : `${change.namespace}/${change.name}`;
  if (route.page === "flags") renderFlagsBody();
  else if (route.page === "flag" && changed === `${route.namespace}/${route.name}`)
    renderFlag(route.namespace, route.name);
  else if (route.page === "experiments" || route.page === "debt") render();
}

function connect() {
  const live = document.getElementById("live");
  const events = new EventSource("/api/events");
  events.addEventListener("hello", async () => {
    live.textContent = "Live";
    live.className = "live on";
    // (Re)connected: anything may have changed while we were away.
    const { rows: list } = await api("/api/flags");
    rows.clear();
    for (const r of list) rows.set(key(r), r);
    await render();
  });
  events.addEventListener("flag", (e) => onFlagEvent(JSON.parse(e.data)));
  events.addEventListener("error", () => {
    // A refused stream (401: the server restarted, or the session is gone) is not retried.
    live.textContent = events.readyState === EventSource.CLOSED ? "Disconnected" : "Reconnecting…";
    live.className = "live";
  });
}

const info = await api("/api/info");
setInfo(info);
document.getElementById("who").textContent = `${info.user} · ${info.context}`;
window.addEventListener("hashchange", () => {
  render();
  main.focus();
});
connect();
