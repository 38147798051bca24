// Canary analysis: turn a flag's spec.rollout.canary.analysis into one verdict (Passed, Failed,
// Inconclusive, Unavailable) from Prometheus' alerts and an instant query, and accept
// Alertmanager's webhook so a firing alert reaches the step machine without waiting for a poll.

import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type { Logger } from "pino";
import type { FeatureFlag, FeatureFlagSpec } from "../api/index.js";
import { tokenMatches } from "../token.js";
import { analyzeCohort, type CohortProgress, comparedSteps, wellFormed } from "./cohort.js";
import {
  addressProblem,
  normalizeAddress,
  type PrometheusApi,
  PrometheusClient,
  PrometheusError,
} from "./prometheus.js";
import { confineToNamespace, NAMESPACE_LABEL, PromqlConfinementError } from "./promql-namespace.js";
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

const PROMETHEUS_FIELD = "spec.rollout.canary.analysis.prometheus";

/** A Secret's data, decoded; undefined when there is no such Secret. */
export type SecretReader = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

/** Who gets which credentials: the operator's side of every flag's Prometheus. */
export interface PrometheusAccess {
  /** The operator's Prometheus (--prometheus-url, with its credentials, CA and timeout). */
  operator: PrometheusApi;
  /** Other addresses the cluster admin trusts with the operator's credentials. */
  allowedAddresses?: readonly string[];
  /**
   * Confine flag-authored PromQL and alert matching to the flag's namespace whenever the operator's
   * credentials are used (default true; off only for single-tenant clusters).
   */
  namespaceEnforcement?: boolean;
  /**
   * Reads a Secret named by analysis.prometheus.credentialsSecret (in the flag's namespace). Throws
   * with `code` 403 when RBAC does not let the operator read it.
   */
  readSecret?: SecretReader;
}

export type ResolvedPrometheus =
  | {
      client: PrometheusApi;
      /** Same key, same endpoint and credentials: one alerts request serves them all. */
      key: string;
      /** The namespace queries and alert matches are confined to, if any. */
      confineTo?: string;
    }
  | { refused: string };

/**
 * The Prometheus a flag's analysis asks, and with which credentials. The operator's credentials go
 * only to its own Prometheus and to the addresses on its allow-list; any other address needs
 * credentials from a Secret in the flag's namespace whose `address` key names that same address (so
 * a Secret's credentials, too, go only where its writer said). Anything else is refused with a reason
 * naming the field, and nothing is contacted.
 */
export async function prometheusForFlag(
  flag: Pick<FeatureFlag, "spec" | "metadata">,
  access: PrometheusAccess,
): Promise<ResolvedPrometheus> {
  const namespace = flag.metadata.namespace ?? "";
  const confineTo = access.namespaceEnforcement === false ? undefined : namespace;
  const own = flag.spec.rollout?.canary?.analysis?.prometheus;
  const operator = access.operator;
  const configured = operator instanceof PrometheusClient ? operator : undefined;
  if (!own?.address) {
    if (own?.credentialsSecret)
      return { refused: `${PROMETHEUS_FIELD}.credentialsSecret needs ${PROMETHEUS_FIELD}.address` };
    return { client: operator, key: "operator", confineTo };
  }
  const problem = addressProblem(own.address);
  if (problem) return { refused: `${PROMETHEUS_FIELD}.address ${problem}` };
  const address = normalizeAddress(own.address);

  const secretName = own.credentialsSecret?.name;
  if (!secretName) {
    if (configured && normalizeAddress(configured.address) === address)
      return { client: operator, key: "operator", confineTo };
    const allowed = (access.allowedAddresses ?? []).some(
      (a) => !addressProblem(a) && normalizeAddress(a) === address,
    );
    if (allowed) {
      const client = configured ? configured.withTrustedAddress(address) : new PrometheusClient({ address });
      return { client, key: address, confineTo };
    }
    return {
      refused:
        `${PROMETHEUS_FIELD}.address ${address} is neither the operator's Prometheus nor on its allow-list ` +
        "(--prometheus-allowed-address), so the operator's credentials are not sent there; name a Secret " +
        `of this namespace holding credentials for that address in ${PROMETHEUS_FIELD}.credentialsSecret`,
    };
  }

  const field = `${PROMETHEUS_FIELD}.credentialsSecret`;
  const where = `Secret ${namespace}/${secretName}`;
  if (!access.readSecret) return { refused: `${field}: this operator reads no Secrets` };
  let data: Record<string, string> | undefined;
  try {
    data = await access.readSecret(namespace, secretName);
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code === 403) {
      return {
        refused:
          `${field}: the operator may not read ${where}; the cluster admin grants Secret reads per ` +
          "namespace (chart value prometheus.credentialSecrets.namespaces, see docs/operator.md)",
      };
    }
    return { refused: `${field}: cannot read ${where}${code ? ` (HTTP ${code})` : ""}` };
  }
  if (!data) return { refused: `${field}: ${where} not found` };
  const secretAddress = data.address?.trim();
  if (!secretAddress || addressProblem(secretAddress) || normalizeAddress(secretAddress) !== address) {
    return {
      refused: `${field}: ${where} must name ${address} in its address key (its credentials go only to the address it names)`,
    };
  }
  const token = data.token?.trim();
  const username = data.username;
  const password = data.password;
  if (!token && !(username && password)) {
    return { refused: `${field}: ${where} holds neither a token nor a username and password` };
  }
  const credentials = {
    ...(token
      ? { bearerToken: token }
      : { basicAuth: { username: username ?? "", password: password ?? "" } }),
    ...(data["ca.crt"] && { ca: data["ca.crt"] }),
  };
  const client = configured
    ? configured.withForeignAddress(address, credentials)
    : new PrometheusClient({ address, ...credentials });
  // The flag's own credentials bound what its queries read: nothing to confine.
  return { client, key: `${address} ${namespace}/${secretName}` };
}

/**
 * `client` with every query confined to `namespace` (src/rollout/promql-namespace.ts): a query that
 * cannot be confined is refused before anything is sent.
 */
export function confinedPrometheus(client: PrometheusApi, namespace: string): PrometheusApi {
  return {
    address: client.address,
    alerts: () => client.alerts(),
    query: (promql, at) => {
      let confined: string;
      try {
        confined = confineToNamespace(promql, namespace);
      } catch (error) {
        return Promise.reject(error);
      }
      return client.query(confined, at);
    },
  };
}

/**
 * Runs the flag's analysis once against `prometheus` (prometheusForFlag picks it). Alerts first
 * (a firing alert is a failure even if the query cannot run), then the query: above the
 * threshold fails, empty or NaN is inconclusive. Any error reaching Prometheus makes the result
 * Unavailable unless something already failed. With `confineTo` (prometheusForFlag says when),
 * every query and alert match is confined to that namespace.
 */
export async function analyzeFlag(
  flag: Pick<FeatureFlag, "spec" | "metadata"> & Partial<Pick<FeatureFlag, "status">>,
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

async function analyzeFlagOnce(
  flag: Pick<FeatureFlag, "spec" | "metadata"> & Partial<Pick<FeatureFlag, "status">>,
  prometheus: PrometheusApi,
  now: Date,
  options: { confineTo?: string; log?: Logger },
): Promise<AnalysisOutcome> {
  const analysis = flag.spec.rollout?.canary?.analysis;
  if (!analysis) return { result: "Passed", message: "no analysis configured", at: now };

  const { confineTo, log } = options;
  if (confineTo !== undefined) prometheus = confinedPrometheus(prometheus, confineTo);
  const problems: string[] = [];
  let passed: string[] = [];
  // The full remote text goes to the operator's log only; status gets the sanitized reason.
  const logDetail = (what: string, error: unknown) =>
    log?.warn(
      {
        flag: flag.metadata.name,
        namespace: flag.metadata.namespace,
        reason: `Analysis${what}Unavailable`,
        err: error instanceof PrometheusError ? error.detail : (error as Error)?.message,
      },
      "analysis: Prometheus request failed",
    );
  if (analysis.alerts?.length) {
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
      passed.push(`no watched alert firing (${analysis.alerts.map((a) => a.alertName).join(", ")})`);
    } catch (error) {
      logDetail("Alerts", error);
      problems.push(unavailableMessage("alerts", error));
    }
  }

  let inconclusive: string | undefined;
  let cohortProgress: CohortProgress | undefined;
  if (analysis.query) {
    const { promql, threshold } = analysis.query;
    try {
      const value = await prometheus.query(promql, now);
      if (value.kind === "empty") {
        inconclusive = "query returned no data";
      } else if (Number.isNaN(value.value)) {
        inconclusive = "query returned NaN (no traffic?)";
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
        passed.push(`query value ${value.value} <= ${threshold}`);
      }
    } catch (error) {
      logDetail("Query", error);
      if (error instanceof PromqlConfinementError) {
        problems.push(`spec.rollout.canary.analysis.query.promql ${error.message}`);
      } else if (error instanceof PrometheusError && error.kind === "query") {
        // A query Prometheus rejects will never pass: say so plainly, but still never advance.
        problems.push(
          `the analysis query (spec.rollout.canary.analysis.query.promql) is invalid: ${error.message}`,
        );
      } else {
        problems.push(unavailableMessage("query", error));
      }
    }
  }

  // Guarded rollout: flag-on users against flag-off users (src/rollout/cohort.ts).
  if (analysis.cohort && (flag.status?.currentPercent ?? 0) >= 100) {
    passed.push("cohort comparison skipped: every user is on, there is no off-cohort");
  } else if (analysis.cohort && problems.length === 0) {
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
      cohortProgress = c.progress;
      if (c.result === "Failed") {
        return {
          result: "Failed",
          reason: "Cohort",
          value: c.comparison?.difference[0],
          message: c.message,
          at: now,
          ...(cohortProgress && { cohortProgress }),
        };
      }
      if (c.result === "Inconclusive")
        inconclusive = inconclusive ? `${inconclusive}; ${c.message}` : c.message;
      else passed.push(c.message);
    } catch (error) {
      logDetail("Cohort", error);
      if (error instanceof PromqlConfinementError) {
        problems.push(`spec.rollout.canary.analysis.cohort (requests, errors) ${error.message}`);
      } else {
        problems.push(unavailableMessage("cohort query", error));
      }
    }
  }

  const carry = cohortProgress ? { cohortProgress } : {};
  if (problems.length) return { result: "Unavailable", message: problems.join("; "), at: now, ...carry };
  if (inconclusive) {
    return { result: "Inconclusive", message: [inconclusive, ...passed].join("; "), at: now, ...carry };
  }
  if (!passed.length) passed = ["nothing to check"];
  return { result: "Passed", message: passed.join("; "), at: now, ...carry };
}

// ---------------------------------------------------------------------------------------------
// Alertmanager webhook

export class WebhookPayloadError extends Error {
  override name = "WebhookPayloadError";
}

export interface AlertmanagerPayload {
  version?: string;
  status?: string;
  receiver?: string;
  groupKey?: string;
  alerts: {
    status: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt?: string;
    fingerprint?: string;
  }[];
}

function stringMap(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new WebhookPayloadError(`${where} must be an object`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") throw new WebhookPayloadError(`${where}.${k} must be a string`);
    out[k] = x;
  }
  return out;
}

/** Validates Alertmanager's webhook body (version 4) and returns the alerts that are firing. */
export function parseAlertmanagerWebhook(body: unknown): FiringAlert[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new WebhookPayloadError("payload must be a JSON object");
  }
  const { alerts } = body as { alerts?: unknown };
  if (!Array.isArray(alerts)) throw new WebhookPayloadError("payload.alerts must be an array");
  const firing: FiringAlert[] = [];
  alerts.forEach((raw, i) => {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new WebhookPayloadError(`alerts[${i}] must be an object`);
    }
    const a = raw as Record<string, unknown>;
    if (typeof a.status !== "string") throw new WebhookPayloadError(`alerts[${i}].status must be a string`);
    const labels = stringMap(a.labels, `alerts[${i}].labels`);
    if (!labels.alertname) throw new WebhookPayloadError(`alerts[${i}].labels.alertname is missing`);
    const annotations = stringMap(a.annotations, `alerts[${i}].annotations`);
    if (a.status !== "firing") return;
    firing.push({
      labels,
      annotations,
      ...(typeof a.startsAt === "string" && { startsAt: a.startsAt }),
      ...(typeof a.fingerprint === "string" && { fingerprint: a.fingerprint }),
    });
  });
  return firing;
}

export const WEBHOOK_PATH = "/webhooks/alertmanager";
export const WEBHOOK_MAX_BYTES = 1024 * 1024;

export interface AlertmanagerWebhookOptions {
  /** The shared bearer token, or a function reading it (e.g. from a mounted Secret file). */
  token: string | (() => string | Promise<string>);
  /** Called with the firing alerts of each accepted notification; a rejection answers 500. */
  onAlerts: (alerts: FiringAlert[], payload: AlertmanagerPayload) => void | Promise<void>;
  log?: Logger;
  path?: string;
}

/**
 * `POST /webhooks/alertmanager`: bearer token checked before the body is read (401), bodies over
 * 1 MiB refused (413), malformed payloads refused (400), then onAlerts with the firing alerts.
 */
export function alertmanagerWebhook(options: AlertmanagerWebhookOptions): Router {
  const path = options.path ?? WEBHOOK_PATH;
  const { log } = options;
  if (typeof options.token === "string" && options.token.length === 0) {
    // An empty token would leave rollbacks open to anyone who can reach the port.
    throw new Error("the Alertmanager webhook needs a bearer token");
  }
  const router = express.Router();

  const authenticate = async (req: Request, res: Response, next: NextFunction) => {
    let expected: string;
    try {
      expected = typeof options.token === "function" ? await options.token() : options.token;
    } catch (error) {
      // No token to compare with (e.g. the mounted Secret was emptied): refuse everyone. A 5xx makes
      // Alertmanager retry, so the notification is delivered once the token is back.
      log?.error(
        { path, reason: "WebhookTokenUnavailable", err: (error as Error).message },
        "alertmanager webhook: cannot read the bearer token; refusing every request",
      );
      res.status(500).json({ error: "the webhook's bearer token is unavailable" });
      return;
    }
    const header = req.get("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!expected || !match?.[1] || !tokenMatches(match[1], expected)) {
      log?.warn(
        { remote: req.ip, path },
        "alertmanager webhook: rejected request without a valid bearer token",
      );
      res.status(401).set("WWW-Authenticate", 'Bearer realm="flagwright"').json({ error: "unauthorized" });
      return;
    }
    next();
  };

  router.post(
    path,
    authenticate,
    express.json({ limit: WEBHOOK_MAX_BYTES, type: () => true, strict: true }),
    async (req: Request, res: Response) => {
      let alerts: FiringAlert[];
      try {
        alerts = parseAlertmanagerWebhook(req.body);
      } catch (error) {
        res.status(400).json({ error: (error as Error).message });
        return;
      }
      try {
        await options.onAlerts(alerts, req.body as AlertmanagerPayload);
      } catch (error) {
        log?.error({ err: error }, "alertmanager webhook: handling the alerts failed");
        // Alertmanager retries on 5xx, which is what we want when the handler could not act.
        res.status(500).json({ error: "handler failed" });
        return;
      }
      log?.info(
        { firing: alerts.length, alerts: alerts.map((a) => a.labels.alertname) },
        "alertmanager webhook",
      );
      res.status(200).json({ firing: alerts.length });
    },
  );

  router.use(path, (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    const e = error as { type?: string; status?: number; message?: string };
    if (e?.type === "entity.too.large" || e?.status === 413) {
      res.status(413).json({ error: `payload larger than ${WEBHOOK_MAX_BYTES} bytes` });
    } else if (e?.type === "entity.parse.failed" || e?.status === 400) {
      res.status(400).json({ error: `malformed JSON: ${e.message ?? ""}` });
    } else if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: e.message ?? "bad request" });
    } else {
      next(error);
    }
  });
  return router;
}
