// The Flags page: every flag the user can see, filtered (filter.js) and sorted, redrawn in place
// as the event stream changes rows.
import { filterFlags } from "./filter.js";
import { ago, flagBadges, h, info, key, pct, phaseBadge, rows, show } from "./page.js";

const PHASES = ["Pending", "Progressing", "Paused", "Completed", "RolledBack", "Disabled"];

let filters = { text: "", namespace: "", phase: "", staleOnly: false };

function visibleRows() {
  return filterFlags([...rows.values()], filters).sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.key.localeCompare(b.key),
  );
}

function flagRowElement(r) {
  const last = r.lastAnalysis;
  return h(
    "tr",
    { "data-flag": key(r) },
    h(
      "td",
      {},
      h("a", { href: `#/flag/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}` }, r.key),
    ),
    h("td", { class: "nowrap" }, r.namespace),
    h("td", {}, r.owner || h("span", { class: "muted" }, "–")),
    h("td", { class: "phase" }, phaseBadge(r)),
    h("td", { class: "num current" }, pct(r.currentPercent)),
    h("td", { class: "num target" }, pct(r.targetPercent)),
    h("td", { class: "step" }, r.step ?? "–"),
    h("td", {}, last ? `${last.result} ${ago(last.at)}` : h("span", { class: "muted" }, "–")),
    h("td", { class: "rollback" }, r.rollbackReason ?? h("span", { class: "muted" }, "–")),
    h("td", {}, flagBadges(r)),
  );
}

export function renderFlagsBody() {
  const tbody = document.getElementById("flags-body");
  if (!tbody) return;
  const list = visibleRows();
  tbody.replaceChildren(
    ...(list.length > 0
      ? list.map(flagRowElement)
      : [h("tr", {}, h("td", { colspan: 10, class: "muted" }, "No flags match."))]),
  );
  const count = document.getElementById("flags-count");
  if (count) count.textContent = `${list.length} of ${rows.size} flags`;
}

/** A labelled select whose first option (value "") means "no filter". */
function selectFilter(id, label, anyText, values, selected, onchange) {
  return h(
    "label",
    { for: id },
    label,
    h(
      "select",
      { id, onchange },
      h("option", { value: "" }, anyText),
      values.map((v) => h("option", { value: v, selected: v === selected }, v)),
    ),
  );
}

export function renderFlags() {
  const namespaces = [...new Set([...rows.values()].map((r) => r.namespace))].sort();
  const onFilter = () => {
    filters = {
      text: document.getElementById("f-text").value,
      namespace: document.getElementById("f-ns").value,
      phase: document.getElementById("f-phase").value,
      staleOnly: document.getElementById("f-stale").checked,
    };
    renderFlagsBody();
  };
  show(
    h("h1", {}, "Flags"),
    h(
      "div",
      { class: "filters", role: "search" },
      h(
        "label",
        { for: "f-text" },
        "Filter",
        h("input", {
          id: "f-text",
          type: "search",
          value: filters.text,
          placeholder: "key, owner, namespace…",
          oninput: onFilter,
        }),
      ),
      selectFilter("f-ns", "Namespace", "All", namespaces, filters.namespace, onFilter),
      selectFilter("f-phase", "Phase", "Any", PHASES, filters.phase, onFilter),
      h(
        "label",
        { class: "check", for: "f-stale" },
        h("input", { id: "f-stale", type: "checkbox", checked: filters.staleOnly, onchange: onFilter }),
        "Stale only",
      ),
      h("span", { id: "flags-count", class: "muted", "aria-live": "polite" }),
    ),
    h(
      "div",
      { class: "panel" },
      h(
        "table",
        { id: "flags" },
        h(
          "caption",
          { class: "muted caption" },
          `FeatureFlags you can see (${info.namespaces.includes("*") ? "all namespaces" : info.namespaces.join(", ")})`,
        ),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            [
              "Key",
              "Namespace",
              "Owner",
              "Phase",
              "Current",
              "Target",
              "Step",
              "Last analysis",
              "Rollback",
              "Badges",
            ].map((t) =>
              h("th", { scope: "col", class: t === "Current" || t === "Target" ? "num" : undefined }, t),
            ),
          ),
        ),
        h("tbody", { id: "flags-body" }),
      ),
    ),
  );
  renderFlagsBody();
}
