// A burst of requests for a flag whose rules run away, with a request for another flag sent right
// behind it: the other flag is answered ahead of the burst, not after it; past the cap the burst
// is refused with 429 before its bodies are parsed; the flag's ordinary callers still get OFREP
// answers. Counts and order, not times, so a loaded machine cannot make them flake.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { SidecarOptions } from "../../../src/sidecar/index.js";
import { type RawAnswer, RawHttpClient } from "../../support/raw-http.js";
import { makeDocument, metricValue, post, startTestSidecar, tempDir } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const CROSS_PRODUCT = "tags.map(a, tags.map(b, a + b)).size() > 0";
const doc = makeDocument({
  hostile: { percent: 0, rules: [{ name: "cross", when: CROSS_PRODUCT, serve: { enabled: true } }] },
  everyone: { percent: 100 },
});
const hostileBody = JSON.stringify({
  context: { targetingKey: "h", tags: Array.from({ length: 2000 }, (_, i) => `tag-${i}`) },
});

async function setup(options: Partial<SidecarOptions> = {}) {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(doc));
  const sidecar = await startTestSidecar({ source: { kind: "file", path: file }, ...options });
  cleanups.push(() => sidecar.close());
  await sidecar.ready();
  // One runaway evaluation puts the flag over its budget.
  const first = await post(`${sidecar.url}/ofrep/v1/evaluate/flags/hostile`, hostileBody);
  expect(first.json).toMatchObject({ key: "hostile", value: false });
  return sidecar;
}

/**
 * Opens `hostile` + 1 connections and warms each up (accepted, parser ready), then writes a request
 * for the over-budget flag on each of the first `hostile` and one for `everyone` on the last, all
 * in one synchronous run, so the sidecar finds them all waiting at once. Returns the answers in
 * the order they arrived.
 */
async function burst(url: string, hostile: number) {
  const clients = await Promise.all(Array.from({ length: hostile + 1 }, () => RawHttpClient.open(url)));
  cleanups.push(() => {
    for (const c of clients) c.close();
  });
  const everyoneBody = JSON.stringify({ context: { targetingKey: "u" } });
  await Promise.all(clients.map((c) => c.post("/ofrep/v1/evaluate/flags/everyone", everyoneBody)));
  const arrived: { flag: string; answer: RawAnswer }[] = [];
  const answers = clients.map((c, i) => {
    const flag = i < hostile ? "hostile" : "everyone";
    return c
      .post(`/ofrep/v1/evaluate/flags/${flag}`, flag === "hostile" ? hostileBody : everyoneBody)
      .then((answer) => arrived.push({ flag, answer }));
  });
  await Promise.all(answers);
  return arrived;
}

describe("a flood on a flag over its rule budget", () => {
  it("does not hold back another flag's request sent right behind it", async () => {
    const sidecar = await setup();
    const hostile = 12;
    const arrived = await burst(sidecar.url, hostile);
    const everyone = arrived.findIndex((a) => a.flag === "everyone");
    expect(arrived[everyone]?.answer.status).toBe(200);
    // Handled in arrival order, the request for `everyone` would wait for all 12 runaway
    // evaluations; in their own lane they run one per event-loop turn, after it.
    expect(everyone).toBeLessThanOrEqual(1);
    const hostileAnswers = arrived.filter((a) => a.flag === "hostile").map((a) => a.answer);
    expect(hostileAnswers).toHaveLength(hostile);
    for (const answer of hostileAnswers) {
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ key: "hostile", value: false });
    }
  });

  it("refuses the flag's requests past the cap with 429 before parsing them, and answers its ordinary callers", async () => {
    const sidecar = await setup({ overBudgetWaitingPerFlag: 4 });
    const arrived = await burst(sidecar.url, 12);
    const hostile = arrived.filter((a) => a.flag === "hostile").map((a) => a.answer);
    const refused = hostile.filter((a) => a.status === 429);
    expect(hostile.filter((a) => a.status === 200)).toHaveLength(4);
    expect(refused).toHaveLength(8);
    for (const answer of refused) {
      expect(answer.headers).toMatch(/\r\nretry-after: 1\r\n/i);
      expect(JSON.parse(answer.body)).toEqual({
        key: "hostile",
        errorCode: "GENERAL",
        errorDetails: expect.stringContaining(
          'flag "hostile" recently ran out of its rule evaluation budget',
        ),
      });
    }
    // Refused answers do not wait for the queued evaluations: they come first.
    expect(arrived.slice(0, 8).every((a) => a.answer.status === 429 || a.flag === "everyone")).toBe(true);

    // A caller whose context the rule handles cheaply gets the rule's answer meanwhile.
    const ordinary = await post(`${sidecar.url}/ofrep/v1/evaluate/flags/hostile`, {
      context: { targetingKey: "u", tags: ["a"] },
    });
    expect(ordinary.status).toBe(200);
    expect(ordinary.json).toMatchObject({ key: "hostile", value: true, reason: "TARGETING_MATCH" });

    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    const requests = "flagwright_sidecar_over_budget_requests_total";
    expect(metricValue(metrics, requests, { flag: "hostile", outcome: "queued" })).toBe(5);
    expect(metricValue(metrics, requests, { flag: "hostile", outcome: "refused" })).toBe(8);
    expect(metricValue(metrics, "flagwright_sidecar_over_budget_requests_waiting")).toBe(0);
  });
});
