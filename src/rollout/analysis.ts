// Canary analysis: turn a flag's spec.rollout.canary.analysis into one verdict (Passed, Failed,
// Inconclusive, Unavailable) from Prometheus' alerts, an instant query and the cohort comparison,
// and match alerts (polled, or pushed by Alertmanager) against a flag's watched alerts.

import type { Logger } from "pino";
import type { FeatureFlag, FeatureFlagSpec } from "../api/index.js";
import { analyzeCohort, type CohortProgress, comparedSteps, wellFormed } from "./cohort.js";
import { type PrometheusApi, PrometheusError } from "./prometheus.js";
import { confinedPrometheus } from "./prometheus-access.js";
import { NAMESPACE_LABEL, PromqlConfinementError } from "./promql-namespace.js";
import type { AnalysisOutcome } from "./steps.js";

export type { AnalysisOutcome, AnalysisResult } from "./steps.js";

type Analysis = NonNullable<NonNullable<NonNullable<FeatureFlagSpec["rollout"]>["canary"]>["analysis"]>;
type AlertMatcher = NonNullable<Analysis["alerts"]>[number];

/** An alert as seen by analysis, from either Prometheus' API or Alertmanager's webhook. */
export interface FiringAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  fingerprint?: string;
}

/**
 * True when the alert is the one the matcher names and carries every label it requires. With
 * `namespace` (namespace enforcement on), an alert labelled with another namespace belongs to that
 * namespace's team and never matches; an alert without a namespace label is cluster-wide and does.
 */
export function alertMatches(
  matcher: AlertMatcher,
  labels: Record<string, string>,
  namespace?: string,
): boolean {
  if (labels.alertname !== matcher.alertName) return false;
  const owner = labels[NAMESPACE_LABEL];
  if (namespace !== undefined && owner !== undefined && owner !== namespace) return false;
  for (const [name, value] of Object.entries(matcher.matchLabels ?? {})) {
    if (value !== undefined && labels[name] !== value) return false;
  }
  return true;
}

/**
 * Names the alert by what the flag's own matcher says (its alertName and matchLabels), not by the
 * labels Prometheus sent: status never echoes a remote answer.
 */
function describeAlert(matcher: AlertMatcher): string {
  const rest = Object.entries(matcher.matchLabels ?? {})
    .map(([k, v]) => `${k}="${v}"`)
    .join(", ");
  return `alert ${matcher.alertName}${rest ? ` {${rest}}` : ""} is firing`;
}

/** The first of `alerts` that fails the flag's analysis, with the matcher it matched, if any. */
export function matchingAlert(
  spec: FeatureFlagSpec,
  alerts: FiringAlert[],
  namespace?: string,
): { alert: FiringAlert; matcher: AlertMatcher } | undefined {
  const matchers = spec.rollout?.canary?.analysis?.alerts ?? [];
  for (const matcher of matchers) {
    const alert = alerts.find((a) => alertMatches(matcher, a.labels, namespace));
    if (alert) return { alert, matcher };
  }
  return undefined;
}

/**
 * The one log line of an analysis check, from the loop or from an Alertmanager push: tests and
 * operators time a rollback from it.
 */
export function logAnalysisOutcome(log: Logger, flag: FeatureFlag, outcome: AnalysisOutcome): void {
  log.info(
    {
      namespace: flag.metadata.namespace,
      flag: flag.metadata.name,
      result: outcome.result,
      reason: outcome.reason,
      message: outcome.message,
    },
    "analysis",
  );
}

/**
 * The verdict carried by pushed alerts (Alertmanager's webhook): Failed when one matches the flag,
 * otherwise undefined, because the absence of an alert in one notification proves nothing.
 */
export function outcomeFromAlerts(
  spec: FeatureFlagSpec,
  alerts: FiringAlert[],
  now: Date,
  namespace?: string,
): AnalysisOutcome | undefined {
  const hit = matchingAlert(spec, alerts, namespace);
  if (!hit) return undefined;
  return {
    result: "Failed",
    reason: "Alert",
    alertName: hit.matcher.alertName,
    message: `${describeAlert(hit.matcher)} (Alertmanager)`,
    at: now,
  };
}

/** Flags whose analysis one of the alerts fails: the ones to reconcile at once. */
export function flagsMatchingAlerts<F extends Pick<FeatureFlag, "spec">>(
  flags: F[],
  alerts: FiringAlert[],
): F[] {
  return flags.filter((f) => matchingAlert(f.spec, alerts) !== undefined);
}

/** Only PrometheusError messages are sanitized; anything else is summarized, never echoed. */
const safeReason = (error: unknown) =>
  error instanceof PrometheusError || error instanceof PromqlConfinementError
    ? error.message
    : "unexpected error (see the operator's log)";

const unavailableMessage = (what: string, error: unknown) =>
  `Prometheus ${what} unavailable: ${safeReason(error)}`;

/**
 * Runs the flag's analysis once against `prometheus` (prometheusForFlag picks it). Alerts first
 * (a firing alert is a failure even if the query cannot run), then the query: above the
 * threshold fails, empty or NaN is inconclusive. Any error reaching Prometheus makes the result
 * Unavailable unless something already failed. With `confineTo` (prometheusForFlag says when),
 * every query and alert match is confined to that namespace.
 */
export async function analyzeFlag(
  flag: AnalyzedFlag,
  prometheus: PrometheusApi,
  now: Date,
  options: { confineTo?: string; log?: Logger } = {},
): Promise<AnalysisOutcome> {
  const outcome = await analyzeFlagOnce(flag, prometheus, now, options);
  // The analysis loop's status write carries the cohort progress every time: a write without it
  // would drop it (server-side apply removes what the same field manager no longer sends).
  const previous = flag.status?.cohortAnalysis;
  const carried = flag.spec.rollout?.canary?.analysis?.cohort && wellFormed(previous) ? previous : undefined;
  const progress = outcome.cohortProgress ?? carried;
  return progress ? { ...outcome, cohortProgress: progress } : outcome;
}

type AnalyzedFlag = Pick<FeatureFlag, "spec" | "metadata"> & Partial<Pick<FeatureFlag, "status">>;

/** What the checks found so far; a check that fails returns its Failed outcome instead. */
interface Findings {
  /** Reasons the analysis could not run (Prometheus unreachable, a query refused). */
  problems: string[];
  passed: string[];
  inconclusive?: string;
  cohortProgress?: CohortProgress;
}

interface CheckContext {
  flag: AnalyzedFlag;
  analysis: Analysis;
  prometheus: PrometheusApi;
  now: Date;
  confineTo?: string;
  /** The full remote text goes to the operator's log only; status gets the sanitized reason. */
  logDetail: (what: string, error: unknown) => void;
}

async function analyzeFlagOnce(
  flag: AnalyzedFlag,
  prometheus: PrometheusApi,
  now: Date,
  options: { confineTo?: string; log?: Logger },
): Promise<AnalysisOutcome> {
  const analysis = flag.spec.rollout?.canary?.analysis;
  if (!analysis) return { result: "Passed", message: "no analysis configured", at: now };
  const { confineTo, log } = options;
  const context: CheckContext = {
    flag,
    analysis,
    prometheus: confineTo !== undefined ? confinedPrometheus(prometheus, confineTo) : prometheus,
    now,
    confineTo,
    logDetail: (what, error) =>
      log?.warn(
        {
          flag: flag.metadata.name,
          namespace: flag.metadata.namespace,
          reason: `Analysis${what}Unavailable`,
          err: error instanceof PrometheusError ? error.detail : (error as Error)?.message,
        },
        "analysis: Prometheus request failed",
      ),
  };
  const findings: Findings = { problems: [], passed: [] };
  const failed =
    (await checkAlerts(context, findings)) ??
    (await checkQuery(context, findings)) ??
    (await checkCohort(context, findings));
  return failed ?? verdict(findings, now);
}

/** Alerts first: a firing alert is a failure even if the query cannot run. */
async function checkAlerts(context: CheckContext, findings: Findings): Promise<AnalysisOutcome | undefined> {
  const { flag, analysis, prometheus, now, confineTo } = context;
  if (!analysis.alerts?.length) return undefined;
  try {
    const firing = (await prometheus.alerts()).filter((a) => a.state === "firing");
    const hit = matchingAlert(flag.spec, firing, confineTo);
    if (hit) {
      return {
        result: "Failed",
        reason: "Alert",
        alertName: hit.matcher.alertName,
        message: describeAlert(hit.matcher),
        at: now,
      };
    }
    findings.passed.push(`no watched alert firing (${analysis.alerts.map((a) => a.alertName).join(", ")})`);
  } catch (error) {
    context.logDetail("Alerts", error);
    findings.problems.push(unavailableMessage("alerts", error));
  }
  return undefined;
}

/** The query: above the threshold fails, empty or NaN is inconclusive. */
async function checkQuery(context: CheckContext, findings: Findings): Promise<AnalysisOutcome | undefined> {
  const { analysis, prometheus, now } = context;
  if (!analysis.query) return undefined;
  const { promql, threshold } = analysis.query;
  try {
    const value = await prometheus.query(promql, now);
    if (value.kind === "empty") {
      findings.inconclusive = "query returned no data";
    } else if (Number.isNaN(value.value)) {
      findings.inconclusive = "query returned NaN (no traffic?)";
    } else if (value.value > threshold) {
      return {
        result: "Failed",
        reason: "Query",
        query: promql,
        value: value.value,
        message: `query value ${value.value} is above the threshold ${threshold}`,
        at: now,
      };
    } else {
      findings.passed.push(`query value ${value.value} <= ${threshold}`);
    }
  } catch (error) {
    context.logDetail("Query", error);
    findings.problems.push(queryProblem(error));
  }
  return undefined;
}

function queryProblem(error: unknown): string {
  if (error instanceof PromqlConfinementError)
    return `spec.rollout.canary.analysis.query.promql ${error.message}`;
  // A query Prometheus rejects will never pass: say so plainly, but still never advance.
  if (error instanceof PrometheusError && error.kind === "query")
    return `the analysis query (spec.rollout.canary.analysis.query.promql) is invalid: ${error.message}`;
  return unavailableMessage("query", error);
}

/** Guarded rollout: flag-on users against flag-off users (src/rollout/cohort.ts). */
async function checkCohort(context: CheckContext, findings: Findings): Promise<AnalysisOutcome | undefined> {
  const { flag, analysis, prometheus, now } = context;
  if (!analysis.cohort) return undefined;
  if ((flag.status?.currentPercent ?? 0) >= 100) {
    findings.passed.push("cohort comparison skipped: every user is on, there is no off-cohort");
    return undefined;
  }
  if (findings.problems.length > 0) return undefined;
  try {
    const started = flag.status?.stepStartedAt;
    // The 100 % step runs no comparison, so it takes no share of alpha.
    const steps = comparedSteps(flag.spec.rollout?.canary?.steps ?? []);
    const key = flag.spec.key ?? flag.metadata.name ?? "";
    const c = await analyzeCohort(
      analysis.cohort,
      key,
      steps,
      prometheus,
      now,
      started ? new Date(started) : undefined,
      flag.status?.cohortAnalysis as CohortProgress | undefined,
    );
    findings.cohortProgress = c.progress;
    if (c.result === "Failed") {
      const progress = findings.cohortProgress;
      return {
        result: "Failed",
        reason: "Cohort",
        value: c.comparison?.difference[0],
        message: c.message,
        at: now,
        ...(progress && { cohortProgress: progress }),
      };
    }
    if (c.result === "Inconclusive")
      findings.inconclusive = findings.inconclusive ? `${findings.inconclusive}; ${c.message}` : c.message;
    else findings.passed.push(c.message);
  } catch (error) {
    context.logDetail("Cohort", error);
    findings.problems.push(
      error instanceof PromqlConfinementError
        ? `spec.rollout.canary.analysis.cohort (requests, errors) ${error.message}`
        : unavailableMessage("cohort query", error),
    );
  }
  return undefined;
}

/** No check failed: Unavailable when one could not run, else Inconclusive or Passed. */
function verdict(findings: Findings, now: Date): AnalysisOutcome {
  const { problems, inconclusive, cohortProgress } = findings;
  const carry = cohortProgress ? { cohortProgress } : {};
  if (problems.length) return { result: "Unavailable", message: problems.join("; "), at: now, ...carry };
  if (inconclusive) {
    return {
      result: "Inconclusive",
      message: [inconclusive, ...findings.passed].join("; "),
      at: now,
      ...carry,
    };
  }
  const passed = findings.passed.length ? findings.passed : ["nothing to check"];
  return { result: "Passed", message: passed.join("; "), at: now, ...carry };
}
