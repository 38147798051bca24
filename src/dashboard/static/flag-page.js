// One flag's page: what it serves now, the rollout timeline, its rules and segments, the manual
// controls (with a confirmation) and the evaluate box; redrawn in place as its status changes.
import { experimentPanel } from "./experiments-page.js";
import { ago, api, flagBadges, h, info, key, pct, phaseBadge, refusalText, rows, show } from "./page.js";

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
let detailRequest = 0;

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

export async function renderFlag(namespace, name) {
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
