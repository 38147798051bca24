// CI's dependency audit: `npm audit --omit=dev --json`, failing on high or critical advisories.
// npm exits non-zero both for findings and for an audit endpoint that does not answer (some
// registry mirrors, and this project's CI network, answer 405), so the JSON decides which it was:
// findings fail the build; an unanswered audit is reported loudly as "not checked" and fails only
// with FLAGWRIGHT_REQUIRE_AUDIT=1.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export type AuditOutcome =
  | { kind: "checked"; high: number; critical: number; total: number }
  | { kind: "unanswered"; reason: string };

/** Reads `npm audit --json` output (npm 7+ format, or its error object). */
export function readAudit(json: string): AuditOutcome {
  let report: {
    metadata?: { vulnerabilities?: Record<string, number> };
    message?: string;
    error?: { summary?: string };
  };
  try {
    report = JSON.parse(json);
  } catch {
    return { kind: "unanswered", reason: `npm audit printed no JSON: ${json.slice(0, 200)}` };
  }
  const counts = report.metadata?.vulnerabilities;
  if (counts) {
    return {
      kind: "checked",
      high: counts.high ?? 0,
      critical: counts.critical ?? 0,
      total: counts.total ?? 0,
    };
  }
  return { kind: "unanswered", reason: report.message || report.error?.summary || "no audit report" };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const run = spawnSync("npm", ["audit", "--omit=dev", "--json"], { encoding: "utf8" });
  const outcome = readAudit(run.stdout);
  if (outcome.kind === "checked") {
    console.log(
      `npm audit: ${outcome.total} advisories in production dependencies (${outcome.high} high, ${outcome.critical} critical)`,
    );
    if (outcome.high + outcome.critical > 0) {
      spawnSync("npm", ["audit", "--omit=dev", "--audit-level=high"], { stdio: "inherit" });
      console.error(
        "high or critical advisories: update within semver (npm update <pkg>) and commit package-lock.json",
      );
      process.exit(1);
    }
  } else {
    console.error(
      `WARNING: production dependencies were NOT checked for advisories: the registry's audit endpoint did not answer (${outcome.reason})`,
    );
    if (process.env.FLAGWRIGHT_REQUIRE_AUDIT === "1") process.exit(1);
  }
}
