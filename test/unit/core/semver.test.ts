// semverCompare follows SemVer 2.0.0 precedence (section 11), checked against the spec's own
// examples and as a total order (fast-check).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareSemver } from "../../../src/core/index.js";

// The spec's example chains: each is strictly increasing.
const SPEC_CHAINS = [
  ["1.0.0", "2.0.0", "2.1.0", "2.1.1"],
  [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
  ],
  ["1.0.0-alpha", "1.0.0"],
  ["1.9.0", "1.10.0", "1.11.0"],
  ["2.9.1", "2.10.0"],
];

describe("compareSemver", () => {
  it("orders the SemVer 2.0 precedence examples", () => {
    for (const chain of SPEC_CHAINS) {
      for (let i = 0; i < chain.length; i++) {
        for (let j = 0; j < chain.length; j++) {
          const a = chain[i] as string;
          const b = chain[j] as string;
          expect(compareSemver(a, b), `${a} vs ${b}`).toBe(Math.sign(i - j));
        }
      }
    }
  });

  it("ignores build metadata and accepts a leading v", () => {
    expect(compareSemver("1.0.0+20130313144700", "1.0.0+exp.sha.5114f85")).toBe(0);
    expect(compareSemver("v2.3.0", "2.3.0")).toBe(0);
  });

  it("throws on text that is not a version", () => {
    for (const bad of ["1.0", "01.0.0", "1.0.0-", "1.0.0-01", "latest", ""]) {
      expect(() => compareSemver(bad, "1.0.0"), bad).toThrow(/not a semantic version/);
    }
  });

  const identifier = fc.oneof(fc.nat(30).map(String), fc.stringMatching(/^[a-z][a-z0-9-]{0,4}$/));
  const version = fc
    .record({
      core: fc.tuple(fc.nat(12), fc.nat(12), fc.nat(12)),
      pre: fc.array(identifier, { maxLength: 3 }),
    })
    .map(({ core, pre }) => `${core.join(".")}${pre.length ? `-${pre.join(".")}` : ""}`);

  it("is a total order: antisymmetric and transitive", () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        expect(compareSemver(a, b)).toBe(-compareSemver(b, a));
        if (compareSemver(a, b) <= 0 && compareSemver(b, c) <= 0)
          expect(compareSemver(a, c)).toBeLessThanOrEqual(0);
      }),
      { seed: 18, numRuns: 2000 },
    );
  });
});
