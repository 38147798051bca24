// How the product is deployed, for the benchmarks to run each component the same way unless told
// otherwise: the operator with the Helm chart's NODE_OPTIONS, the sidecar with the V8 options the
// injection webhook puts in its command.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { SIDECAR_NODE_OPTIONS } from "../src/operator/injection/mutation.js";
import { type OfrepServerProcess, startOfrepServer } from "./flagd/process.js";
import type { Pinning } from "./pinning.js";

const chartValues = fileURLToPath(new URL("../charts/flagwright/values.yaml", import.meta.url));

/** `operator.nodeOptions` of the chart's values.yaml: the operator container's NODE_OPTIONS. */
export function chartOperatorNodeOptions(valuesYaml = readFileSync(chartValues, "utf8")): string {
  const values = parse(valuesYaml) as { operator?: { nodeOptions?: unknown } };
  const options = values.operator?.nodeOptions ?? "";
  if (typeof options !== "string") {
    throw new Error(
      `charts/flagwright/values.yaml: operator.nodeOptions must be a string, got ${typeof options}`,
    );
  }
  return options;
}

export interface NodeOptionsChoice {
  /** The NODE_OPTIONS value ("" runs with V8's defaults). */
  value: string;
  /** Where it came from, for the benchmark's report. */
  source: string;
}

/**
 * The operator's NODE_OPTIONS for a benchmark: `override` when set (an empty string means V8's
 * defaults), the chart's otherwise.
 */
export function operatorNodeOptions(override: string | undefined, overrideName: string): NodeOptionsChoice {
  if (override !== undefined) return { value: override, source: overrideName };
  return { value: chartOperatorNodeOptions(), source: "the Helm chart (operator.nodeOptions)" };
}

/** The environment that gives a child process exactly `choice` as its NODE_OPTIONS. */
export function nodeOptionsEnv(choice: NodeOptionsChoice): Record<string, string> {
  return { NODE_OPTIONS: choice.value };
}

/** How a report names the options a component ran with. */
export function describeNodeOptions(component: string, choice: NodeOptionsChoice): string {
  return `${component} ran with NODE_OPTIONS=${choice.value ? JSON.stringify(choice.value) : '"" (V8 defaults)'}, from ${choice.source}.`;
}

/**
 * The sidecar's V8 options for a benchmark: the injection webhook's (SIDECAR_NODE_OPTIONS), or
 * BENCH_SIDECAR_V8_OPTIONS (space-separated; empty means V8's defaults) to measure a change to them.
 */
const sidecarOverride = process.env.BENCH_SIDECAR_V8_OPTIONS;
export const SIDECAR_V8_OPTIONS: readonly string[] =
  sidecarOverride === undefined ? SIDECAR_NODE_OPTIONS : sidecarOverride.split(/\s+/).filter(Boolean);

/** How a report names the sidecar's V8 options. */
export function describeSidecarOptions(): string {
  return sidecarOverride === undefined
    ? `The sidecar ran with the injected container's V8 options: ${SIDECAR_V8_OPTIONS.join(" ")} (the injection webhook's command).`
    : `The sidecar ran with BENCH_SIDECAR_V8_OPTIONS="${SIDECAR_V8_OPTIONS.join(" ")}" in place of the injected container's V8 options (${SIDECAR_NODE_OPTIONS.join(" ")}).`;
}

/**
 * `flagwright sidecar --file` (the bundled CLI at `main`) on a free loopback port: with the injected
 * container's V8 options unless `v8Options` says otherwise, on the server CPU when `pinning` is given.
 */
export function startFileSidecar(options: {
  main: string;
  file: string;
  v8Options?: readonly string[];
  args?: readonly string[];
  pinning?: Pinning;
}): Promise<OfrepServerProcess> {
  const command: [string, string[]] = [
    process.execPath,
    [
      ...(options.v8Options ?? SIDECAR_V8_OPTIONS),
      options.main,
      "sidecar",
      "--file",
      options.file,
      "--listen",
      "127.0.0.1:0",
      ...(options.args ?? []),
    ],
  ];
  return startOfrepServer(...(options.pinning ? options.pinning.pinned(...command) : command));
}
