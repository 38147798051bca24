// Deterministic bucketing, bit-for-bit the seed article's function:
//   bucket = int(hashlib.sha256(f"{key}:{user}".encode()).hexdigest(), 16) % 100
// The digest is a 256-bit big-endian integer h. Everything we need is derived from h mod 10000:
//   h % 100                                   -> the whole-percent bucket (0..99)
//   (h % 100) * 100 + floor(h / 100) % 100    -> the fine bucket (0..9999, 0.01 % steps)
// and h mod 10000 can be folded from the digest bytes without building a BigInt or a hex string.
import { sha256Mod10000 } from "./sha256.js";

export { sha256Mod10000 };

/** Fine bucket (0..9999) from h mod 10000; for whole percents p, `fine < p*100` iff `h % 100 < p`. */
export function fineFromMod(r: number): number {
  return (r % 100) * 100 + Math.floor(r / 100);
}

/** The seed article's bucket: int(sha256("<flagKey>:<userId>"), 16) % 100. */
export function bucketOf(flagKey: string, userId: string): number {
  return sha256Mod10000(`${flagKey}:${userId}`) % 100;
}

/** Rollout bucket at 0.01 % granularity (0..9999); on iff `fine < round(percent * 100)`. */
export function fineBucketOf(flagKey: string, userId: string): number {
  return fineFromMod(sha256Mod10000(`${flagKey}:${userId}`));
}

/** Variant bucket (0..9999) on an input independent of rollout membership. */
export function variantBucketOf(flagKey: string, userId: string): number {
  return fineFromMod(sha256Mod10000(`${flagKey}/variant:${userId}`));
}

/** Percent (0..100, two decimals) as an integer threshold over fine buckets, free of float error. */
export function percentThreshold(percent: number): number {
  return Math.round(percent * 100);
}
