// A rule forced into a sidecar's document (no webhook in the way) that a context makes run away:
// the sidecar answers no match, counts it per flag and logs it, and keeps answering everyone else.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { makeDocument, metricValue, post, startTestSidecar, tempDir } from "./helpers.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const CROSS_PRODUCT = "tags.map(a, tags.map(b, a + b)).size() > 0";

describe("the rule budget in the sidecar", () => {
  it("answers a runaway rule as no match, counts it in flagwright_sidecar_rule_budget_exceeded_total and logs it once", async () => {
    const dir = await tempDir();
    cleanups.push(dir.remove);
    const file = join(dir.path, "flags.json");
    const doc = makeDocument({
      hostile: { percent: 0, rules: [{ name: "cross", when: CROSS_PRODUCT, serve: { enabled: true } }] },
      everyone: { percent: 100 },
    });
    await writeFile(file, JSON.stringify(doc));
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: "warn" },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const sidecar = await startTestSidecar({ source: { kind: "file", path: file }, logger });
    cleanups.push(() => sidecar.close());
    await sidecar.ready();

    const context = { targetingKey: "u", tags: Array.from({ length: 2000 }, (_, i) => `tag-${i}`) };
    for (let i = 0; i < 3; i++) {
      const answer = await post(`${sidecar.url}/ofrep/v1/evaluate/flags/hostile`, { context });
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ key: "hostile", value: false, reason: "STATIC" });
    }
    const everyone = await post(`${sidecar.url}/ofrep/v1/evaluate/flags/everyone`, { context });
    expect(everyone.json).toMatchObject({ value: true });

    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    const counted = ["steps", "time", "match_input"]
      .map(
        (reason) =>
          metricValue(metrics, "flagwright_sidecar_rule_budget_exceeded_total", {
            flag: "hostile",
            reason,
          }) ?? 0,
      )
      .reduce((a, b) => a + b, 0);
    expect(counted).toBe(3);
    const logged = lines.filter((l) => l.reason === "RuleBudgetExceeded");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ flag: "hostile", budget: expect.stringMatching(/^(steps|time)$/) });
  });
});
