import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parseAllDocuments } from "yaml";
import { KIND, SEGMENT_KIND } from "../../api/schema.js";
import { validateFeatureFlag, validateSegment } from "../../api/validate.js";

/** Validates every FeatureFlag in the files; returns the lines to print and whether all passed. */
export function validateFiles(files: string[]): { lines: string[]; ok: boolean; flags: number } {
  const lines: string[] = [];
  let flags = 0;
  let ok = true;
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
      flags++;
      const name = object.metadata?.name ?? "(no name)";
      const validate = object.kind === KIND ? validateFeatureFlag : validateSegment;
      for (const problem of validate(object)) {
        ok = false;
        lines.push(`${where} ${name}: ${problem.field || "(document)"}: ${problem.message}`);
      }
    });
  }
  return { lines, ok, flags };
}

export function registerValidateCommand(program: Command): void {
  program
    .command("validate")
    .description(
      "Check FeatureFlag and Segment manifests offline against the CRDs' schema and rules (the same " +
        "ones the API server enforces) and compile every CEL rule (spec.rules[].when, a Segment's " +
        "spec.when), as the admission webhook does. Prints every problem as FILE#DOCUMENT NAME: " +
        "FIELD: MESSAGE (with LINE:COLUMN in the expression for CEL); exits 1 if any.",
    )
    .argument("<files...>", "YAML or JSON files; documents of other kinds are skipped")
    .action((files: string[]) => {
      const { lines, ok, flags } = validateFiles(files);
      for (const line of lines) console.error(line);
      if (ok) console.log(`${flags} manifest${flags === 1 ? "" : "s"} valid`);
      process.exitCode = ok ? 0 : 1;
    });
}
