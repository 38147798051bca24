// When the API server cannot be reached the ConfigMap source reports each failure and keeps
// retrying with backoff instead of giving up (the sidecar stays up, not ready).
import { createServer } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { expect, it } from "vitest";
import { ConfigMapSource } from "../../../src/source/configmap-source.js";
import { waitFor } from "../../support/wait.js";

it("retries an unreachable API server with backoff and stops cleanly", async () => {
  // A port that refuses connections: bind, note it, close.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  const errors: number[] = [];
  const texts: string[] = [];
  const source = new ConfigMapSource({
    kubeConfig: kc,
    namespace: "ns",
    name: "flagwright-flags",
    onText: (t) => texts.push(t),
    onError: () => errors.push(performance.now()),
  });
  await source.start();
  await waitFor(() => errors.length >= 3, { timeoutMs: 5000, what: "three attempts" });
  await source.stop();
  const gaps = errors.slice(1).map((t, i) => t - (errors[i] as number));
  // 250 ms, then 500 ms: the backoff grows.
  expect(gaps[1] as number).toBeGreaterThan((gaps[0] as number) * 1.5);
  expect(texts).toEqual([]);
  const after = errors.length;
  await new Promise((resolve) => setTimeout(resolve, 600)); // no retry may fire after stop()
  expect(errors.length).toBe(after);
});
