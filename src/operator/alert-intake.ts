// Alertmanager's pushes: the POST /webhooks/alertmanager route (bearer token, size and payload
// checks) and the recording of each firing alert in the status of every ramping flag it fails
// (status.pushedAlert), on any replica, before answering; the leader reconciles from its watch.
import type { CustomObjectsApi } from "@kubernetes/client-node";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type { Logger } from "pino";
import type { FeatureFlag } from "../api/index.js";
import { type FiringAlert, logAnalysisOutcome, outcomeFromAlerts } from "../rollout/analysis.js";
import type { AnalysisOutcome } from "../rollout/steps.js";
import { tokenMatches } from "../token.js";
import type { OperatorMetrics } from "./metrics.js";
import { pushStamp } from "./recorded-outcome.js";
import { applyOutcome } from "./status.js";

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
  if (typeof options.token === "string" && options.token.length === 0) {
    // An empty token would leave rollbacks open to anyone who can reach the port.
    throw new Error("the Alertmanager webhook needs a bearer token");
  }
  const router = express.Router();
  router.post(
    path,
    bearerTokenCheck(options.token, path, options.log),
    express.json({ limit: WEBHOOK_MAX_BYTES, type: () => true, strict: true }),
    (req: Request, res: Response) => handleNotification(req, res, options),
  );
  router.use(path, answerBodyErrors);
  return router;
}

function bearerTokenCheck(token: AlertmanagerWebhookOptions["token"], path: string, log?: Logger) {
  return async (req: Request, res: Response, next: NextFunction) => {
    let expected: string;
    try {
      expected = typeof token === "function" ? await token() : token;
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
}

async function handleNotification(req: Request, res: Response, options: AlertmanagerWebhookOptions) {
  const { log } = options;
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
  log?.info({ firing: alerts.length, alerts: alerts.map((a) => a.labels.alertname) }, "alertmanager webhook");
  res.status(200).json({ firing: alerts.length });
}

function answerBodyErrors(error: unknown, _req: Request, res: Response, next: NextFunction) {
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
}

export interface AlertIntakeOptions {
  custom: CustomObjectsApi;
  log: Logger;
  metrics: Pick<OperatorMetrics, "writes">;
  /** The cached flags, iterated once per push without a copy. */
  flags: () => Iterable<FeatureFlag>;
  /** Whether this replica leads, for the log only: every replica records pushes. */
  isLeader: () => boolean;
  /** Match only alerts of the flag's own namespace (or none labelled); default true. */
  namespaceEnforcement?: boolean;
  now?: () => Date;
}

/** Records Alertmanager's pushes in the status of the flags they fail. */
export class AlertIntake {
  constructor(private readonly options: AlertIntakeOptions) {}

  /** The route, for the operator's HTTP server; the bearer token is read on each request. */
  router(token: AlertmanagerWebhookOptions["token"]): Router {
    return alertmanagerWebhook({
      token,
      log: this.options.log,
      // A failed write answers 5xx, so Alertmanager sends it again.
      onAlerts: async (alerts) => {
        await this.record(alerts);
      },
    });
  }

  /**
   * Records a pushed alert in every ramping flag it fails (status.pushedAlert, field manager
   * flagwright-alerts); resolves with those flags once all are written.
   */
  async record(alerts: FiringAlert[]): Promise<FeatureFlag[]> {
    const hits = this.#matches(alerts);
    await Promise.all(hits.map(({ flag, outcome }) => this.#write(flag, outcome)));
    return hits.map((h) => h.flag);
  }

  #matches(alerts: FiringAlert[]): { flag: FeatureFlag; outcome: AnalysisOutcome }[] {
    const now = (this.options.now ?? (() => new Date()))();
    const hits: { flag: FeatureFlag; outcome: AnalysisOutcome }[] = [];
    for (const flag of this.options.flags()) {
      const phase = flag.status?.phase;
      if (phase !== "Progressing" && phase !== "Paused") continue;
      const confineTo = this.options.namespaceEnforcement === false ? undefined : flag.metadata.namespace;
      const outcome = outcomeFromAlerts(flag.spec, alerts, pushStamp(flag.status, now), confineTo);
      if (!outcome) continue;
      hits.push({ flag, outcome });
      // Logged on arrival, as the analysis loop logs its checks (tests time the push from it).
      logAnalysisOutcome(this.options.log, flag, outcome);
    }
    return hits;
  }

  async #write(flag: FeatureFlag, outcome: AnalysisOutcome): Promise<void> {
    await applyOutcome(this.options.custom, flag, "pushedAlert", outcome);
    this.options.metrics.writes.inc({ kind: "alert" });
    this.options.log.info(
      {
        namespace: flag.metadata.namespace,
        flag: flag.metadata.name,
        alert: outcome.alertName,
        leader: this.options.isLeader(),
        reason: "AlertRecorded",
      },
      "pushed alert recorded",
    );
  }
}
