// Confines a flag-authored PromQL query to the flag's namespace, as prom-label-proxy does: every
// vector selector (and so every range and subquery built from one) gets a `namespace="<ns>"`
// matcher. The query is parsed with Prometheus' own grammar (@prometheus-io/lezer-promql) and only
// edited by inserting text at selector boundaries, so everything else stays exactly as written.

import { parser } from "@prometheus-io/lezer-promql";

/** The label a selector must match to stay inside one namespace. */
export const NAMESPACE_LABEL = "namespace";

type SyntaxNode = ReturnType<typeof parser.parse>["topNode"];

/** Strict: a syntax error throws instead of being repaired into a tree with error nodes. */
const strictParser = parser.configure({ strict: true });

export class PromqlConfinementError extends Error {
  override name = "PromqlConfinementError";
}

/**
 * Parses `promql` and returns it with every selector confined to `namespace`. Throws
 * PromqlConfinementError when it does not parse, when a selector names another namespace with `=`
 * (refused rather than overridden: the author asked for data the flag may not read, and silently
 * rewriting it would turn the analysis into a query about something else), or when it calls info(),
 * whose implicit target_info lookup no selector matcher confines.
 */
export function confineToNamespace(promql: string, namespace: string): string {
  let tree: ReturnType<typeof strictParser.parse>;
  try {
    tree = strictParser.parse(promql);
  } catch (error) {
    throw new PromqlConfinementError(`does not parse as PromQL (${(error as Error).message})`);
  }
  const matcher = `${NAMESPACE_LABEL}=${JSON.stringify(namespace)}`;
  const inserts: { at: number; text: string }[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.name === "Info") {
      throw new PromqlConfinementError("info() is not allowed: its target_info lookup cannot be confined");
    }
    if (cursor.name !== "VectorSelector") continue;
    const selector = cursor.node;
    const braces = selector.getChild("LabelMatchers");
    const named = braces ? namespaceMatchers(promql, braces) : [];
    const other = named.find((m) => m.op === "=" && m.value !== namespace);
    if (other) {
      throw new PromqlConfinementError(
        `the selector ${promql.slice(selector.from, selector.to)} names namespace "${other.value}"; ` +
          `a flag's queries only read its own namespace (${namespace})`,
      );
    }
    if (named.some((m) => m.op === "=")) continue;
    if (!braces) {
      inserts.push({ at: selector.to, text: `{${matcher}}` });
      continue;
    }
    // Before the closing brace, so a metric name written inside the braces ({"my.metric"}) stays first.
    // Punctuation is not in the tree: the last child is the last matcher, if any.
    const close = braces.to - 1;
    const last = braces.lastChild;
    const separated = last === null || promql.slice(last.to, close).includes(",");
    inserts.push({ at: close, text: separated ? matcher : `,${matcher}` });
  } while (cursor.next());
  let out = promql;
  for (const { at, text } of inserts.sort((a, b) => b.at - a.at))
    out = out.slice(0, at) + text + out.slice(at);
  return out;
}

interface NamespaceMatcher {
  op: string;
  value: string;
}

/** The matchers of one `{...}` that constrain the namespace label. */
function namespaceMatchers(promql: string, braces: SyntaxNode): NamespaceMatcher[] {
  const out: NamespaceMatcher[] = [];
  for (let child = braces.firstChild; child; child = child.nextSibling) {
    let name: string | undefined;
    if (child.name === "UnquotedLabelMatcher") {
      const label = child.getChild("LabelName");
      name = label ? promql.slice(label.from, label.to) : undefined;
    } else if (child.name === "QuotedLabelMatcher") {
      const label = child.getChild("QuotedLabelName");
      name = label ? stringValue(promql.slice(label.from, label.to)) : undefined;
    }
    if (name !== NAMESPACE_LABEL) continue;
    const op = child.getChild("MatchOp");
    const value = child.getChild("StringLiteral");
    if (!op || !value) continue;
    out.push({ op: promql.slice(op.from, op.to), value: stringValue(promql.slice(value.from, value.to)) });
  }
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  '"': '"',
  "'": "'",
};

/** The value of a PromQL string literal: "..." and '...' with Go's escapes, `...` raw. */
export function stringValue(literal: string): string {
  const body = literal.slice(1, -1);
  if (literal.startsWith("`")) return body;
  return body.replace(
    /\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-7]{3}|.)/g,
    (_, sequence: string) => {
      const head = sequence[0] ?? "";
      if (head === "x" || head === "u" || head === "U")
        return String.fromCodePoint(Number.parseInt(sequence.slice(1), 16));
      if (/[0-7]/.test(head)) return String.fromCodePoint(Number.parseInt(sequence, 8));
      return SIMPLE_ESCAPES[head] ?? sequence;
    },
  );
}

/** Every vector selector of `promql` (already known to parse), as written: for tests and logs. */
export function selectorsOf(promql: string): { text: string; namespaces: NamespaceMatcher[] }[] {
  const out: { text: string; namespaces: NamespaceMatcher[] }[] = [];
  const cursor = strictParser.parse(promql).cursor();
  do {
    if (cursor.name !== "VectorSelector") continue;
    const braces = cursor.node.getChild("LabelMatchers");
    out.push({
      text: promql.slice(cursor.from, cursor.to),
      namespaces: braces ? namespaceMatchers(promql, braces) : [],
    });
  } while (cursor.next());
  return out;
}
