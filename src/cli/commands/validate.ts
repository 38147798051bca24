import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parseAllDocuments } from "yaml";
import { KIND } from "../../api/schema.js";
import { validateFeatureFlag } from "../../api/validate.js";

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
      if (object === null || object.kind !== KIND) return; // other kinds (and empty documents) are not ours
      flags++;
      const name = object.metadata?.name ?? "(no name)";
      for (const problem of validateFeatureFlag(object)) {
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
      "Check FeatureFlag manifests offline against the CRD's schema and rules (the same ones the API " +
        "server enforces). Prints every problem as FILE#DOCUMENT NAME: FIELD: MESSAGE; exits 1 if any.",
    )
    .argument("<files...>", "YAML or JSON files; documents of other kinds are skipped")
    .action((files: string[]) => {
      const { lines, ok, flags } = validateFiles(files);
      for (const line of lines) console.error(line);
      if (ok) console.log(`${flags} FeatureFlag${flags === 1 ? "" : "s"} valid`);
      process.exitCode = ok ? 0 : 1;
    });
}
