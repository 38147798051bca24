// The operator process SIGKILLed at random points of a reconcile, 20 times: each run changes flags
// (percents, enabled, a new canary, sometimes a manual abort through the kubectl plugin), kills the
// operator a seeded random 0-150 ms later (before, during or after the reconcile those changes
// start), restarts it, and checks the namespace converges: the ConfigMap equals the resolved
// specs, every status is for the current generation, and etcd's history holds no step or rollback
// written twice. FAULT_SEED=<n> replays a run's kill points. Private control plane (for etcd).
import { afterAll, beforeAll, expect, it } from "vitest";
import type { FeatureFlag } from "../../src/api/index.js";
import { runPlugin } from "../../src/cli/kubectl-plugin/program.js";
import { canarySpec, createFlag, listFlags, projectedDocument } from "../support/flag-objects.js";
import { type OperatorProcess, startOperator } from "../support/operator.js";
import { seededRandom } from "../support/seeded-random.js";
import { waitFor } from "../support/wait.js";
import { type PrivateControlPlane, startPrivateControlPlane } from "./support/control-plane.js";
import { configMapHistory, flagHistory } from "./support/history.js";

const NS = "sigkill";
const RUNS = 20;
const PLAIN = ["p0", "p1", "p2", "p3", "p4", "p5"];
const SEED = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));

let plane: PrivateControlPlane;
let operator: OperatorProcess | undefined;

beforeAll(async () => {
  plane = await startPrivateControlPlane({ namespaces: [NS] });
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await plane?.dispose();
});

const start = () => startOperator(["--namespaces", NS], { kubeconfig: plane.kubeconfig });

async function patchSpec(name: string, spec: Record<string, unknown>) {
  await plane.custom.patchNamespacedCustomObject({
    group: "flagwright.dev",
    version: "v1alpha1",
    namespace: NS,
    plural: "featureflags",
    name,
    body: [{ op: "replace", path: "/spec", value: spec }],
  });
}

/** Converged: the document is what the specs (and canary statuses) resolve to, statuses current. */
async function converged(): Promise<string | true> {
  const [flags, doc] = await Promise.all([listFlags(plane.custom, NS), projectedDocument(plane.core, NS)]);
  for (const flag of flags) {
    const name = flag.metadata.name as string;
    const status = flag.status;
    if (status?.observedGeneration !== flag.metadata.generation) return `${name}: status behind`;
    if (status?.conditions?.find((c) => c.type === "Ready")?.status !== "True") return `${name}: not Ready`;
    const projected = doc?.flags[name];
    if (!projected) return `${name}: not projected`;
    const percent = flag.spec.rollout?.canary ? status.currentPercent : flag.spec.rollout?.percent;
    if (projected.enabled !== flag.spec.enabled || projected.percent !== percent)
      return `${name}: projected ${projected.enabled}/${projected.percent}, expected ${flag.spec.enabled}/${percent}`;
  }
  if (Object.keys(doc?.flags ?? {}).length !== flags.length) return "extra flags in the document";
  return true;
}

it(`converges after ${RUNS} SIGKILLs at random points of a reconcile`, async () => {
  console.log(`[faults] operator-sigkill seed ${SEED} (FAULT_SEED=${SEED} replays it)`);
  const random = seededRandom(SEED);
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)] as T;
  for (const name of PLAIN)
    await createFlag(plane.custom, NS, name, { enabled: true, rollout: { percent: 10 } });
  operator = await start();
  await waitFor(async () => (await converged()) === true, {
    timeoutMs: 20_000,
    what: "the first projection",
  });

  const aborted: string[] = [];
  const convergeMs: number[] = [];
  const startMs: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const writes: Promise<unknown>[] = [];
    for (const name of [pick(PLAIN), pick(PLAIN)]) {
      writes.push(
        patchSpec(name, { enabled: random() < 0.8, rollout: { percent: Math.floor(random() * 101) } }),
      );
    }
    writes.push(createFlag(plane.custom, NS, `ramp-${run}`, canarySpec([20, 60], "1s")));
    await Promise.all(writes);
    // Every third run, abort the previous run's canary (a manual rollback) if it is still ramping.
    if (run % 3 === 2) {
      const code = await runPlugin(["abort", `ramp-${run - 1}`, "-n", NS, "--kubeconfig", plane.kubeconfig], {
        out: () => {},
        err: () => {},
      });
      if (code === 0) aborted.push(`ramp-${run - 1}`);
    }
    const delay = Math.floor(random() * 150);
    await new Promise((resolve) => setTimeout(resolve, delay));
    await operator.kill();
    const restarted = Date.now();
    operator = await start();
    const started = Date.now();
    let state: string | true = "never checked";
    await waitFor(
      async () => {
        state = await converged();
        return state === true;
      },
      { timeoutMs: 20_000, what: `convergence after the kill of run ${run} (${delay} ms after the writes)` },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last check: ${state}`);
    });
    startMs.push(started - restarted);
    convergeMs.push(Date.now() - restarted);
  }
  convergeMs.sort((a, b) => a - b);
  startMs.sort((a, b) => a - b);
  console.log(
    `[faults] restart → converged: median ${convergeMs[RUNS >> 1]} ms (process start alone ${startMs[RUNS >> 1]} ms), max ${convergeMs.at(-1)} ms; aborted ${aborted.join(", ") || "none"}`,
  );

  // Every canary ends Completed (or RolledBack, if aborted) and each transition was written once.
  const canaries = await waitFor(
    async () => {
      const flags = (await listFlags(plane.custom, NS)).filter((f) => f.metadata.name?.startsWith("ramp-"));
      return flags.every((f) => f.status?.phase === "Completed" || f.status?.phase === "RolledBack") && flags;
    },
    { timeoutMs: 20_000, what: "every canary to finish" },
  );
  expect(canaries).toHaveLength(RUNS);
  const docs = await configMapHistory(plane, NS);
  for (const flag of canaries as FeatureFlag[]) {
    const name = flag.metadata.name as string;
    expect(flag.status?.phase, name).toBe(aborted.includes(name) ? "RolledBack" : "Completed");
    const statuses = (await flagHistory(plane, NS, name)).map((v) => v.flag.status).filter((s) => s);
    const startsPerStep = new Map<number, Set<string>>();
    for (const s of statuses) {
      if (s?.phase !== "Progressing" || s.currentStepIndex === undefined || !s.stepStartedAt) continue;
      const starts = startsPerStep.get(s.currentStepIndex) ?? new Set();
      starts.add(s.stepStartedAt);
      startsPerStep.set(s.currentStepIndex, starts);
    }
    for (const [index, starts] of startsPerStep) expect(starts.size, `${name} step ${index} starts`).toBe(1);
    expect(new Set(statuses.map((s) => s?.rollback?.at).filter(Boolean)).size, `${name} rollbacks`).toBe(
      aborted.includes(name) ? 1 : 0,
    );
    // The ConfigMap's percents for this canary only ever go up (then to 0 once, if aborted).
    const percents = docs.map((d) => d.doc.flags[name]?.percent).filter((p) => p !== undefined) as number[];
    const distinct = percents.filter((p, i) => i === 0 || p !== percents[i - 1]);
    const ramp = aborted.includes(name) ? distinct.slice(0, -1) : distinct;
    expect(ramp, `${name} ConfigMap trail ${distinct}`).toEqual([...ramp].sort((a, b) => a - b));
    if (aborted.includes(name)) expect(distinct.at(-1)).toBe(0);
  }
}, 240_000);
