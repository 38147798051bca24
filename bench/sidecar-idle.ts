// The idle rows of `npm run bench -- sidecar-vs-flagd`: each server's resident memory 1 s after it
// is ready, and again after it has answered a few thousand requests and gone quiet. The second
// reading is the one a pod shows in steady state: traffic wakes V8's optimizing compiler, whose
// code pages in the node binary then count in the process's RSS. A bare node:http server (JSON in,
// JSON out, the sidecar's V8 options) is measured the same way, as Node's own floor.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as settle } from "node:timers/promises";
import type { OfrepServerProcess } from "./flagd/process.js";
import { memoryMiB } from "./proc.js";
import type { Figure } from "./stats.js";

/** A server the sidecar benchmark measures, started afresh for each measurement. */
export interface Contender {
  label: string;
  start(): Promise<OfrepServerProcess>;
}

export interface Request {
  path: string;
  body: string;
}

// Announces itself the way the OFREP servers do (bench/flagd/process.ts) and answers every POST
// with a fixed evaluation after parsing the body, as the smallest OFREP-shaped Node server would.
const BARE_SERVER = `
import http from "node:http";
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => { body += chunk; });
  req.on("end", () => {
    const { context } = JSON.parse(body);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ key: req.url.slice(req.url.lastIndexOf("/") + 1), value: context.targetingKey.length % 2 === 0, reason: "STATIC", variant: "on" }));
  });
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ event: "listening", url: "http://127.0.0.1:" + server.address().port }));
  console.log(JSON.stringify({ event: "document_loaded" }));
});
`;

/** Writes the bare node:http server into `dir`; returns its path (run it with the sidecar's V8 options). */
export function writeBareNodeServer(dir: string): string {
  const script = join(dir, "bare-node-server.mjs");
  writeFileSync(script, BARE_SERVER);
  return script;
}

/** Sequential keep-alive POSTs cycling through the request mix. */
export async function serveSequentially(url: string, mix: readonly Request[], count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const { path, body } = mix[i % mix.length] as Request;
    const res = await fetch(url + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${url}${path} answered ${res.status}`);
  }
}

export async function measureIdle(
  contenders: readonly Contender[],
  mix: readonly Request[],
  smoke: boolean,
): Promise<Figure[]> {
  const rounds = smoke ? 1 : 3;
  const requests = smoke ? 300 : 3000;
  const fromStart = new Map<Contender, number[]>(contenders.map((c) => [c, []]));
  const afterTraffic = new Map<Contender, number[]>(contenders.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    // One server at a time, alternating the order, so none of them shares the machine with another.
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) {
      const server = await c.start();
      try {
        await settle(1000);
        fromStart.get(c)?.push(memoryMiB(server.pid, "VmRSS"));
        await serveSequentially(server.url, mix, requests);
        await settle(1000);
        afterTraffic.get(c)?.push(memoryMiB(server.pid, "VmRSS"));
      } finally {
        await server.stop();
      }
    }
  }
  return contenders.flatMap((c): Figure[] => [
    {
      name: `${c.label}: resident memory idle, 1 s after start`,
      unit: "MiB",
      samples: fromStart.get(c) ?? [],
    },
    {
      name: `${c.label}: resident memory idle, 1 s after ${requests.toLocaleString("en")} requests`,
      unit: "MiB",
      samples: afterTraffic.get(c) ?? [],
    },
  ]);
}
