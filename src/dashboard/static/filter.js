// The Flags page's filter, the one copy: the browser loads it as /static/filter.js and the server's
// views (src/dashboard/views.ts) import it, so the unit tests check the code the page runs.
// Plain JavaScript without imports, so the page needs no build step; filter.d.ts types it.

/**
 * The rows that match: every word of `text` in the key, name, namespace, owner or description (any
 * case), the namespace, a phase prefix ("Paused" also matches "Paused (analysis)") and, with
 * `staleOnly`, stale rows only.
 */
export function filterFlags(rows, filter) {
  const words = (filter.text ?? "").toLowerCase().split(/\s+/).filter(Boolean);
  return rows.filter((row) => {
    if (filter.namespace && row.namespace !== filter.namespace) return false;
    if (filter.phase && !row.phase.startsWith(filter.phase)) return false;
    if (filter.staleOnly && !row.stale) return false;
    const haystack = [row.key, row.name, row.namespace, row.owner, row.description].join(" ").toLowerCase();
    return words.every((w) => haystack.includes(w));
  });
}
