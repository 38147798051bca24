// `npm run build` step after tsc: replaces dist/kube/client.js (a re-export of the whole
// @kubernetes/client-node) with a tree-shaken bundle of the names src/kube/client.ts exports, so
// the operator, sidecar and plugin load the API classes they use instead of every generated one.
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

export async function bundleClient(outfile = `${root}dist/kube/client.js`): Promise<{ bytes: number }> {
  const result = await build({
    entryPoints: [`${root}src/kube/client.ts`],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // V8 keeps every module's source text in the heap: whitespace is a third of it. Names stay,
    // so stack traces still read.
    minifyWhitespace: true,
    // Bundled CommonJS dependencies (node-fetch, ws, ...) require Node's built-ins.
    banner: {
      js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);',
    },
    legalComments: "eof",
    metafile: true,
    logLevel: "warning",
  });
  const output = Object.values(result.metafile.outputs)[0];
  return { bytes: output?.bytes ?? 0 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { bytes } = await bundleClient();
  console.log(`dist/kube/client.js: @kubernetes/client-node bundle, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
}
