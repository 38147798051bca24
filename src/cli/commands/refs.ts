// `flagwright refs DIR...`: which flags no code references any more (flag debt), and which keys
// code evaluates that no flag defines (typos, deleted flags), with file and line.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import type { Command } from "commander";
import { parseAllDocuments } from "yaml";
import { KIND } from "../../api/index.js";
import {
  compareReferences,
  compilePattern,
  type DefinedFlag,
  type RefsReport,
  scanReferences,
} from "../../hygiene/refs.js";
import { listFeatureFlags } from "../../kube/featureflags.js";
import { loadKubeConfig } from "../../kube/kubeconfig.js";

/** The YAML and JSON files of a path: the file itself, or every one under a directory (recursively, sorted). */
export function manifestFiles(path: string): string[] {
  const st = statSync(path);
  if (st.isFile()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) =>
      e.isDirectory()
        ? manifestFiles(join(path, e.name))
        : [".yaml", ".yml", ".json"].includes(extname(e.name))
          ? [join(path, e.name)]
          : [],
    );
}

/** FeatureFlags defined in YAML/JSON manifests (files or directories, recursively). */
export function flagsFromManifests(paths: readonly string[]): DefinedFlag[] {
  const flags: DefinedFlag[] = [];
  for (const file of paths.flatMap(manifestFiles)) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      if (doc.errors.length > 0) continue;
      const object = doc.toJS() as {
        kind?: unknown;
        metadata?: { name?: string };
        spec?: { key?: string };
      } | null;
      if (object?.kind !== KIND) continue;
      const key = object.spec?.key ?? object.metadata?.name;
      if (key) flags.push({ key, source: file });
    }
  }
  return flags;
}

/** FeatureFlags in the cluster (every namespace, or one). */
export async function flagsFromCluster(options: {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}): Promise<DefinedFlag[]> {
  const kc = await loadKubeConfig(options);
  const { CustomObjectsApi } = await import("../../kube/client.js"); // only when reading a cluster
  const api = kc.makeApiClient(CustomObjectsApi);
  const list = await listFeatureFlags(api, options.namespace);
  return list.items.map((f) => ({
    key: f.spec.key ?? f.metadata.name ?? "",
    source: `${f.metadata.namespace}/${f.metadata.name}`,
  }));
}

export function formatReport(report: RefsReport): string {
  const lines: string[] = [];
  lines.push(`Flags defined but not referenced in code (${report.unreferenced.length}):`);
  for (const f of report.unreferenced) lines.push(`  ${f.key}  (${f.source})`);
  lines.push(`Keys referenced in code but not defined (${report.undefinedKeys.length}):`);
  for (const u of report.undefinedKeys) {
    for (const r of u.references) lines.push(`  ${u.key}  ${r.file}:${r.line}`);
  }
  lines.push(`Referenced flags (${report.referenced.length}):`);
  for (const { flag, references } of report.referenced) {
    lines.push(`  ${flag.key}  ${references.map((r) => `${r.file}:${r.line}`).join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}

interface RefsOptions {
  manifests?: string[];
  cluster?: boolean;
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  pattern?: string[];
  defaults: boolean;
  json?: boolean;
  strict?: boolean;
}

export async function runRefs(
  dirs: string[],
  options: RefsOptions,
): Promise<{ output: string; exitCode: number }> {
  const patterns = (options.pattern ?? []).map(compilePattern);
  const refs = scanReferences(dirs, { patterns, noDefaults: !options.defaults });
  const defined = [
    ...flagsFromManifests(options.manifests ?? []),
    ...(options.cluster
      ? await flagsFromCluster({
          ...(options.kubeconfig !== undefined && { kubeconfig: options.kubeconfig }),
          ...(options.context !== undefined && { context: options.context }),
          ...(options.namespace !== undefined && { namespace: options.namespace }),
        })
      : []),
  ];
  const report = compareReferences(defined, refs);
  const problems = report.unreferenced.length + report.undefinedKeys.length;
  return {
    output: options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report),
    exitCode: options.strict && problems > 0 ? 1 : 0,
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRefsCommand(program: Command): void {
  program
    .command("refs")
    .description(
      "Find code references to flag keys (string literals passed to OpenFeature evaluation calls in " +
        "TypeScript/JavaScript, Python and Go, flag_enabled(...), OFREP URLs) and compare them with the " +
        "flags defined in manifests and/or the cluster: flags no code uses, keys no flag defines.",
    )
    .argument("<dirs...>", "source files or directories to scan")
    .option("-m, --manifests <path>", "FeatureFlag manifests (file or directory; repeatable)", collect)
    .option("--cluster", "also read the flags defined in the cluster (kubeconfig)")
    .option("-n, --namespace <namespace>", "with --cluster: only this namespace (default: all)")
    .option("--kubeconfig <file>", "kubeconfig file")
    .option("--context <name>", "kubeconfig context")
    .option("-p, --pattern <regex>", "extra pattern with one capture group, the key (repeatable)", collect)
    .option("--no-defaults", "use only the --pattern patterns")
    .option("--json", "print the report as JSON")
    .option("--strict", "exit 1 when a flag is unreferenced or a key undefined")
    .action(async (dirs: string[], options: RefsOptions) => {
      const { output, exitCode } = await runRefs(dirs, options);
      process.stdout.write(output);
      process.exitCode = exitCode;
    });
}
