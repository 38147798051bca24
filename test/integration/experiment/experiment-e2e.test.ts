// End to end on the real control plane and a real Prometheus: the operator projects the flags,
// a real sidecar (ConfigMap source) serves OFREP evaluations and POST /track, Prometheus scrapes
// the sidecar's /metrics, and the operator's experiment loop writes status.experiment. A second
// flag gets an assignment forced out of balance by the test (only users hashed into one variant
// are evaluated, plus a few of the other) and must be flagged SampleRatioMismatch. A third flag
// with a short staleAfter must get Stale=True and count in flagwright_stale_flags.

import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { API_VERSION, type FeatureFlag, GROUP, KIND, PLURAL, VERSION } from "../../../src/api/index.js";
import { runRefs } from "../../../src/cli/commands/refs.js";
import { runPlugin } from "../../../src/cli/kubectl-plugin/program.js";
import type { ExperimentResult } from "../../../src/experiment/analysis.js";
import { type Sidecar, startSidecar } from "../../../src/sidecar/index.js";
import { clients, kubeConfig, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { type PrometheusHandle, startPrometheus } from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";
import { metricValue } from "../../unit/sidecar/helpers.js";

const { custom } = clients();
let ns: { name: string; remove(): Promise<void> };
let sidecar: Sidecar;
let prometheus: PrometheusHandle;
let operator: OperatorProcess;

function flag(name: string, spec: FeatureFlag["spec"]) {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace: ns.name }, spec };
}

const variants = (a: string, b: string) => [
  { name: a, weight: 50 },
  { name: b, weight: 50 },
];

/** `kubectl flagwright ARGS` against the suite's cluster, in-process. */
async function plugin(args: string[], namespaced = true) {
  let out = "";
  let err = "";
  const scope = namespaced ? ["-n", ns.name] : [];
  const code = await runPlugin(["--kubeconfig", inject("kubeconfig"), ...scope, ...args], {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

async function getFlag(name: string): Promise<FeatureFlag> {
  return (await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.name,
    plural: PLURAL,
    name,
  })) as FeatureFlag;
}

async function evaluateFor(key: string, user: string): Promise<string> {
  const res = await fetch(`${sidecar.url}/ofrep/v1/evaluate/flags/${key}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ context: { targetingKey: user } }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { variant: string }).variant;
}

async function track(key: string, user: string, event: string) {
  const res = await fetch(`${sidecar.url}/track`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ flag: key, targetingKey: user, event }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { counted: boolean; variant: string };
}

beforeAll(async () => {
  ns = await testNamespace("experiment");
  // The sidecar first (it binds at once and waits for the ConfigMap), so Prometheus can scrape it.
  sidecar = await startSidecar({
    source: { kind: "configmap", namespace: ns.name, name: "flagwright-flags", kubeConfig: kubeConfig() },
    host: "127.0.0.1",
    port: 0,
    logger: pino({ level: "silent" }),
    defaultMetrics: false,
  });
  prometheus = await startPrometheus({ targets: [`127.0.0.1:${sidecar.address.port}`] });
  operator = await startOperator([
    "--namespaces",
    ns.name,
    "--prometheus-url",
    prometheus.url,
    "--experiment-interval",
    "1s",
  ]);
  // Planned for a large lift (100 %): the default sequential method tunes its always-valid
  // interval for the planned sample size, so 150 users per variant can decide (issue 21).
  const experiment = { conversionEvent: "purchase", minSamplePerVariant: 50, minDetectableEffect: 1 };
  for (const body of [
    flag("checkout", { enabled: true, variants: variants("control", "treatment"), experiment }),
    flag("forced", { enabled: true, variants: variants("a", "b"), experiment }),
    flag("old-banner", { enabled: true, owner: "team-web", staleAfter: "3s" }),
  ]) {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns.name,
      plural: PLURAL,
      body,
    });
  }
  await sidecar.ready();
  await waitFor(() => sidecar.store.current?.compiled.flags.size === 3, {
    timeoutMs: 20_000,
    what: "all flags projected",
  });
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await prometheus?.dispose();
  await sidecar?.close();
  await ns?.remove();
});

describe("experiments end to end", () => {
  it("evaluations and /track calls appear in status.experiment with the right counts and verdict", async () => {
    const expected = {
      control: { exposures: 0, conversions: 0 },
      treatment: { exposures: 0, conversions: 0 },
    } as Record<string, { exposures: number; conversions: number }>;
    for (let i = 0; i < 300; i++) {
      const user = `user-${i}`;
      const variant = await evaluateFor("checkout", user);
      await evaluateFor("checkout", user); // a repeat evaluation is not a new exposure
      const e = expected[variant];
      if (e === undefined) throw new Error(`unexpected variant ${variant}`);
      e.exposures++;
      // Treatment converts one user in two, control one in ten.
      if (i % (variant === "treatment" ? 2 : 10) === 0) {
        const r = await track("checkout", user, "purchase");
        expect(r).toMatchObject({ counted: true, variant });
        e.conversions++;
      }
    }
    // Events other than the configured one are not conversions for this experiment.
    await track("checkout", "user-1", "signup");

    const result = await waitFor(
      async () => {
        const e = (await getFlag("checkout")).status?.experiment as ExperimentResult | undefined;
        if (!e?.variants) return false;
        const got = Object.fromEntries(
          e.variants.map((v) => [v.name, { exposures: v.exposures, conversions: v.conversions }]),
        );
        return JSON.stringify(got) === JSON.stringify(expected) && e;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: "status.experiment to show the sidecar's counts" },
    );
    expect(result.verdict).toBe("Significant");
    expect(result.winner).toBe("treatment");
    expect(result.control).toBe("control");
    expect(result.sampleRatio.mismatch).toBe(false);
    const treatment = result.variants.find((v) => v.name === "treatment");
    expect(treatment?.pValue).toBeLessThan(0.05);
    expect(treatment?.lift).toBeGreaterThan(0);

    // kubectl flagwright experiment: the same numbers as a table, and --ship prints the manifest.
    const report = await plugin(["experiment", "checkout"]);
    expect(report.code).toBe(0);
    expect(report.out).toMatch(
      new RegExp(
        `treatment\\s+50%\\s+${expected.treatment?.exposures}\\s+${expected.treatment?.conversions}`,
      ),
    );
    expect(report.out).toContain("Verdict: Significant (winner: treatment)");
    const before = (await getFlag("checkout")).metadata.generation;
    const ship = await plugin(["experiment", "checkout", "--ship"]);
    expect(ship.code).toBe(0);
    expect(ship.out).toContain("weight: 100");
    expect((await getFlag("checkout")).metadata.generation).toBe(before); // the cluster is not touched
  });

  it("an assignment forced out of balance is flagged SampleRatioMismatch", async () => {
    let a = 0;
    let b = 0;
    for (let i = 0; a < 120; i++) {
      const user = `srm-${i}`;
      const { variant } = await track("forced", user, "noop"); // learns the variant without an exposure
      if (variant === "a") {
        await evaluateFor("forced", user);
        a++;
      } else if (b < 20) {
        await evaluateFor("forced", user);
        b++;
      }
    }
    const result = await waitFor(
      async () => {
        const e = (await getFlag("forced")).status?.experiment as ExperimentResult | undefined;
        return e?.variants?.map((v) => v.exposures).join(",") === "120,20" && e;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: "forced flag to show all 140 exposures" },
    );
    expect(result.verdict).toBe("SampleRatioMismatch");
    expect(result.message).toContain("untrustworthy");
    expect(result.sampleRatio.pValue).toBeLessThan(0.001);
    expect(result.winner).toBeUndefined();
  });

  it("a flag unchanged past a short staleAfter gets Stale=True and counts in flagwright_stale_flags", async () => {
    const stale = await waitFor(
      async () => {
        const c = (await getFlag("old-banner")).status?.conditions?.find((x) => x.type === "Stale");
        return c?.status === "True" && c;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: "Stale=True on old-banner" },
    );
    expect(stale.reason).toBe("FullyOn");
    expect(stale.message).toContain("staleAfter 3s");
    // Flags with a variant split are not stale.
    const checkout = (await getFlag("checkout")).status?.conditions?.find((x) => x.type === "Stale");
    expect(checkout?.status).toBe("False");
    // The reconciler's own conditions survive next to the experiment loop's.
    expect((await getFlag("old-banner")).status?.conditions?.find((x) => x.type === "Ready")?.status).toBe(
      "True",
    );
    await waitFor(
      async () => {
        const text = await (await fetch(`${operator.url}/metrics`)).text();
        return metricValue(text, "flagwright_stale_flags", { namespace: ns.name }) === 1;
      },
      { timeoutMs: 10_000, intervalMs: 250, what: "flagwright_stale_flags = 1" },
    );
    const listed = await plugin(["stale"]);
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(new RegExp(`${ns.name}\\s+old-banner\\s+team-web\\s+FullyOn`));
    expect(listed.out).not.toContain("checkout");
    // Without -n: across the cluster.
    const all = await plugin(["stale"], false);
    expect(all.out).toMatch(new RegExp(`${ns.name}\\s+old-banner`));
  });

  it("flagwright refs --cluster compares code references with the flags in the cluster", async () => {
    const fixtures = fileURLToPath(new URL("../../fixtures/refs/", import.meta.url));
    const { output } = await runRefs([fixtures], {
      cluster: true,
      kubeconfig: inject("kubeconfig"),
      namespace: ns.name,
      defaults: true,
      json: true,
    });
    const report = JSON.parse(output) as {
      unreferenced: { key: string; source: string }[];
      undefinedKeys: { key: string }[];
    };
    expect(report.unreferenced.map((f) => f.source).sort()).toEqual(
      ["checkout", "forced", "old-banner"].map((n) => `${ns.name}/${n}`),
    );
    expect(report.undefinedKeys.map((u) => u.key)).toContain("new-checkout");
  });
});
