// `npm run bench [-- NAME...] [--smoke]`: runs every bench/*.bench.ts (or the named ones), prints
// the figures and writes a Markdown report (plus the raw samples as JSON) with the machine it ran
// on to .bench-results/.
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadAverage } from "./proc.js";
import {
  type BenchModule,
  type BenchResult,
  type Figure,
  formatFigure,
  formatNumber,
  formatSpread,
  formatVerdict,
  summarize,
} from "./stats.js";

export type { BenchModule } from "./stats.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    smoke: { type: "boolean", default: false },
    out: { type: "string" },
    // Internal: run the one module in this file and write its result as JSON to --result-file.
    "child-module": { type: "string" },
    "result-file": { type: "string" },
    "module-timeout": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: npm run bench [-- NAME...] [--smoke] [--out FILE]

Runs bench/*.bench.ts (all, or those named), prints results and writes a Markdown report
(default .bench-results/<date>[-smoke].md, git-ignored, with the raw samples next to it as .json;
record figures in docs/benchmarks.md). --smoke runs everything in seconds (indicative only).
OPERATOR_SCALE_SIZES=1000,10000 selects the operator-scale sizes; OPERATOR_SCALE_NODE_OPTIONS
replaces the chart's NODE_OPTIONS for its operator; SIDECAR_FLAGD_ROUNDS sets sidecar-vs-flagd's
rounds (default 8), SIDECAR_FLAGD_RATE its fixed rate, SIDECAR_FLAGD_SAMPLES=PREFIX writes every
fixed-rate request's send time and latency. BENCH_SIDECAR_V8_OPTIONS replaces the injected sidecar's
V8 options. hostile-rules: HOSTILE_RULES_ROUNDS (default 3), HOSTILE_RULES_RATE (ordinary flags'
req/s, default 500), HOSTILE_RULES_PROBE_PRIORITY=0 (probe at normal priority),
HOSTILE_RULES_SAMPLES=PREFIX (write every ordinary request's send time and latency).
shared-evaluator: SHARED_EVALUATOR_PODS (default 50), SHARED_EVALUATOR_POD_RATE (req/s per pod,
default 20), SHARED_EVALUATOR_WARMUP (s).
*_PIN=0 turns a benchmark's CPU pinning off.
--module-timeout SECONDS stops a module (and every process it started) that runs longer and
reports it as failed (default 600 with --smoke, 3600 otherwise).`);
  process.exit(0);
}

function goVersion(): string {
  try {
    const env = { ...process.env, PATH: `/usr/local/go/bin:${process.env.PATH}` };
    return execFileSync("go", ["version"], { encoding: "utf8", env })
      .trim()
      .replace(/^go version /, "");
  } catch {
    return "not found";
  }
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    go: goVersion(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavg: loadAverage(),
  };
}

const isStructured = (result: unknown): result is BenchResult =>
  typeof result === "object" && result !== null && Array.isArray((result as BenchResult).figures);

const cell = (v: unknown) =>
  typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : String(v);

/** The flat `{label: value}` rows of a module that does not return a BenchResult. */
function legacyTable(rows: Record<string, unknown>): string {
  return [
    "| metric | value |",
    "| --- | --- |",
    ...Object.entries(rows).map(([k, v]) => `| ${k} | ${cell(v)} |`),
  ].join("\n");
}

const label = (f: Figure) => `${f.name}${f.computed ? " (computed)" : ""}`;

/** Markdown for a structured result: repeated-run figures, latency distributions, ratios, notes. */
export function renderResult(result: BenchResult): string {
  const parts: string[] = [];
  const repeated = result.figures.filter((f) => f.stat !== "percentiles" && !f.computed);
  const distributions = result.figures.filter((f) => f.stat === "percentiles");
  const computed = result.figures.filter((f) => f.computed && f.stat !== "percentiles");
  if (repeated.length > 0) {
    const rows = repeated.map((f) => {
      const s = summarize(f.samples);
      const spread = s.n > 1 ? `${formatNumber(s.min)} – ${formatNumber(s.max)}` : "";
      return `| ${label(f)} | ${f.unit} | ${formatNumber(s.median)} | ${spread} | ${s.n} |`;
    });
    parts.push(
      ["| figure | unit | median | min – max | runs |", "| --- | --- | ---: | ---: | ---: |", ...rows].join(
        "\n",
      ),
    );
  }
  if (distributions.length > 0) {
    const rows = distributions.map((f) => {
      const s = summarize(f.samples);
      return `| ${label(f)} | ${f.unit} | ${formatNumber(s.median)} | ${formatNumber(s.p99)} | ${formatNumber(s.max)} | ${s.n} |`;
    });
    parts.push(
      ["| figure | unit | p50 | p99 | max | n |", "| --- | --- | ---: | ---: | ---: | ---: |", ...rows].join(
        "\n",
      ),
    );
  }
  if (computed.length > 0) {
    const rows = computed.map((f) => `| ${f.name} | ${f.unit} | ${formatSpread(f.samples)} |`);
    parts.push(
      ["| computed figure (see notes) | unit | value |", "| --- | --- | ---: |", ...rows].join("\n"),
    );
  }
  if (result.ratios?.length) {
    const rows = result.ratios.map((r) => {
      const s = summarize(r.samples);
      const spread = s.n > 1 ? `${formatNumber(s.min)} – ${formatNumber(s.max)}` : "";
      const target = r.target ? formatVerdict(r.samples, r.target) : "";
      return `| ${r.name} | ${formatNumber(s.median)} | ${spread} | ${s.n} | ${target} |`;
    });
    parts.push(
      ["| ratio | median | min – max | n | target |", "| --- | ---: | ---: | ---: | --- |", ...rows].join(
        "\n",
      ),
    );
  }
  const notes = [
    ...result.figures.filter((f) => f.note).map((f) => `${label(f)}: ${f.note}`),
    ...(result.ratios ?? []).filter((r) => r.note).map((r) => `${r.name}: ${r.note}`),
    ...(result.notes ?? []),
  ];
  if (notes.length > 0) parts.push(notes.map((n) => `- ${n}`).join("\n"));
  return parts.join("\n\n");
}

function printResult(result: BenchResult | Record<string, unknown>): void {
  if (!isStructured(result)) {
    for (const [k, v] of Object.entries(result)) console.log(`  ${k}: ${cell(v)}`);
    return;
  }
  for (const f of result.figures) console.log(`  ${label(f)}: ${formatFigure(f)} ${f.unit}`);
  for (const r of result.ratios ?? [])
    console.log(
      `  ratio ${r.name}: ${formatSpread(r.samples)}${r.target ? `; ${formatVerdict(r.samples, r.target)}` : ""}`,
    );
}

type Outcome = { result: BenchResult | Record<string, unknown> } | { error: string };

// JSON has no NaN or Infinity (a figure may hold them, e.g. CPU per request with nothing answered).
const NON_FINITE = "\u0000number:";
const encodeNonFinite = (_key: string, value: unknown) =>
  typeof value === "number" && !Number.isFinite(value) ? `${NON_FINITE}${value}` : value;
const decodeNonFinite = (_key: string, value: unknown) =>
  typeof value === "string" && value.startsWith(NON_FINITE) ? Number(value.slice(NON_FINITE.length)) : value;

// A module's own process (see runIsolated): it imports that one module file, no other.
if (values["child-module"] !== undefined) {
  if (!values["result-file"]) throw new Error("--child-module FILE needs --result-file");
  const mod = (await import(join(here, values["child-module"]))) as BenchModule;
  let outcome: Outcome;
  try {
    outcome = { result: await mod.run({ smoke: values.smoke }) };
  } catch (error) {
    outcome = { error: String((error as Error).stack ?? error) };
  }
  await writeFile(values["result-file"], JSON.stringify(outcome, encodeNonFinite));
  process.exit(0);
}

const files = (await readdir(here)).filter((f) => f.endsWith(".bench.ts")).sort();
const wanted = new Set(positionals);
const modules: { file: string; mod: BenchModule }[] = [];
for (const file of files) {
  const mod = (await import(join(here, file))) as BenchModule;
  if (wanted.size === 0 || wanted.has(mod.name) || wanted.has(basename(file, ".bench.ts")))
    modules.push({ file, mod });
}
if (modules.length === 0) {
  console.error(`no benchmark matches ${[...wanted].join(", ")}; have: ${files.join(", ")}`);
  process.exit(2);
}

const moduleTimeoutSeconds = Number(values["module-timeout"] ?? (values.smoke ? 600 : 3600));
if (!(moduleTimeoutSeconds > 0)) {
  console.error(`--module-timeout wants a number of seconds above 0, not ${values["module-timeout"]}`);
  process.exit(2);
}

/** The module process running now, as its process group (see runIsolated), for the signal handlers. */
let runningGroup: number | undefined;
const killGroup = (group: number) => {
  try {
    process.kill(-group, "SIGKILL");
    return true;
  } catch {
    return false; // ESRCH: nothing of that group is left
  }
};
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(signal, () => {
    if (runningGroup !== undefined) killGroup(runningGroup);
    process.exit(130);
  });

/**
 * Each module runs in a fresh Node process (as JMH forks a JVM per benchmark): one module's type
 * feedback, optimized code and heap would otherwise weigh on the next module's figures, e.g. the
 * evaluator's call sites left polymorphic by `evaluate` before `targeting-vs-flagd` times them.
 * The process leads a process group of its own, so a module that hangs past --module-timeout is
 * stopped with the servers and load generators it started, and anything it leaves running when it
 * exits is stopped too (a leftover holding the output open would keep a CI job waiting).
 */
async function runIsolated(file: string, mod: BenchModule): Promise<BenchResult | Record<string, unknown>> {
  const dir = await mkdtemp(join(os.tmpdir(), "flagwright-bench-"));
  const resultFile = join(dir, "result.json");
  try {
    const args = [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      "--child-module",
      file,
      "--result-file",
      resultFile,
      ...(values.smoke ? ["--smoke"] : []),
    ];
    let timedOut = false;
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: "inherit", detached: true });
      runningGroup = child.pid;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) killGroup(child.pid);
      }, moduleTimeoutSeconds * 1000);
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on("exit", (exitCode, signal) => {
        clearTimeout(timer);
        resolve(signal ? null : exitCode);
      });
    });
    if (runningGroup !== undefined && killGroup(runningGroup))
      console.error(`  ${mod.name} left processes running; stopped them`);
    runningGroup = undefined;
    if (timedOut)
      throw new Error(`${mod.name} ran past --module-timeout (${moduleTimeoutSeconds} s); stopped it`);
    const text = await readFile(resultFile, "utf8").catch(() => "null");
    const outcome = JSON.parse(text, decodeNonFinite) as Outcome | null;
    if (!outcome) throw new Error(`the ${mod.name} process exited (${code ?? "killed"}) without a result`);
    if ("error" in outcome)
      throw Object.assign(new Error(outcome.error.split("\n")[0]), { stack: outcome.error });
    return outcome.result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const started = new Date();
const m = machine();
console.log(
  `machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, Node ${m.node}, Go ${m.go}, load ${m.loadavg}`,
);
const sections: string[] = [];
const raw: Record<string, unknown> = {};
const failed: string[] = [];
for (const { file, mod } of modules) {
  console.log(`\n== ${mod.name}${values.smoke ? " (smoke)" : ""}`);
  const t0 = performance.now();
  let body: string;
  try {
    const result = await runIsolated(file, mod);
    printResult(result);
    raw[mod.name] = result;
    body = isStructured(result) ? renderResult(result) : legacyTable(result);
  } catch (error) {
    // Keep going: one broken module must not hide the others' figures; the exit code reports it.
    console.error(`  FAILED: ${(error as Error).stack ?? error}`);
    failed.push(mod.name);
    body = `**Failed:** ${(error as Error).message.split("\n")[0]}`;
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(`  (${seconds.toFixed(1)} s)`);
  sections.push(
    `## ${mod.name}\n\n${mod.description ? `${mod.description}\n\n` : ""}${body}\n\nRan ${seconds.toFixed(0)} s, load average after: ${loadAverage()}.\n`,
  );
}
const ended = new Date();

const report = [
  `# Flagwright benchmarks${values.smoke ? " (smoke run: indicative only)" : ""}`,
  "",
  `Run ${started.toISOString()} to ${ended.toISOString()}.`,
  "",
  legacyTable({
    CPU: m.cpu,
    cores: m.cores,
    memory: m.memory,
    Node: m.node,
    Go: m.go,
    OS: m.os,
    "load average (1, 5, 15 min) at start": m.loadavg,
    "load average at end": loadAverage(),
  }),
  "",
  ...sections,
].join("\n");
const out =
  values.out ??
  join(
    here,
    "..",
    ".bench-results",
    `${started.toISOString().slice(0, 10)}${values.smoke ? "-smoke" : ""}.md`,
  );
await mkdir(join(out, ".."), { recursive: true });
await writeFile(out, report);
await writeFile(
  `${out.replace(/\.md$/, "")}.json`,
  `${JSON.stringify({ machine: m, started, ended, results: raw }, null, 2)}\n`,
);
console.log(`\nreport written to ${out}`);
if (failed.length > 0) {
  console.error(`failed: ${failed.join(", ")}`);
  process.exitCode = 1;
}
