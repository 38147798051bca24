// The in-process provider counts the same exposures and conversions as the sidecar, through
// OpenFeature's evaluation and tracking APIs.
import { OpenFeature } from "@openfeature/server-sdk";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { evaluate } from "../../../src/core/index.js";
import { FlagwrightProvider } from "../../../src/provider/index.js";
import { ExperimentCounters } from "../../../src/sidecar/index.js";
import { makeDocument, metricValue } from "../sidecar/helpers.js";

const doc = makeDocument({
  banner: {
    percent: 100,
    variants: [
      { name: "red", weight: 50, value: "red" },
      { name: "blue", weight: 50, value: "blue" },
    ],
  },
});

afterAll(() => OpenFeature.close());

describe("provider tracking API", () => {
  it("counts exposures on evaluation and conversions on client.track()", async () => {
    const registry = new Registry();
    const provider = new FlagwrightProvider({ document: doc, experiments: new ExperimentCounters(registry) });
    await OpenFeature.setProviderAndWait("experiments-test", provider);
    const client = OpenFeature.getClient("experiments-test");
    const users = ["u1", "u2", "u3", "u4", "u5", "u6"];
    for (const u of users) await client.getStringValue("banner", "none", { targetingKey: u });
    client.track("purchase", { targetingKey: "u1" }, { flag: "banner", value: 3 });
    client.track("purchase", { targetingKey: "u1" }, { flag: "banner" }); // repeat: once per user
    client.track("purchase", { targetingKey: "u2" }); // no flag: ignored
    const text = await registry.metrics();
    const variant = (u: string) => evaluate(doc, "banner", { targetingKey: u }).variant;
    for (const v of ["red", "blue"]) {
      expect(
        metricValue(text, "flagwright_exposures_total", { namespace: "shop", flag: "banner", variant: v }),
      ).toBe(users.filter((u) => variant(u) === v).length || undefined);
    }
    expect(
      metricValue(text, "flagwright_conversions_total", {
        flag: "banner",
        variant: variant("u1") ?? "",
        event: "purchase",
      }),
    ).toBe(1);
    expect(
      metricValue(text, "flagwright_conversion_value_total", { flag: "banner", event: "purchase" }),
    ).toBe(3);
  });

  it("counts neither exposures nor conversions for users a rule sends to a fixed variant", async () => {
    const targeted = makeDocument({
      banner: {
        percent: 100,
        variants: [
          { name: "red", weight: 50, value: "red" },
          { name: "blue", weight: 50, value: "blue" },
        ],
        rules: [{ name: "staff", when: 'email.endsWith("@acme.com")', serve: { variant: "blue" } }],
      },
    });
    const registry = new Registry();
    const provider = new FlagwrightProvider({
      document: targeted,
      experiments: new ExperimentCounters(registry),
    });
    await OpenFeature.setProviderAndWait("experiments-rules", provider);
    const client = OpenFeature.getClient("experiments-rules");
    const staff = { targetingKey: "s1", email: "s1@acme.com" };
    expect(await client.getStringValue("banner", "none", staff)).toBe("blue");
    client.track("purchase", staff, { flag: "banner" });
    const customer = { targetingKey: "c1", email: "c1@example.com" };
    const variant = await client.getStringValue("banner", "none", customer);
    client.track("purchase", customer, { flag: "banner" });
    const text = await registry.metrics();
    const count = (name: string, v: string) => metricValue(text, name, { flag: "banner", variant: v }) ?? 0;
    // Only the customer, served by the split, counts.
    expect(count("flagwright_exposures_total", "red") + count("flagwright_exposures_total", "blue")).toBe(1);
    expect(count("flagwright_exposures_total", variant)).toBe(1);
    expect(count("flagwright_conversions_total", "red") + count("flagwright_conversions_total", "blue")).toBe(
      1,
    );
  });
});
