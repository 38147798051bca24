// Generated FeatureFlag manifests, valid ones and mutations of them (wrong types, out-of-range
// numbers, missing required fields, unknown fields, broken CEL rules), through `flagwright
// validate`'s validator (src/api/validate.ts) and the real API server (server-side dry run with
// strict field validation). Users rely on the two agreeing: a manifest validate accepts must apply,
// and one it rejects must be refused by the cluster too. Disagreements are printed in full.
import { ApiException } from "@kubernetes/client-node";
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from "../../src/api/index.js";
import { validateFeatureFlag } from "../../src/api/validate.js";
import { clients, testNamespace } from "../support/kube.js";

const CASES = 200;
const BATCH = 20;

type Json = Record<string, unknown>;

const slug = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9])?$/);
const percent = fc.integer({ min: 0, max: 10_000 }).map((p) => p / 100);
const duration = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 90 }), fc.constantFrom("ms", "s", "m", "h", "d")), {
    minLength: 1,
    maxLength: 2,
  })
  .map((parts) => parts.map(([n, unit]) => `${n}${unit}`).join(""));

const analysis = fc
  .record(
    {
      alerts: fc.array(
        fc.record(
          {
            alertName: fc.string({ minLength: 1, maxLength: 20 }),
            matchLabels: fc.dictionary(fc.stringMatching(/^[a-z_]{1,8}$/), fc.string({ maxLength: 10 }), {
              maxKeys: 2,
            }),
          },
          { requiredKeys: ["alertName"] },
        ),
        { minLength: 1, maxLength: 2 },
      ),
      query: fc.record({
        promql: fc.string({ minLength: 1, maxLength: 30 }),
        threshold: fc.double({ min: 0, max: 10, noNaN: true }),
      }),
      interval: duration,
      failureLimit: fc.integer({ min: 1, max: 100 }),
      onFailure: fc.constantFrom("rollback", "pause"),
      prometheus: fc.record({
        address: fc.constantFrom("http://prometheus:9090", "https://p.example/prefix"),
      }),
    },
    { requiredKeys: [] },
  )
  .filter((a) => a.alerts !== undefined || a.query !== undefined);

const rollout = fc
  .record({
    target: percent,
    steps: fc.option(fc.uniqueArray(percent, { minLength: 1, maxLength: 4 }), { nil: undefined }),
    pauses: fc.array(fc.option(duration, { nil: undefined }), { minLength: 4, maxLength: 4 }),
    analysis: fc.option(analysis, { nil: undefined }),
  })
  .map(({ target, steps, pauses, analysis }) => {
    if (!steps) return { percent: target };
    const sorted = steps.filter((p) => p <= target).sort((a, b) => a - b);
    if (sorted.length === 0) return { percent: target };
    const canary: Json = {
      steps: sorted.map((p, i) => (pauses[i] ? { percent: p, pause: pauses[i] } : { percent: p })),
    };
    if (analysis) canary.analysis = analysis;
    return { percent: target, canary };
  });

const variants = fc
  .uniqueArray(slug, { minLength: 2, maxLength: 4 })
  .chain((names) =>
    fc.tuple(
      fc.constant(names),
      fc.array(fc.integer({ min: 0, max: 100 }), {
        minLength: names.length - 1,
        maxLength: names.length - 1,
      }),
      fc.array(fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }), {
        minLength: names.length,
        maxLength: names.length,
      }),
    ),
  )
  .map(([names, cuts, values]) => {
    // Weights adding up to 100: the gaps between sorted cut points in 0..100.
    const points = [0, ...cuts.sort((a, b) => a - b), 100];
    return names.map((name, i) => ({
      name,
      weight: (points[i + 1] as number) - (points[i] as number),
      ...(values[i] !== undefined && { value: values[i] }),
    }));
  });

const spec = fc
  .record(
    {
      enabled: fc.boolean(),
      key: slug,
      description: fc.string({ maxLength: 40 }),
      owner: fc.string({ maxLength: 20 }),
      allowedUsers: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 10 }), { maxLength: 3 }),
      rollout,
      variants,
      experiment: fc.record(
        {
          conversionEvent: fc.string({ minLength: 1, maxLength: 20 }),
          minSamplePerVariant: fc.integer({ min: 1, max: 100_000 }),
          minDetectableEffect: fc.double({ min: 0, max: 1, noNaN: true }),
          alpha: fc.double({ min: 0.0001, max: 0.5, noNaN: true }),
          useControl: fc.boolean(),
        },
        { requiredKeys: ["conversionEvent", "useControl"] },
      ),
      defaultValue: fc.jsonValue({ maxDepth: 2 }),
      staleAfter: duration,
      expires: fc
        .date({
          min: new Date("2000-01-01T00:00:00Z"),
          max: new Date("2100-01-01T00:00:00Z"),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString()),
    },
    { requiredKeys: ["enabled"] },
  )
  .map(({ experiment, ...s }) => {
    const out: Json = { ...s };
    if (experiment && s.variants) {
      const { useControl, ...rest } = experiment;
      out.experiment = useControl ? { ...rest, control: s.variants[0]?.name } : rest;
    }
    return out;
  });

const manifest = fc
  .tuple(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/), spec)
  .map(([name, s]) => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: s }));

/** Every path (as keys) to a value inside `root`, skipping free-form JSON (defaultValue, value). */
function paths(root: unknown, at: (string | number)[] = []): (string | number)[][] {
  const last = at[at.length - 1];
  if (last === "defaultValue" || last === "value") return [at];
  if (Array.isArray(root)) return [at, ...root.flatMap((v, i) => paths(v, [...at, i]))];
  if (root && typeof root === "object")
    return [at, ...Object.entries(root).flatMap(([k, v]) => paths(v, [...at, k]))];
  return [at];
}

function valueAt(root: unknown, path: (string | number)[]): unknown {
  let node = root;
  for (const key of path) node = (node as Record<string | number, unknown>)[key];
  return node;
}

function parentOf(
  root: Json,
  path: (string | number)[],
): [Record<string | number, unknown>, string | number] {
  let node = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  return [node, path[path.length - 1] as string | number];
}

const wrongTypeFor = (value: unknown): unknown[] => {
  const all: unknown[] = ["text", "50", 7, 1.5, -3, true, null, [], ["x"], {}, { a: 1 }];
  return all.filter(
    (v) => typeof v !== typeof value || Array.isArray(v) !== Array.isArray(value) || v === null,
  );
};

type Mutation = (m: Json, pick: number) => string;

const TWO_VARIANTS = [
  { name: "a", weight: 50 },
  { name: "b", weight: 50 },
];

// Each mutation breaks (or may break) one thing and says what, for the report.
const mutations: Mutation[] = [
  (m, pick) => {
    const ps = paths(m.spec, ["spec"]).filter((p) => p.length > 1);
    const path = ps[pick % ps.length] as (string | number)[];
    const [node, key] = parentOf(m, path);
    const options = wrongTypeFor(node[key]);
    node[key] = options[pick % options.length];
    return `wrong type at ${path.join(".")}`;
  },
  (m, pick) => {
    const ps = paths(m.spec, ["spec"]).filter((p) => p.length > 1);
    const path = ps[pick % ps.length] as (string | number)[];
    const [node, key] = parentOf(m, path);
    if (Array.isArray(node)) node.splice(key as number, 1);
    else delete node[key];
    return `removed ${path.join(".")}`;
  },
  (m, pick) => {
    const objects = paths(m, []).filter((p) => {
      const v = valueAt(m, p);
      return v !== null && typeof v === "object" && !Array.isArray(v) && p[p.length - 1] !== "defaultValue";
    });
    const path = objects[pick % objects.length] as (string | number)[];
    (valueAt(m, path) as Json).unknownField = 1;
    return `unknown field at ${path.join(".") || "(root)"}`;
  },
  (m, pick) => {
    const values = [-1, 100.5, 101, 12.345, 1e21, Number.MIN_VALUE, 0.07];
    (m.spec as Json).rollout = { percent: values[pick % values.length] };
    return `rollout.percent ${values[pick % values.length]}`;
  },
  (m, pick) => {
    // Each entry replaces spec fields (undefined removes one); `name` replaces metadata.name.
    const violations: (Json & { name?: string })[] = [
      { rollout: { percent: 50, canary: { steps: [{ percent: 20 }, { percent: 10 }] } } },
      { rollout: { percent: 50, canary: { steps: [{ percent: 20 }, { percent: 20 }] } } },
      { rollout: { percent: 10, canary: { steps: [{ percent: 20 }] } } },
      { rollout: { canary: { steps: [{ percent: 20 }] } } },
      { rollout: { percent: 50, canary: { steps: [] } } },
      { rollout: { percent: 50, canary: { steps: [{ percent: 10, pause: "5 minutes" }] } } },
      { rollout: { percent: 50, canary: { steps: [{ percent: 10 }], analysis: { interval: "1m" } } } },
      {
        rollout: {
          percent: 50,
          canary: {
            steps: [{ percent: 10 }],
            analysis: { query: { promql: "x", threshold: 1 }, failureLimit: 0 },
          },
        },
      },
      {
        variants: [
          { name: "a", weight: 60 },
          { name: "b", weight: 60 },
        ],
      },
      {
        variants: [
          { name: "a", weight: 50 },
          { name: "a", weight: 50 },
        ],
      },
      {
        variants: [
          { name: "-a", weight: 50 },
          { name: "b", weight: 50 },
        ],
      },
      { variants: [{ name: "a", weight: 100 }] },
      {
        variants: [
          { name: "a", weight: 50.5 },
          { name: "b", weight: 49.5 },
        ],
      },
      { experiment: { conversionEvent: "buy" }, variants: undefined },
      { experiment: { conversionEvent: "buy", control: "nope" }, variants: TWO_VARIANTS },
      { experiment: { conversionEvent: "buy", alpha: 0.9 }, variants: TWO_VARIANTS },
      { allowedUsers: ["u", "u"] },
      { key: "no spaces allowed" },
      { staleAfter: "90 days" },
      { expires: "tomorrow" },
      { description: "x".repeat(1025) },
      { name: "Upper_Case" },
    ];
    const { name, ...fields } = violations[pick % violations.length] as Json & { name?: string };
    const spec = m.spec as Json;
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) delete spec[k];
      else spec[k] = structuredClone(v);
    }
    if (name !== undefined) (m.metadata as Json).name = name;
    return `rule violation #${pick % violations.length}`;
  },
];

const testCase = fc.oneof(
  manifest.map((m) => ({ manifest: m as Json, what: "generated valid" })),
  fc.tuple(manifest, fc.nat({ max: mutations.length - 1 }), fc.nat()).map(([m, which, pick]) => {
    const copy = structuredClone(m) as Json;
    const what = (mutations[which] as Mutation)(copy, pick);
    return { manifest: copy, what };
  }),
);

const { custom } = clients();
let ns: Awaited<ReturnType<typeof testNamespace>>;

beforeAll(async () => {
  ns = await testNamespace("fuzz-validate");
});
afterAll(async () => {
  await ns?.remove();
});

/** The API server's verdict on a server-side dry run: null when accepted, else its message. */
async function serverVerdict(body: Json): Promise<string | null> {
  try {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns.name,
      plural: PLURAL,
      body,
      dryRun: "All",
      fieldValidation: "Strict",
    });
    return null;
  } catch (error) {
    if (error instanceof ApiException && (error.code === 422 || error.code === 400)) {
      const parsed = typeof error.body === "string" ? JSON.parse(error.body) : error.body;
      return String(parsed?.message ?? error.body);
    }
    throw error;
  }
}

it(`validate and the API server agree on ${CASES} generated manifests`, async () => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
  const cases = fc.sample(testCase, { numRuns: CASES, seed });
  const disagreements: unknown[] = [];
  let accepted = 0;
  for (let i = 0; i < cases.length; i += BATCH) {
    const batch = cases.slice(i, i + BATCH);
    const verdicts = await Promise.all(batch.map((c) => serverVerdict(structuredClone(c.manifest))));
    batch.forEach((c, j) => {
      const server = verdicts[j];
      const problems = validateFeatureFlag(c.manifest);
      if (server === null) accepted++;
      if ((server === null) !== (problems.length === 0)) {
        disagreements.push({
          what: c.what,
          manifest: c.manifest,
          apiServer: server ?? "accepted",
          validate: problems.length ? problems : "accepted",
        });
      }
    });
  }
  console.log(
    `fuzz-validate: seed ${seed}, ${CASES} manifests, ${accepted} accepted by the API server, ${disagreements.length} disagreements`,
  );
  // Both verdicts must occur, or the comparison proves little.
  expect(accepted).toBeGreaterThan(CASES / 5);
  expect(accepted).toBeLessThan(CASES);
  expect(
    disagreements,
    `seed ${seed} (rerun with FUZZ_SEED=${seed})\n${JSON.stringify(disagreements.slice(0, 5), null, 2)}`,
  ).toEqual([]);
});
