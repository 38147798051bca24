// Targeting against the real control plane: the operator resolves Segments and prerequisites into
// the namespace's document, a Segment change reaches a sidecar in API-watch mode within 1 s, and a
// missing segment or a prerequisite cycle gives Ready=False naming the field while the last good
// projection of the flag keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { GROUP, PLURAL, VERSION } from "../../../src/api/index.js";
import { DEFAULT_CONFIGMAP_NAME } from "../../../src/core/index.js";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { clients, kubeConfig, kubectl, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { waitFor } from "../../support/wait.js";
import { post, startTestSidecar } from "../../unit/sidecar/helpers.js";

const { custom } = clients();

describe("targeting: segments and prerequisites through the operator", () => {
  let operator: OperatorProcess;
  let sidecar: Sidecar;
  let ns: Awaited<ReturnType<typeof testNamespace>>;

  const applyFlag = (name: string, spec: Record<string, unknown>) =>
    kubectl(["apply", "--server-side", "-n", ns.name, "-f", "-"], stringify(flagManifest(name, spec)));
  const applySegment = (name: string, spec: Record<string, unknown>) =>
    kubectl(
      ["apply", "--server-side", "-n", ns.name, "-f", "-"],
      stringify({ apiVersion: `${GROUP}/${VERSION}`, kind: "Segment", metadata: { name }, spec }),
    );
  const ready = async (name: string) => {
    const flag = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns.name,
      plural: PLURAL,
      name,
    })) as { metadata: { generation: number }; status?: { conditions?: Record<string, unknown>[] } };
    const condition = flag.status?.conditions?.find((c) => c.type === "Ready");
    return condition?.observedGeneration === flag.metadata.generation ? condition : undefined;
  };
  const answer = async (flag: string, context: Record<string, unknown>) =>
    (await post(`${sidecar.url}/ofrep/v1/evaluate/flags/${flag}`, { context })).json as {
      value: unknown;
      reason: string;
      metadata?: Record<string, unknown>;
    };

  beforeAll(async () => {
    ns = await testNamespace("targeting");
    operator = await startOperator(["--namespaces", ns.name]);
    sidecar = await startTestSidecar({
      source: {
        kind: "configmap",
        namespace: ns.name,
        name: DEFAULT_CONFIGMAP_NAME,
        kubeConfig: kubeConfig(),
      },
    });
  });
  afterAll(async () => {
    await sidecar?.close();
    await operator?.stop();
    await ns?.remove();
  });

  it("projects a segment rule, and a Segment change reaches the sidecar within 1 s", async () => {
    await applySegment("beta", { when: 'plan == "beta"', included: ["friend"] });
    await applyFlag("reports", {
      enabled: true,
      rules: [{ name: "beta", segments: ["beta"], serve: { enabled: true } }],
      rollout: { percent: 0 },
    });
    await waitFor(
      async () => (await answer("reports", { targetingKey: "u1", plan: "beta" })).value === true,
      {
        timeoutMs: 10_000,
        what: "the segment rule served by the sidecar",
      },
    );
    expect(await answer("reports", { targetingKey: "u1", plan: "beta" })).toMatchObject({
      reason: "TARGETING_MATCH",
      metadata: { rule: "beta" },
    });
    expect((await answer("reports", { targetingKey: "u1", plan: "free" })).value).toBe(false);
    expect((await answer("reports", { targetingKey: "friend" })).value).toBe(true);
    expect(await ready("reports")).toMatchObject({ status: "True" });

    const t0 = performance.now();
    await applySegment("beta", { when: 'plan in ["beta", "free"]', included: ["friend"] });
    await waitFor(
      async () => (await answer("reports", { targetingKey: "u1", plan: "free" })).value === true,
      {
        timeoutMs: 1_000,
        intervalMs: 5,
        what: "the changed segment served within 1 s",
      },
    );
    console.log(`Segment change -> sidecar answer: ${Math.round(performance.now() - t0)} ms`);
  });

  it("a missing segment gives Ready=False naming the field; the last good projection keeps serving", async () => {
    await applyFlag("reports", {
      enabled: true,
      rules: [{ name: "beta", segments: ["gamma"], serve: { enabled: true } }],
      rollout: { percent: 0 },
    });
    const condition = await waitFor(
      async () => ((await ready("reports"))?.status === "False" ? ready("reports") : undefined),
      {
        timeoutMs: 10_000,
        what: "Ready=False for the missing segment",
      },
    );
    expect(condition).toMatchObject({
      reason: "SegmentNotFound",
      message: 'spec.rules[0].segments[0]: segment "gamma" not found in this namespace',
    });
    // Still the last good projection (segment beta).
    expect((await answer("reports", { targetingKey: "u1", plan: "beta" })).value).toBe(true);
    await applySegment("gamma", { included: ["g"] });
    await waitFor(async () => (await ready("reports"))?.status === "True", {
      timeoutMs: 10_000,
      what: "Ready again",
    });
    await waitFor(async () => (await answer("reports", { targetingKey: "g" })).value === true, {
      timeoutMs: 5_000,
      what: "the new segment served",
    });
    expect((await answer("reports", { targetingKey: "u1", plan: "beta" })).value).toBe(false);
  });

  it("without the webhook, a rule that does not compile gives Ready=False with the webhook's message", async () => {
    await applyFlag("broken", {
      enabled: true,
      rules: [{ name: "r", when: 'email.endsWith("@acme.com") && nosuch(email)', serve: { enabled: true } }],
    });
    const condition = await waitFor(
      async () => ((await ready("broken"))?.status === "False" ? ready("broken") : undefined),
      {
        timeoutMs: 10_000,
        what: "Ready=False for the rule",
      },
    );
    expect(condition).toMatchObject({
      reason: "InvalidRule",
      message: "spec.rules[0].when: invalid CEL at 1:32: found no matching overload for 'nosuch(dyn)'",
    });
    // Never projected (it has no last good projection), and the rest of the namespace still is.
    expect(await answer("broken", { targetingKey: "u" })).toMatchObject({ errorCode: "FLAG_NOT_FOUND" });
    expect((await answer("reports", { targetingKey: "g" })).value).toBe(true);
  });

  it("without the webhook, a rule over the cost limit gives Ready=False naming the field", async () => {
    const ok = (name: string) => ({ name, when: 'country == "DE"', serve: { enabled: true } });
    await applyFlag("costly", {
      enabled: true,
      rules: [
        ok("de"),
        ok("de-too"),
        { name: "cross", when: "tags.map(a, tags.map(b, a + b)).size() > 0", serve: { enabled: true } },
      ],
    });
    const condition = await waitFor(
      async () => ((await ready("costly"))?.status === "False" ? ready("costly") : undefined),
      { timeoutMs: 10_000, what: "Ready=False for the costly rule" },
    );
    expect(condition).toMatchObject({
      reason: "InvalidRule",
      message: expect.stringMatching(
        /^spec\.rules\[2\]\.when: invalid CEL at 1:1: estimated cost [\d,]+ exceeds the limit of 1,000,000/,
      ),
    });
    expect(await answer("costly", { targetingKey: "u" })).toMatchObject({ errorCode: "FLAG_NOT_FOUND" });
  });

  it("shows the next scheduled change in status and kubectl get ff", async () => {
    await applyFlag("launch", {
      enabled: true,
      rules: [{ name: "launch", when: 'now >= timestamp("2099-01-15T09:00:00Z")', serve: { enabled: true } }],
    });
    await waitFor(
      async () =>
        (await kubectl(["get", "ff", "launch", "-n", ns.name])).includes("2099-01-15T09:00:00.000Z"),
      { timeoutMs: 10_000, what: "NEXT CHANGE column" },
    );
  });

  it("prerequisites are evaluated per context, and a cycle gives Ready=False while the last good serves", async () => {
    await applyFlag("payments", {
      enabled: true,
      rules: [{ name: "de", when: 'country == "DE"', serve: { enabled: true } }],
      rollout: { percent: 0 },
    });
    await applyFlag("one-click", {
      enabled: true,
      prerequisites: [{ flag: "payments" }],
      rollout: { percent: 100 },
    });
    await waitFor(
      async () => (await answer("one-click", { targetingKey: "u", country: "DE" })).value === true,
      {
        timeoutMs: 10_000,
        what: "prerequisite met",
      },
    );
    expect(await answer("one-click", { targetingKey: "u", country: "FR" })).toMatchObject({
      value: false,
      reason: "TARGETING_MATCH",
      metadata: { prerequisite: "payments" },
    });

    await applyFlag("payments", {
      enabled: true,
      prerequisites: [{ flag: "one-click" }],
      rules: [{ name: "de", when: 'country == "DE"', serve: { enabled: true } }],
      rollout: { percent: 0 },
    });
    const condition = await waitFor(
      async () => ((await ready("payments"))?.status === "False" ? ready("payments") : undefined),
      { timeoutMs: 10_000, what: "Ready=False for the cycle" },
    );
    expect(condition).toMatchObject({
      reason: "PrerequisiteCycle",
      message: "spec.prerequisites: cycle one-click -> payments -> one-click",
    });
    expect((await ready("one-click"))?.reason).toBe("PrerequisiteCycle");
    // Both keep their last good projection.
    expect((await answer("one-click", { targetingKey: "u", country: "DE" })).value).toBe(true);
    expect((await answer("one-click", { targetingKey: "u", country: "FR" })).value).toBe(false);
  });
});
