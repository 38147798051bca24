// Shared test helpers: documents, a kubelet-style atomic writer and a sidecar on a free port.
import { pino } from "pino";
import { type Sidecar, type SidecarOptions, startSidecar } from "../../../src/sidecar/index.js";

export { flag, kubeletWrite, makeDocument, tempDir } from "../../support/flag-documents.js";

export const silentLogger = pino({ level: "silent" });

export async function startTestSidecar(
  options: Partial<SidecarOptions> & Pick<SidecarOptions, "source">,
): Promise<Sidecar> {
  return startSidecar({
    host: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    defaultMetrics: false,
    ...options,
  });
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  };
}

/** Value of one sample in Prometheus text exposition, or undefined. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}
