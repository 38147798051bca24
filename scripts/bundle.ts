// The build's esbuild step, after tsc (`npm run bundle`; `npm run build` runs it):
// - dist/kube/client.js, a re-export of the whole @kubernetes/client-node, is replaced by a
//   tree-shaken bundle of the names src/kube/client.ts exports, so the unbundled entry points (the
//   kubectl plugin, the package's exports) load the API classes they use instead of every
//   generated one;
// - the `flagwright` CLI (the package's bin and the container image's entrypoint) is bundled into
//   dist/bundle: pino, commander and the project's code inlined and minified, client-node
//   tree-shaken the same way, each command in its own chunk. The other dependencies stay in
//   node_modules. `flagwright sidecar`, which runs in every pod, is a second build: one file,
//   dist/bundle/sidecar-main.js, holding all it needs to serve, so that it starts by loading two
//   files (main.js and that one) and no package from node_modules.
//
//   tsx scripts/bundle.ts                 # both, into dist/
//   tsx scripts/bundle.ts --outdir DIR    # only the CLI, into DIR (the sidecar benchmark's build)
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BuildOptions, build, type Plugin } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

const common: BuildOptions = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // Bundled CommonJS dependencies (node-fetch, ws, ...) require Node's built-ins.
  banner: {
    js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);',
  },
  legalComments: "eof",
  logLevel: "warning",
};

/**
 * node-fetch 2 (client-node's HTTP client, for API calls and watches) reports "Premature close"
 * for a chunked response when, once the response has closed, its socket still has a `data`
 * listener, taking that as a body cut short. Node's guard against response-queue poisoning (the
 * 2026 security releases: 22.23, 24.17, 26.3.1, and Debian's Node 20, the image's) puts a `data`
 * listener on every socket an agent keeps for reuse, so with the operator's keep-alive agent every
 * chunked answer failed: the API server chunks any answer over 4 KiB, such as a webhook configuration with its
 * caBundle or a certificate Secret, and the operator in the image died at start. Whether the
 * parser saw the terminating chunk (`complete`) is what the check means to ask; it is added, so a
 * body that is really cut short still fails.
 */
const NODE_FETCH_CHUNKED_CHECK = "if (hasDataListener && !hadError) {";
const nodeFetchCompleteCheck: Plugin = {
  name: "node-fetch-complete-check",
  setup(build) {
    build.onLoad({ filter: /[\\/]node-fetch[\\/]lib[\\/]index\.(js|mjs|es\.js)$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      if (source.split(NODE_FETCH_CHUNKED_CHECK).length !== 2)
        throw new Error(
          `${args.path}: the chunked-ending check to amend was not found once; review the plugin`,
        );
      return {
        contents: source.replace(
          NODE_FETCH_CHUNKED_CHECK,
          "if (hasDataListener && !hadError && !response.complete) {",
        ),
        loader: "js",
      };
    });
  },
};

export async function bundleClient(outfile = `${root}dist/kube/client.js`): Promise<{ bytes: number }> {
  const result = await build({
    ...common,
    entryPoints: [`${root}src/kube/client.ts`],
    outfile,
    plugins: [nodeFetchCompleteCheck],
    // V8 keeps every module's source text in the heap: whitespace is a third of it. Names stay,
    // so stack traces still read.
    minifyWhitespace: true,
    metafile: true,
  });
  const output = Object.values(result.metafile.outputs)[0];
  return { bytes: output?.bytes ?? 0 };
}

/** Dependencies the CLI bundle leaves in node_modules (measured: bundling them saves nothing). */
const CLI_EXTERNAL = [
  "express",
  "ajv",
  "ajv-formats",
  "yaml",
  "@marcbachmann/cel-js",
  "@openfeature/server-sdk",
  // The event store's client, loaded only when one is configured (it imports node:crypto).
  "postgres",
];

/**
 * prom-client's index stays in node_modules like the dependencies above; the lib/ files the
 * sidecar imports one by one (src/telemetry/prom.ts) are bundled, so the sidecar resolves no file
 * from node_modules at start-up.
 */
const promClientIndexExternal: Plugin = {
  name: "prom-client-index-external",
  setup(build) {
    build.onResolve({ filter: /^prom-client$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * Modules the sidecar imports on first use only (the token check, API-watch mode and the
 * Kubernetes client behind it, the experiment event store). Both builds leave them as separate
 * files: entry points of the CLI build, imported by name from the sidecar's file.
 */
const LAZY_ENTRIES = [
  "sidecar/bearer-auth",
  "source/configmap-source",
  "kube/pooled-kubeconfig",
  "sidecar/experiment-events",
  "experiment/event-store",
];
const SIDECAR_MAIN = "cli/sidecar-main";

/** Leaves imports of `modules` (paths under src/, no extension) as imports of ./<name>.js. */
function importedByName(modules: string[]): Plugin {
  const byPath = new Map(modules.map((m) => [`${root}src/${m}`, `./${m.slice(m.lastIndexOf("/") + 1)}.js`]));
  return {
    name: "imported-by-name",
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = byPath.get(resolve(args.resolveDir, args.path).replace(/\.js$/, ""));
        return target === undefined ? undefined : { path: target, external: true };
      });
    },
  };
}

export async function bundleCli(outdir = `${root}dist/bundle`): Promise<void> {
  const cli = {
    ...common,
    outdir,
    minify: true,
    external: CLI_EXTERNAL,
    entryNames: "[name]",
  } satisfies BuildOptions;
  await build({
    ...cli,
    entryPoints: [`${root}src/cli/main.ts`, ...LAZY_ENTRIES.map((m) => `${root}src/${m}.ts`)],
    splitting: true,
    plugins: [nodeFetchCompleteCheck, promClientIndexExternal, importedByName([SIDECAR_MAIN])],
  });
  // The sidecar in one file: what it loads at start-up, without the CLI's shared chunks.
  await build({
    ...cli,
    entryPoints: [`${root}src/${SIDECAR_MAIN}.ts`],
    plugins: [nodeFetchCompleteCheck, promClientIndexExternal, importedByName(LAZY_ENTRIES)],
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outdir: { type: "string" } } });
  if (values.outdir) {
    await bundleCli(values.outdir);
  } else {
    const { bytes } = await bundleClient();
    console.log(`dist/kube/client.js: @kubernetes/client-node bundle, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    await bundleCli();
    console.log("dist/bundle/main.js: the flagwright CLI, bundled");
  }
}
