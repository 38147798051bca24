// The build's esbuild step, after tsc (`npm run bundle`; `npm run build` runs it):
// - dist/kube/client.js, a re-export of the whole @kubernetes/client-node, is replaced by a
//   tree-shaken bundle of the names src/kube/client.ts exports, so the unbundled entry points (the
//   kubectl plugin, the package's exports) load the API classes they use instead of every
//   generated one;
// - the `flagwright` CLI (the package's bin and the container image's entrypoint) is bundled into
//   dist/bundle: pino, commander and the project's code inlined and minified, client-node
//   tree-shaken the same way, each command in its own chunk, so a sidecar loads only what serving
//   needs. The other dependencies stay in node_modules.
//
//   tsx scripts/bundle.ts                 # both, into dist/
//   tsx scripts/bundle.ts --outdir DIR    # only the CLI, into DIR (the sidecar benchmark's build)
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BuildOptions, build } from "esbuild";

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

export async function bundleClient(outfile = `${root}dist/kube/client.js`): Promise<{ bytes: number }> {
  const result = await build({
    ...common,
    entryPoints: [`${root}src/kube/client.ts`],
    outfile,
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
  "prom-client",
  "@marcbachmann/cel-js",
  "@openfeature/server-sdk",
];

export async function bundleCli(outdir = `${root}dist/bundle`): Promise<void> {
  await build({
    ...common,
    entryPoints: [`${root}src/cli/main.ts`],
    outdir,
    splitting: true,
    minify: true,
    external: CLI_EXTERNAL,
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
