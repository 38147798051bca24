// Experiment charts drawn with uPlot (served by the dashboard from the installed package, no CDN):
// one value per variant on a categorical x axis, as bars or as points with interval whiskers.
// Every chart also gets a text alternative, since a canvas says nothing to a screen reader.

const COLORS = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#0e7490"];

function categoricalAxes(labels, format) {
  return [
    {
      splits: () => labels.map((_, i) => i),
      values: (_u, splits) => splits.map((i) => labels[i] ?? ""),
      grid: { show: false },
    },
    { values: (_u, splits) => splits.map(format), size: 64 },
  ];
}

function frame(container, title, summary) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.setAttribute("role", "img");
  figure.setAttribute("aria-label", `${title}: ${summary}`);
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption);
  container.append(figure);
  return figure;
}

/** The figure's own width (a grid cell), so charts side by side never overlap. */
function width(figure) {
  return Math.max(240, Math.min(560, figure.clientWidth));
}

/** Bars: one per variant. */
export function barChart(container, { title, labels, values, format = String }) {
  const figure = frame(container, title, labels.map((l, i) => `${l} ${format(values[i])}`).join(", "));
  const xs = labels.map((_, i) => i);
  const bars = globalThis.uPlot.paths.bars({ size: [0.6, 80] });
  return new globalThis.uPlot(
    {
      width: width(figure),
      height: 200,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, range: [-0.5, labels.length - 0.5] },
        y: { range: (_u, _min, max) => [0, max * 1.15 || 1] },
      },
      axes: categoricalAxes(labels, format),
      series: [
        {},
        { label: title, fill: `${COLORS[0]}cc`, stroke: COLORS[0], paths: bars, points: { show: false } },
      ],
    },
    [xs, values],
    figure,
  );
}

/**
 * Points with interval whiskers (for example a rate with its 95 % interval, or a lift with its
 * always-valid interval); `reference` draws a dashed horizontal line (0 for a lift).
 */
export function intervalChart(container, { title, labels, values, lows, highs, format = String, reference }) {
  const figure = frame(
    container,
    title,
    labels
      .map((l, i) =>
        values[i] === null
          ? `${l} none`
          : `${l} ${format(values[i])} (${format(lows[i])} to ${format(highs[i])})`,
      )
      .join(", "),
  );
  const xs = labels.map((_, i) => i);
  const finite = [...lows, ...highs, ...values, reference].filter(
    (v) => typeof v === "number" && Number.isFinite(v),
  );
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const pad = (hi - lo) * 0.15 || Math.abs(hi) * 0.1 || 0.01;
  const whiskers = (u) => {
    const { ctx } = u;
    ctx.save();
    ctx.lineWidth = 2 * devicePixelRatio;
    if (typeof reference === "number") {
      const y = u.valToPos(reference, "y", true);
      ctx.strokeStyle = "#6b7280";
      ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    xs.forEach((x, i) => {
      if (typeof lows[i] !== "number" || typeof highs[i] !== "number") return;
      const cx = u.valToPos(x, "x", true);
      const y0 = u.valToPos(lows[i], "y", true);
      const y1 = u.valToPos(highs[i], "y", true);
      const cap = 8 * devicePixelRatio;
      ctx.strokeStyle = COLORS[0];
      ctx.beginPath();
      ctx.moveTo(cx, y0);
      ctx.lineTo(cx, y1);
      ctx.moveTo(cx - cap, y0);
      ctx.lineTo(cx + cap, y0);
      ctx.moveTo(cx - cap, y1);
      ctx.lineTo(cx + cap, y1);
      ctx.stroke();
    });
    ctx.restore();
  };
  return new globalThis.uPlot(
    {
      width: width(figure),
      height: 200,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: [lo - pad, hi + pad] } },
      axes: categoricalAxes(labels, format),
      series: [
        {},
        {
          label: title,
          stroke: "transparent",
          points: { show: true, size: 10, fill: COLORS[0], stroke: COLORS[0] },
        },
      ],
      hooks: { draw: [whiskers] },
    },
    [xs, values],
    figure,
  );
}

/** One line per variant over time (x: unix seconds), e.g. each variant's conversion rate. */
export function timeChart(container, { title, times, series, format = String, start, end }) {
  const last = series.map((s) => `${s.label} ${format(s.values.filter((v) => v !== null).at(-1) ?? null)}`);
  const figure = frame(container, title, `latest: ${last.join(", ")}`);
  figure.classList.add("wide");
  return new globalThis.uPlot(
    {
      width: Math.max(320, figure.clientWidth),
      height: 220,
      scales: { x: { time: true, ...(start !== undefined && end !== undefined && { range: [start, end] }) } },
      axes: [{}, { values: (_u, splits) => splits.map(format), size: 64 }],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: true,
          value: (_u, v) => (v === null ? "–" : format(v)),
        })),
      ],
    },
    [times, ...series.map((s) => s.values)],
    figure,
  );
}
