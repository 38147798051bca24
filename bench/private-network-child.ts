// The child side of runInPrivateNetwork (bench/private-network.ts):
// `node --import tsx bench/private-network-child.ts MODULE EXPORT INPUT.json OUTPUT.json` calls
// `await MODULE[EXPORT](input)` and writes the result as JSON, refusing to run where an interface
// other than loopback is up.
import { readFile, writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { onlyLoopback } from "./private-network.js";

const [modulePath, exportName, inputFile, outputFile] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
];
if (!onlyLoopback())
  throw new Error("not in a private network namespace: an interface other than loopback is up");
const mod = (await import(pathToFileURL(modulePath).href)) as Record<string, (input: unknown) => unknown>;
const fn = mod[exportName];
if (typeof fn !== "function") throw new Error(`${modulePath} exports no function ${exportName}`);
const result = await fn(JSON.parse(await readFile(inputFile, "utf8")));
await writeFile(outputFile, JSON.stringify(result));
// Kept-alive client sockets would hold the process (and so the namespace) open a while longer.
process.exit(0);
