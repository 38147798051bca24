// Two writers on a FeatureFlag's status: a person running `kubectl flagwright pause` and the real
// operator process advancing the canary. The plugin's test seam (PluginIO.beforeWrite, between its
// read and its patch) holds the plugin until the operator has moved, which forces the race every
// time. Users rely on: both intents honoured (the pause holds, at the step the operator reached,
// and says so) or the loser gets a clear error; nothing written from a stale read lands silently,
// whichever writer is the stale one (resourceVersion preconditions on both sides).
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { FeatureFlag, FeatureFlagSpec, FeatureFlagStatus } from "../../src/api/index.js";
import { runPlugin } from "../../src/cli/kubectl-plugin/program.js";
import { applyStatus } from "../../src/operator/status.js";
import { canarySpec, createFlag, getFlag } from "../support/flag-objects.js";
import { clients, testNamespace } from "../support/kube.js";
import { type OperatorProcess, startOperator } from "../support/operator.js";
import { waitFor } from "../support/wait.js";
import { watchObjects } from "../support/watch.js";

const { custom } = clients();

let operated: Awaited<ReturnType<typeof testNamespace>>;
let unoperated: Awaited<ReturnType<typeof testNamespace>>;
let operator: OperatorProcess;

beforeAll(async () => {
  operated = await testNamespace("conflict");
  unoperated = await testNamespace("conflict-manual");
  operator = await startOperator(["--namespaces", operated.name]);
});

afterAll(async () => {
  await operator?.stop();
  await operated?.remove();
  await unoperated?.remove();
});

/** `kubectl flagwright ARGS` (the plugin's code, in this process so the seam can hold it). */
async function plugin(namespace: string, args: string[], beforeWrite: (attempt: number) => Promise<void>) {
  let out = "";
  let err = "";
  const attempts: number[] = [];
  const code = await runPlugin(["--kubeconfig", inject("kubeconfig"), "-n", namespace, ...args], {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    beforeWrite: async (attempt) => {
      attempts.push(attempt);
      await beforeWrite(attempt);
    },
  });
  return { code, out, err, attempts };
}

const flagWhere = (namespace: string, name: string, test: (s: FeatureFlagStatus) => boolean, what: string) =>
  waitFor(
    async () => {
      const flag = await getFlag(custom, namespace, name);
      return test(flag.status ?? {}) && flag;
    },
    { timeoutMs: 20_000, what },
  );

describe("a manual pause racing the operator's step advance", () => {
  it("the pause is retried on the fresh status: it holds the step the operator reached and says so", async () => {
    const ns = operated.name;
    await createFlag(custom, ns, "race-advance", canarySpec([10, 50, 100], "1s"));
    await flagWhere(
      ns,
      "race-advance",
      (s) => s.phase === "Progressing" && s.currentStepIndex === 0,
      "step 1",
    );
    const versions = await watchObjects<FeatureFlag>(
      `/apis/flagwright.dev/v1alpha1/namespaces/${ns}/featureflags`,
      "metadata.name=race-advance",
    );
    try {
      // The plugin read step 1; the operator advances to step 2 before the plugin's patch is sent.
      const run = await plugin(ns, ["pause", "race-advance", "--reason", "race"], async (attempt) => {
        if (attempt === 1) await flagWhere(ns, "race-advance", (s) => s.currentStepIndex === 1, "step 2");
      });
      expect(run.err).toBe("");
      expect(run.code).toBe(0);
      expect(run.attempts).toEqual([1, 2]); // the stale patch was refused (409) and planned again
      expect(run.out).toContain("paused at step 2/3 at 50%");

      const paused = await flagWhere(ns, "race-advance", (s) => s.phase === "Paused", "phase Paused");
      expect(paused.status).toMatchObject({
        currentStepIndex: 1,
        currentPercent: 50,
        controls: { paused: { reason: "race" } },
      });
      // Step 2's pause (1 s) is long over after 3 s; a pause that did not hold would have completed.
      const since = Date.now();
      await waitFor(() => Date.now() - since > 3000, { timeoutMs: 5000, what: "three seconds" });
      const held = await getFlag(custom, ns, "race-advance");
      expect(held.status).toMatchObject({ phase: "Paused", currentStepIndex: 1, currentPercent: 50 });
      // No version of the object ever went past step 2.
      expect(versions.events.every((e) => (e.object.status?.currentStepIndex ?? 0) <= 1)).toBe(true);
    } finally {
      versions.stop();
    }
  });

  it("a pause that lost the race to the last step fails with a clear error and records nothing", async () => {
    const ns = operated.name;
    await createFlag(custom, ns, "race-complete", canarySpec([10, 100], "1s"));
    await flagWhere(
      ns,
      "race-complete",
      (s) => s.phase === "Progressing" && s.currentStepIndex === 0,
      "step 1",
    );
    const run = await plugin(ns, ["pause", "race-complete"], async (attempt) => {
      if (attempt === 1)
        await flagWhere(ns, "race-complete", (s) => s.phase === "Completed", "phase Completed");
    });
    expect(run.code).toBe(1);
    expect(run.attempts).toEqual([1]); // refused with 409, re-read, and the pause is no longer valid
    expect(run.err).toContain("cannot pause flag race-complete: its rollout is already Completed at 100%");
    const done = await getFlag(custom, ns, "race-complete");
    expect(done.status?.phase).toBe("Completed");
    expect(done.status?.controls?.paused ?? null).toBeNull();
  });
});

describe("the operator's status write from a stale read", () => {
  it("is refused (409) once a pause landed after the read, so the advance is decided again", async () => {
    // No operator watches this namespace: this test plays the operator's part with its status writer.
    const ns = unoperated.name;
    const spec: FeatureFlagSpec = canarySpec([10, 50, 100], "1s");
    await createFlag(custom, ns, "stale", spec);
    const start = new Date(Date.now() - 60_000).toISOString();
    const flag = await getFlag(custom, ns, "stale");
    await applyStatus(
      custom,
      flag,
      { phase: "Progressing", currentStepIndex: 0, currentPercent: 10, stepStartedAt: start },
      { fieldManager: "flagwright" },
    );
    const read = await getFlag(custom, ns, "stale"); // the operator reads step 1, pause over...

    const run = await plugin(ns, ["pause", "stale"], async () => {}); // ...a person pauses...
    expect(run.code).toBe(0);

    // ...and the operator writes the advance it decided from its stale copy.
    const advance = {
      phase: "Progressing",
      currentStepIndex: 1,
      currentPercent: 50,
      stepStartedAt: new Date().toISOString(),
    };
    const write = applyStatus(custom, read, advance, {
      fieldManager: "flagwright",
      ifResourceVersion: read.metadata.resourceVersion as string,
    });
    await expect(write).rejects.toMatchObject({ code: 409 });
    const after = await getFlag(custom, ns, "stale");
    expect(after.status).toMatchObject({ currentStepIndex: 0, currentPercent: 10, controls: { paused: {} } });
  });
});
