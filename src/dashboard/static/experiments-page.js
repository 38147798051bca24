// The Experiments page, and the experiment panel a flag's page shows: verdict, per-variant table
// and charts (uPlot, charts.js), with the conversion rate over time when Prometheus is known.
import { barChart, intervalChart, timeChart } from "./charts.js";
import { ago, api, h, info, ratio, show } from "./page.js";

export function experimentPanel(row, view) {
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
  panel.append(...resultParts(e, sequential));
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

/** The verdict, the method and the per-variant table of a result. */
function resultParts(e, sequential) {
  const verdictTone =
    e.verdict === "Significant" ? "b-ok" : e.verdict === "SampleRatioMismatch" ? "b-bad" : "b-info";
  return [
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
  ];
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

export async function renderExperiments() {
  const { experiments } = await api("/api/experiments");
  show(
    h("h1", {}, "Experiments"),
    experiments.length === 0 ? h("p", { class: "muted" }, "No flag you can see has spec.experiment.") : null,
    ...experiments.map((x) => experimentPanel(x.row, x.experiment)),
  );
}
