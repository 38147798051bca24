// Types of filter.js, the Flags page's filter shared by the page and the server's views.

export interface FlagFilter {
  /** Words that must all appear in the key, name, namespace, owner or description (any case). */
  text?: string;
  namespace?: string;
  phase?: string;
  staleOnly?: boolean;
}

/** The fields of a Flags page row the filter reads. */
export interface FilterableRow {
  key: string;
  name: string;
  namespace: string;
  owner: string;
  description: string;
  phase: string;
  stale: unknown;
}

export function filterFlags<R extends FilterableRow>(rows: readonly R[], filter: FlagFilter): R[];
