// The kubelet updates a mounted ConfigMap by swapping the `..data` symlink. Under concurrent
// evaluation load, 100 such swaps must each be picked up (without the polling safety net), no
// request may fail, and every answer must come wholly from one document, the old or the new.
// (Integration project rather than unit: it runs for several seconds.)
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { generationDocument, startGenerationLoad } from "../../support/generation-load.js";
import { waitFor } from "../../support/wait.js";
import { kubeletWrite, startTestSidecar, tempDir } from "../../unit/sidecar/helpers.js";

const SWAPS = 100;
const WORKERS = 6;
const FLAGS = 12;

const generation = (g: number) => generationDocument(g, FLAGS);

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
  const load = startGenerationLoad({
    url: sidecar.url,
    flags: FLAGS,
    workers: WORKERS,
    confirmed: () => confirmed,
    started: () => started,
  });
  const latencies: number[] = [];
  let result: Awaited<ReturnType<typeof load.stop>>;
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
    result = await load.stop();
  }
  const { requests, problems } = result;
  latencies.sort((a, b) => a - b);
  console.log(
    `file source: ${SWAPS} swaps, ${requests} requests; swap-to-served p50 ${latencies[Math.floor(SWAPS / 2)]?.toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms`,
  );
  expect(problems).toEqual([]);
  expect(requests).toBeGreaterThan(SWAPS);
});
