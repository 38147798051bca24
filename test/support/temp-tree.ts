// Small source trees on disk for the tests of the repo's own tooling (layer rules, size limits,
// the architecture picture, dead exports): files written under a fresh temporary folder, which is
// removed after each test.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";

/**
 * Returns `write(files)`: writes the files (path → text) into this test's tree, made on the first
 * call and shared by later calls in the same test, and returns the tree's folder.
 */
export function useTempTree(prefix: string): (files: Record<string, string>) => string {
  let tree: string | undefined;
  afterEach(() => {
    if (tree) rmSync(tree, { recursive: true, force: true });
    tree = undefined;
  });
  return (files) => {
    tree ??= mkdtempSync(join(tmpdir(), prefix));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(tree, path)), { recursive: true });
      writeFileSync(join(tree, path), text);
    }
    return tree;
  };
}
