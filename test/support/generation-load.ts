// Concurrent OFREP load against a sidecar whose document is being replaced, generation after
// generation, checking every answer: each generation's flags serve "gen-<g>", so an answer mixing
// two documents, or coming from a generation outside the window the test says may be served,
// is visible. Shared by the sidecar's file-swap test and the fault suite's churn test.
import type { FlagDocument, ResolvedFlag } from "../../src/core/index.js";
import { makeDocument } from "./flag-documents.js";

/** Generation g: `flags` flags off for everyone serving "gen-g"; "sometimes" only in even ones. */
export function generationDocument(g: number, flags: number): FlagDocument {
  const out: Record<string, Partial<ResolvedFlag>> = {};
  for (let i = 0; i < flags; i++)
    out[`flag-${i}`] = { percent: 0, enabled: i % 2 === 0, defaultValue: `gen-${g}` };
  if (g % 2 === 0) out.sometimes = { percent: 100 };
  return makeDocument(out);
}

export interface GenerationLoadOptions {
  /** The sidecar's base URL. */
  url: string;
  /** Flags per generation (as passed to generationDocument). */
  flags: number;
  workers: number;
  /**
   * The generations an answer may come from: `confirmed()` read before the request (the newest
   * known to serve) up to `started()` read after it (the newest whose write has begun).
   */
  confirmed(): number;
  started(): number;
}

export interface GenerationLoad {
  /** Stops the workers; resolves with the requests made and every problem seen. */
  stop(): Promise<{ requests: number; problems: string[] }>;
}

const genOf = (value: unknown) => Number(String(value).replace(/^gen-/, ""));

export function startGenerationLoad(options: GenerationLoadOptions): GenerationLoad {
  const { url: base, flags } = options;
  let stopped = false;
  let requests = 0;
  const problems: string[] = [];

  async function worker(id: number) {
    for (let n = 0; !stopped; n++) {
      const lo = options.confirmed();
      const bulk = (n + id) % 2 === 0;
      const url = bulk
        ? `${base}/ofrep/v1/evaluate/flags`
        : `${base}/ofrep/v1/evaluate/flags/flag-${n % flags}`;
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ context: { targetingKey: `user-${id}-${n}` } }),
        });
        const body = (await res.json()) as { flags?: { key: string; value: unknown }[]; value?: unknown };
        const hi = options.started();
        requests++;
        if (res.status !== 200) {
          problems.push(`${url}: HTTP ${res.status} ${JSON.stringify(body)}`);
          continue;
        }
        const values = bulk
          ? (body.flags ?? []).filter((f) => f.key.startsWith("flag-")).map((f) => f.value)
          : [body.value];
        const gens = new Set(values.map(genOf));
        if (bulk && values.length !== flags) problems.push(`bulk answer with ${values.length} flags`);
        if (gens.size !== 1) {
          problems.push(`mixed answer: generations ${[...gens].join(",")}`);
          continue;
        }
        const g = [...gens][0] as number;
        if (g < lo || g > hi) problems.push(`answer from generation ${g}, expected ${lo}..${hi}`);
        if (bulk && (body.flags ?? []).some((f) => f.key === "sometimes") !== (g % 2 === 0)) {
          problems.push(`generation ${g} answer with the wrong flag set`);
        }
      } catch (error) {
        problems.push(`${url}: ${(error as Error).message}`);
      }
    }
  }

  const running = Array.from({ length: options.workers }, (_, i) => worker(i));
  return {
    async stop() {
      stopped = true;
      await Promise.all(running);
      return { requests, problems };
    },
  };
}
