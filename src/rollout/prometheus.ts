// A small Prometheus HTTP API client: just /api/v1/alerts and /api/v1/query, which is all canary
// analysis needs. Built on node:http(s) rather than fetch so a private CA file works without an
// extra dependency. Every failure (refused, timeout, HTTP error, malformed JSON, status "error")
// becomes a PrometheusError whose message is a fixed, sanitized reason the step machine can show in
// a condition: a flag may name the address, so nothing the remote end sends (body, error text, label
// values) ever reaches the message; the full text is in `detail`, for the operator's log only.

import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";

export interface PrometheusSettings {
  /** Base URL, e.g. http://prometheus.monitoring:9090 (a path prefix is kept). */
  address: string;
  bearerToken?: string;
  basicAuth?: { username: string; password: string };
  /** PEM file with the CA that signed Prometheus' certificate (https only). */
  caFile?: string;
  /** The same CA as PEM text (a flag's credentials Secret carries it this way). */
  ca?: string;
  /** Per request; default 5 s. */
  timeoutMs?: number;
  /** Response bodies larger than this are refused (default 16 MiB). */
  maxBytes?: number;
}

export interface PrometheusAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "firing" | "pending" | "inactive";
  activeAt?: string;
  value?: string;
}

export type QueryValue =
  | { kind: "empty" }
  | { kind: "value"; value: number; series: number; labels?: Record<string, string> };

export class PrometheusError extends Error {
  /**
   * @param message sanitized: safe to show in a flag's status (never remote text)
   * @param detail everything known, remote text included: for the operator's log only
   */
  constructor(
    message: string,
    readonly kind: "network" | "timeout" | "http" | "malformed" | "query",
    readonly detail: string = message,
  ) {
    super(message);
    this.name = "PrometheusError";
  }
}

/** Prometheus' own errorType values: the only part of an error answer echoed in a message. */
const KNOWN_ERROR_TYPES = new Set([
  "bad_data",
  "execution",
  "timeout",
  "canceled",
  "internal",
  "unavailable",
  "not_found",
  "not_acceptable",
]);

/**
 * Why `address` cannot be a Prometheus base URL, or undefined when it can: http(s) only, and no
 * user info, query or fragment, each of which would either carry credentials of its own or change
 * which URL the API path lands on (`http://host/anything#` + `/api/v1/alerts` asks for `/anything`).
 */
export function addressProblem(address: string): string | undefined {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return "is not a URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http:// or https:// URL";
  if (url.username || url.password || /^[a-z]+:\/\/[^/]*@/i.test(address)) return "may not carry user info";
  if (address.includes("?")) return "may not carry a query";
  if (address.includes("#")) return "may not carry a fragment";
  return undefined;
}

/**
 * The form addresses are compared in (the operator's own, the allow-list, a flag's): scheme and
 * host lower-cased, default port dropped, dot segments resolved, no trailing slash.
 */
export function normalizeAddress(address: string): string {
  const url = new URL(address);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

export interface PrometheusApi {
  readonly address: string;
  alerts(): Promise<PrometheusAlert[]>;
  query(promql: string, at?: Date): Promise<QueryValue>;
}

/** One series of an instant vector. */
export interface VectorSample {
  labels: Record<string, string>;
  value: number;
}

/** A Prometheus that also answers with every series of an instant vector, labels included. */
export interface PrometheusVectorApi extends PrometheusApi {
  queryVector(promql: string, at?: Date): Promise<VectorSample[]>;
}

export class PrometheusClient implements PrometheusVectorApi {
  readonly address: string;
  private readonly ca: Buffer | undefined;

  constructor(private readonly settings: PrometheusSettings) {
    const problem = addressProblem(settings.address);
    if (problem) throw new Error(`Prometheus address ${problem}`);
    this.address = settings.address.replace(/\/+$/, "");
    this.ca = settings.caFile
      ? readFileSync(settings.caFile)
      : settings.ca
        ? Buffer.from(settings.ca)
        : undefined;
  }

  /**
   * The operator's settings (credentials, CA, timeout) for another address the operator trusts as
   * much as its own: only for addresses on the operator's allow-list.
   */
  withTrustedAddress(address: string): PrometheusClient {
    return new PrometheusClient({ ...this.settings, address });
  }

  /** The operator's timeout and size limit, but none of its credentials or CA. */
  withForeignAddress(
    address: string,
    own: Pick<PrometheusSettings, "bearerToken" | "basicAuth" | "ca">,
  ): PrometheusClient {
    const { timeoutMs, maxBytes } = this.settings;
    return new PrometheusClient({ address, timeoutMs, maxBytes, ...own });
  }

  async alerts(): Promise<PrometheusAlert[]> {
    const data = await this.get("/api/v1/alerts", {});
    const alerts = (data as { alerts?: unknown })?.alerts;
    if (!Array.isArray(alerts))
      throw new PrometheusError("malformed alerts response: no data.alerts", "malformed");
    // A malformed entry could be the watched alert: refuse the whole answer rather than pass
    // analysis without it.
    return alerts.map((a, i) => {
      if (!isObject(a) || !isObject(a.labels) || typeof a.labels.alertname !== "string") {
        throw new PrometheusError(
          `malformed alerts response: alert ${i} has no labels.alertname`,
          "malformed",
        );
      }
      if (a.state !== "firing" && a.state !== "pending" && a.state !== "inactive") {
        throw new PrometheusError(
          `malformed alerts response: alert ${i} has an unknown state`,
          "malformed",
          `malformed alerts response: alert ${i} has state ${String(a.state).slice(0, 200)}`,
        );
      }
      return {
        labels: stringRecord(a.labels),
        annotations: stringRecord(a.annotations),
        state: a.state,
        ...(typeof a.activeAt === "string" && { activeAt: a.activeAt }),
        ...(typeof a.value === "string" && { value: a.value }),
      };
    });
  }

  /**
   * Runs an instant query. A scalar or a one-series vector gives its value; several series give
   * the largest (an error rate is only as good as its worst series); no series is "empty".
   */
  async query(promql: string, at?: Date): Promise<QueryValue> {
    const params: Record<string, string> = { query: promql };
    if (at) params.time = (at.getTime() / 1000).toFixed(3);
    const data = (await this.get("/api/v1/query", params)) as { resultType?: unknown; result?: unknown };
    if (!isObject(data)) throw new PrometheusError("malformed query response: no data", "malformed");
    switch (data.resultType) {
      case "scalar":
        return { kind: "value", value: sampleValue(data.result), series: 1 };
      case "vector": {
        if (!Array.isArray(data.result)) throw new PrometheusError("malformed vector result", "malformed");
        if (data.result.length === 0) return { kind: "empty" };
        let best: { value: number; labels: Record<string, string> } | undefined;
        for (const item of data.result) {
          if (!isObject(item)) throw new PrometheusError("malformed vector sample", "malformed");
          const value = sampleValue(item.value);
          if (!best || value > best.value || (Number.isNaN(best.value) && !Number.isNaN(value))) {
            best = { value, labels: stringRecord(item.metric) };
          }
        }
        return {
          kind: "value",
          value: best?.value ?? Number.NaN,
          series: data.result.length,
          labels: best?.labels ?? {},
        };
      }
      default: {
        const type =
          data.resultType === "matrix" || data.resultType === "string" ? data.resultType : "result";
        throw new PrometheusError(
          `query returned a ${type}, not a scalar or an instant vector`,
          "query",
          `query returned a ${String(data.resultType).slice(0, 200)}, not a scalar or an instant vector`,
        );
      }
    }
  }

  /** Runs an instant query that must answer an instant vector, and returns every series of it. */
  async queryVector(promql: string, at?: Date): Promise<VectorSample[]> {
    const params: Record<string, string> = { query: promql };
    if (at) params.time = (at.getTime() / 1000).toFixed(3);
    const data = (await this.get("/api/v1/query", params)) as { resultType?: unknown; result?: unknown };
    if (!isObject(data) || data.resultType !== "vector" || !Array.isArray(data.result)) {
      throw new PrometheusError("query did not return an instant vector", "query");
    }
    return data.result.map((item) => {
      if (!isObject(item)) throw new PrometheusError("malformed vector sample", "malformed");
      return { labels: stringRecord(item.metric), value: sampleValue(item.value) };
    });
  }

  private async get(path: string, params: Record<string, string>): Promise<unknown> {
    const url = new URL(this.address + path);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const { status, body } = await this.request(url, path);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      const detail = `${url.host}${path}: HTTP ${status} with a body that is not JSON (${body.slice(0, 1000)})`;
      if (status >= 400) throw new PrometheusError(`Prometheus answered HTTP ${status}`, "http", detail);
      throw new PrometheusError(
        `Prometheus answered HTTP ${status} with a body that is not JSON`,
        "malformed",
        detail,
      );
    }
    if (!isObject(parsed) || (parsed.status !== "success" && parsed.status !== "error")) {
      throw new PrometheusError(
        `Prometheus answered HTTP ${status} with something other than a Prometheus API response`,
        "malformed",
        `${url.host}${path}: HTTP ${status}, not a Prometheus API envelope: ${body.slice(0, 1000)}`,
      );
    }
    if (parsed.status === "error") {
      const kind = status === 400 || status === 422 ? "query" : "http";
      const errorType = String(parsed.errorType ?? "error");
      const shown = KNOWN_ERROR_TYPES.has(errorType) ? ` (${errorType})` : "";
      throw new PrometheusError(
        kind === "query"
          ? `Prometheus refused the query: HTTP ${status}${shown}`
          : `Prometheus answered HTTP ${status}${shown}`,
        kind,
        `${url.host}${path}: HTTP ${status} ${errorType}: ${String(parsed.error ?? "").slice(0, 1000)}`,
      );
    }
    if (status >= 400) {
      throw new PrometheusError(
        `Prometheus answered HTTP ${status}`,
        "http",
        `${url.host}${path}: HTTP ${status}`,
      );
    }
    return parsed.data;
  }

  private request(url: URL, path: string): Promise<{ status: number; body: string }> {
    const { timeoutMs = 5000, maxBytes = 16 * 1024 * 1024 } = this.settings;
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.settings.bearerToken) headers.authorization = `Bearer ${this.settings.bearerToken}`;
    else if (this.settings.basicAuth) {
      const { username, password } = this.settings.basicAuth;
      headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    }
    const isHttps = url.protocol === "https:";
    if (!isHttps && url.protocol !== "http:") {
      return Promise.reject(new PrometheusError("Prometheus address is not http(s)", "network"));
    }
    return new Promise((resolve, reject) => {
      const options: https.RequestOptions = {
        method: "GET",
        headers,
        ...(isHttps && this.ca && { ca: this.ca }),
      };
      const req = (isHttps ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            req.destroy(
              new PrometheusError(`Prometheus' answer is larger than ${maxBytes} bytes`, "malformed"),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", (e) => reject(asPrometheusError(e, url)));
      });
      // One deadline for connect plus response, not an idle timeout: a slow trickle must not hold
      // a reconcile forever.
      const timer = setTimeout(
        () =>
          req.destroy(
            new PrometheusError(
              `Prometheus did not answer within ${timeoutMs} ms`,
              "timeout",
              `${url.host}${path}: timed out after ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      req.on("close", () => clearTimeout(timer));
      req.on("error", (e) => reject(asPrometheusError(e, url)));
      req.end();
    });
  }
}

function asPrometheusError(error: unknown, url: URL): PrometheusError {
  if (error instanceof PrometheusError) return error;
  const e = error as NodeJS.ErrnoException;
  return new PrometheusError(
    "Prometheus unreachable",
    "network",
    `${url.host}: ${e.code ?? ""} ${e.message}`.trim(),
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

/** A [timestamp, "value"] pair; Prometheus encodes NaN and infinities as strings too. */
function sampleValue(v: unknown): number {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[1] !== "string") {
    throw new PrometheusError('malformed sample: expected [time, "value"]', "malformed");
  }
  const text = v[1];
  if (text === "NaN") return Number.NaN;
  if (text === "+Inf" || text === "Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  const value = Number(text);
  if (Number.isNaN(value)) {
    throw new PrometheusError(
      "malformed sample value",
      "malformed",
      `malformed sample value "${text.slice(0, 200)}"`,
    );
  }
  return value;
}
