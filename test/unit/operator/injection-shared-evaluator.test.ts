// Pods that ask for the shared evaluator (flagwright.dev/evaluator: shared) get no sidecar but
// OFREP_ENDPOINT / OFREP_HEADERS (OFREP ADR 0007) on every app container, the token from the
// namespace's Secret, never in the pod spec.
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  EVALUATOR_ANNOTATION,
  INJECT_KEY,
  injectionPatch,
  SIDECAR_CONTAINER,
} from "../../../src/operator/injection/mutation.js";

const settings = { image: "flagwright:test", configMapName: "flagwright-flags" };

/** Applies the "add" operations the mutation emits (JSON Patch, RFC 6902) to a copy of `doc`. */
function apply(doc: unknown, ops: { op: string; path: string; value: unknown }[]): V1Pod {
  const out = structuredClone(doc) as Record<string, unknown>;
  for (const { op, path, value } of ops) {
    expect(op).toBe("add");
    const parts = path
      .split("/")
      .slice(1)
      .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = parts.pop() as string;
    let target = out as Record<string, unknown> | unknown[];
    for (const p of parts) target = (target as Record<string, unknown>)[p] as Record<string, unknown>;
    if (Array.isArray(target)) {
      if (last === "-") target.push(value);
      else target.splice(Number(last), 0, value);
    } else target[last] = value;
  }
  return out as V1Pod;
}

const pod = (containers: V1Container[]): V1Pod => ({
  metadata: {
    name: "shop-1",
    labels: { [INJECT_KEY]: "true" },
    annotations: { [EVALUATOR_ANNOTATION]: "shared" },
  },
  spec: { containers },
});

describe("shared evaluator injection", () => {
  it("points every app container at the namespace's evaluator, token from the Secret", () => {
    const before = pod([
      { name: "web", image: "shop" },
      { name: "worker", image: "shop", env: [{ name: "MODE", value: "worker" }] },
    ]);
    const after = apply(before, injectionPatch(before, "shop", settings) ?? []);
    expect(after.spec?.initContainers).toBeUndefined();
    expect(after.spec?.volumes).toBeUndefined();
    for (const c of after.spec?.containers ?? []) {
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
      expect(env.OFREP_ENDPOINT?.value).toBe("http://flagwright-evaluator.shop.svc:8016");
      expect(env.OFREP_HEADERS?.value).toBe("Authorization=Bearer $(FLAGWRIGHT_EVALUATOR_TOKEN)");
      expect(env.FLAGWRIGHT_EVALUATOR_TOKEN?.valueFrom?.secretKeyRef).toEqual({
        name: "flagwright-evaluator-token",
        key: "token",
      });
      // Kubernetes expands $(VAR) only for variables defined earlier in the list.
      const names = (c.env ?? []).map((e) => e.name);
      expect(names.indexOf("FLAGWRIGHT_EVALUATOR_TOKEN")).toBeLessThan(names.indexOf("OFREP_HEADERS"));
    }
    expect(after.spec?.containers?.[1]?.env?.[0]).toEqual({ name: "MODE", value: "worker" });
    expect(after.metadata?.annotations?.["flagwright.dev/injected"]).toBe(
      "shared-evaluator:flagwright-evaluator",
    );
    // Injected once: a second pass leaves the pod alone.
    expect(injectionPatch(after, "shop", settings)).toBeUndefined();
  });

  it("keeps a container's own OFREP_ENDPOINT; without the annotation the sidecar is injected", () => {
    const own = pod([{ name: "web", image: "shop", env: [{ name: "OFREP_ENDPOINT", value: "http://x" }] }]);
    const after = apply(own, injectionPatch(own, "shop", settings) ?? []);
    expect(after.spec?.containers?.[0]?.env).toEqual([{ name: "OFREP_ENDPOINT", value: "http://x" }]);

    const sidecarPod: V1Pod = {
      metadata: { name: "shop-2", labels: { [INJECT_KEY]: "true" } },
      spec: { containers: [{ name: "web", image: "shop" }] },
    };
    const injected = apply(sidecarPod, injectionPatch(sidecarPod, "shop", settings) ?? []);
    expect(injected.spec?.initContainers?.[0]?.name).toBe(SIDECAR_CONTAINER);
    expect(injected.spec?.containers?.[0]?.env).toBeUndefined();
  });
});
