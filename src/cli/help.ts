// Help layout shared by the full program and the single-command programs main.ts builds.
import { Help } from "commander";

const ITEM_INDENT = 2;
const NARROW_DESCRIPTION = 40;

/**
 * Commander's item layout (term, then its description wrapped beside it), except that where long
 * option names leave the description column narrower than 40 characters, the description goes
 * on its own lines below the term, wrapped at whole words to the full width, instead of running
 * unwrapped past the edge of the terminal.
 */
export function formatHelpItem(
  this: Help,
  term: string,
  termWidth: number,
  description: string,
  helper: Help,
): string {
  const width = helper.helpWidth ?? 80;
  if (!description || width - termWidth - 2 - ITEM_INDENT >= NARROW_DESCRIPTION) {
    return Help.prototype.formatItem.call(this, term, termWidth, description, helper);
  }
  const indent = " ".repeat(ITEM_INDENT * 3);
  const wrapped = helper.boxWrap(description, width - indent.length);
  return `${" ".repeat(ITEM_INDENT)}${term}\n${indent}${wrapped.replace(/\n/g, `\n${indent}`)}`;
}
