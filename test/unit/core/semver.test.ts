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

  it("compares numeric identifiers above 2^53 exactly", () => {
    // 2^53 + 1 and 2^53 are the same JavaScript number.
    expect(compareSemver("9007199254740993.0.0", "9007199254740992.0.0")).toBe(1);
    expect(compareSemver("1.9007199254740992.0", "1.9007199254740993.0")).toBe(-1);
    expect(compareSemver("1.0.18446744073709551616", "1.0.18446744073709551615")).toBe(1);
    expect(compareSemver("1.0.0-rc.9007199254740993", "1.0.0-rc.9007199254740992")).toBe(1);
    expect(compareSemver("1.0.0-rc.9007199254740992", "1.0.0-rc.9007199254740993")).toBe(-1);
    expect(compareSemver("99999999999999999999.0.0", "100000000000000000000.0.0")).toBe(-1);
    // A huge number against a small one, across the boundary between the two representations.
    expect(compareSemver("999999999999999.0.0", "1000000000000000.0.0")).toBe(-1);
    expect(compareSemver("9007199254740992.0.0", "9007199254740991.0.0")).toBe(1);
    expect(compareSemver("1.0.0-9007199254740993", "1.0.0-1")).toBe(1);
  });

  // Numbers of every size: small ones (the common case, often equal) and ones far beyond 2^53
  // that differ only in their last digits.
  const big = fc.bigInt({ min: 0n, max: 10n ** 30n });
  const number = fc.oneof(
    fc.nat(12).map(String),
    big.map(String),
    fc.nat(9).map((d) => `900719925474099${d}`),
    fc.nat(9).map((d) => `1844674407370955161${d}`),
  );
  const identifier = fc.oneof(number, fc.stringMatching(/^[a-z][a-z0-9-]{0,4}$/));
  const build = fc.array(fc.stringMatching(/^[0-9A-Za-z-]{1,6}$/), { maxLength: 2 });
  const parts = fc.record({
    core: fc.tuple(number, number, number),
    pre: fc.array(identifier, { maxLength: 3 }),
  });
  const text = ({ core, pre }: { core: string[]; pre: string[] }, meta: string[] = []) =>
    `${core.join(".")}${pre.length ? `-${pre.join(".")}` : ""}${meta.length ? `+${meta.join(".")}` : ""}`;
  const version = parts.map((p) => text(p));

  it("is a total order: antisymmetric and transitive, huge numbers included", () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        // Antisymmetric (a sum, as 0 and -0 are not the same to toBe).
        expect(compareSemver(a, b) + compareSemver(b, a)).toBe(0);
        expect(compareSemver(a, b) === 0).toBe(a === b);
        if (compareSemver(a, b) <= 0 && compareSemver(b, c) <= 0)
          expect(compareSemver(a, c)).toBeLessThanOrEqual(0);
      }),
      { seed: 18, numRuns: 2000 },
    );
  });

  it("orders by the first differing numeric identifier, compared as an integer (BigInt reference)", () => {
    fc.assert(
      fc.property(parts, big, big, fc.nat(2), (p, x, y, at) => {
        const a = { core: [...p.core], pre: [] };
        const b = { core: [...p.core], pre: [] };
        a.core[at] = String(x);
        b.core[at] = String(y);
        const expected = x < y ? -1 : x > y ? 1 : 0;
        expect(compareSemver(text(a), text(b))).toBe(expected);
        // The same numbers as the last pre-release identifier of otherwise equal versions.
        expect(
          compareSemver(
            text({ ...p, pre: [...p.pre, String(x)] }),
            text({ ...p, pre: [...p.pre, String(y)] }),
          ),
        ).toBe(expected);
      }),
      { seed: 19, numRuns: 2000 },
    );
  });

  it("ignores build metadata in every comparison", () => {
    fc.assert(
      fc.property(parts, parts, build, build, (a, b, ma, mb) => {
        expect(compareSemver(text(a, ma), text(b, mb))).toBe(compareSemver(text(a), text(b)));
        expect(compareSemver(text(a, ma), text(a, mb))).toBe(0);
      }),
      { seed: 20, numRuns: 2000 },
    );
  });
});
