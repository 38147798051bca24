// Rules an author or an end user could use to stall an evaluator: `matches` has RE2's syntax and
// linear time, patterns RE2 refuses and rules over the cost limit are refused where rules are
// admitted, and a rule forced into a document anyway is stopped by the run-time budget.
import { readdirSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { validateFeatureFlag } from "../../../src/api/validate.js";
import {
  checkExpression,
  evaluate,
  type FlagDocument,
  formatProblem,
  onRuleBudgetExceeded,
  overRuleBudget,
  parseDocument,
  type ResolvedFlag,
} from "../../../src/core/index.js";
import { RULE_PENALTY_EVALUATIONS } from "../../../src/core/rule-budget.js";
import { RULE_COST_LIMIT, RULE_NESTING_LIMIT } from "../../../src/core/rule-cost.js";

const base: ResolvedFlag = { enabled: true, killed: false, percent: 0, allowedUsers: [], revision: "f1" };

/** A document with one flag per rule, each on (TARGETING_MATCH) exactly when its rule matches. */
function documentWith(rules: Record<string, string>): FlagDocument {
  const flags = Object.fromEntries(
    Object.entries(rules).map(([key, when]) => [
      key,
      { ...base, rules: [{ name: "r", when, serve: { enabled: true } }] },
    ]),
  );
  return parseDocument({ version: 2, revision: "d1", namespace: "ns", flags });
}

const matched = (doc: FlagDocument, key: string, context: Record<string, unknown>) =>
  evaluate(doc, key, { targetingKey: "u", ...context }).reason === "TARGETING_MATCH";

/** The rules refused as too costly: each froze a sidecar for seconds on the evaluation it was given. */
const NESTED_ALL = 'tags.all(a, tags.all(b, tags.all(c, tags.all(d, tags.all(e, a + b + c + d + e != "")))))';
const CROSS_PRODUCT = "tags.map(a, tags.map(b, a + b)).size() > 0";
const BACKTRACKING = 'email.matches("^([a-z]+)+$")';

describe("matches is RE2", () => {
  const doc = documentWith({
    caseless: 'email.matches("(?i)^ADA@ACME\\\\.COM$")',
    endOfText: 'email.matches("com\\\\z")',
    posixClass: 'email.matches("^[[:alpha:]]+@")',
    partial: 'email.matches("acme")',
    unicode: 'name.matches("^\\\\p{Greek}+$")',
  });

  it("understands (?i), \\z and [[:alpha:]] as RE2 defines them", () => {
    expect(matched(doc, "caseless", { email: "ada@acme.com" })).toBe(true);
    expect(matched(doc, "caseless", { email: "ada@acme.org" })).toBe(false);
    expect(matched(doc, "endOfText", { email: "ada@acme.com" })).toBe(true);
    expect(matched(doc, "endOfText", { email: "ada@acme.comz" })).toBe(false);
    expect(matched(doc, "posixClass", { email: "ada@acme.com" })).toBe(true);
    expect(matched(doc, "posixClass", { email: "ad4@acme.com" })).toBe(false);
    expect(matched(doc, "unicode", { name: "αβγ" })).toBe(true);
    expect(matched(doc, "unicode", { name: "abc" })).toBe(false);
  });

  it("matches anywhere in the string unless anchored, as CEL's matches does", () => {
    expect(matched(doc, "partial", { email: "ada@acme.com" })).toBe(true);
    expect(matched(doc, "partial", { email: "ada@example.com" })).toBe(false);
  });

  it("is linear: the backtracking pattern over a 31-character email answers at once", () => {
    const hostile = documentWith({ backtracking: BACKTRACKING });
    const started = process.cpuUsage();
    expect(matched(hostile, "backtracking", { email: `${"a".repeat(31)}!` })).toBe(false);
    const cpu = process.cpuUsage(started);
    // JavaScript's RegExp takes minutes of CPU here; RE2 well under a millisecond once loaded.
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(250);
    expect(matched(hostile, "backtracking", { email: "ada" })).toBe(true);
  });

  it("matches a pattern built from the context, and answers no match for one RE2 refuses", () => {
    const dynamic = documentWith({ dynamic: "email.matches(pattern)" });
    expect(matched(dynamic, "dynamic", { email: "ada@acme.com", pattern: "(?i)ACME" })).toBe(true);
    expect(matched(dynamic, "dynamic", { email: "ada@acme.com", pattern: "(?=acme)" })).toBe(false);
  });
});

describe("patterns RE2 refuses", () => {
  it.each([
    ['email.matches("(")', 15, "missing closing )"],
    ['email.matches("(?=acme)")', 15, "invalid or unsupported Perl syntax"],
    ['email.matches("(a)\\\\1")', 15, "invalid escape sequence"],
    ['country == "DE" && email.matches("a{1001}")', 34, "invalid repeat count"],
  ])("refuses %s at compile time, at the pattern", (source, column, message) => {
    const problem = checkExpression(source);
    expect(problem).toBeDefined();
    expect(problem?.column).toBe(column);
    expect(problem?.message).toContain(message);
  });

  it("names the field in validate's problems", () => {
    const problems = validateFeatureFlag({
      apiVersion: "flagwright.dev/v1alpha1",
      kind: "FeatureFlag",
      metadata: { name: "f" },
      spec: {
        enabled: true,
        rules: [
          { name: "ok", when: 'email.endsWith("@acme.com")', serve: { enabled: true } },
          { name: "bad", when: 'email.matches("(")', serve: { enabled: true } },
        ],
      },
    });
    expect(problems).toEqual([
      {
        field: "spec.rules[1].when",
        message: expect.stringMatching(/^invalid CEL at 1:15: matches\(\): RE2 refuses the pattern/),
      },
    ]);
  });

  it("still loads in a document written directly: the rule never matches", () => {
    const doc = documentWith({ bad: 'email.matches("(")' });
    expect(matched(doc, "bad", { email: "(" })).toBe(false);
  });
});

/** Every `when` in the examples/ folder and in the docs' rule examples. */
function ordinaryRules(): string[] {
  const rules: string[] = [];
  const dir = new URL("../../../examples/", import.meta.url);
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(new URL(file, dir), "utf8"))) {
      const spec = (doc.toJS() as { spec?: { when?: string; rules?: { when?: string }[] } } | null)?.spec;
      if (spec?.when) rules.push(spec.when);
      for (const rule of spec?.rules ?? []) if (rule.when) rules.push(rule.when);
    }
  }
  const evaluationDoc = readFileSync(new URL("../../../docs/evaluation.md", import.meta.url), "utf8");
  for (const m of evaluationDoc.matchAll(/^\s+when: (.+)$/gm)) rules.push(m[1] as string);
  return rules;
}

describe("the cost estimate", () => {
  it("finds the rules of the examples and the docs", () => {
    expect(ordinaryRules().length).toBeGreaterThanOrEqual(8);
  });

  it.each(ordinaryRules())("accepts the ordinary rule %s", (source) => {
    expect(checkExpression(source)).toBeUndefined();
  });

  it.each([
    'tags.exists(t, t == "beta")',
    'tags.exists(t, t.matches("^beta-"))',
    'tags.all(t, t.startsWith("team-")) && tags.size() < 20',
    'groups.filter(g, g.endsWith("-admins")).size() > 0',
    '["DE", "FR"].exists(c, tags.exists(t, t == c))',
    'email.lower().matches("^[a-z0-9._%+-]+@acme\\\\.com$")',
    'cel.bind(domain, email.split("@")[1], domain == "acme.com" || domain.endsWith(".acme.com"))',
    BACKTRACKING,
  ])("accepts %s", (source) => {
    expect(checkExpression(source)).toBeUndefined();
  });

  it.each([
    NESTED_ALL,
    CROSS_PRODUCT,
    'tags.exists(a, tags.exists(b, a == b + "x"))',
    "tags.exists(a, (tags + tags).size() == 1)",
    'tags.map(t, email.matches("^" + t + "$")).size() > 0',
    "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(a, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(b, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(c, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(d, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(e, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(f, a + b + c + d + e + f > 0))))))",
  ])("refuses %s, naming the limit", (source) => {
    const problem = checkExpression(source);
    expect(problem).toBeDefined();
    expect(formatProblem(problem as NonNullable<typeof problem>)).toMatch(
      new RegExp(
        `^1:1: estimated cost [\\d,]+ exceeds the limit of ${RULE_COST_LIMIT.toLocaleString("en-US")}`,
      ),
    );
  });

  it("refuses them in validate, naming the rule's field", () => {
    const problems = validateFeatureFlag({
      apiVersion: "flagwright.dev/v1alpha1",
      kind: "FeatureFlag",
      metadata: { name: "f" },
      spec: {
        enabled: true,
        rules: [
          { name: "a", when: 'tags.exists(t, t == "beta")', serve: { enabled: true } },
          { name: "b", when: 'country == "DE"', serve: { enabled: true } },
          { name: "c", when: CROSS_PRODUCT, serve: { enabled: true } },
        ],
      },
    });
    expect(problems.map((p) => p.field)).toEqual(["spec.rules[2].when"]);
    expect(problems[0]?.message).toMatch(/^invalid CEL at 1:1: estimated cost/);
  });
});

describe("nesting", () => {
  // A 4,096-character expression can nest about 2,000 levels; the recursive compile-time walks
  // (the cost estimate among them) ran out of stack on it and answered "Maximum call stack size
  // exceeded" instead of a reason.
  it("refuses an expression nested past the limit with the reason, not a stack overflow", () => {
    const source = `${Array(2048).fill("1").join("+")} > 0`;
    const problem = checkExpression(source);
    expect(problem?.message).toMatch(
      new RegExp(`^nests \\d+ levels deep; the limit is ${RULE_NESTING_LIMIT}`),
    );
  });

  it("accepts a long chain of alternatives within the limit", () => {
    const source = Array(RULE_NESTING_LIMIT - 10)
      .fill('country == "DE"')
      .join(" || ");
    expect(checkExpression(source)).toBeUndefined();
  });
});

describe("the run-time budget", () => {
  let stopListening: (() => void) | undefined;
  afterEach(() => stopListening?.());

  const thirtyTags = Array.from({ length: 30 }, (_, i) => `tag-${i}`);
  const twoThousandTags = Array.from({ length: 2000 }, (_, i) => `tag-${i}`);
  const cases = [
    ["five nested all() over 30 tags", NESTED_ALL, { tags: thirtyTags }],
    ["a map of maps over 2,000 tags", CROSS_PRODUCT, { tags: twoThousandTags }],
    [
      "a list concatenated per element of 2,000 tags",
      "tags.exists(a, (tags + tags).size() == 1)",
      { tags: twoThousandTags },
    ],
    ["matches over a 60,000-character string", BACKTRACKING, { email: `${"a".repeat(60_000)}!` }],
  ] as const;

  it.each(cases)(
    "stops %s, forced into a document: no match, under 10 ms of CPU per evaluation, reported",
    (_, when, context) => {
      const reports: string[] = [];
      stopListening = onRuleBudgetExceeded((flag, reason) => reports.push(`${flag}:${reason}`));
      const doc = documentWith({ hostile: when });
      matched(doc, "hostile", context); // compiles the document and warms up
      const runs = 20;
      const started = process.cpuUsage();
      for (let i = 0; i < runs; i++) expect(matched(doc, "hostile", context)).toBe(false);
      const cpu = process.cpuUsage(started);
      // The budget stops at 5 ms of wall time; without it each of these takes seconds.
      expect((cpu.user + cpu.system) / 1000 / runs).toBeLessThan(10);
      expect(reports.length).toBe(runs + 1);
      expect(reports[0]).toMatch(/^hostile:(steps|time|match_input)$/);
    },
  );

  it("shares one budget among a flag's rules: twenty runaway rules cost what one does, reported once", () => {
    const reports: string[] = [];
    stopListening = onRuleBudgetExceeded((flag, reason) => reports.push(`${flag}:${reason}`));
    const rules = Array.from({ length: 20 }, (_, i) => ({
      name: `cross-${i}`,
      when: CROSS_PRODUCT,
      serve: { enabled: true },
    }));
    const doc = parseDocument({
      version: 2,
      revision: "d1",
      namespace: "ns",
      flags: { many: { ...base, rules } },
    });
    const context = { tags: twoThousandTags };
    matched(doc, "many", context);
    const runs = 10;
    const started = process.cpuUsage();
    for (let i = 0; i < runs; i++) expect(matched(doc, "many", context)).toBe(false);
    const cpu = process.cpuUsage(started);
    expect((cpu.user + cpu.system) / 1000 / runs).toBeLessThan(10);
    expect(reports).toHaveLength(runs + 1);
  });

  it("gives a flag whose rules ran out of budget a hundredth of it for its next evaluations", () => {
    const doc = documentWith({ cross: CROSS_PRODUCT });
    const context = { tags: twoThousandTags };
    expect(matched(doc, "cross", context)).toBe(false);
    const runs = 100;
    const started = process.cpuUsage();
    for (let i = 0; i < runs; i++) expect(matched(doc, "cross", context)).toBe(false);
    const cpu = process.cpuUsage(started);
    // The full budget is 5 ms of CPU; a hundredth plus the request's own work stays well under 2.
    expect((cpu.user + cpu.system) / 1000 / runs).toBeLessThan(2);
    // Contexts the rule handles cheaply still match meanwhile.
    expect(matched(doc, "cross", { tags: ["a", "b"] })).toBe(true);
  });

  it("leaves an evaluation within budget alone, and reports nothing", () => {
    const reports: string[] = [];
    stopListening = onRuleBudgetExceeded((flag, reason) => reports.push(`${flag}:${reason}`));
    const doc = documentWith({ beta: 'tags.exists(t, t == "beta")', cross: CROSS_PRODUCT });
    expect(matched(doc, "beta", { tags: [...twoThousandTags, "beta"] })).toBe(true);
    expect(matched(doc, "cross", { tags: ["a", "b"] })).toBe(true);
    expect(reports).toEqual([]);
  });

  it("reports a segment's expression under the flag being evaluated", () => {
    const reports: string[] = [];
    stopListening = onRuleBudgetExceeded((flag, reason) => reports.push(`${flag}:${reason}`));
    const doc = parseDocument({
      version: 2,
      revision: "d1",
      namespace: "ns",
      flags: { checkout: { ...base, rules: [{ name: "r", segments: ["heavy"], serve: { enabled: true } }] } },
      segments: { heavy: { when: CROSS_PRODUCT, included: [], excluded: [] } },
    });
    expect(matched(doc, "checkout", { tags: twoThousandTags })).toBe(false);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/^checkout:/);
  });

  it("marks a flag over budget from its first runaway evaluation until the reduced ones run out", () => {
    const doc = documentWith({ cross: CROSS_PRODUCT, beta: 'tags.exists(t, t == "beta")' });
    expect(matched(doc, "cross", { tags: ["a"] })).toBe(true);
    expect(overRuleBudget(doc, "cross")).toBe(false);
    expect(matched(doc, "cross", { tags: twoThousandTags })).toBe(false);
    expect(overRuleBudget(doc, "cross")).toBe(true);
    expect(overRuleBudget(doc, "beta")).toBe(false);
    expect(overRuleBudget(doc, "no-such-flag")).toBe(false);
    for (let i = 0; i < RULE_PENALTY_EVALUATIONS; i++) matched(doc, "cross", { tags: ["a"] });
    expect(overRuleBudget(doc, "cross")).toBe(false);
  });
});
