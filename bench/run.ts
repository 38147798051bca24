// `npm run bench [-- NAME...] [--smoke]`: runs every bench/*.bench.ts (or the named ones), prints
// the figures and writes a Markdown report with the machine it ran on to .bench-results/.
import { mkdir, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export interface BenchModule {
  name: string;
  description?: string;
  run(opts: { smoke: boolean }): Promise<Record<string, unknown>>;
}

const here = fileURLToPath(new URL(".", import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    smoke: { type: "boolean", default: false },
    out: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: npm run bench [-- NAME...] [--smoke] [--out FILE]

Runs bench/*.bench.ts (all, or those named), prints results and writes a Markdown report
(default .bench-results/<date>[-smoke].md, git-ignored; record figures in docs/benchmarks.md). --smoke runs each for a second or two.`);
  process.exit(0);
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavg: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" "),
  };
}

function table(rows: Record<string, unknown>): string {
  const lines = ["| metric | value |", "| --- | --- |"];
  for (const [k, v] of Object.entries(rows)) {
    lines.push(
      `| ${k} | ${typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : String(v)} |`,
    );
  }
  return lines.join("\n");
}

const files = (await readdir(here)).filter((f) => f.endsWith(".bench.ts")).sort();
const wanted = new Set(positionals);
const modules: BenchModule[] = [];
for (const file of files) {
  const mod = (await import(join(here, file))) as BenchModule;
  if (wanted.size === 0 || wanted.has(mod.name) || wanted.has(basename(file, ".bench.ts"))) modules.push(mod);
}
if (modules.length === 0) {
  console.error(`no benchmark matches ${[...wanted].join(", ")}; have: ${files.join(", ")}`);
  process.exit(2);
}

const started = new Date();
const m = machine();
console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, Node ${m.node}, load ${m.loadavg}`);
const sections: string[] = [];
for (const mod of modules) {
  console.log(`\n== ${mod.name}${values.smoke ? " (smoke)" : ""}`);
  const result = await mod.run({ smoke: values.smoke });
  for (const [k, v] of Object.entries(result)) {
    console.log(
      `  ${k}: ${typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : v}`,
    );
  }
  sections.push(`## ${mod.name}\n\n${mod.description ? `${mod.description}\n\n` : ""}${table(result)}\n`);
}

const report = [
  `# Flagwright benchmarks${values.smoke ? " (smoke run: indicative only)" : ""}`,
  "",
  `Run ${started.toISOString()}.`,
  "",
  table({
    CPU: m.cpu,
    cores: m.cores,
    memory: m.memory,
    Node: m.node,
    OS: m.os,
    "load average at start": m.loadavg,
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
console.log(`\nreport written to ${out}`);
