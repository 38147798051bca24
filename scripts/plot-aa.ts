// `node --import tsx scripts/plot-aa.ts [OUT.svg]`: draws docs/images/aa-peeking.svg, one seeded
// A/A experiment (two identical variants, 10 % conversion, 500 users per look) read at every look
// with both methods: the fixed-horizon z-test's p-value dips below 0.05 (a false "Significant" to
// anyone who stops there), the always-valid p-value of the default sequential method does not.
// The run is the first seed from 1 on whose fixed-horizon p-value crosses 0.05 after the minimum
// sample, so the picture is reproducible and not hand-picked beyond that rule. Plain SVG, no
// plotting dependency.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { analyzeExperiment, type ExperimentResult } from "../src/experiment/analysis.js";
import { binomialSampler } from "../test/support/binomial.js";
import { seededRandom } from "../test/support/seeded-random.js";

const LOOKS = 120;
const PER_LOOK = 500;
const RATE = 0.1;
const ALPHA = 0.05;
const MIN_SAMPLE = 1000;
const settings = { conversionEvent: "purchase", minDetectableEffect: 0.1, minSamplePerVariant: MIN_SAMPLE };

interface Path {
  seed: number;
  users: number[];
  fixed: number[];
  alwaysValid: number[];
}

function run(seed: number): Path {
  const binomial = binomialSampler(seededRandom(seed));
  const counts = [
    { name: "control", weight: 50, exposures: 0, conversions: 0 },
    { name: "treatment", weight: 50, exposures: 0, conversions: 0 },
  ];
  const path: Path = { seed, users: [], fixed: [], alwaysValid: [] };
  let previous: ExperimentResult | undefined;
  for (let look = 1; look <= LOOKS; look++) {
    for (const c of counts) {
      c.exposures += PER_LOOK / 2;
      c.conversions += binomial(PER_LOOK / 2, RATE);
    }
    previous = analyzeExperiment(settings, counts, new Date(look * 60_000), previous);
    const t = previous.variants[1];
    if (counts[0] && counts[0].exposures < MIN_SAMPLE) continue;
    path.users.push(look * PER_LOOK);
    path.fixed.push(t?.pValue ?? 1);
    path.alwaysValid.push(t?.alwaysValid?.pValue ?? 1);
  }
  return path;
}

export function firstCrossing(): Path {
  for (let seed = 1; seed < 10_000; seed++) {
    const p = run(seed);
    if (Math.min(...p.fixed) < ALPHA && Math.min(...p.alwaysValid) >= ALPHA) return p;
  }
  throw new Error("no seed below 10000 crosses; change the settings");
}

export function svg(p: Path): string {
  const W = 760;
  const H = 380;
  const m = { left: 64, right: 24, top: 40, bottom: 52 };
  const xMax = LOOKS * PER_LOOK;
  const yMin = 1e-3;
  const x = (u: number) => m.left + (u / xMax) * (W - m.left - m.right);
  const y = (pv: number) => {
    const v = Math.log10(Math.max(yMin, Math.min(1, pv)));
    return m.top + (-v / 3) * (H - m.top - m.bottom);
  };
  const line = (values: number[]) =>
    values
      .map((v, i) => `${i === 0 ? "M" : "L"}${x(p.users[i] as number).toFixed(1)},${y(v).toFixed(1)}`)
      .join(" ");
  const crossing = p.fixed.findIndex((v) => v < ALPHA);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.left}" y="22" font-size="14" font-weight="bold">An A/A experiment (identical variants, 10 % conversion) read after every 500 users</text>`,
  ];
  for (const tick of [1, 0.1, 0.05, 0.01, 0.001]) {
    const ty = y(tick).toFixed(1);
    const strong = tick === ALPHA;
    parts.push(
      `<line x1="${m.left}" x2="${W - m.right}" y1="${ty}" y2="${ty}" stroke="${strong ? "#c00" : "#ddd"}" stroke-dasharray="${strong ? "6 4" : "none"}"/>`,
      `<text x="${m.left - 8}" y="${ty}" text-anchor="end" dominant-baseline="middle">${tick}</text>`,
    );
  }
  for (let u = 0; u <= xMax; u += 10_000) {
    const tx = x(u).toFixed(1);
    parts.push(
      `<line x1="${tx}" x2="${tx}" y1="${H - m.bottom}" y2="${H - m.bottom + 5}" stroke="#333"/>`,
      `<text x="${tx}" y="${H - m.bottom + 18}" text-anchor="middle">${u / 1000}k</text>`,
    );
  }
  parts.push(
    `<line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" stroke="#333"/>`,
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${H - m.bottom}" stroke="#333"/>`,
    `<text x="${(W + m.left) / 2}" y="${H - 12}" text-anchor="middle">users (both variants)</text>`,
    `<text x="16" y="${(H - m.bottom + m.top) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(H - m.bottom + m.top) / 2})">p-value (log scale)</text>`,
    `<path d="${line(p.fixed)}" fill="none" stroke="#e07b00" stroke-width="2"/>`,
    `<path d="${line(p.alwaysValid)}" fill="none" stroke="#1f5fbf" stroke-width="2"/>`,
  );
  if (crossing >= 0) {
    const cx = x(p.users[crossing] as number);
    const cy = y(p.fixed[crossing] as number);
    parts.push(
      `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="5" fill="none" stroke="#c00" stroke-width="2"/>`,
      `<text x="${(cx + 8).toFixed(1)}" y="${(cy + 16).toFixed(1)}" fill="#c00">fixed-horizon p &lt; 0.05 at ${p.users[crossing]} users: a false "Significant"</text>`,
    );
  }
  // Legend in the lower right, below the 0.01 line where neither path goes in this run.
  const lx = W - m.right - 300;
  const ly = y(0.008);
  parts.push(
    `<rect x="${lx}" y="${ly}" width="292" height="62" fill="white" stroke="#ccc"/>`,
    `<line x1="${lx + 8}" x2="${lx + 32}" y1="${ly + 14}" y2="${ly + 14}" stroke="#e07b00" stroke-width="2"/>`,
    `<text x="${lx + 38}" y="${ly + 18}">fixed-horizon z-test p-value (method: fixed)</text>`,
    `<line x1="${lx + 8}" x2="${lx + 32}" y1="${ly + 32}" y2="${ly + 32}" stroke="#1f5fbf" stroke-width="2"/>`,
    `<text x="${lx + 38}" y="${ly + 36}">always-valid p-value (method: sequential)</text>`,
    `<text x="${lx + 8}" y="${ly + 54}" fill="#555">seed ${p.seed}; dashed: alpha 0.05</text>`,
    "</svg>",
  );
  return `${parts.join("\n")}\n`;
}

export const DEFAULT_OUT = "docs/images/aa-peeking.svg";

// Run as a script (not when a test imports it).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = resolve(process.argv[2] ?? DEFAULT_OUT);
  const path = firstCrossing();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, svg(path));
  console.log(
    `wrote ${out}: seed ${path.seed}, fixed-horizon min p ${Math.min(...path.fixed).toFixed(4)}, always-valid min p ${Math.min(...path.alwaysValid).toFixed(4)}`,
  );
}
