// Semantic version precedence (SemVer 2.0.0, section 11), for the CEL function semverCompare.
// A leading "v" is accepted ("v2.3.0"), as app stores and git tags often carry one.

const SEMVER =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

interface SemVer {
  core: [number, number, number];
  pre: string[];
}

const cache = new Map<string, SemVer>();

/** Parses a version; throws a message naming the text when it is not SemVer 2.0. */
export function parseSemver(text: string): SemVer {
  const hit = cache.get(text);
  if (hit) return hit;
  const m = SEMVER.exec(text);
  if (!m) throw new Error(`"${text}" is not a semantic version (MAJOR.MINOR.PATCH[-pre][+build])`);
  const parsed: SemVer = {
    core: [Number(m[1]), Number(m[2]), Number(m[3])],
    pre: m[4] === undefined ? [] : m[4].split("."),
  };
  // Versions seen in contexts repeat (one per app release); a bounded cache keeps parsing off the hot path.
  if (cache.size >= 4096) cache.clear();
  cache.set(text, parsed);
  return parsed;
}

const NUMERIC = /^\d+$/;

function comparePre(a: string[], b: string[]): number {
  // A version without pre-release has higher precedence than one with (1.0.0 > 1.0.0-rc.1).
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 0 : a.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x === y) continue;
    const xn = NUMERIC.test(x);
    const yn = NUMERIC.test(y);
    // Numeric identifiers compare numerically and rank below alphanumeric ones.
    if (xn && yn) return Number(x) < Number(y) ? -1 : 1;
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** -1, 0 or 1 by SemVer 2.0 precedence; build metadata is ignored. */
export function compareSemver(a: string, b: string): number {
  const x = parseSemver(a);
  const y = parseSemver(b);
  for (let i = 0; i < 3; i++) {
    const d = (x.core[i] as number) - (y.core[i] as number);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return comparePre(x.pre, y.pre);
}
