// The dashboard page: plain DOM, no framework. Routes by the URL hash (#/flags, #/flag/NS/NAME,
// #/experiments, #/debt), reads the server's JSON API and keeps itself current from the server's
// event stream (a FeatureFlag change in the cluster re-renders what shows it, without a reload).
// The session cookie (HttpOnly, set when the printed login URL was opened) goes with every
// same-origin request by itself; the page holds no credential of its own.
import { barChart, intervalChart, timeChart } from "./charts.js";
import { filterFlags } from "./filter.js";

const main = document.getElementById("main");
const rows = new Map(); // "ns/name" -> FlagRow
let info = { user: "", namespaces: [], refsGiven: false, controls: [] };
let route = { page: "flags" };
let filters = { text: "", namespace: "", phase: "", staleOnly: false };
let detailRequest = 0;

const CONFIRM_TEXT = {
  kill: "Kill switch on: the flag serves off to everyone until revived.",
  revive: "Kill switch off: the flag serves its rollout again.",
  pause: "Hold the canary at its current step.",
  resume: "Continue the paused canary.",
  promote: "Advance the canary one step now.",
  abort: "Roll the canary back to 0% (a manual rollback).",
  retry: "Restart the rolled back canary from its first step.",
};
const WITH_REASON = new Set(["kill", "pause", "abort", "retry"]);
const PHASES = ["Pending", "Progressing", "Paused", "Completed", "RolledBack", "Disabled"];

/** Element builder: h("td", { class: "num" }, "42"). Strings become text nodes (never HTML). */
function h(tag, attrs = {}, ...children) {
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
function show(...nodes) {
  main.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

const pct = (x) => (x === null || x === undefined ? "–" : `${x}%`);
const ratio = (x, digits = 2) => (typeof x === "number" ? `${(x * 100).toFixed(digits)}%` : "–");
const key = (r) => `${r.namespace}/${r.name}`;

function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

function age(ms) {
  const d = Math.floor(ms / 86400000);
  const hrs = Math.floor((ms % 86400000) / 3600000);
  if (d > 0) return `${d}d ${hrs}h`;
  const m = Math.floor((ms % 3600000) / 60000);
  return hrs > 0 ? `${hrs}h ${m}m` : `${m}m`;
}

async function api(path, body) {
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
function refusalText(error) {
  const d = error.detail ?? {};
  if (d.kind === "forbidden") {
    return `Forbidden by RBAC: ${info.user} may not ${d.verb} ${d.resource}${d.name ? ` "${d.name}"` : ""} in namespace ${d.namespace}. Ask for a role that allows it (for controls, flagwright-release-manager). The API server said: ${d.message}`;
  }
  return error.message;
}

function phaseBadge(row) {
  const tone =
    {
      Completed: "b-ok",
      Progressing: "b-info",
      RolledBack: "b-bad",
      Disabled: "b-warn",
    }[row.phase] ?? (row.phase.startsWith("Paused") ? "b-warn" : "b-info");
  return h("span", { class: `badge ${tone}` }, row.phase);
}

function flagBadges(row) {
  return [
    row.killed ? h("span", { class: "badge b-bad" }, "killed") : null,
    row.paused ? h("span", { class: "badge b-person" }, "paused") : null,
    row.stale
      ? h("span", { class: "badge b-warn", title: row.stale.message }, `stale: ${row.stale.reason}`)
      : null,
    row.enabled ? null : h("span", { class: "badge b-warn" }, "disabled"),
  ];
}

// ---- Flags page ----

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

function renderFlagsBody() {
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

function renderFlags() {
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

// ---- One flag ----

function renderSteps(steps) {
  if (steps.length === 0)
    return h("p", { class: "muted" }, "No canary: the flag serves its rollout percent directly.");
  return h(
    "ol",
    { class: "steps", "aria-label": "Canary steps" },
    steps.map((s) =>
      h(
        "li",
        { class: s.state, "data-state": s.state },
        h("span", { class: "pct" }, `${s.percent}%`),
        h("span", {}, `Step ${s.index + 1} · ${s.state}`),
        s.pause ? h("span", { class: "muted" }, ` · hold ${s.pause}`) : null,
        s.startedAt
          ? h("time", { datetime: s.startedAt, class: "muted block" }, `since ${ago(s.startedAt)}`)
          : null,
      ),
    ),
  );
}

function renderEvents(events) {
  if (events.length === 0) return h("p", { class: "muted" }, "Nothing recorded yet.");
  return h(
    "ol",
    { class: "events", "aria-label": "Rollout timeline" },
    events.map((e) =>
      h(
        "li",
        { class: e.tone, "data-kind": e.kind },
        e.at
          ? h("time", { datetime: e.at }, `${new Date(e.at).toLocaleString()} (${ago(e.at)})`)
          : h("time", {}, "time unknown"),
        h("strong", {}, e.title),
        e.detail ? h("div", { class: "muted" }, e.detail) : null,
      ),
    ),
  );
}

function serveText(serve) {
  if (!serve) return "–";
  if (serve.variant) return `variant ${serve.variant}`;
  if (serve.percent !== undefined) return `${serve.percent}% (bucketed)`;
  if (serve.enabled !== undefined) return serve.enabled ? "on" : "off";
  return JSON.stringify(serve);
}

function renderRules(detail) {
  const rules = detail.spec.rules ?? [];
  const segs = detail.segments;
  return h(
    "section",
    { class: "panel", "aria-labelledby": "rules-h" },
    h("h2", { id: "rules-h" }, "Rules and segments"),
    rules.length === 0
      ? h("p", { class: "muted" }, "No rules: everyone gets the default rollout.")
      : h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["#", "Name", "When", "Segments", "Serves"].map((t) => h("th", { scope: "col" }, t)),
            ),
          ),
          h(
            "tbody",
            {},
            rules.map((r, i) =>
              h(
                "tr",
                {},
                h("td", {}, String(i + 1)),
                h("td", {}, r.name ?? "–"),
                h("td", {}, r.when ? h("code", {}, r.when) : "–"),
                h("td", {}, (r.segments ?? []).join(", ") || "–"),
                h("td", {}, serveText(r.serve)),
              ),
            ),
          ),
        ),
    Array.isArray(segs) && segs.length > 0
      ? h(
          "dl",
          { class: "kv" },
          segs.flatMap((s) => [
            h("dt", {}, `segment ${s.name}`),
            h("dd", {}, h("pre", {}, JSON.stringify(s.spec, null, 2))),
          ]),
        )
      : null,
    segs && !Array.isArray(segs) ? h("p", { class: "message error" }, `Segments: ${segs.error}`) : null,
    (detail.spec.allowedUsers ?? []).length > 0
      ? h("p", {}, `Allow-list: ${detail.spec.allowedUsers.join(", ")}`)
      : null,
    (detail.spec.prerequisites ?? []).length > 0
      ? h(
          "p",
          {},
          `Prerequisites: ${detail.spec.prerequisites.map((p) => `${p.flag}${p.variant ? `=${p.variant}` : ""}`).join(", ")}`,
        )
      : null,
  );
}

function renderSummary(row) {
  return h(
    "div",
    { class: "summary" },
    h("div", {}, h("span", { class: "muted" }, "Phase"), h("span", { class: "big" }, phaseBadge(row))),
    h(
      "div",
      {},
      h("span", { class: "muted" }, "Serving now"),
      h("span", { class: "big", id: "flag-current" }, pct(row.currentPercent)),
    ),
    h(
      "div",
      {},
      h("span", { class: "muted" }, "Target"),
      h("span", { class: "big" }, pct(row.targetPercent)),
    ),
    h(
      "div",
      {},
      h("span", { class: "muted" }, "Step"),
      h("span", { class: "big", id: "flag-step" }, row.step ?? "–"),
    ),
    h("div", {}, h("span", { class: "muted" }, "Owner"), h("span", { class: "big" }, row.owner || "–")),
    h("div", {}, flagBadges(row)),
  );
}

function openConfirm(command, row) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent =
    `${command[0].toUpperCase()}${command.slice(1)} ${row.key}?`;
  document.getElementById("confirm-text").textContent =
    `${CONFIRM_TEXT[command]} Namespace ${row.namespace}; recorded as ${info.user}.`;
  document.getElementById("confirm-reason-row").hidden = !WITH_REASON.has(command);
  document.getElementById("confirm-reason").value = "";
  document.getElementById("confirm-full-row").hidden = command !== "promote";
  document.getElementById("confirm-full").checked = false;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () =>
        resolve(
          dialog.returnValue === "ok"
            ? {
                reason: document.getElementById("confirm-reason").value,
                full: document.getElementById("confirm-full").checked,
              }
            : undefined,
        ),
      { once: true },
    );
    dialog.showModal();
  });
}

async function runControl(command, row) {
  const message = document.getElementById("control-message");
  const answer = await openConfirm(command, row);
  if (!answer) return;
  message.className = "message";
  message.textContent = `${command}…`;
  try {
    const result = await api(
      `/api/flags/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}/controls/${command}`,
      answer,
    );
    message.className = "message ok";
    message.textContent = [result.summary, ...result.warnings.map((w) => `Warning: ${w}`)].join(" ");
  } catch (error) {
    message.className = "message error";
    message.dataset.kind = error.detail?.kind ?? "";
    message.textContent = refusalText(error);
  }
}

async function runEvaluate(row) {
  const out = document.getElementById("eval-result");
  let context;
  try {
    context = JSON.parse(document.getElementById("eval-context").value);
  } catch (error) {
    out.replaceChildren(h("p", { class: "message error" }, `The context is not JSON: ${error.message}`));
    return;
  }
  try {
    const { result, revision } = await api(
      `/api/flags/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}/evaluate`,
      { context },
    );
    out.dataset.result = JSON.stringify(result);
    out.replaceChildren(
      h(
        "dl",
        { class: "kv" },
        h("dt", {}, "Value"),
        h("dd", {}, h("code", { id: "eval-value" }, JSON.stringify(result.value ?? null))),
        h("dt", {}, "Variant"),
        h("dd", {}, result.variant ?? "–"),
        h("dt", {}, "Reason"),
        h("dd", {}, result.reason),
        result.errorCode
          ? [h("dt", {}, "Error"), h("dd", {}, `${result.errorCode}: ${result.errorMessage ?? ""}`)]
          : null,
        result.flagMetadata
          ? [h("dt", {}, "Metadata"), h("dd", {}, h("code", {}, JSON.stringify(result.flagMetadata)))]
          : null,
        h("dt", {}, "Document"),
        h("dd", {}, `revision ${revision} (the sidecar's evaluation core)`),
      ),
    );
  } catch (error) {
    delete out.dataset.result;
    out.replaceChildren(
      h("p", { class: "message error", "data-kind": error.detail?.kind ?? "" }, refusalText(error)),
    );
  }
}

async function renderFlag(namespace, name) {
  const request = ++detailRequest;
  let detail;
  try {
    detail = await api(`/api/flags/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  } catch (error) {
    show(h("h1", {}, name), h("p", { class: "message error" }, refusalText(error)));
    return;
  }
  if (request !== detailRequest) return;
  const row = detail.row;
  const live = document.getElementById("flag-live");
  if (live && live.dataset.flag === key(row)) {
    // Same flag, new status: redraw what status drives, keep the controls and the evaluate box.
    live.replaceChildren(...flagLiveParts(detail));
    return;
  }
  show(
    h("p", {}, h("a", { href: "#/flags" }, "← All flags")),
    h("h1", {}, `${row.key} `, h("span", { class: "muted subtitle" }, `${row.namespace}/${row.name}`)),
    row.description ? h("p", { class: "muted" }, row.description) : null,
    h("div", { id: "flag-live", "data-flag": key(row) }, ...flagLiveParts(detail)),
    h(
      "section",
      { class: "panel", "aria-labelledby": "controls-h" },
      h("h2", { id: "controls-h" }, "Controls"),
      h(
        "p",
        { class: "muted" },
        "Each writes status.controls (never spec) as you, exactly as kubectl flagwright does.",
      ),
      h(
        "div",
        { class: "controls", id: "controls" },
        info.controls.map((c) =>
          h(
            "button",
            {
              type: "button",
              "data-command": c,
              class: c === "kill" || c === "abort" ? "danger" : undefined,
              onclick: () => runControl(c, rows.get(key(row)) ?? row),
            },
            c[0].toUpperCase() + c.slice(1),
          ),
        ),
      ),
      h("div", { id: "control-message", class: "message", role: "alert" }),
    ),
    h(
      "div",
      { class: "grid" },
      renderRules(detail),
      h(
        "section",
        { class: "panel", "aria-labelledby": "eval-h" },
        h("h2", { id: "eval-h" }, "Evaluate"),
        h("label", { for: "eval-context" }, "Evaluation context (JSON)"),
        h("textarea", { id: "eval-context", rows: 4, spellcheck: "false" }, '{ "targetingKey": "user-1" }'),
        h(
          "p",
          {},
          h(
            "button",
            { type: "button", id: "eval-run", class: "primary", onclick: () => runEvaluate(row) },
            "Evaluate",
          ),
        ),
        h("div", { id: "eval-result", "aria-live": "polite" }),
      ),
    ),
  );
}

function flagLiveParts(detail) {
  const parts = [
    h(
      "section",
      { class: "panel", "aria-labelledby": "summary-h" },
      h("h2", { id: "summary-h" }, "Now"),
      renderSummary(detail.row),
    ),
    h(
      "section",
      { class: "panel", "aria-labelledby": "timeline-h" },
      h("h2", { id: "timeline-h" }, "Rollout"),
      renderSteps(detail.timeline.steps),
      renderEvents(detail.timeline.events),
      detail.eventsError
        ? h(
            "p",
            { class: "muted", id: "events-note" },
            `Only status is shown: the operator's Events could not be read (${detail.eventsError}).`,
          )
        : null,
    ),
  ];
  if (detail.experiment.state !== "none") parts.push(experimentPanel(detail.row, detail.experiment));
  return parts;
}

// ---- Experiments ----

function experimentPanel(row, view) {
  const id = `exp-${row.namespace}-${row.name}`;
  const panel = h(
    "section",
    { class: "panel", "aria-labelledby": id },
    h("h2", { id }, `Experiment: ${row.key} (${row.namespace})`),
  );
  if (view.state !== "results") {
    panel.append(h("p", { class: "muted" }, view.message));
    return panel;
  }
  const e = view.result;
  const sequential = e.method === "sequential";
  const verdictTone =
    e.verdict === "Significant" ? "b-ok" : e.verdict === "SampleRatioMismatch" ? "b-bad" : "b-info";
  panel.append(
    h(
      "p",
      {},
      h("span", { class: `badge ${verdictTone}` }, e.verdict),
      e.winner ? h("span", { class: "badge b-ok" }, `winner: ${e.winner}`) : null,
      h(
        "span",
        { class: `badge ${e.sampleRatio.mismatch ? "b-bad" : "b-ok"}` },
        `SRM p ${e.sampleRatio.pValue.toPrecision(3)}${e.sampleRatio.mismatch ? " mismatch" : " ok"}`,
      ),
      ` ${e.message}`,
    ),
    h(
      "p",
      { class: "muted" },
      `Conversion event ${e.conversionEvent}; method ${e.method}${sequential ? " (always-valid: safe to read at any time)" : " (fixed horizon)"}; alpha ${e.alpha}; analysed ${ago(e.analyzedAt)}.`,
    ),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [
            "Variant",
            "Exposures",
            "Conversions",
            "Rate",
            "95% CI",
            "Lift",
            sequential ? "Lift (always-valid CI)" : "p",
          ].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        {},
        e.variants.map((v) =>
          h(
            "tr",
            {},
            h("td", {}, v.control ? `${v.name} (control)` : v.name),
            h("td", { class: "num" }, String(v.exposures)),
            h("td", { class: "num" }, String(v.conversions)),
            h("td", { class: "num" }, ratio(v.rate)),
            h("td", {}, `${ratio(v.rateCi95[0])} – ${ratio(v.rateCi95[1])}`),
            h("td", { class: "num" }, v.lift === undefined ? "–" : ratio(v.lift, 1)),
            h(
              "td",
              {},
              sequential
                ? v.alwaysValid?.liftInterval
                  ? `${ratio(v.alwaysValid.liftInterval[0], 1)} – ${ratio(v.alwaysValid.liftInterval[1], 1)}`
                  : "–"
                : v.pValue === undefined
                  ? "–"
                  : v.pValue.toPrecision(3),
            ),
          ),
        ),
      ),
    ),
  );
  const charts = h("div", { class: "charts" });
  panel.append(charts);
  // Drawn after insertion, when the container has a width.
  requestAnimationFrame(() => {
    if (typeof globalThis.uPlot !== "function") return;
    const labels = e.variants.map((v) => v.name);
    barChart(charts, { title: "Exposures per variant", labels, values: e.variants.map((v) => v.exposures) });
    intervalChart(charts, {
      title: "Conversion rate with 95% interval",
      labels,
      values: e.variants.map((v) => v.rate),
      lows: e.variants.map((v) => v.rateCi95[0]),
      highs: e.variants.map((v) => v.rateCi95[1]),
      format: (x) => ratio(x, 1),
    });
    const treatments = e.variants.filter((v) => !v.control && v.lift !== undefined);
    if (treatments.length > 0) {
      const liftInterval = (v) => (sequential ? v.alwaysValid?.liftInterval : undefined);
      intervalChart(charts, {
        title: sequential ? "Lift with always-valid interval" : "Lift",
        labels: treatments.map((v) => v.name),
        values: treatments.map((v) => v.lift),
        lows: treatments.map((v) => liftInterval(v)?.[0] ?? null),
        highs: treatments.map((v) => liftInterval(v)?.[1] ?? null),
        format: (x) => ratio(x, 1),
        reference: 0,
      });
    }
    if (info.prometheus) drawHistory(charts, row);
  });
  return panel;
}

/** Each variant's conversion rate over the last hours, from Prometheus (--prometheus-url). */
async function drawHistory(charts, row) {
  try {
    const history = await api(
      `/api/flags/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}/experiment/history`,
    );
    if (history.times.length === 0) return;
    timeChart(charts, {
      title: "Conversion rate over time (Prometheus)",
      times: history.times,
      start: history.start,
      end: history.end,
      series: history.variants.map((v) => ({ label: v.name, values: v.rates })),
      format: (x) => ratio(x, 1),
    });
  } catch (error) {
    charts.append(h("p", { class: "muted" }, `No history: ${error.message}`));
  }
}

async function renderExperiments() {
  const { experiments } = await api("/api/experiments");
  show(
    h("h1", {}, "Experiments"),
    experiments.length === 0 ? h("p", { class: "muted" }, "No flag you can see has spec.experiment.") : null,
    ...experiments.map((x) => experimentPanel(x.row, x.experiment)),
  );
}

// ---- Flag debt ----

async function renderDebt() {
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
            : debt.rows.map((r) =>
                h(
                  "tr",
                  { "data-flag": `${r.namespace}/${r.name}` },
                  h(
                    "td",
                    {},
                    h(
                      "a",
                      { href: `#/flag/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}` },
                      r.key,
                    ),
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
                ),
              ),
        ),
      ),
    ),
    debt.undefinedKeys.length > 0
      ? h(
          "section",
          { class: "panel", "aria-labelledby": "undef-h" },
          h("h2", { id: "undef-h" }, "Keys in code that no flag defines"),
          h(
            "ul",
            {},
            debt.undefinedKeys.map((u) =>
              h(
                "li",
                {},
                h("code", {}, u.key),
                ` at ${u.references.map((r) => `${r.file}:${r.line}`).join(", ")}`,
              ),
            ),
          ),
        )
      : null,
  );
}

// ---- Routing and live updates ----

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

info = await api("/api/info");
document.getElementById("who").textContent = `${info.user} · ${info.context}`;
window.addEventListener("hashchange", () => {
  render();
  main.focus();
});
connect();
