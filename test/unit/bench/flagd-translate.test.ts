// The benchmark's flagd translation: flagd answers a translated document the way Flagwright
// evaluates the original, so the two are compared on the same flags. Both flagd peers are built and
// run as real processes: the flagd v0.16.0 server (bench/flagd-server, the OFREP benchmark's peer,
// asked from inside a private network namespace since it opens ports on every interface) and flagd
// core v0.17.0's evaluator (bench/flagd, the evaluator-only benchmark's, on 127.0.0.1). Answers
// that do not depend on hashing must be identical; hashed splits must have the same shares (flagd
// buckets with murmur3, Flagwright with sha256).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureFlagdBinary } from "../../../bench/flagd/build.js";
import { startFlagd } from "../../../bench/flagd/process.js";
import { ensureFlagdServerBinary } from "../../../bench/flagd-server/build.js";
import type { BulkFlag, bulkAnswers } from "../../../bench/flagd-server/process.js";
import { TranslationError, toFlagd } from "../../../bench/flagd-translate.js";
import { runInPrivateNetwork } from "../../../bench/private-network.js";
import { buildDocument, evaluate, type ResolvedFlag } from "../../../src/core/index.js";

const vips = ["vip-1", "vip-2", "vip-3"];
const flag = (f: Partial<ResolvedFlag>): ResolvedFlag => ({
  enabled: true,
  killed: false,
  percent: 100,
  allowedUsers: [],
  revision: "r1",
  ...f,
});
const colors = [
  { name: "red", weight: 20, value: "#f00" },
  { name: "green", weight: 30, value: "#0f0" },
  { name: "blue", weight: 50, value: "#00f" },
];

const doc = buildDocument("bench", {
  "static-on": flag({}),
  "static-disabled": flag({ enabled: false, allowedUsers: vips }),
  "static-killed": flag({ killed: true, allowedUsers: vips }),
  "allow-list-only": flag({ percent: 0, allowedUsers: vips }),
  "rollout-25": flag({ percent: 25 }),
  "rollout-12.5-with-allow-list": flag({ percent: 12.5, allowedUsers: vips }),
  "variants-100": flag({ variants: colors }),
  "variants-40-with-allow-list": flag({
    percent: 40,
    allowedUsers: vips,
    variants: colors,
    defaultValue: "#000",
  }),
  "variants-killed": flag({ killed: true, variants: colors, defaultValue: "#000" }),
});

/** Keys whose every answer is fixed by the rules (no hashing involved). */
const exactFlags = ["static-on", "static-disabled", "static-killed", "allow-list-only"];
const users = Array.from({ length: 2000 }, (_, i) => `user-${i}`);

// Shares over n users agree with the nominal percentage within 4.5 standard errors of a binomial
// proportion (sqrt(p(1-p)/n)); the users are fixed, so the check is deterministic, not flaky.
const SIGMAS = 4.5;
function expectShare(hits: number, n: number, p: number, what: string) {
  const tolerance = SIGMAS * Math.sqrt((p * (1 - p)) / n);
  expect(
    Math.abs(hits / n - p),
    `${what}: ${hits}/${n} vs ${p} ± ${tolerance.toFixed(3)}`,
  ).toBeLessThanOrEqual(tolerance);
}

const flagwright = (key: string, user: string) => evaluate(doc, key, { targetingKey: user }).value;

type Answers = Awaited<ReturnType<typeof bulkAnswers>>;

/** flagd core's evaluator (bench/flagd) on 127.0.0.1: its OFREP bulk answer for each user. */
async function coreEvaluatorAnswers(file: string, users: string[]): Promise<Answers> {
  const flagd = await startFlagd(await ensureFlagdBinary(), file);
  try {
    const answers: Answers = {};
    for (const user of users) {
      const res = await fetch(`${flagd.url}/ofrep/v1/evaluate/flags`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ context: { targetingKey: user } }),
      });
      answers[user] = { status: res.status, flags: ((await res.json()) as { flags: BulkFlag[] }).flags };
    }
    return answers;
  } finally {
    await flagd.stop();
  }
}

const flagdServerProcess = fileURLToPath(new URL("../../../bench/flagd-server/process.ts", import.meta.url));

const peers: [string, (file: string, users: string[]) => Promise<Answers>][] = [
  [
    "the flagd v0.16.0 server",
    async (file, users) =>
      runInPrivateNetwork<Answers>(flagdServerProcess, "bulkAnswers", {
        binary: await ensureFlagdServerBinary(),
        file,
        probeFlag: "static-on",
        users,
      }),
  ],
  ["flagd core v0.17.0's evaluator", coreEvaluatorAnswers],
];

describe.each(peers)("%s on a translated document", (_peer, answersFor) => {
  let dir: string;
  /** flagd's bulk answers per user: flag key -> value. */
  const flagdAnswers = new Map<string, Map<string, unknown>>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "flagwright-flagd-"));
    const file = join(dir, "flags.flagd.json");
    writeFileSync(file, JSON.stringify(toFlagd(doc)));
    const answers = await answersFor(file, [...vips, ...users]);
    for (const user of [...vips, ...users]) {
      const answer = answers[user];
      expect(answer?.status, user).toBe(200);
      for (const f of answer?.flags ?? []) expect(f.errorCode, `${f.key} for ${user}`).toBeUndefined();
      flagdAnswers.set(user, new Map((answer?.flags ?? []).map((f) => [f.key, f.value])));
    }
  }, 1_800_000); // a cold `go build` downloads and compiles flagd's modules

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("answers every flag of the document", () => {
    expect([...(flagdAnswers.get("user-0")?.keys() ?? [])].sort()).toEqual(Object.keys(doc.flags).sort());
  });

  it("gives the same answer as Flagwright for static, disabled, killed and allow-list-only flags, for every user", () => {
    for (const user of [...vips, ...users]) {
      for (const key of exactFlags) {
        expect(flagdAnswers.get(user)?.get(key), `${key} for ${user}`).toEqual(flagwright(key, user));
      }
      expect(flagdAnswers.get(user)?.get("variants-killed"), user).toEqual(
        flagwright("variants-killed", user),
      );
    }
  });

  it("turns allow-listed users on whatever their bucket, as Flagwright does", () => {
    for (const user of vips) {
      expect(flagdAnswers.get(user)?.get("rollout-12.5-with-allow-list"), user).toBe(true);
      expect(flagwright("rollout-12.5-with-allow-list", user)).toBe(true);
      const variant = flagdAnswers.get(user)?.get("variants-40-with-allow-list");
      expect(
        colors.map((c) => c.value),
        user,
      ).toContain(variant);
    }
  });

  it("rolls out to the same share of users (murmur3 and sha256 buckets differ, the shares do not)", () => {
    for (const [key, percent] of [
      ["rollout-25", 25],
      ["rollout-12.5-with-allow-list", 12.5],
      ["variants-40-with-allow-list", 40],
    ] as const) {
      const on = (value: unknown) => value === true || colors.some((c) => c.value === value);
      const flagdOn = users.filter((u) => on(flagdAnswers.get(u)?.get(key))).length;
      const ourOn = users.filter((u) => on(flagwright(key, u))).length;
      expectShare(flagdOn, users.length, percent / 100, `flagd ${key}`);
      expectShare(ourOn, users.length, percent / 100, `Flagwright ${key}`);
    }
  });

  it("splits users between variants by weight, independently of rollout membership", () => {
    for (const key of ["variants-100", "variants-40-with-allow-list"]) {
      const onUsers = (answer: (u: string) => unknown) =>
        users.map(answer).filter((v) => colors.some((c) => c.value === v));
      for (const [side, answer] of [
        ["flagd", (u: string) => flagdAnswers.get(u)?.get(key)],
        ["Flagwright", (u: string) => flagwright(key, u)],
      ] as const) {
        const served = onUsers(answer);
        for (const color of colors) {
          const hits = served.filter((v) => v === color.value).length;
          expectShare(hits, served.length, color.weight / 100, `${side} ${key} ${color.name}`);
        }
      }
    }
  });
});

describe("toFlagd", () => {
  it("refuses what flagd cannot express the same way, naming the flag", () => {
    const offWithoutValue = buildDocument("x", { v: flag({ percent: 50, variants: colors }) });
    expect(() => toFlagd(offWithoutValue)).toThrow(TranslationError);
    expect(() => toFlagd(offWithoutValue)).toThrow(
      /flag "v": a variant flag that can be off needs a defaultValue/,
    );
    const mixedTypes = buildDocument("x", { m: flag({ percent: 50, variants: colors, defaultValue: 0 }) });
    expect(() => toFlagd(mixedTypes)).toThrow(/flag "m": flagd needs every variant value of one type/);
  });
});
