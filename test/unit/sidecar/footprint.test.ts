// What a per-pod sidecar loads, as the injected container runs it: the bundled CLI with the
// webhook's V8 options, serving a mounted document. It must not load node:crypto (about 1.2 MiB of
// resident memory in every pod: the document's revision hashing and the shared evaluator's token
// check live in modules only the operator and a token-guarded evaluator load), and it must answer
// from two files, the CLI's entry and the sidecar's own bundle, copied alone where no node_modules
// is reachable: resolving a dozen chunks and packages' files at start-up made Node's path functions
// hot enough to wake the optimizing compiler, whose code pages then count in every pod's memory.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, expect, it } from "vitest";
import { benchDocument, buildSidecar } from "../../../bench/sidecar-vs-flagd.bench.js";
import { SIDECAR_NODE_OPTIONS } from "../../../src/operator/injection/mutation.js";
import { makeDocument } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "flagwright-footprint-"));
// The image's layout (/app/package.json, /app/dist/bundle/) with only the two files.
const main = join(dir, "app", "dist", "bundle", "main.js");

beforeAll(() => {
  // The sidecar bundled as shipped, the way its benchmark builds it.
  const sidecar = buildSidecar();
  try {
    mkdirSync(dirname(main), { recursive: true });
    for (const file of ["main.js", "sidecar-main.js"])
      copyFileSync(join(dirname(sidecar.main), file), join(dirname(main), file));
    copyFileSync(join(dirname(sidecar.main), "..", "..", "package.json"), join(dir, "app", "package.json"));
  } finally {
    sidecar.dispose();
  }
  writeFileSync(join(dir, "flags.json"), JSON.stringify(makeDocument({ checkout: { percent: 50 } })));
  // Prints the built-in modules the process loaded when it gets SIGUSR2.
  writeFileSync(
    join(dir, "loaded-modules.cjs"),
    'process.on("SIGUSR2", () => process.stderr.write(JSON.stringify(process.moduleLoadList) + "\\n"));',
  );
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

it("a file-mode sidecar with the injected V8 options serves from two files without loading node:crypto", async () => {
  const child = spawn(
    process.execPath,
    [
      ...SIDECAR_NODE_OPTIONS,
      "--require",
      join(dir, "loaded-modules.cjs"),
      main,
      "sidecar",
      "--file",
      join(dir, "flags.json"),
      "--listen",
      "127.0.0.1:0",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const stderr: string[] = [];
  const modules = new Promise<string[]>((resolve) => {
    createInterface({ input: child.stderr }).on("line", (line) => {
      if (line.startsWith("[")) resolve(JSON.parse(line) as string[]);
      else stderr.push(line);
    });
  });
  try {
    let url = "";
    for await (const line of createInterface({ input: child.stdout })) {
      const log = JSON.parse(line) as { reason?: string; url?: string };
      if (log.reason === "Listening") url = String(log.url);
      if (log.reason === "DocumentLoaded") break;
    }
    if (!url) throw new Error(`the sidecar did not start: ${stderr.join("\n")}`);
    const res = await fetch(`${url}/ofrep/v1/evaluate/flags/checkout`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ context: { targetingKey: "user-1" } }),
    });
    expect(res.status).toBe(200);
    child.kill("SIGUSR2");
    const loaded = await modules;
    expect(loaded).toContain("NativeModule http");
    expect(loaded.filter((m) => /^NativeModule (crypto|internal\/crypto\/)/.test(m))).toEqual([]);
  } finally {
    child.kill("SIGTERM");
  }
}, 60_000);

it("loads a 50-flag document without waking the optimizing compiler, whose code pages would count in every idle pod", async () => {
  // Verifying the document's revision hashes all of it (SHA-256 in JavaScript); with V8's default
  // interrupt budget that loop alone got the compression function optimized before the sidecar was
  // ready, and the compiler's pages added about 4 MiB to an idle sidecar.
  const file = join(dir, "bench-flags.json");
  writeFileSync(file, JSON.stringify(benchDocument()));
  const child = spawn(
    process.execPath,
    [...SIDECAR_NODE_OPTIONS, "--trace-opt", main, "sidecar", "--file", file, "--listen", "127.0.0.1:0"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const optimized: string[] = [];
  let loaded = false;
  try {
    // V8's traces and the sidecar's JSON logs share stdout, in the order they happened.
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.startsWith("[completed compiling")) optimized.push(line);
      if (line.startsWith("{") && (JSON.parse(line) as { reason?: string }).reason === "DocumentLoaded") {
        loaded = true;
        break;
      }
    }
  } finally {
    child.kill("SIGTERM");
  }
  expect(loaded).toBe(true);
  expect(optimized).toEqual([]);
}, 60_000);

it("optimizes the request path on a background thread, so no compile stalls the requests waiting behind it", async () => {
  // A TurboFan compile of a request-path function takes 5 - 13 ms; on the event loop every request
  // queued meanwhile waits for it (the hostile-rules benchmark's p99 for other flags).
  const file = join(dir, "bench-flags.json");
  const document = benchDocument();
  const keys = Object.keys(document.flags);
  writeFileSync(file, JSON.stringify(document));
  const child = spawn(
    process.execPath,
    [...SIDECAR_NODE_OPTIONS, "--trace-opt", main, "sidecar", "--file", file, "--listen", "127.0.0.1:0"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const modes: string[] = [];
  let url = "";
  const started = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const compiling = /^\[compiling method .*\(target TURBOFAN\), mode: ConcurrencyMode::(\w+)\]/.exec(
        line,
      );
      if (compiling) modes.push(compiling[1] as string);
      if (!line.startsWith("{")) return;
      const log = JSON.parse(line) as { reason?: string; url?: string };
      if (log.reason === "Listening") url = String(log.url);
      if (log.reason === "DocumentLoaded") resolve();
    });
  });
  try {
    await started;
    // Enough requests for the request path to get hot past the injected interrupt budget.
    for (let i = 0; i < 3000 && modes.length < 10; i++) {
      const res = await fetch(`${url}/ofrep/v1/evaluate/flags/${keys[i % keys.length]}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ context: { targetingKey: `user-${i}` } }),
      });
      await res.text();
    }
  } finally {
    child.kill("SIGTERM");
  }
  expect(modes.length).toBeGreaterThanOrEqual(10);
  expect(modes.filter((mode) => mode !== "kConcurrent")).toEqual([]);
}, 60_000);
