// Semantic version precedence (SemVer 2.0.0, section 11), for the CEL function semverCompare.
// A leading "v" is accepted ("v2.3.0"), as app stores and git tags often carry one.

const SEMVER =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/**
 * A numeric identifier, exact at any size: a number up to 15 digits (always below 2^53, the common
 * case and the fast one), a bigint beyond. Identifiers have no leading zeros, so a number and a
 * bigint are never equal, and `<` between them compares exactly.
 */
type Numeric = number | bigint;

function numeric(digits: string): Numeric {
  return digits.length <= 15 ? Number(digits) : BigInt(digits);
}

interface SemVer {
  core: [Numeric, Numeric, Numeric];
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
    core: [numeric(m[1] as string), numeric(m[2] as string), numeric(m[3] as string)],
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
    // Numeric identifiers compare numerically and rank below alphanumeric ones. Without leading
    // zeros, the shorter digit string is the smaller number; equal lengths compare as text.
    if (xn && yn) return x.length !== y.length ? (x.length < y.length ? -1 : 1) : x < y ? -1 : 1;
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
    const p = x.core[i] as Numeric;
    const q = y.core[i] as Numeric;
    if (p !== q) return p < q ? -1 : 1;
  }
  return comparePre(x.pre, y.pre);
}
