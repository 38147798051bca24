// Evaluations per second of the core, per flag kind, with a distinct user per call (so every call
// hashes), single-threaded.
import { hash } from "node:crypto";
import { buildDocument, compileDocument, evaluate } from "../src/core/index.js";

export const name = "evaluate";
export const description =
  "`evaluate()` from flagwright/core on one thread, a distinct user per call (every call hashes " +
  "except the static flag). Reference row: the same bucket via node:crypto's one-shot sha256.";

const doc = compileDocument(
  buildDocument("bench", {
    static: { enabled: true, killed: false, percent: 100, allowedUsers: [], revision: "r" },
    percentage: { enabled: true, killed: false, percent: 25.5, allowedUsers: ["vip"], revision: "r" },
    variant: {
      enabled: true,
      killed: false,
      percent: 50,
      allowedUsers: [],
      variants: [
        { name: "a", weight: 34, value: { layout: "grid" } },
        { name: "b", weight: 33, value: { layout: "list" } },
        { name: "c", weight: 33 },
      ],
      defaultValue: { layout: "classic" },
      revision: "r",
    },
  }),
);

const USERS = 1 << 16;
const contexts = Array.from({ length: USERS }, (_, i) => ({ targetingKey: `user-${i * 2654435761}` }));

function measure(fn: (i: number) => unknown, ms: number): number {
  // Warm up, then count calls in rounds of a fixed size until the time budget is spent.
  for (let i = 0; i < 20_000; i++) fn(i);
  let calls = 0;
  let sink = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 10_000; i++) if (fn(calls + i) !== undefined) sink++;
    calls += 10_000;
    elapsed = performance.now() - t0;
  }
  if (sink < 0) console.log(sink);
  return (calls / elapsed) * 1000;
}

export async function run({ smoke }: { smoke: boolean }): Promise<Record<string, unknown>> {
  const ms = smoke ? 300 : 3000;
  const mask = USERS - 1;
  const staticOps = measure((i) => evaluate(doc, "static", contexts[i & mask]), ms);
  const pctOps = measure((i) => evaluate(doc, "percentage", contexts[i & mask]), ms);
  const variantOps = measure((i) => evaluate(doc, "variant", contexts[i & mask]), ms);
  const nativeOps = measure((i) => {
    const d = hash("sha256", `percentage:${contexts[i & mask]?.targetingKey}`, "buffer") as unknown as Buffer;
    return d.readUInt32BE(28) % 100;
  }, ms);
  return {
    "static flag (evaluations/s)": Math.round(staticOps),
    "percentage flag (evaluations/s)": Math.round(pctOps),
    "variant flag (evaluations/s)": Math.round(variantOps),
    "percentage flag (ns/evaluation)": Math.round(1e9 / pctOps),
    "reference: node:crypto sha256 per call (hashes/s)": Math.round(nativeOps),
  };
}
