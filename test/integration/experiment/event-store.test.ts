// Users counted once across pods and restarts, end to end: the real control plane, a real
// PostgreSQL (initdb in a temporary folder, started and removed here), the real operator reading
// the event store's per-user aggregate, and three `flagwright sidecar` processes writing events
// with a tenant's insert-only credentials. Every user is evaluated on all three sidecars (as a
// user routed to every pod of an application) and converts through one or two of them; one
// sidecar, which writes only when closed, is restarted mid-experiment and sees every earlier user
// again. status.experiment's counts are the test's own per-user counts, never per process, and its
// verdict is the analysis of those counts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { analyzeExperiment, type ExperimentResult } from "../../../src/experiment/analysis.js";
import { EVENTS_SCHEMA, postgresEventReader } from "../../../src/experiment/event-store.js";
import { createFlag, getFlag } from "../../support/flag-objects.js";
import { clients, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { type PostgresHandle, startPostgres } from "../../support/postgres.js";
import { type SidecarProcess, startSidecarProcess } from "../../support/processes.js";
import { seededRandom } from "../../support/seeded-random.js";
import { waitFor } from "../../support/wait.js";
import { metricValue } from "../../unit/sidecar/helpers.js";

const { custom } = clients();
const FLAG = "checkout";
const SETTINGS = { conversionEvent: "purchase", minSamplePerVariant: 50, minDetectableEffect: 1 };
const VARIANTS = [
  { name: "control", weight: 50 },
  { name: "treatment", weight: 50 },
];
const TENANT_PASSWORD = "tenant-writer-password";
const OPERATOR_PASSWORD = "operator-reader-password";

let pg: PostgresHandle;
let ns: { name: string; remove(): Promise<void> };
let dir: string;
let operator: OperatorProcess | undefined;
const sidecars: SidecarProcess[] = [];
let sidecarArgs: (flushIntervalMs: number) => string[];

/** Statements of a script, one at a time (the client's extended protocol takes one per query). */
async function run(script: string) {
  for (const statement of script.split(/;\s*\n/).map((s) => s.trim())) {
    if (statement !== "") await pg.admin.unsafe(statement);
  }
}

async function rowCount(): Promise<number> {
  const [row] = await pg.admin<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM flagwright_events`;
  return row?.n ?? -1;
}

async function post(url: string, body: unknown) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function evaluate(sidecar: SidecarProcess, user: string): Promise<string> {
  const res = await post(`${sidecar.url}/ofrep/v1/evaluate/flags/${FLAG}`, {
    context: { targetingKey: user },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { variant: string }).variant;
}

async function track(sidecar: SidecarProcess, user: string) {
  const res = await post(`${sidecar.url}/track`, { flag: FLAG, targetingKey: user, event: "purchase" });
  expect(res.status).toBe(200);
}

async function metric(sidecar: SidecarProcess, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`${sidecar.url}/metrics`)).text();
  return metricValue(text, name, labels) ?? 0;
}

async function experiment() {
  return (await getFlag(custom, ns.name, FLAG)).status?.experiment as
    | (ExperimentResult & { counting?: { source: string; usersCountedOnce: boolean } })
    | undefined;
}

type Expected = Record<string, { exposures: number; conversions: number }>;
const counted = (e: ExperimentResult | undefined): Expected =>
  Object.fromEntries(
    (e?.variants ?? []).map((v) => [v.name, { exposures: v.exposures, conversions: v.conversions }]),
  );

/** Waits until a look of the operator that started after `since` reports `expected`. */
async function statusShows(expected: Expected, since: number) {
  let seen: unknown;
  try {
    return await waitFor(
      async () => {
        const e = await experiment();
        seen = e;
        if (e === undefined || Date.parse(e.analyzedAt) < since) return undefined;
        return JSON.stringify(counted(e)) === JSON.stringify(expected) && e;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: `status.experiment to count ${JSON.stringify(expected)}` },
    );
  } catch (error) {
    const problems = [...(operator?.logs ?? []), ...sidecars.flatMap((s) => s.logs)].filter(
      (l) => typeof l.reason === "string" && /EventStore/.test(l.reason),
    );
    throw new Error(
      `${(error as Error).message}; last status.experiment ${JSON.stringify(seen)}; store problems ${JSON.stringify(problems.slice(-5))}`,
    );
  }
}

beforeAll(async () => {
  pg = await startPostgres();
  ns = await testNamespace("events");
  await run(EVENTS_SCHEMA);
  // The tenancy setup docs/experiments.md describes: the operator reads every namespace, a
  // namespace's sidecars may only insert rows of their own namespace and read nothing but the
  // random ids of their own rows (INSERT ... ON CONFLICT needs SELECT on the key's column, and
  // PostgreSQL checks the new row against a SELECT policy too).
  await run(`
    ALTER TABLE flagwright_events ENABLE ROW LEVEL SECURITY;
    CREATE ROLE flagwright_operator LOGIN PASSWORD '${OPERATOR_PASSWORD}';
    GRANT SELECT ON flagwright_events TO flagwright_operator;
    CREATE POLICY operator_reads ON flagwright_events FOR SELECT TO flagwright_operator USING (true);
    CREATE ROLE tenant_writer LOGIN PASSWORD '${TENANT_PASSWORD}';
    GRANT INSERT, SELECT (event_id) ON flagwright_events TO tenant_writer;
    CREATE POLICY tenant_inserts ON flagwright_events FOR INSERT TO tenant_writer WITH CHECK (namespace = '${ns.name}');
    CREATE POLICY tenant_ids ON flagwright_events FOR SELECT TO tenant_writer USING (namespace = '${ns.name}');
  `);
  dir = mkdtempSync(join(tmpdir(), "flagwright-events-"));
  writeFileSync(join(dir, "exposure-key"), "0123456789abcdef0123456789abcdef\n");
  writeFileSync(join(dir, "writer-url"), pg.urlFor("tenant_writer", TENANT_PASSWORD));
  writeFileSync(join(dir, "reader-url"), pg.urlFor("flagwright_operator", OPERATOR_PASSWORD));
  sidecarArgs = (flushIntervalMs) => [
    "--exposure-key-file",
    join(dir, "exposure-key"),
    "--event-store-url-file",
    join(dir, "writer-url"),
    "--event-store-flush-interval",
    String(flushIntervalMs),
  ];
  operator = await startOperator([
    "--namespaces",
    ns.name,
    "--experiment-interval",
    "1s",
    "--event-store-url-file",
    join(dir, "reader-url"),
  ]);
  await createFlag(custom, ns.name, FLAG, { enabled: true, variants: VARIANTS, experiment: SETTINGS });
  const kubeconfig = inject("kubeconfig");
  // The second sidecar writes only when a batch is half full or it is closed: its restart shows
  // that a clean shutdown loses nothing.
  for (const flushIntervalMs of [100, 3_600_000, 100]) {
    sidecars.push(
      await startSidecarProcess(ns.name, "flagwright-flags", kubeconfig, sidecarArgs(flushIntervalMs)),
    );
  }
  for (const sidecar of sidecars) {
    await waitFor(
      async () =>
        (await post(`${sidecar.url}/ofrep/v1/evaluate/flags/${FLAG}`, { context: { targetingKey: "probe" } }))
          .status === 200,
      { timeoutMs: 30_000, what: "the flag served by every sidecar" },
    );
  }
}, 180_000);

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  await operator?.stop();
  await ns?.remove();
  await pg?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("experiment event store (PostgreSQL)", () => {
  it("counts a user routed to three sidecars once, keeps every count through a sidecar restart, and decides as the user-level analysis does", async () => {
    const random = seededRandom(29);
    const expected: Expected = {
      control: { exposures: 0, conversions: 0 },
      treatment: { exposures: 0, conversions: 0 },
    };
    const variantOf = new Map<string, string>();
    const converters = new Set<string>();
    // Every user on every sidecar; converters track through the first or the third sidecar, a third
    // of them through the second too (which holds its events until it is closed).
    const visit = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const user = `user-${i}`;
        const served = await Promise.all(sidecars.map((s) => evaluate(s, user)));
        expect(new Set(served).size).toBe(1);
        const variant = served[0] as string;
        variantOf.set(user, variant);
        const arm = expected[variant] as { exposures: number; conversions: number };
        arm.exposures++;
        if (random() < (variant === "treatment" ? 0.6 : 0.2)) {
          converters.add(user);
          arm.conversions++;
          await track(sidecars[i % 2 === 0 ? 0 : 2] as SidecarProcess, user);
          if (i % 3 === 0) await track(sidecars[1] as SidecarProcess, user);
        }
      }
    };

    // The readiness probe's user was served too: one more user.
    const probeVariant = await evaluate(sidecars[0] as SidecarProcess, "probe");
    (expected[probeVariant] as { exposures: number }).exposures++;
    await visit(0, 150);
    const first = await statusShows(expected, Date.now());
    expect(first.counting).toMatchObject({ source: "EventStore", usersCountedOnce: true });
    // Per process, as the Prometheus path counts: every user three times.
    let perProcess = 0;
    for (const s of sidecars) {
      for (const variant of ["control", "treatment"])
        perProcess += await metric(s, "flagwright_exposures_total", { flag: FLAG, variant });
    }
    expect(perProcess).toBe(3 * 151);

    // The second sidecar has written nothing yet: closing it writes all it holds.
    const restarted = sidecars[1] as SidecarProcess;
    const held = await metric(restarted, "flagwright_experiment_events_held");
    expect(held).toBeGreaterThanOrEqual(150);
    expect(await metric(restarted, "flagwright_experiment_events_written_total", { kind: "exposure" })).toBe(
      0,
    );
    const before = await rowCount();
    await restarted.stop();
    const after = await rowCount();
    expect(after - before).toBe(held);

    // Its successor remembers no one: it sends every earlier user's exposure (and the probe's) and
    // conversion again.
    const successor = await startSidecarProcess(
      ns.name,
      "flagwright-flags",
      inject("kubeconfig"),
      sidecarArgs(100),
    );
    sidecars[1] = successor;
    await waitFor(
      async () =>
        (
          await post(`${successor.url}/ofrep/v1/evaluate/flags/${FLAG}`, {
            context: { targetingKey: "probe" },
          })
        ).status === 200,
      {
        timeoutMs: 30_000,
        what: "the restarted sidecar to serve",
      },
    );
    for (let i = 0; i < 150; i++) {
      const user = `user-${i}`;
      expect(await evaluate(successor, user)).toBe(variantOf.get(user));
      if (converters.has(user)) await track(successor, user);
    }
    await waitFor(
      async () =>
        (await metric(successor, "flagwright_experiment_events_written_total", { kind: "exposure" })) === 151,
      { timeoutMs: 30_000, what: "the restarted sidecar's exposures written" },
    );
    await waitFor(async () => (await metric(successor, "flagwright_experiment_events_held")) === 0, {
      timeoutMs: 30_000,
      what: "the restarted sidecar's conversions written",
    });
    // The operator's own query over the store now holding the duplicates: the same counts. (Status
    // is rewritten only when a count changes, so its unchanged counts say the same; the last look
    // below, after new users, reads a store holding every duplicate too.)
    const reader = await postgresEventReader(pg.urlFor("flagwright_operator", OPERATOR_PASSWORD));
    const arms = await reader.userAggregate(ns.name, FLAG, "purchase").finally(() => reader.close());
    expect(
      Object.fromEntries(arms.map((a) => [a.variant, { exposures: a.users, conversions: a.convertedUsers }])),
    ).toEqual(expected);
    expect(counted(await experiment())).toEqual(expected);

    await visit(150, 300);
    const last = await statusShows(expected, Date.now());

    // The test's own user-level counting, and its own SQL over the raw events, agree with status.
    const [distinct] = await pg.admin<{ users: number }[]>`
      SELECT COUNT(DISTINCT context_id)::int AS users FROM flagwright_events WHERE kind = 'exposure'`;
    const users = distinct?.users;
    expect(users).toBe(301);
    const independent = analyzeExperiment(
      SETTINGS,
      VARIANTS.map((v) => ({ ...v, ...(expected[v.name] as { exposures: number; conversions: number }) })),
      new Date(),
    );
    expect(independent.verdict).toBe("Significant");
    expect(last.verdict).toBe(independent.verdict);
    expect(last.winner).toBe(independent.winner);
    console.log(
      `event store: ${JSON.stringify(expected)}; per-process exposures before the restart ${perProcess}; verdict ${last.verdict} (${last.winner}), independent ${independent.verdict} (${independent.winner})`,
    );
  }, 240_000);

  it("gives a namespace's sidecars insert-only access to their own namespace's rows", async () => {
    const tenant = postgres(pg.urlFor("tenant_writer", TENANT_PASSWORD), { max: 1, onnotice: () => {} });
    try {
      await expect(tenant`SELECT context_id, variant FROM flagwright_events`).rejects.toThrow(
        /permission denied/,
      );
      // Another tenant's event, written with the admin's credentials: invisible to this tenant.
      await pg.admin`INSERT INTO flagwright_events ${pg.admin({
        event_id: "other-tenant-1",
        kind: "exposure",
        event_name: "feature_flag.evaluation",
        occurred_at: new Date(),
        namespace: "another-team",
        flag_key: FLAG,
        variant: "control",
        context_id: "someone-else",
      })}`;
      const [visible] = await tenant<
        { n: number }[]
      >`SELECT COUNT(event_id)::int AS n FROM flagwright_events`;
      const [own] = await pg.admin<{ n: number }[]>`
        SELECT COUNT(*)::int AS n FROM flagwright_events WHERE namespace = ${ns.name}`;
      expect(visible?.n).toBe(own?.n);
      const [everyone] = await pg.admin<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM flagwright_events`;
      expect(everyone?.n).toBe((own?.n ?? 0) + 1);
      const row = {
        event_id: "forged-1",
        kind: "exposure",
        event_name: "feature_flag.evaluation",
        occurred_at: new Date(),
        namespace: "another-team",
        flag_key: FLAG,
        variant: "treatment",
        context_id: "someone",
      };
      await expect(tenant`INSERT INTO flagwright_events ${tenant(row)}`).rejects.toThrow(
        /row-level security/,
      );
    } finally {
      await tenant.end({ timeout: 5 });
    }
  });
});
