// The benchmarks run each component as it is deployed unless told otherwise: the operator with the
// Helm chart's NODE_OPTIONS (as charts/flagwright/templates/deployment.yaml sets them), and they
// say which options they used.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  chartOperatorNodeOptions,
  describeNodeOptions,
  nodeOptionsEnv,
  operatorNodeOptions,
} from "../../../bench/deployed.js";

import { operatorOptions as operatorScaleOptions } from "../../../bench/operator-scale.bench.js";

const values = readFileSync(new URL("../../../charts/flagwright/values.yaml", import.meta.url), "utf8");

describe("benchmarks run the operator as the chart does", () => {
  it("takes the chart's operator.nodeOptions by default", () => {
    const chart = chartOperatorNodeOptions();
    expect(chart).toMatch(/--max-old-space-size=\d+/);
    expect(values).toContain(`nodeOptions: ${chart}`);
    const choice = operatorNodeOptions(undefined, "OPERATOR_SCALE_NODE_OPTIONS");
    expect(choice).toEqual({ value: chart, source: "the Helm chart (operator.nodeOptions)" });
    expect(nodeOptionsEnv(choice)).toEqual({ NODE_OPTIONS: chart });
    expect(describeNodeOptions("The operator", choice)).toBe(
      `The operator ran with NODE_OPTIONS="${chart}", from the Helm chart (operator.nodeOptions).`,
    );
  });

  it("operator-scale starts the operator with the chart's NODE_OPTIONS unless OPERATOR_SCALE_NODE_OPTIONS is set", () => {
    const expected = process.env.OPERATOR_SCALE_NODE_OPTIONS ?? chartOperatorNodeOptions();
    expect(operatorScaleOptions.value).toBe(expected);
  });

  it("uses the override when one is set, an empty one meaning V8's defaults", () => {
    const set = operatorNodeOptions("--max-old-space-size=512", "OPERATOR_SCALE_NODE_OPTIONS");
    expect(nodeOptionsEnv(set)).toEqual({ NODE_OPTIONS: "--max-old-space-size=512" });
    const empty = operatorNodeOptions("", "OPERATOR_SCALE_NODE_OPTIONS");
    // An empty NODE_OPTIONS also clears one inherited from the benchmark's own environment.
    expect(nodeOptionsEnv(empty)).toEqual({ NODE_OPTIONS: "" });
    expect(describeNodeOptions("The operator", empty)).toBe(
      'The operator ran with NODE_OPTIONS="" (V8 defaults), from OPERATOR_SCALE_NODE_OPTIONS.',
    );
  });

  it("refuses a chart whose operator.nodeOptions is not a string, naming the field", () => {
    expect(() => chartOperatorNodeOptions("operator:\n  nodeOptions: [1]\n")).toThrow(
      /operator\.nodeOptions/,
    );
    expect(chartOperatorNodeOptions('operator:\n  nodeOptions: ""\n')).toBe("");
  });
});
