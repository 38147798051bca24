// `npm run report:dead-exports`: the exports of src/ that nothing uses, found with the TypeScript
// compiler over everything tsconfig.json includes (src/, test/, bench/, scripts/). Lists those used
// nowhere (dead code), those used only by tests (code its tests keep alive), and the values used
// only inside their own module (the `export` can go; types stay, as they name the shapes of
// exported functions). What the package's entry points (package.json "exports") re-export is
// public API, and counts as used.
import { readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

export interface UnusedExport {
  file: string;
  line: number;
  name: string;
  /**
   * `nowhere`: no reference at all; `tests`: referenced only by test/ (code kept for its tests);
   * `own-module`: a value referenced only in the module that exports it.
   */
  usedIn: "nowhere" | "tests" | "own-module";
}

function program(root: string): ts.Program {
  const configFile = join(root, "tsconfig.json");
  const { config } = ts.readConfigFile(configFile, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, root);
  return ts.createProgram({ rootNames: parsed.fileNames, options: { ...parsed.options, noEmit: true } });
}

/** The package's entry points: src/ files behind package.json's "exports" (dist/x.js → src/x.ts). */
function entryPoints(root: string): Set<string> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    exports?: Record<string, string>;
  };
  return new Set(
    Object.values(pkg.exports ?? {})
      .filter((target) => target.startsWith("./dist/") && target.endsWith(".js"))
      .map((target) => `src/${target.slice("./dist/".length, -".js".length)}.ts`),
  );
}

/** The declaration a symbol stands for, past import and re-export aliases. */
function original(checker: ts.TypeChecker, symbol: ts.Symbol): ts.Symbol {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

/** The symbol an identifier refers to, including `const { name } = await import(...)`. */
function referenced(checker: ts.TypeChecker, id: ts.Identifier): ts.Symbol | undefined {
  const parent = id.parent;
  if (ts.isBindingElement(parent) && ts.isObjectBindingPattern(parent.parent)) {
    const key = parent.propertyName ?? parent.name;
    if (id !== key || !ts.isIdentifier(key)) return checker.getSymbolAtLocation(id);
    return checker.getTypeAtLocation(parent.parent).getProperty(key.text);
  }
  return checker.getSymbolAtLocation(id);
}

export function findUnusedExports(root: string): UnusedExport[] {
  const prog = program(root);
  const checker = prog.getTypeChecker();
  const ours = prog
    .getSourceFiles()
    .filter((f) => !f.isDeclarationFile && !relative(root, f.fileName).startsWith(".."));
  const fileOf = (f: ts.SourceFile) => relative(root, f.fileName);
  const publicApi = entryPoints(root);

  // Every export of src/, by the symbol it declares.
  const exports = new Map<ts.Symbol, { file: string; name: string; line: number; public: boolean }>();
  for (const source of ours) {
    const file = fileOf(source);
    if (!file.startsWith("src/")) continue;
    const module = checker.getSymbolAtLocation(source);
    if (module === undefined) continue;
    for (const symbol of checker.getExportsOfModule(module)) {
      const target = original(checker, symbol);
      const declaration = target.declarations?.[0];
      if (declaration === undefined) continue;
      const declaredIn = fileOf(declaration.getSourceFile());
      if (!declaredIn.startsWith("src/")) continue;
      const entry = exports.get(target) ?? {
        file: declaredIn,
        name: target.name,
        line: declaration.getSourceFile().getLineAndCharacterOfPosition(declaration.getStart()).line + 1,
        public: false,
      };
      if (publicApi.has(file)) entry.public = true;
      exports.set(target, entry);
    }
  }

  // Where each is referenced: in its own file, or in another.
  const usedElsewhere = new Set<ts.Symbol>();
  const usedByTests = new Set<ts.Symbol>();
  const usedAtHome = new Set<ts.Symbol>();
  for (const source of ours) {
    const file = fileOf(source);
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node)) {
        const symbol = referenced(checker, node);
        const target = symbol && original(checker, symbol);
        const entry = target && exports.get(target);
        const isDeclarationName = target?.declarations?.some((d) => (d as ts.NamedDeclaration).name === node);
        const isReExport = ts.isExportSpecifier(node.parent);
        if (entry && !isDeclarationName && !isReExport) {
          if (entry.file === file) usedAtHome.add(target);
          else if (file.startsWith("test/")) usedByTests.add(target);
          else usedElsewhere.add(target);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }

  const unused: UnusedExport[] = [];
  for (const [symbol, entry] of exports) {
    if (entry.public || usedElsewhere.has(symbol)) continue;
    const typeOnly = (symbol.flags & ts.SymbolFlags.Value) === 0;
    // Tests may well import what their module also uses: only the export is then in question.
    if (usedAtHome.has(symbol) && (typeOnly || usedByTests.has(symbol))) continue;
    unused.push({
      file: entry.file,
      line: entry.line,
      name: entry.name,
      usedIn: usedAtHome.has(symbol) ? "own-module" : usedByTests.has(symbol) ? "tests" : "nowhere",
    });
  }
  return unused.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

// Run as a script (not when a test imports it).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const unused = findUnusedExports(process.cwd());
  const said = {
    nowhere: "used nowhere",
    tests: "used only by tests",
    "own-module": "used only in its own module",
  };
  for (const u of unused) console.log(`${u.file}:${u.line} ${u.name}: ${said[u.usedIn]}`);
  const count = (usedIn: UnusedExport["usedIn"]) => unused.filter((u) => u.usedIn === usedIn).length;
  console.log(
    `dead-exports: ${count("nowhere")} used nowhere, ${count("tests")} used only by tests, ${count("own-module")} used only in their own module`,
  );
}
