// Terminal output for the demo. Every mode prints timestamped event lines; on a terminal
// (interactive mode) a compact status block is also kept at the bottom and redrawn in place.

export interface Display {
  /** One event line, `[ 12.3s] text`, kept in the scrollback. */
  line(text: string): void;
  /** Replaces the live status block (ignored in plain mode). */
  block(lines: string[]): void;
  /** Removes the live block (the final state is printed as lines instead). */
  close(): void;
}

export function elapsed(since: number, now = Date.now()): string {
  return `${((now - since) / 1000).toFixed(1).padStart(5)}s`;
}

export function plainDisplay(since: number, out: NodeJS.WriteStream = process.stdout): Display {
  return {
    line(text) {
      for (const part of text.split("\n")) out.write(`[${elapsed(since)}] ${part}\n`);
    },
    block() {},
    close() {},
  };
}

/** The live block sits below the scrollback: erase it, print the line, draw it again. */
export function liveDisplay(since: number, out: NodeJS.WriteStream = process.stdout): Display {
  let drawn = 0;
  let current: string[] = [];
  const erase = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\x1b[0J`);
    drawn = 0;
  };
  const draw = () => {
    const width = Math.max(40, (out.columns ?? 100) - 1);
    for (const text of current) out.write(`${truncate(text, width)}\n`);
    drawn = current.length;
  };
  return {
    line(text) {
      erase();
      for (const part of text.split("\n")) out.write(`\x1b[2m[${elapsed(since)}]\x1b[0m ${part}\n`);
      draw();
    },
    block(lines) {
      erase();
      current = lines;
      draw();
    },
    close() {
      erase();
      current = [];
    },
  };
}

/** Cuts visible text to `width` columns, leaving ANSI colour codes intact. */
function truncate(text: string, width: number): string {
  let visible = 0;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\x1b") {
      const end = text.indexOf("m", i);
      if (end !== -1) {
        out += text.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width) continue;
    out += text[i];
    visible++;
  }
  return `${out}\x1b[0m`;
}

/** A bar of `width` cells, `fraction` (0..1) of them filled. */
export function bar(fraction: number, width = 20): string {
  const filled = Math.round(Math.min(Math.max(fraction, 0), 1) * width);
  return `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
}

export interface Colours {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
}

export function colours(enabled: boolean): Colours {
  const wrap = (code: number) => (s: string) => (enabled ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: wrap(1), dim: wrap(2), green: wrap(32), red: wrap(31), yellow: wrap(33) };
}
