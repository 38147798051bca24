import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { type FeatureFlag, type FeatureFlagStatus, GROUP, PLURAL, VERSION } from "../../../src/api/index.js";
import { STATUS_WRITERS } from "../../../src/api/ownership.js";
import { type PluginIO, runPlugin } from "../../../src/cli/kubectl-plugin/program.js";
import { clients, kubectl, testNamespace } from "../../support/kube.js";
import { installKubectlPlugin } from "../../support/processes.js";

const spec = {
  enabled: true,
  owner: "team-checkout",
  rollout: {
    percent: 100,
    canary: { steps: [{ percent: 1, pause: "1h" }, { percent: 25, pause: "1h" }, { percent: 100 }] },
  },
};

describe("kubectl flagwright against the API server", () => {
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  const { custom } = clients();
  // `by` is who the API server authenticated (the admin certificate's CN), not the kubeconfig's
  // name for that user entry ("admin"), which anyone can edit.
  const user = "flagwright-admin";

  const get = async (name: string) =>
    (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns.name,
      plural: PLURAL,
      name,
    })) as FeatureFlag;

  /** Writes status as the operator would (its own field manager). */
  const operatorWrites = (name: string, status: FeatureFlagStatus) =>
    custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: ns.name,
        plural: PLURAL,
        name,
        body: { status },
        fieldManager: "flagwright",
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );

  /** Applies the flag like Argo CD (server-side apply, its own field manager) with a status. */
  async function createFlag(name: string, status: FeatureFlagStatus = {}) {
    await kubectl(
      ["apply", "--server-side", "--field-manager=argocd-controller", "-n", ns.name, "-f", "-"],
      stringify({ apiVersion: `${GROUP}/${VERSION}`, kind: "FeatureFlag", metadata: { name }, spec }),
    );
    await operatorWrites(name, {
      observedGeneration: 1,
      phase: "Progressing",
      currentStepIndex: 0,
      currentPercent: 1,
      stepStartedAt: new Date(Date.now() - 60_000).toISOString(),
      ...status,
    });
  }

  async function run(args: string[], extra: Partial<PluginIO> = {}) {
    let out = "";
    let err = "";
    const code = await runPlugin(["--kubeconfig", inject("kubeconfig"), "-n", ns.name, ...args], {
      out: (t) => {
        out += t;
      },
      err: (t) => {
        err += t;
      },
      ...extra,
    });
    return { code, out, err };
  }

  /** What must not change: spec, generation, and the fields Argo CD owns. */
  const gitView = (f: FeatureFlag) => ({
    spec: f.spec,
    generation: f.metadata.generation,
    argo: f.metadata.managedFields?.filter((m) => m.manager === "argocd-controller").map((m) => m.fieldsV1),
  });

  beforeAll(async () => {
    ns = await testNamespace("plugin");
  });
  afterAll(async () => {
    await ns.remove();
  });

  it("each command patches status.controls only (spec, generation and Argo CD's fields untouched)", async () => {
    await createFlag("checkout");
    const before = gitView(await get("checkout"));
    const steps: [string[], (s: FeatureFlagStatus) => void, RegExp][] = [
      [
        ["kill", "checkout", "--reason", "incident 7"],
        (s) => expect(s.controls?.killed).toMatchObject({ by: user, reason: "incident 7" }),
        /kill switch on/,
      ],
      [["revive", "checkout"], (s) => expect(s.controls?.killed).toBeUndefined(), /kill switch off/],
      [
        ["pause", "checkout"],
        (s) => expect(s.controls?.paused).toMatchObject({ by: user }),
        /paused at step 1\/3/,
      ],
      [["resume", "checkout"], (s) => expect(s.controls?.paused).toBeUndefined(), /resumed/],
      [
        ["promote", "checkout"],
        (s) => expect(s.controls?.promote).toMatchObject({ by: user, full: false }),
        /promoted to step 2\/3 at 25%/,
      ],
      [
        ["promote", "checkout", "--full"],
        (s) => expect(s.controls?.promote).toMatchObject({ full: true }),
        /promoted to its target 100%/,
      ],
      [
        ["abort", "checkout", "--reason", "tickets"],
        (s) => expect(s.controls?.abort).toMatchObject({ reason: "tickets" }),
        /aborted/,
      ],
    ];
    for (const [args, check, output] of steps) {
      const r = await run(args);
      expect(r, args.join(" ")).toMatchObject({ code: 0, err: "" });
      expect(r.out).toMatch(output);
      expect(r.out).toContain("status.controls.");
      const after = await get("checkout");
      check(after.status ?? {});
      expect(gitView(after), args.join(" ")).toEqual(before);
    }
    // The operator rolls it back; now retry is allowed.
    await operatorWrites("checkout", {
      phase: "RolledBack",
      currentPercent: 0,
      rollback: { at: new Date().toISOString(), reason: "Manual" },
    });
    const r = await run(["retry", "checkout"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("restarts at step 1/3 (1%)");

    const after = await get("checkout");
    expect(gitView(after)).toEqual(before);
    // Our writes are recorded against the status subresource, under our own field manager, and
    // touch nothing outside status.controls.
    const ours =
      after.metadata.managedFields?.filter((m) => m.manager === STATUS_WRITERS.controls.fieldManager) ?? [];
    expect(ours.length).toBeGreaterThan(0);
    for (const entry of ours) {
      expect(entry.subresource).toBe("status");
      const fields = entry.fieldsV1 as { "f:status"?: Record<string, unknown> } & Record<string, unknown>;
      expect(Object.keys(fields).filter((k) => k !== "f:status")).toEqual([]);
      expect(Object.keys(fields["f:status"] ?? {}).filter((k) => k !== "f:controls" && k !== ".")).toEqual(
        [],
      );
    }
  });

  it.each(
    (
      [
        [["retry", "steady"], /cannot retry flag steady: it is Progressing, not RolledBack/],
        [["resume", "steady"], /cannot resume flag steady: it is not paused/],
        [["revive", "steady"], /cannot revive flag steady: it is not killed/],
        [["promote", "done"], /cannot promote flag done: its rollout is already Completed at 100%/],
        [["abort", "done"], /cannot abort flag done: its rollout is already Completed/],
        [["pause", "nope"], /featureflag "nope" not found in namespace/],
        [["kill", "nope"], /featureflag "nope" not found in namespace/],
      ] as [string[], RegExp][]
    ).map(([args, message]) => [args.join(" "), args, message] as const),
  )("%s fails with a clear message and exit code 1, changing nothing", async (_label, args, message) => {
    if (!(await get("steady").catch(() => undefined))) await createFlag("steady");
    if (!(await get("done").catch(() => undefined))) {
      await createFlag("done", { phase: "Completed", currentPercent: 100, currentStepIndex: 2 });
    }
    const before = await get(args[1] as string).catch(() => undefined);
    const r = await run(args as string[]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(r.out).toBe("");
    if (before)
      expect((await get(args[1] as string)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it("retries on a conflicting write and re-checks the transition", async () => {
    await createFlag("racy");
    // Someone else writes between our read and our patch: the first attempt meets a 409.
    let attempts = 0;
    const r = await run(["pause", "racy"], {
      beforeWrite: async (attempt) => {
        attempts = attempt;
        if (attempt === 1) await operatorWrites("racy", { projection: { revision: "r2" } });
      },
    });
    expect(r.code).toBe(0);
    expect(attempts).toBe(2);
    expect((await get("racy")).status?.controls?.paused).toBeDefined();

    // This time the conflicting write makes the command invalid: the retry notices.
    await createFlag("racy2");
    const refused = await run(["abort", "racy2"], {
      beforeWrite: async (attempt) => {
        if (attempt === 1) await operatorWrites("racy2", { phase: "Completed", currentPercent: 100 });
      },
    });
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("already Completed");
    expect((await get("racy2")).status?.controls?.abort).toBeUndefined();
  });

  it("status prints the table for one flag or the namespace", async () => {
    await createFlag("table", {
      lastAnalysis: { at: new Date().toISOString(), result: "Passed", consecutiveFailures: 0 },
    });
    const one = await run(["status", "table"]);
    expect(one.code).toBe(0);
    expect(one.out).toMatch(
      /^KEY\s+PHASE\s+STEP\s+CURRENT\s+TARGET\s+LAST ANALYSIS\s+ROLLBACK\s+NEXT CHANGE\n/,
    );
    expect(one.out).toMatch(/table\s+Progressing\s+1\/3\s+1%\s+100%\s+Passed \d+s ago\s+-/);
    const all = await run(["status"]);
    expect(all.out.split("\n").filter(Boolean).length).toBeGreaterThan(2);
  });

  it("runs as a kubectl plugin from PATH, with kubectl passing exit codes through", async () => {
    const plugin = installKubectlPlugin();
    try {
      const viaKubectl = plugin.run;
      await createFlag("via-kubectl");
      const ok = await viaKubectl(["kill", "via-kubectl", "-n", ns.name]);
      expect(ok).toMatchObject({ code: 0 });
      expect(ok.out).toContain("kill switch on");
      const bad = await viaKubectl(["-n", ns.name, "retry", "via-kubectl"]);
      expect(bad.code).toBe(1);
      expect(bad.err).toContain("not RolledBack");
    } finally {
      plugin.dispose();
    }
  });
});
