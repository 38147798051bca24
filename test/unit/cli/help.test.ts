// `--help` texts wrap at whole words to the terminal's width: no line is longer than the width,
// and no line breaks early where the next word would still have fitted (a hard line break in
// the middle of a sentence, which commander's own wrapping then splits again).
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { registerOperatorCommand } from "../../../src/cli/commands/operator.js";
import { registerSidecarCommand } from "../../../src/cli/commands/sidecar.js";
import { buildProgram } from "../../../src/cli/program.js";
import { buildSingleCommandProgram } from "../../../src/cli/single-command.js";

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

function helpAt(command: Command, width: number): string {
  command.configureHelp({ ...command.configureHelp(), helpWidth: width });
  return command.helpInformation();
}

/** Where a line's running text starts: after the term of a "  term  description" item, else after the indent. */
function textColumn(line: string): number {
  const item = /^(\s*\S.*?\s{2,})\S/.exec(line);
  return item?.[1] !== undefined ? item[1].length : line.length - line.trimStart().length;
}

/**
 * Lines followed by a continuation of their text (same column, lower-case start) whose first word
 * would still have fitted on them: a hard line break in mid-sentence.
 */
function earlyBreaks(text: string, width: number): string[] {
  const lines = text.split("\n");
  const found: string[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const line = (lines[i] ?? "").trimEnd();
    const nextLine = lines[i + 1] ?? "";
    const next = nextLine.trimStart();
    const word = next.split(/\s/)[0] ?? "";
    const continues =
      line.trim() !== "" && /^[a-z(]/.test(next) && nextLine.length - next.length === textColumn(line);
    if (continues && line.length + 1 + word.length <= width) found.push(`${line} ⏎ ${word}`);
  }
  return found;
}

describe("--help wraps at whole words", () => {
  const commands = allCommands(buildProgram()).map((c) => [c.name(), c] as const);

  it.each(commands)("flagwright %s --help", (_, command) => {
    for (const width of [80, 120]) {
      const help = helpAt(command, width);
      const long = help.split("\n").filter((line) => line.length > width);
      expect(long, `lines over ${width} columns`).toEqual([]);
      expect(earlyBreaks(help, width), `early breaks at ${width} columns`).toEqual([]);
    }
  });
});

describe("the single-command programs main.ts builds for the operator and the sidecar", () => {
  const sub = (program: Command, name: string) => program.commands.find((c) => c.name() === name) as Command;

  it.each([
    ["operator", registerOperatorCommand],
    ["sidecar", registerSidecarCommand],
  ] as const)("flagwright %s --help is the full program's", (name, register) => {
    const program = buildSingleCommandProgram(register);
    expect(program.commands.map((c) => c.name())).toEqual([name]);
    const reduced = sub(program, name);
    for (const width of [80, 120])
      expect(helpAt(reduced, width)).toBe(helpAt(sub(buildProgram(), name), width));
  });
});
