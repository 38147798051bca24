// The Flag debt page: stale flags, and with a refs report flags no code references and keys code
// evaluates that no flag defines.
import { age, api, h, show } from "./page.js";

export async function renderDebt() {
  const debt = await api("/api/debt");
  show(
    h("h1", {}, "Flag debt"),
    h(
      "p",
      { class: "muted" },
      debt.refsGiven
        ? "Stale flags, and flags no code references (from the flagwright refs report given with --refs)."
        : "Stale flags. Start the dashboard with --refs refs.json (flagwright refs --json) to see code references too.",
    ),
    h(
      "div",
      { class: "panel" },
      h(
        "table",
        { id: "debt" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Key", "Namespace", "Owner", "Reason", "Age", "Code references", "What to do"].map((t) =>
              h("th", { scope: "col" }, t),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          debt.rows.length === 0
            ? h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No flag debt. Nice."))
            : debt.rows.map(debtRow),
        ),
      ),
    ),
    undefinedKeysPanel(debt.undefinedKeys),
  );
}

function debtRow(r) {
  return h(
    "tr",
    { "data-flag": `${r.namespace}/${r.name}` },
    h(
      "td",
      {},
      h("a", { href: `#/flag/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}` }, r.key),
    ),
    h("td", { class: "nowrap" }, r.namespace),
    h("td", {}, r.owner || "–"),
    h("td", {}, h("span", { class: `badge ${r.stale ? "b-warn" : "b-info"}` }, r.reason)),
    h("td", { class: "num" }, r.ageMs > 0 ? age(r.ageMs) : "–"),
    h(
      "td",
      {},
      r.references === null
        ? h("span", { class: "muted" }, "not scanned")
        : r.references.length === 0
          ? "none"
          : r.references.map((ref) => h("div", {}, h("code", {}, `${ref.file}:${ref.line}`))),
    ),
    h("td", {}, r.message),
  );
}

/** Keys code evaluates that no flag defines, where they are used. */
function undefinedKeysPanel(undefinedKeys) {
  if (undefinedKeys.length === 0) return null;
  return h(
    "section",
    { class: "panel", "aria-labelledby": "undef-h" },
    h("h2", { id: "undef-h" }, "Keys in code that no flag defines"),
    h(
      "ul",
      {},
      undefinedKeys.map((u) =>
        h("li", {}, h("code", {}, u.key), ` at ${u.references.map((r) => `${r.file}:${r.line}`).join(", ")}`),
      ),
    ),
  );
}
