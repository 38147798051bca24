// The sidecar (a real `flagwright sidecar --file` process) under concurrent OFREP load while the
// kubelet-style volume it follows is replaced 1,000 times, every 10th time with a corrupted
// document (truncated JSON, wrong types, an empty file). Users rely on: no failed request, every
// answer wholly from one good document version, the last good document kept on corruption, and
// memory that stays flat however long the churn goes on.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { kubeletWrite, tempDir } from "../support/flag-documents.js";
import { generationDocument, startGenerationLoad } from "../support/generation-load.js";
import { type SidecarProcess, sidecarLogged, startFileSidecarProcess } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

const REPLACEMENTS = 1000;
const CORRUPT_EVERY = 10;
const WORKERS = 3;
const FLAGS = 12;
// RSS may grow by at most this much from replacement 100 to the end. The sidecar holds one
// document (~2 KB here) and its compiled form, and nothing per request or per version outlives a
// request, but V8's heap keeps growing to its working size over the first few hundred
// replacements, and when it stops depends on the sidecar's start-up size and the machine's speed:
// 95 -> 109 -> 116 MiB (at 100 / 500 / 1,000) in one run, 94 -> 97 -> 116 in a faster one with
// the lighter sidecar. So the whole span is compared, not the second half: 12-21 MiB measured.
// Retaining every replaced version (a leak injected into DocumentStore for the check) adds about
// 30 MiB over the run on top of that.
const RSS_GROWTH_LIMIT_MIB = 32;

const generation = (g: number) => generationDocument(g, FLAGS);

/** The three corruptions a half-finished or hand-edited volume shows, in turn. */
function corrupted(g: number): string {
  const text = JSON.stringify(generation(g));
  switch ((g / CORRUPT_EVERY) % 3) {
    case 0:
      return text.slice(0, Math.floor(text.length / 2)); // truncated JSON
    case 1: {
      const doc = JSON.parse(text);
      doc.flags["flag-1"].percent = "50"; // wrong type
      doc.flags["flag-2"].enabled = "yes";
      return JSON.stringify(doc);
    }
    default:
      return ""; // empty file
  }
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(/(\d+)/.exec(line ?? "")?.[1]) / 1024;
}

let sidecar: SidecarProcess;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dir = await tempDir("flagwright-churn-");
  await kubeletWrite(dir.path, { "flags.json": JSON.stringify(generation(0)) });
  // No polling: every version must be picked up from the directory's change events alone.
  sidecar = await startFileSidecarProcess(dir.path, ["--poll-interval", "0"]);
});

afterAll(async () => {
  await sidecar?.stop();
  await dir?.remove();
});

it(`serves through ${REPLACEMENTS} document replacements (every ${CORRUPT_EVERY}th corrupted) with no failed or mixed answer and flat memory`, async () => {
  let started = 0; // newest good generation whose write has begun
  let confirmed = 0; // newest good generation the sidecar is known to serve
  const load = startGenerationLoad({
    url: sidecar.url,
    flags: FLAGS,
    workers: WORKERS,
    confirmed: () => confirmed,
    started: () => started,
  });

  // Log lines are awaited from where the previous wait stopped, so 1,000 waits stay linear.
  let scanned = 0;
  const awaitLog = (match: (line: Record<string, unknown>) => boolean, what: string) =>
    waitFor(
      () => {
        for (; scanned < sidecar.logs.length; scanned++) {
          if (match(sidecar.logs[scanned] as Record<string, unknown>)) return true;
        }
        return undefined;
      },
      { timeoutMs: 5000, intervalMs: 2, what },
    );

  const rss: number[] = [];
  let rejected = 0;
  let result: Awaited<ReturnType<typeof load.stop>>;
  const t0 = performance.now();
  try {
    for (let g = 1; g <= REPLACEMENTS; g++) {
      if (g === 100 || g === REPLACEMENTS / 2) rss.push(rssMiB(sidecar.child.pid as number));
      if (g % CORRUPT_EVERY === 0) {
        const servingRevision = generation(confirmed).revision;
        await kubeletWrite(dir.path, { "flags.json": corrupted(g) });
        await awaitLog(
          sidecarLogged("DocumentRejected", (l) => l.servingRevision === servingRevision),
          `generation ${g}'s corruption to be rejected`,
        );
        rejected++;
        continue;
      }
      const doc = generation(g);
      started = g;
      await kubeletWrite(dir.path, { "flags.json": JSON.stringify(doc) });
      await awaitLog(
        sidecarLogged("DocumentLoaded", (l) => l.revision === doc.revision),
        `generation ${g} to be served`,
      );
      confirmed = g;
    }
  } finally {
    result = await load.stop();
  }
  const { requests, problems } = result;
  rss.push(rssMiB(sidecar.child.pid as number));
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `sidecar churn: ${REPLACEMENTS} replacements (${rejected} corrupted) in ${seconds.toFixed(1)} s, ${requests} requests; RSS MiB start/middle/end ${rss.map((r) => r.toFixed(1)).join("/")}`,
  );
  expect(problems.slice(0, 20)).toEqual([]);
  expect(rejected).toBe(REPLACEMENTS / CORRUPT_EVERY);
  expect(requests).toBeGreaterThan(REPLACEMENTS);
  const [atHundred, , end] = rss as [number, number, number];
  expect(end - atHundred).toBeLessThan(RSS_GROWTH_LIMIT_MIB);
  // The last good generation still serving after the final (corrupted) replacement.
  const ready = (await (await fetch(`${sidecar.url}/readyz`)).json()) as { revision?: string };
  expect(ready.revision).toBe(generation(confirmed).revision);
}, 150_000); // 50 s on a quiet 2-core machine, 106 s when the load average was 16
