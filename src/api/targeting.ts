// Targeting resolution, pure: FeatureFlag specs and the namespace's Segments in, per flag the
// resolved rules and prerequisites (or the problem that keeps the flag's last good projection
// serving) out, plus the segments the document must carry. No I/O; validation (and so the reconciler) calls it.

import {
  checkExpression,
  formatProblem,
  MAX_PREREQUISITE_DEPTH,
  prerequisiteCycle,
  type ResolvedFlag,
  type ResolvedPrerequisite,
  type ResolvedRule,
  type ResolvedSegment,
} from "../core/index.js";
import type { FeatureFlagSpec, SegmentSpec } from "./index.js";

/** Why a flag's targeting cannot be resolved; `message` starts with the field it is about. */
export interface TargetingProblem {
  reason:
    | "InvalidRule"
    | "SegmentNotFound"
    | "InvalidSegment"
    | "PrerequisiteNotFound"
    | "PrerequisiteCycle"
    | "PrerequisiteTooDeep";
  message: string;
}

export type ResolvedTargeting = Pick<ResolvedFlag, "rules" | "prerequisites">;

export interface TargetingResolution {
  /** Per flag key without a problem: its rules and prerequisites (empty for a flag without targeting). */
  targeting: Map<string, ResolvedTargeting>;
  problems: Map<string, TargetingProblem>;
  /** The segments the resolved flags name, by name. */
  segments: Record<string, ResolvedSegment>;
}

/** The Segment as it goes into a document. */
export function resolveSegment(spec: SegmentSpec): ResolvedSegment {
  const segment: ResolvedSegment = { included: spec.included ?? [], excluded: spec.excluded ?? [] };
  if (spec.when !== undefined) segment.when = spec.when;
  return segment;
}

/** Names of the segments a flag's rules refer to. */
export function segmentsUsedBy(spec: Pick<FeatureFlagSpec, "rules">): string[] {
  return [...new Set((spec.rules ?? []).flatMap((r) => r.segments ?? []))];
}

/** A Segment's own problem (its `when` does not compile), or undefined. */
export function segmentProblem(spec: SegmentSpec): string | undefined {
  if (spec.when === undefined) return undefined;
  const problem = checkExpression(spec.when);
  return problem ? `spec.when: invalid CEL at ${formatProblem(problem)}` : undefined;
}

function resolveRules(
  spec: FeatureFlagSpec,
  segments: ReadonlyMap<string, SegmentSpec>,
): ResolvedRule[] | TargetingProblem {
  const rules: ResolvedRule[] = [];
  for (const [i, rule] of (spec.rules ?? []).entries()) {
    const field = `spec.rules[${i}]`;
    if (rule.when !== undefined) {
      const problem = checkExpression(rule.when);
      // The admission webhook's wording (src/api/validate.ts), so both places read the same.
      if (problem)
        return { reason: "InvalidRule", message: `${field}.when: invalid CEL at ${formatProblem(problem)}` };
    }
    for (const [j, name] of (rule.segments ?? []).entries()) {
      const segment = segments.get(name);
      if (segment === undefined) {
        return {
          reason: "SegmentNotFound",
          message: `${field}.segments[${j}]: segment "${name}" not found in this namespace`,
        };
      }
      const problem = segmentProblem(segment);
      if (problem)
        return {
          reason: "InvalidSegment",
          message: `${field}.segments[${j}]: segment "${name}": ${problem}`,
        };
    }
    const resolved: ResolvedRule = { name: rule.name, serve: { ...rule.serve } };
    if (rule.when !== undefined) resolved.when = rule.when;
    if (rule.segments?.length) resolved.segments = [...rule.segments];
    rules.push(resolved);
  }
  return rules;
}

function depthOf(
  key: string,
  graph: ReadonlyMap<string, readonly string[]>,
  seen = new Set<string>(),
): number {
  if (seen.has(key)) return 0; // a cycle: reported on its own members
  seen.add(key);
  let depth = 0;
  for (const next of graph.get(key) ?? []) depth = Math.max(depth, 1 + depthOf(next, graph, seen));
  seen.delete(key);
  return depth;
}

/**
 * Resolves targeting for the flags of one namespace. `flags` maps each flag key to its spec;
 * `segments` the namespace's Segments by name. A flag whose prerequisite has a problem keeps
 * its own resolution: the prerequisite's last good projection still answers for it.
 */
export function resolveTargeting(
  flags: ReadonlyMap<string, FeatureFlagSpec>,
  segments: ReadonlyMap<string, SegmentSpec>,
): TargetingResolution {
  const targeting = new Map<string, ResolvedTargeting>();
  const problems = new Map<string, TargetingProblem>();
  for (const [key, spec] of flags) {
    const rules = resolveRules(spec, segments);
    if (!Array.isArray(rules)) {
      problems.set(key, rules);
      continue;
    }
    const missing = (spec.prerequisites ?? []).findIndex((p) => !flags.has(p.flag));
    if (missing >= 0) {
      problems.set(key, {
        reason: "PrerequisiteNotFound",
        message: `spec.prerequisites[${missing}].flag: no flag "${spec.prerequisites?.[missing]?.flag}" in this namespace`,
      });
      continue;
    }
    const resolved: ResolvedTargeting = {};
    if (rules.length) resolved.rules = rules;
    if (spec.prerequisites?.length) {
      resolved.prerequisites = spec.prerequisites.map(
        (p): ResolvedPrerequisite =>
          p.variant === undefined ? { flag: p.flag } : { flag: p.flag, variant: p.variant },
      );
    }
    targeting.set(key, resolved);
  }
  // Cycles and depth are properties of the whole graph: every flag on a cycle gets the problem.
  const graph = new Map(
    [...flags].map(([key, spec]) => [key, (spec.prerequisites ?? []).map((p) => p.flag)]),
  );
  const remaining = Object.fromEntries(
    [...flags].map(([key, spec]) => [key, { prerequisites: spec.prerequisites ?? [] }]),
  );
  for (let cycle = prerequisiteCycle(remaining); cycle; cycle = prerequisiteCycle(remaining)) {
    const message = `spec.prerequisites: cycle ${cycle.join(" -> ")}`;
    for (const key of new Set(cycle)) {
      targeting.delete(key);
      problems.set(key, { reason: "PrerequisiteCycle", message });
      (remaining[key] as { prerequisites: unknown[] }).prerequisites = [];
    }
  }
  for (const key of targeting.keys()) {
    const depth = depthOf(key, graph);
    if (depth > MAX_PREREQUISITE_DEPTH) {
      targeting.delete(key);
      problems.set(key, {
        reason: "PrerequisiteTooDeep",
        message: `spec.prerequisites: chain of ${depth} prerequisites exceeds the limit of ${MAX_PREREQUISITE_DEPTH}`,
      });
    }
  }
  const used: Record<string, ResolvedSegment> = {};
  for (const [key, resolved] of targeting) {
    for (const name of segmentsUsedBy({ rules: resolved.rules })) {
      const segment = segments.get(name);
      if (segment && key) used[name] = resolveSegment(segment);
    }
  }
  return { targeting, problems, segments: used };
}

/**
 * Makes a namespace's resolved flags a valid document: gives it the segments its rules name (the
 * current definition, else the one in the last good document), and leaves out a flag whose
 * prerequisite is not projected, repeating until nothing changes. Returns the flags left out.
 */
export function completeDocument(
  flags: Record<string, ResolvedFlag>,
  current: Readonly<Record<string, ResolvedSegment>>,
  previous: Readonly<Record<string, ResolvedSegment>> | undefined,
): { segments: Record<string, ResolvedSegment>; dropped: Map<string, TargetingProblem> } {
  const dropped = new Map<string, TargetingProblem>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const [key, flag] of Object.entries(flags)) {
      const index = (flag.prerequisites ?? []).findIndex((p) => !(p.flag in flags));
      if (index < 0) continue;
      dropped.set(key, {
        reason: "PrerequisiteNotFound",
        message: `spec.prerequisites[${index}].flag: flag "${flag.prerequisites?.[index]?.flag}" is not projected`,
      });
      delete flags[key];
      changed = true;
    }
  }
  const segments: Record<string, ResolvedSegment> = {};
  for (const [key, flag] of Object.entries(flags)) {
    for (const name of segmentsUsedBy(flag)) {
      const segment = current[name] ?? previous?.[name];
      if (segment) segments[name] = segment;
      else {
        dropped.set(key, { reason: "SegmentNotFound", message: `spec.rules: segment "${name}" not found` });
        delete flags[key];
      }
    }
  }
  return { segments, dropped };
}

const TIMESTAMP_LITERAL = /timestamp\(\s*(?:"([^"]+)"|'([^']+)')\s*\)/g;

/**
 * The next instant after `now` named by a `timestamp("...")` literal in an expression that reads
 * `now` (a flag's rules and the segments they name): when a scheduled change may take effect.
 */
export function nextScheduledChange(
  spec: Pick<FeatureFlagSpec, "rules">,
  segments: ReadonlyMap<string, SegmentSpec>,
  now: Date,
): Date | undefined {
  const expressions = (spec.rules ?? []).flatMap((r) => [
    r.when ?? "",
    ...(r.segments ?? []).map((name) => segments.get(name)?.when ?? ""),
  ]);
  let next: number | undefined;
  for (const expression of expressions) {
    if (!/\bnow\b/.test(expression)) continue;
    for (const m of expression.matchAll(TIMESTAMP_LITERAL)) {
      const at = Date.parse((m[1] ?? m[2]) as string);
      if (Number.isFinite(at) && at > now.getTime() && (next === undefined || at < next)) next = at;
    }
  }
  return next === undefined ? undefined : new Date(next);
}
