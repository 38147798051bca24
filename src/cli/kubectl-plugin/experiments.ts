// `kubectl flagwright experiment FLAG [--ship]` and `kubectl flagwright stale`: read-only views of
// status.experiment and the Stale condition. --ship prints the manifest that ships the winner for
// the user to commit; nothing here writes to the cluster.

import type { CustomObjectsApi } from "@kubernetes/client-node";
import type { Command } from "commander";
import { stringify } from "yaml";
import { type FeatureFlag, flagKey } from "../../api/index.js";
import type { ExperimentResult } from "../../experiment/analysis.js";
import { debtOf, formatAge } from "../../hygiene/stale.js";
import { listFeatureFlags } from "../../kube/featureflags.js";

export interface PluginHelpers {
  out(text: string): void;
  err(text: string): void;
  now(): Date;
  connect(options: Record<string, unknown>): Promise<{ api: CustomObjectsApi; namespace: string }>;
  getFlag(api: CustomObjectsApi, namespace: string, name: string): Promise<FeatureFlag>;
  fail(message: string): Error;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

const pct = (x: number | undefined, digits = 2) => (x === undefined ? "-" : `${(x * 100).toFixed(digits)}%`);
const pval = (x: number | undefined) =>
  x === undefined ? "-" : x < 0.0001 ? x.toExponential(1) : x.toFixed(4);

/** The header and one row per variant: rate, interval, lift and p-values of the method used. */
function variantRows(e: ExperimentResult, sequential: boolean): string[][] {
  const interval = (i: [number, number] | undefined) =>
    i === undefined ? "-" : `${pct(i[0], 1)} - ${pct(i[1], 1)}`;
  const rows = [
    [
      "VARIANT",
      "WEIGHT",
      "EXPOSURES",
      "CONVERSIONS",
      "RATE",
      "95% CI",
      "LIFT",
      ...(sequential ? ["LIFT (ALWAYS-VALID CI)", "P (ALWAYS-VALID, HOLM)"] : ["P", "P (HOLM)"]),
    ],
  ];
  for (const v of e.variants) {
    rows.push([
      v.control ? `${v.name} (control)` : v.name,
      `${v.weight}%`,
      String(v.exposures),
      String(v.conversions),
      pct(v.rate),
      `${pct(v.rateCi95[0])} - ${pct(v.rateCi95[1])}`,
      v.lift === undefined ? "-" : `${v.lift >= 0 ? "+" : ""}${pct(v.lift, 1)}`,
      ...(sequential
        ? [interval(v.alwaysValid?.liftInterval), pval(v.alwaysValid?.adjustedPValue)]
        : [pval(v.pValue), pval(v.adjustedPValue)]),
    ]);
  }
  return rows;
}

/** The per-variant table and the verdict. */
export function experimentReport(flag: FeatureFlag): string {
  const raw = flag.status?.experiment as (Partial<ExperimentResult> & { error?: string }) | undefined;
  const name = flagKey(flag);
  if (!flag.spec.experiment) return `${name}: no spec.experiment\n`;
  if (raw?.variants === undefined) {
    return `${name}: no results yet${raw?.message ? ` (${raw.message})` : ""}\n`;
  }
  const e = raw as ExperimentResult & { error?: string };
  // Results written before issue 21 have no method: they came from the fixed-horizon test.
  const method = e.method ?? "fixed";
  const sequential = method === "sequential";
  const rows = variantRows(e, sequential);
  const running =
    e.startedAt !== undefined
      ? `, running ${formatAge((e.runningSeconds ?? 0) * 1000)} since ${e.startedAt}`
      : "";
  const lines = [
    `Experiment ${name} (event ${e.conversionEvent}, alpha ${e.alpha}, min ${e.minSamplePerVariant} per variant${running})`,
    sequential
      ? "Method: sequential (always-valid p-values and intervals: safe to read at any time and to stop when Significant)"
      : "Method: fixed (fixed-horizon z-test: the verdict is read once, at the planned sample size)",
    table(rows).trimEnd(),
    `Sample ratio: chi-square ${e.sampleRatio.chiSquare.toFixed(2)}, always-valid p ${pval(e.sampleRatio.pValue)}${e.sampleRatio.mismatch ? " MISMATCH" : ""}`,
  ];
  if (e.sampleSize.requiredPerVariant !== null) {
    lines.push(
      `${sequential ? "Fixed-horizon sample size" : "Planned sample size"} for a ${pct(e.minDetectableEffect, 1)} lift at 80% power: ${e.sampleSize.requiredPerVariant} per variant (${e.sampleSize.remaining} to go)`,
    );
  }
  if (e.plan !== undefined) {
    lines.push(
      `Plan (frozen ${e.plan.at}, control rate ${pct(e.plan.baselineRate)}): ${e.plan.perVariant} per variant${
        sequential ? `; always-valid intervals narrowest at ${e.plan.tunedForUsers} users` : ""
      }`,
    );
  }
  lines.push(`Verdict: ${e.verdict}${e.winner ? ` (winner: ${e.winner})` : ""}: ${e.message}`);
  if (e.error) lines.push(`Warning: last update failed: ${e.error}`);
  for (const w of e.warnings ?? []) lines.push(`Warning: ${w}`);
  return `${lines.join("\n")}\n`;
}

/**
 * The manifest that ships the winner: rollout 100 % without a canary, the winner at weight 100
 * and every other variant at 0 (the API needs two variants at least), and no experiment.
 */
export function shipManifest(flag: FeatureFlag): string {
  const e = flag.status?.experiment as ExperimentResult | undefined;
  if (e?.verdict !== "Significant" || !e.winner) {
    throw new Error(
      `no winner to ship: verdict is ${e?.verdict ?? "unknown"}${e?.message ? ` (${e.message})` : ""}`,
    );
  }
  const { experiment: _experiment, rollout: _rollout, ...spec } = flag.spec;
  const winner = e.winner;
  const manifest = {
    apiVersion: flag.apiVersion,
    kind: flag.kind,
    metadata: { name: flag.metadata.name, namespace: flag.metadata.namespace },
    spec: {
      ...spec,
      enabled: true,
      rollout: { percent: 100 },
      variants: (flag.spec.variants ?? []).map((v) => ({ ...v, weight: v.name === winner ? 100 : 0 })),
    },
  };
  return (
    `# Ships variant "${winner}" of ${flagKey(flag)} to everyone (${e.message}).\n` +
    "# Commit this to Git; once it has served a while, delete the flag and the losing code paths.\n" +
    stringify(manifest)
  );
}

/** Rows of stale flags: namespace, key, owner, reason, age. */
export function staleTable(flags: readonly FeatureFlag[], now: Date): string | undefined {
  const rows = [["NAMESPACE", "KEY", "OWNER", "REASON", "AGE", "MESSAGE"]];
  for (const flag of flags) {
    const debt = debtOf(flag, now);
    if (!debt.stale) continue;
    rows.push([
      flag.metadata.namespace ?? "",
      flagKey(flag),
      flag.spec.owner ?? "-",
      debt.reason,
      debt.ageMs > 0 ? formatAge(debt.ageMs) : "-",
      debt.message,
    ]);
  }
  return rows.length > 1 ? table(rows) : undefined;
}

export function registerExperimentCommands(program: Command, h: PluginHelpers): void {
  program
    .command("experiment")
    .description(
      "per-variant results and verdict of a flag's experiment (--ship: print the manifest that ships the winner)",
    )
    .argument("<flag>", "flag name or key")
    .option(
      "--ship",
      "print the FeatureFlag manifest with the winner at 100% for you to commit (the cluster is not touched)",
    )
    .action(async (name: string, _opts, cmd: Command) => {
      const options = cmd.optsWithGlobals<{ ship?: boolean }>();
      const { api, namespace } = await h.connect(options);
      const flag = await h.getFlag(api, namespace, name);
      if (!options.ship) {
        h.out(experimentReport(flag));
        return;
      }
      try {
        h.out(shipManifest(flag));
      } catch (error) {
        throw h.fail((error as Error).message);
      }
    });

  program
    .command("stale")
    .description("stale flags (unchanged past staleAfter, or expired) across the cluster, with owner and age")
    .action(async (_opts, cmd: Command) => {
      const options = cmd.optsWithGlobals<{ namespace?: string }>();
      const { api, namespace } = await h.connect(options);
      const list = await listFeatureFlags(api, options.namespace ? namespace : undefined);
      const text = staleTable(list.items, h.now());
      if (text === undefined)
        h.err(`No stale flags${options.namespace ? ` in namespace ${namespace}` : ""}.\n`);
      else h.out(text);
    });
}
