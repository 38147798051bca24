// An ExperimentLoop over one FeatureFlag held in memory: the loop's status patches are applied as
// the API server applies them (conditional on the resourceVersion the loop continued from, 409 on
// a stale one), its counters come from a CounterTsdb, and its clock is the test's.
import { pino } from "pino";
import { Registry } from "prom-client";
import type { FeatureFlag } from "../../src/api/index.js";
import { ExperimentLoop } from "../../src/operator/experiments.js";
import type { CounterTsdb } from "./counter-tsdb.js";

export function inMemoryExperimentLoop(initial: FeatureFlag, tsdb: CounterTsdb, now: () => Date) {
  let version = 1;
  const state = { flag: { ...initial, metadata: { ...initial.metadata, resourceVersion: "1" } } };
  /** A new loop process (as after an operator restart or a leader change), on the same flag. */
  const newLoop = () =>
    new ExperimentLoop({
      custom: {
        patchNamespacedCustomObjectStatus: async (req: {
          body: { metadata: { resourceVersion?: string }; status: Record<string, unknown> };
        }) => {
          const expected = req.body.metadata.resourceVersion;
          if (expected !== undefined && expected !== String(version)) throw new Error("409 Conflict");
          version++;
          state.flag = {
            ...state.flag,
            metadata: { ...state.flag.metadata, resourceVersion: String(version) },
            status: { ...state.flag.status, ...(req.body.status as FeatureFlag["status"]) },
          };
          return {};
        },
      } as never,
      prometheus: tsdb.api(),
      listFlags: () => [state.flag],
      log: pino({ level: "silent" }),
      registry: new Registry(),
      now,
    });
  return { state, newLoop };
}
