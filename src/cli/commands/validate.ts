// `flagwright validate`: checks FeatureFlag and Segment manifests offline (schema, CEL rules,
// references between them) and names each problem by file, resource and field.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parseAllDocuments } from "yaml";
import { KIND, SEGMENT_KIND } from "../../api/schema.js";
import {
  crossManifestProblems,
  type SetOptions,
  type SourcedManifest,
  validateFeatureFlag,
  validateSegment,
} from "../../api/validate.js";
import { manifestFiles } from "./refs.js";

/**
 * Validates every FeatureFlag and Segment in the files (directories: every YAML/JSON file under
 * them), each on its own and then as a set: prerequisites, cycles and segment references resolve
 * across all of them, namespace by namespace. Returns the lines to print and whether all passed
 * (warnings do not fail).
 */
export function validateFiles(
  paths: string[],
  options: SetOptions = {},
): { lines: string[]; ok: boolean; flags: number; warnings: number } {
  const lines: string[] = [];
  const manifests: SourcedManifest[] = [];
  let ok = true;
  const files: string[] = [];
  for (const path of paths) {
    try {
      files.push(...manifestFiles(path));
    } catch (error) {
      lines.push(
        `${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
      ok = false;
    }
  }
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      lines.push(
        `${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
      ok = false;
      continue;
    }
    parseAllDocuments(text).forEach((doc, index) => {
      const where = `${file}#${index}`;
      if (doc.errors.length > 0) {
        ok = false;
        for (const e of doc.errors) lines.push(`${where}: YAML: ${e.message.split("\n")[0]}`);
        return;
      }
      const object = doc.toJS() as { kind?: unknown; metadata?: { name?: string } } | null;
      // Other kinds (and empty documents) are not ours.
      if (object === null || (object.kind !== KIND && object.kind !== SEGMENT_KIND)) return;
      manifests.push({ source: where, object });
      const name = object.metadata?.name ?? "(no name)";
      const validate = object.kind === KIND ? validateFeatureFlag : validateSegment;
      for (const problem of validate(object)) {
        ok = false;
        lines.push(`${where} ${name}: ${problem.field || "(document)"}: ${problem.message}`);
      }
    });
  }
  let warnings = 0;
  for (const problem of crossManifestProblems(manifests, options)) {
    const line = `${problem.source} ${problem.name}: ${problem.field}: ${problem.message}`;
    if (problem.severity === "warning") {
      warnings++;
      lines.push(`warning: ${line}`);
    } else {
      ok = false;
      lines.push(line);
    }
  }
  return { lines, ok, flags: manifests.length, warnings };
}

export function registerValidateCommand(program: Command): void {
  program
    .command("validate")
    .description(
      "Check FeatureFlag and Segment manifests offline against the CRDs' schema and rules (the same " +
        "ones the API server enforces) and compile every CEL rule (spec.rules[].when, a Segment's " +
        "spec.when), as the admission webhook does. Then check them as a set, namespace by " +
        "namespace, as the operator resolves them: every prerequisite names a flag and every rule's " +
        "segment a Segment among the manifests given, no prerequisite cycle or chain deeper than 8, " +
        "no key or object defined twice. Prints every problem as FILE#DOCUMENT NAME: FIELD: " +
        "MESSAGE (with LINE:COLUMN in the expression for CEL); exits 1 if any. Warnings (--partial) " +
        'start with "warning:" and do not fail.',
    )
    .argument(
      "<paths...>",
      "YAML or JSON files, or directories (every .yaml, .yml and .json file under them); documents of " +
        "other kinds are skipped",
    )
    .option(
      "-n, --namespace <namespace>",
      "the namespace of manifests without metadata.namespace, as kubectl apply -n",
      "default",
    )
    .option(
      "--partial",
      "the manifests are part of what their namespaces hold (for example one flag checked on its own): " +
        "a prerequisite or Segment none of them defines is a warning, not an error",
    )
    .action((paths: string[], options: { namespace: string; partial?: boolean }) => {
      const { lines, ok, flags, warnings } = validateFiles(paths, {
        defaultNamespace: options.namespace,
        partial: options.partial === true,
      });
      for (const line of lines) console.error(line);
      if (ok)
        console.log(
          `${flags} manifest${flags === 1 ? "" : "s"} valid` +
            (warnings > 0 ? ` (${warnings} warning${warnings === 1 ? "" : "s"})` : ""),
        );
      process.exitCode = ok ? 0 : 1;
    });
}
