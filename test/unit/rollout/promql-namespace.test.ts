// Namespace enforcement of flag-authored PromQL: every selector, whatever expression it sits in,
// gets namespace="<flag's namespace>"; a selector naming another namespace, info() and queries
// that do not parse are refused.
import { parser } from "@prometheus-io/lezer-promql";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  confineToNamespace,
  PromqlConfinementError,
  selectorsOf,
  stringValue,
} from "../../../src/rollout/promql-namespace.js";

const NS = "team-a";
const M = `namespace="${NS}"`;

describe("confineToNamespace", () => {
  it.each([
    ["a bare metric", "up", `up{${M}}`],
    ["empty braces", "up{}", `up{${M}}`],
    [
      "matchers",
      'http_requests_total{code=~"5..",job!="x"}',
      `http_requests_total{code=~"5..",job!="x",${M}}`,
    ],
    ["a trailing comma", 'up{job="x",}', `up{job="x",${M}}`],
    ["a metric name in braces", '{__name__="up"}', `{__name__="up",${M}}`],
    ["a quoted UTF-8 metric name", '{"http.server.duration"}', `{"http.server.duration",${M}}`],
    ["a function over a range", "rate(x_total[5m])", `rate(x_total{${M}}[5m])`],
    [
      "an aggregation with grouping",
      "sum by (namespace, code) (rate(x_total[1m]))",
      `sum by (namespace, code) (rate(x_total{${M}}[1m]))`,
    ],
    [
      "a binary operation with vector matching",
      "a / on (job) group_left (pod) b",
      `a{${M}} / on (job) group_left (pod) b{${M}}`,
    ],
    ["a comparison with bool", "a > bool 0.5", `a{${M}} > bool 0.5`],
    ["a subquery", "max_over_time(rate(x[1m])[30m:1m])", `max_over_time(rate(x{${M}}[1m])[30m:1m])`],
    ["offset", "x offset 5m", `x{${M}} offset 5m`],
    ["@ with a timestamp", "x @ 1609746000", `x{${M}} @ 1609746000`],
    ["@ start()", "rate(x[5m] @ start())", `rate(x{${M}}[5m] @ start())`],
    ["a negative offset on a range", "rate(x[5m] offset -1h)", `rate(x{${M}}[5m] offset -1h)`],
    [
      "the error-rate ratio",
      'sum(rate(r{flag="f",code=~"5.."}[1m])) / sum(rate(r{flag="f"}[1m]))',
      `sum(rate(r{flag="f",code=~"5..",${M}}[1m])) / sum(rate(r{flag="f",${M}}[1m]))`,
    ],
    [
      "histogram_quantile",
      "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))",
      `histogram_quantile(0.99, sum by (le) (rate(h_bucket{${M}}[5m])))`,
    ],
    ["topk with a parameter", "topk(3, x)", `topk(3, x{${M}})`],
    ["absent", 'absent(up{job="x"})', `absent(up{job="x",${M}})`],
    [
      "label_replace",
      'label_replace(up, "a", "$1", "b", "(.*)")',
      `label_replace(up{${M}}, "a", "$1", "b", "(.*)")`,
    ],
    ["unary minus", "-x", `-x{${M}}`],
    ["or between selectors", "a or b unless c", `a{${M}} or b{${M}} unless c{${M}}`],
    ["parentheses", "(a + b) * 2", `(a{${M}} + b{${M}}) * 2`],
    ["no selector", "vector(1) + scalar(time())", "vector(1) + scalar(time())"],
    ["regex matcher on namespace", 'x{namespace=~"team-.*"}', `x{namespace=~"team-.*",${M}}`],
    ["negative matcher on namespace", 'x{namespace!="other"}', `x{namespace!="other",${M}}`],
    ["its own namespace already", `x{${M}}`, `x{${M}}`],
    ["its own namespace quoted with single quotes", "x{namespace='team-a'}", "x{namespace='team-a'}"],
    ["its own namespace in a raw string", "x{namespace=`team-a`}", "x{namespace=`team-a`}"],
  ])("%s", (_label, query, expected) => {
    expect(confineToNamespace(query, NS)).toBe(expected);
  });

  it.each([
    ["another namespace", 'x{namespace="team-b"}'],
    ["another namespace, quoted label name", '{"namespace"="team-b", __name__="x"}'],
    ["another namespace deep inside", 'sum(rate(a[1m])) / sum(rate(b{namespace="kube-system"}[1m]))'],
    ["another namespace beside its own", `x{${M},namespace="team-b"}`],
    ["another namespace written with escapes", 'x{namespace="team\\x2db"}'],
  ])("refuses a selector naming %s", (_label, query) => {
    expect(() => confineToNamespace(query, NS)).toThrow(/names namespace "team-b"|kube-system/);
  });

  it("refuses info(), whose target_info lookup no matcher confines", () => {
    expect(() => confineToNamespace('info(rate(x[1m]), {k8s_cluster_name=~".+"})', NS)).toThrow(/info\(\)/);
  });

  it.each(["sum(rate(x[5m])", "x{", "x{a=}", "rate(x[5m]", ")", ""])(
    "refuses %j, which does not parse, saying so",
    (query) => {
      const error = (() => {
        try {
          confineToNamespace(query, NS);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(PromqlConfinementError);
      expect((error as Error).message).toMatch(/does not parse as PromQL/);
    },
  );

  it("escapes the namespace as a PromQL string", () => {
    expect(confineToNamespace("x", 'a"b\\c')).toBe('x{namespace="a\\"b\\\\c"}');
  });

  it("reads PromQL string literals as Prometheus does", () => {
    expect(stringValue('"a\\"b"')).toBe('a"b');
    expect(stringValue("'a\\'b'")).toBe("a'b");
    expect(stringValue("`a\\n`")).toBe("a\\n");
    expect(stringValue('"\\x41\\u00e9\\101\\n"')).toBe("Aé\x41\n");
  });
});

// --- Property tests: a generator of PromQL over the shapes above. ---

const metric = fc.constantFrom("up", "http_requests_total", "node_cpu_seconds_total", "x:recorded:rate5m");
const labelName = fc.constantFrom("job", "code", "flag", "le", "instance", "namespace");
const labelValue = fc.constantFrom("a", "5..", "team-a", "team-.*", "", 'x\\"y');
const matchOp = fc.constantFrom("=", "!=", "=~", "!~");
const matcher = fc
  .tuple(labelName, matchOp, labelValue)
  // A namespace matcher with = to another namespace is refused by design; keep generated ones legal.
  .map(([n, op, v]) => (n === "namespace" && op === "=" ? `namespace="${NS}"` : `${n}${op}"${v}"`));
const selector = fc.oneof(
  metric,
  fc
    .tuple(metric, fc.array(matcher, { maxLength: 3 }), fc.boolean())
    .map(([m, ms, trailing]) => `${m}{${ms.join(",")}${trailing && ms.length ? "," : ""}}`),
  fc.array(matcher, { maxLength: 2 }).map((ms) => `{__name__="up"${ms.map((m) => `,${m}`).join("")}}`),
  fc
    .array(matcher, { maxLength: 2 })
    .map((ms) => `{"http.server.duration"${ms.map((m) => `,${m}`).join("")}}`),
);
const duration = fc.constantFrom("1m", "5m", "30s", "1h");
const modifiers = (e: string) =>
  fc.constantFrom(e, `${e} offset 5m`, `${e} @ 1609746000`, `${e} @ end()`, `${e} offset -1m`);

const query: fc.Arbitrary<string> = fc.letrec<{ vector: string }>((tie) => ({
  vector: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    selector.chain(modifiers),
    fc
      .tuple(fc.constantFrom("rate", "increase", "max_over_time", "avg_over_time"), selector, duration)
      .map(([f, s, d]) => `${f}(${s}[${d}])`),
    fc
      .tuple(
        fc.constantFrom("sum", "max", "count", "avg"),
        fc.constantFrom("", " by (job)", " without (le)"),
        tie("vector"),
      )
      .map(([op, by, e]) => `${op}${by} (${e})`),
    fc
      .tuple(
        tie("vector"),
        // group_left with its label list written out: `group_left (x)` reads a parenthesised
        // right-hand side as the list (PromQL's grammar, not the rewrite's concern).
        fc.constantFrom("+", "/", "and", "or", "unless", "> bool", "/ on (job) group_left (instance)"),
        tie("vector"),
      )
      .map(([a, op, b]) => `${a} ${op} ${b}`),
    fc
      .tuple(fc.constantFrom("max_over_time", "min_over_time"), tie("vector"), duration)
      .map(([f, e, d]) => `${f}((${e})[${d}:30s])`),
    fc.tuple(fc.constantFrom("abs", "absent", "sort_desc"), tie("vector")).map(([f, e]) => `${f}(${e})`),
    tie("vector").map((e) => `(${e})`),
    tie("vector").map((e) => `topk(2, ${e})`),
    fc.constantFrom("vector(1)", "scalar(time())"),
  ),
})).vector;

const strict = parser.configure({ strict: true });

describe("confineToNamespace, properties", () => {
  it("the generator only makes queries Prometheus' grammar accepts", () => {
    fc.assert(
      fc.property(query, (q) => void strict.parse(q)),
      { numRuns: 300 },
    );
  });

  it("the confined query parses, and every selector in it matches exactly the flag's namespace", () => {
    fc.assert(
      fc.property(query, (q) => {
        const confined = confineToNamespace(q, NS);
        strict.parse(confined);
        for (const s of selectorsOf(confined)) {
          expect(
            s.namespaces.some((m) => m.op === "=" && m.value === NS),
            s.text,
          ).toBe(true);
        }
        expect(selectorsOf(confined)).toHaveLength(selectorsOf(q).length);
      }),
      { numRuns: 500 },
    );
  });

  it("confining twice changes nothing more (idempotent)", () => {
    fc.assert(
      fc.property(query, (q) => {
        const once = confineToNamespace(q, NS);
        expect(confineToNamespace(once, NS)).toBe(once);
      }),
      { numRuns: 300 },
    );
  });

  it("only inserts: the query is a subsequence of its confined form", () => {
    const isSubsequence = (short: string, long: string) => {
      let i = 0;
      for (const c of long) if (c === short[i]) i++;
      return i === short.length;
    };
    fc.assert(
      fc.property(query, (q) => {
        expect(isSubsequence(q, confineToNamespace(q, NS))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
