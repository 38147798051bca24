// The kubelet updates a mounted ConfigMap by swapping the `..data` symlink. Under concurrent
// evaluation load, 100 such swaps must each be picked up (without the polling safety net), no
// request may fail, and every answer must come wholly from one document, the old or the new.
// (Integration project rather than unit: it runs for several seconds.)
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { waitFor } from "../../support/wait.js";
import { kubeletWrite, makeDocument, startTestSidecar, tempDir } from "../../unit/sidecar/helpers.js";

const SWAPS = 100;
const WORKERS = 6;
const FLAGS = 12;

// Generation g: every flag is off for everyone and serves "gen-g", so a mixed answer is visible.
function generation(g: number) {
  const flags: Record<string, object> = {};
  for (let i = 0; i < FLAGS; i++)
    flags[`flag-${i}`] = { percent: 0, enabled: i % 2 === 0, defaultValue: `gen-${g}` };
  // A flag whose key set changes too: present only in even generations.
  if (g % 2 === 0) flags.sometimes = { percent: 100 };
  return makeDocument(flags as never);
}

let sidecar: Sidecar;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dir = await tempDir();
  await kubeletWrite(dir.path, { "flags.json": JSON.stringify(generation(0)), "other-key": "x" });
  sidecar = await startTestSidecar({ source: { kind: "file", path: dir.path, pollIntervalMs: 0 } });
  await sidecar.ready();
});

afterAll(async () => {
  await sidecar?.close();
  await dir?.remove();
});

it(`follows ${SWAPS} atomic ..data swaps under load with no failed or mixed answer`, async () => {
  let started = 0; // newest generation whose write has begun
  let confirmed = 0; // newest generation the sidecar is known to serve
  let stop = false;
  const problems: string[] = [];
  let requests = 0;

  const genOf = (value: unknown) => Number(String(value).replace(/^gen-/, ""));

  async function worker(id: number) {
    let n = 0;
    while (!stop) {
      const lo = confirmed;
      const bulk = (n++ + id) % 2 === 0;
      const url = bulk
        ? `${sidecar.url}/ofrep/v1/evaluate/flags`
        : `${sidecar.url}/ofrep/v1/evaluate/flags/flag-${n % FLAGS}`;
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ context: { targetingKey: `user-${id}-${n}` } }),
        });
        const body = (await res.json()) as {
          flags?: Array<{ key: string; value: unknown }>;
          value?: unknown;
        };
        const hi = started;
        requests++;
        if (res.status !== 200) {
          problems.push(`${url}: HTTP ${res.status} ${JSON.stringify(body)}`);
          continue;
        }
        const values = bulk
          ? (body.flags ?? []).filter((f) => f.key.startsWith("flag-")).map((f) => f.value)
          : [body.value];
        const gens = new Set(values.map(genOf));
        if (bulk && values.length !== FLAGS) problems.push(`bulk answer with ${values.length} flags`);
        if (gens.size !== 1) {
          problems.push(`mixed answer: generations ${[...gens].join(",")}`);
          continue;
        }
        const g = [...gens][0] as number;
        if (g < lo || g > hi) problems.push(`answer from generation ${g}, expected ${lo}..${hi}`);
        if (bulk) {
          const hasSometimes = (body.flags ?? []).some((f) => f.key === "sometimes");
          if (hasSometimes !== (g % 2 === 0)) problems.push(`generation ${g} answer with the wrong flag set`);
        }
      } catch (error) {
        problems.push(`${url}: ${(error as Error).message}`);
      }
    }
  }

  const workers = Array.from({ length: WORKERS }, (_, i) => worker(i));
  const latencies: number[] = [];
  try {
    for (let g = 1; g <= SWAPS; g++) {
      const doc = generation(g);
      started = g;
      const t0 = performance.now();
      await kubeletWrite(dir.path, { "flags.json": JSON.stringify(doc), "other-key": `x${g}` });
      await waitFor(() => sidecar.store.current?.document.revision === doc.revision, {
        timeoutMs: 5000,
        intervalMs: 2,
        what: `generation ${g} to be served`,
      });
      latencies.push(performance.now() - t0);
      confirmed = g;
    }
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  latencies.sort((a, b) => a - b);
  console.log(
    `file source: ${SWAPS} swaps, ${requests} requests; swap-to-served p50 ${latencies[Math.floor(SWAPS / 2)]?.toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms`,
  );
  expect(problems).toEqual([]);
  expect(requests).toBeGreaterThan(SWAPS);
});
