// Compatibility promise: a user keeps the bucket the seed article's Django layer gave them. The
// reference values come from Python's hashlib, computed while the test runs.
import { execFileSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucketOf, fineBucketOf, variantBucketOf } from "../../../src/core/index.js";
import { HashPrefix, HmacSha256, sha256Hex, sha256HexOfBytes } from "../../../src/core/sha256.js";

const flags = ["new-checkout", "dark-mode", "a", "payments-v2", "Ünïcode-flag", "flag_with.dots"];
const specialUsers = [
  "42",
  "0",
  "",
  "user@example.com",
  "Zoë",
  "Ñandú",
  "東京ユーザー",
  "пользователь",
  "مستخدم",
  "🙂🚀",
  "👩‍👩‍👧‍👦",
  "a:b:c",
  "tab\there",
  "new\nline",
  'quote"back\\slash',
  "x".repeat(1000),
];

function pairs(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const f of flags) for (const u of specialUsers) out.push([f, u]);
  for (let i = 0; out.length < 400; i++) out.push([flags[i % flags.length] as string, `user-${i * 7919}`]);
  return out;
}

const python = `
import hashlib, json, sys
out = []
for key, user in json.load(sys.stdin):
    h = int(hashlib.sha256(f"{key}:{user}".encode()).hexdigest(), 16)
    v = int(hashlib.sha256(f"{key}/variant:{user}".encode()).hexdigest(), 16)
    out.append([h % 100, (h % 100) * 100 + (h // 100) % 100, (v % 100) * 100 + (v // 100) % 100])
json.dump(out, sys.stdout)
`;

describe("bucketOf matches Python hashlib", () => {
  it("for 400 (flag, user) pairs including non-ASCII ids", () => {
    const input = pairs();
    expect(input.length).toBeGreaterThanOrEqual(300);
    const expected = JSON.parse(
      execFileSync("python3", ["-c", python], { input: JSON.stringify(input), encoding: "utf8" }),
    ) as Array<[number, number, number]>;
    expect(expected).toHaveLength(input.length);
    const mismatches: string[] = [];
    input.forEach(([flag, user], i) => {
      const [bucket, fine, variant] = expected[i] as [number, number, number];
      const got = [bucketOf(flag, user), fineBucketOf(flag, user), variantBucketOf(flag, user)];
      if (got[0] !== bucket || got[1] !== fine || got[2] !== variant) {
        mismatches.push(`${flag}:${JSON.stringify(user)} got ${got} want ${[bucket, fine, variant]}`);
      }
    });
    expect(mismatches).toEqual([]);
  });

  it("fine buckets agree with whole-percent buckets at every whole percent", () => {
    for (const [flag, user] of pairs()) {
      const b = bucketOf(flag, user);
      const f = fineBucketOf(flag, user);
      expect(Math.floor(f / 100)).toBe(b);
      for (const p of [0, 1, 5, 25, 50, 99, 100]) expect(f < p * 100).toBe(b < p);
    }
  });
});

describe("the allocation-free SHA-256", () => {
  it("equals node:crypto for any string, across block boundaries", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 100 }), (s) => {
        expect(sha256Hex(s)).toBe(createHash("sha256").update(s, "utf8").digest("hex"));
      }),
      { numRuns: 500 },
    );
    for (let n = 50; n < 140; n++) {
      const s = "é".repeat(n % 7) + "x".repeat(n);
      expect(sha256Hex(s)).toBe(createHash("sha256").update(s, "utf8").digest("hex"));
    }
    const big = "🙂".repeat(5000);
    expect(sha256Hex(big)).toBe(createHash("sha256").update(big, "utf8").digest("hex"));
  });

  it("HashPrefix(prefix).mod10000(suffix) is the whole digest of prefix + suffix mod 10000", () => {
    const digestMod10000 = (s: string) =>
      Number(BigInt(`0x${createHash("sha256").update(s, "utf8").digest("hex")}`) % 10000n);
    // Prefixes of 64 bytes and more exercise the precompressed midstate; suffixes mix the ASCII
    // fast path with multi-byte characters.
    const text = fc.string({ unit: "grapheme", maxLength: 150 });
    fc.assert(
      fc.property(text, text, (prefix, suffix) => {
        expect(new HashPrefix(prefix).mod10000(suffix)).toBe(digestMod10000(prefix + suffix));
      }),
      { numRuns: 500 },
    );
    for (let n = 0; n < 140; n += 7) {
      const prefix = `${"k".repeat(n)}:`;
      for (const user of ["", "u", "x".repeat(120), "Zoë", "東京ユーザー"]) {
        expect(new HashPrefix(prefix).mod10000(user), `${n} ${user}`).toBe(digestMod10000(prefix + user));
      }
    }
  });
});

describe("SHA-256 of bytes and HMAC-SHA256", () => {
  it("sha256HexOfBytes equals node:crypto at every length around the block boundaries", () => {
    for (let n = 0; n < 200; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      expect(sha256HexOfBytes(bytes), `${n} bytes`).toBe(createHash("sha256").update(bytes).digest("hex"));
    }
    const big = new TextEncoder().encode("🙂".repeat(300_000));
    expect(sha256HexOfBytes(big)).toBe(createHash("sha256").update(big).digest("hex"));
  });

  it("HmacSha256 equals node:crypto's HMAC for any key length and message", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 150 }),
        fc.string({ unit: "grapheme", maxLength: 150 }),
        (key, message) => {
          const want = createHmac("sha256", key).update(message, "utf8").digest("hex");
          const hmac = new HmacSha256(key);
          expect(hmac.hex(message)).toBe(want);
          // The state is per key: a second message under the same key is hashed afresh.
          expect(hmac.hex(`${message}!`)).toBe(createHmac("sha256", key).update(`${message}!`).digest("hex"));
          expect(hmac.hex(message, 16)).toBe(want.slice(0, 16));
        },
      ),
      { numRuns: 500 },
    );
    // RFC 4231 test case 2.
    expect(new HmacSha256(new TextEncoder().encode("Jefe")).hex("what do ya want for nothing?")).toBe(
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
  });
});
