// Limits on the shape of an evaluation context. The body size limit bounds the bytes, but 64 KiB
// of JSON still holds 30,000 nested lists or 16,000 list items: deep nesting overflows the stack of
// any recursive consumer (hashing the context for the bulk ETag, rule evaluation), and a huge
// attribute count multiplies what every rule may iterate over. Checked once per request, without
// recursion, before anything else reads the context.

export interface ContextLimits {
  /** Nesting of objects and lists, the context object itself being level 1. */
  maxDepth: number;
  /** JSON values in the context: attributes, nested members and list items, counted together. */
  maxValues: number;
}

export const DEFAULT_CONTEXT_LIMITS: ContextLimits = { maxDepth: 32, maxValues: 4096 };

/** What makes `context` exceed `limits`, as a sentence for the client; undefined when within them. */
export function contextLimitViolation(
  context: Record<string, unknown>,
  limits: ContextLimits,
): string | undefined {
  let values = 0;
  // Nested containers still to visit, with their levels; allocated only for a nested context, so
  // the common flat one costs a key count and a typeof per attribute.
  let pending: object[] | undefined;
  let levels: number[] | undefined;
  let container: object = context;
  let level = 1;
  for (;;) {
    const members: unknown[] | Record<string, unknown> = container as Record<string, unknown>;
    if (Array.isArray(members)) {
      values += members.length;
      if (values > limits.maxValues) break;
      for (const member of members) {
        if (member !== null && typeof member === "object") {
          pending ??= [];
          levels ??= [];
          pending.push(member);
          levels.push(level + 1);
        }
      }
    } else {
      for (const name in members) {
        values += 1;
        const member = members[name];
        if (member !== null && typeof member === "object") {
          pending ??= [];
          levels ??= [];
          pending.push(member);
          levels.push(level + 1);
        }
      }
      if (values > limits.maxValues) break;
    }
    if (pending === undefined || pending.length === 0) return undefined;
    container = pending.pop() as object;
    level = levels?.pop() as number;
    if (level > limits.maxDepth) {
      return `the evaluation context is nested deeper than ${limits.maxDepth} levels of objects and lists`;
    }
  }
  return `the evaluation context holds more than ${limits.maxValues} values (attributes, nested members and list items)`;
}
