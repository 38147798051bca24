// The SSE rows of `npm run bench -- sidecar-vs-flagd` (sidecar only: the flagd build compared
// with has no event stream): document change -> refetchEvaluation at a connected client, the
// same with 1,000 streams open (fan-out), and what 1,000 idle streams cost in resident memory.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as settle } from "node:timers/promises";
import { buildDocument } from "../src/core/index.js";
import { openSse, type SseStream } from "../test/support/sse.js";
import { SIDECAR_V8_OPTIONS } from "./deployed.js";
import { startOfrepServer } from "./flagd/process.js";
import { memoryMiB } from "./proc.js";
import { serveSequentially } from "./sidecar-idle.js";
import type { Figure } from "./stats.js";

export async function measureSse(main: string, dir: string, smoke: boolean) {
  const file = join(dir, "sse-flags.json");
  let version = 0;
  // A new document per change, swapped in by rename as the kubelet does.
  const change = () => {
    version += 1;
    const doc = buildDocument("bench", {
      banner: {
        enabled: true,
        killed: false,
        percent: version % 100,
        allowedUsers: [],
        revision: `v${version}`,
      },
    });
    writeFileSync(`${file}.tmp`, JSON.stringify(doc));
    renameSync(`${file}.tmp`, file);
  };
  change();
  const streams = 1000;
  const server = await startOfrepServer(process.execPath, [
    ...SIDECAR_V8_OPTIONS,
    main,
    "sidecar",
    "--file",
    file,
    "--listen",
    "127.0.0.1:0",
    "--max-event-streams",
    String(streams + 10),
  ]);
  const open: SseStream[] = [];
  try {
    // Served traffic first, so that the optimizing compiler's code pages, which the first requests
    // bring in, are not counted as the streams' memory.
    const body = JSON.stringify({ context: { targetingKey: "user-1" } });
    await serveSequentially(server.url, [{ path: "/ofrep/v1/evaluate/flags/banner", body }], 3000);
    await settle(1000);
    const idleRss = memoryMiB(server.pid, "VmRSS");
    const url = `${server.url}/ofrep/v1/events`;
    const one = await openSse(url);
    open.push(one);
    const single: number[] = [];
    for (let i = 0; i < (smoke ? 5 : 50); i++) {
      const started = performance.now();
      change();
      await one.event(i, 10_000);
      single.push(performance.now() - started);
    }
    for (let i = 1; i < streams; i++) open.push(await openSse(url));
    await settle(2000);
    const withStreams = memoryMiB(server.pid, "VmRSS");
    const fanOut: number[] = [];
    for (let round = 0; round < (smoke ? 1 : 5); round++) {
      const index = open.map((s) => s.events.length);
      const started = performance.now();
      change();
      // Time until each stream has the event (polled every 5 ms, so a ~5 ms resolution).
      const pending = new Set(open.keys());
      while (pending.size > 0 && performance.now() - started < 30_000) {
        for (const i of pending) {
          if ((open[i]?.events.length ?? 0) > (index[i] ?? 0)) {
            fanOut.push(performance.now() - started);
            pending.delete(i);
          }
        }
        await settle(5);
      }
      if (pending.size > 0) throw new Error(`${pending.size} streams missed the event`);
    }
    const figures: Figure[] = [
      {
        name: "Flagwright sidecar: document change -> SSE event at one connected client",
        unit: "ms",
        samples: single,
        stat: "percentiles",
      },
      {
        name: `Flagwright sidecar: document change -> SSE event, ${streams} streams open (each stream's arrival)`,
        unit: "ms",
        samples: fanOut,
        stat: "percentiles",
      },
      {
        name: "Flagwright sidecar: resident memory after 3,000 requests, no stream open",
        unit: "MiB",
        samples: [idleRss],
      },
      {
        name: `Flagwright sidecar: resident memory, ${streams} idle streams open`,
        unit: "MiB",
        samples: [withStreams],
      },
      {
        name: "Flagwright sidecar: resident memory per idle stream",
        unit: "KiB",
        samples: [((withStreams - idleRss) * 1024) / streams],
        computed: true,
      },
    ];
    return figures;
  } finally {
    for (const s of open) s.close();
    await server.stop();
  }
}
