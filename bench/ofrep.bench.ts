// OFREP requests per second and latency: the real `flagwright sidecar` CLI in its own process,
// bundled and started as the injected container starts it, driven by autocannon over loopback.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { buildDocument } from "../src/core/index.js";
import { describeSidecarOptions, SIDECAR_V8_OPTIONS } from "./deployed.js";
import { startOfrepServer } from "./flagd/process.js";
import { buildSidecar } from "./sidecar-vs-flagd.bench.js";
import { type BenchResult, type Figure, pairedRatios } from "./stats.js";

export const name = "ofrep";
export const description =
  "`flagwright sidecar --file` in a child process (bundled, with the injected container's V8 options); autocannon (same machine, loopback, " +
  "keep-alive, no pipelining) rotating 4 users. Both share the CPU, so figures are a floor.";

const doc = buildDocument("bench", {
  "new-checkout": { enabled: true, killed: false, percent: 25, allowedUsers: ["vip"], revision: "r" },
  "dark-mode": { enabled: true, killed: false, percent: 100, allowedUsers: [], revision: "r" },
  banner: {
    enabled: true,
    killed: false,
    percent: 100,
    allowedUsers: [],
    variants: [
      { name: "red", weight: 50, value: "#f00" },
      { name: "blue", weight: 50, value: "#00f" },
    ],
    revision: "r",
  },
});

const users = ["alice", "bob", "carol", "42"];

async function load(url: string, path: string, seconds: number, headers: Record<string, string> = {}) {
  const result = await autocannon({
    url,
    connections: 16,
    duration: seconds,
    requests: users.map((u) => ({
      method: "POST" as const,
      path,
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ context: { targetingKey: u } }),
    })),
  });
  return summarize(result);
}

function summarize(result: autocannon.Result) {
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    // 304s are answers too; failures are connection errors, timeouts, 4xx and 5xx.
    errors: result.errors + result.timeouts + result["4xx"] + result["5xx"],
  };
}

/** A bare node:http server answering a constant JSON body: the ceiling on this machine. */
async function baseline(seconds: number) {
  const server = createServer((_req, res) => {
    _req.resume();
    _req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": 2 });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await load(`http://127.0.0.1:${port}`, "/", seconds);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), "flagwright-bench-"));
  const file = join(dir, "flags.json");
  await writeFile(file, JSON.stringify(doc));
  const build = buildSidecar();
  console.log(`  ${describeSidecarOptions()}`);
  const sidecar = await startOfrepServer(process.execPath, [
    ...SIDECAR_V8_OPTIONS,
    build.main,
    "sidecar",
    "--file",
    file,
    "--listen",
    "127.0.0.1:0",
  ]);
  const { url } = sidecar;
  try {
    const seconds = smoke ? 1 : 5;
    const rounds = smoke ? 1 : 3;
    await load(url, "/ofrep/v1/evaluate/flags/new-checkout", 1); // warm-up
    // The bulk ETag for user "alice"; other users' tags differ, so only a quarter are 304s.
    const res = await fetch(`${url}/ofrep/v1/evaluate/flags`, {
      method: "POST",
      body: JSON.stringify({ context: { targetingKey: "alice" } }),
    });
    const etag = res.headers.get("etag") ?? "";
    const scenarios = {
      single: () => load(url, "/ofrep/v1/evaluate/flags/new-checkout", seconds),
      bulk: () => load(url, "/ofrep/v1/evaluate/flags", seconds),
      cached: async () =>
        summarize(
          await autocannon({
            url: `${url}/ofrep/v1/evaluate/flags`,
            connections: 16,
            duration: seconds,
            method: "POST",
            headers: { "content-type": "application/json", "if-none-match": etag },
            body: JSON.stringify({ context: { targetingKey: "alice" } }),
          }),
        ),
      ceiling: () => baseline(seconds),
    };
    type Outcome = Awaited<ReturnType<typeof summarize>>;
    const outcomes: Record<keyof typeof scenarios, Outcome[]> = {
      single: [],
      bulk: [],
      cached: [],
      ceiling: [],
    };
    // Rounds interleave the scenarios, so drift in the machine's load spreads over all of them.
    for (let round = 0; round < rounds; round++) {
      for (const key of Object.keys(scenarios) as (keyof typeof scenarios)[]) {
        outcomes[key].push(await scenarios[key]());
      }
    }
    const rps = (key: keyof typeof scenarios) => outcomes[key].map((o) => o.rps);
    const figure = (figureName: string, unit: string, samples: number[]): Figure => ({
      name: figureName,
      unit,
      samples,
    });
    const errors = Object.values(outcomes)
      .flat()
      .reduce((sum, o) => sum + o.errors, 0);
    return {
      figures: [
        figure("single flag: requests/s", "requests/s", rps("single")),
        figure(
          "single flag: p50 latency",
          "ms",
          outcomes.single.map((o) => o.p50),
        ),
        figure(
          "single flag: p99 latency",
          "ms",
          outcomes.single.map((o) => o.p99),
        ),
        figure("bulk (3 flags): requests/s", "requests/s", rps("bulk")),
        figure(
          "bulk (3 flags): p99 latency",
          "ms",
          outcomes.bulk.map((o) => o.p99),
        ),
        figure("bulk 304 Not Modified: requests/s", "requests/s", rps("cached")),
        figure(
          "bulk 304 Not Modified: p99 latency",
          "ms",
          outcomes.cached.map((o) => o.p99),
        ),
        figure("reference: bare node:http constant answer", "requests/s", rps("ceiling")),
        figure("failed requests (all scenarios)", "requests", [errors]),
      ],
      ratios: [
        {
          name: "single flag ÷ bare node:http (requests/s)",
          samples: pairedRatios(rps("single"), rps("ceiling")),
        },
      ],
      notes: [
        `${rounds} round(s) of ${seconds} s per scenario, 16 connections; the load generator shares the cores.`,
        describeSidecarOptions(),
      ],
    };
  } finally {
    await sidecar.stop();
    build.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}
