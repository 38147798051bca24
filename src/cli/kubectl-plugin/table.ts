// The `kubectl flagwright status` table.
import { type FeatureFlag, flagKey } from "../../api/index.js";

const HEADERS = [
  "KEY",
  "PHASE",
  "STEP",
  "CURRENT",
  "TARGET",
  "LAST ANALYSIS",
  "ROLLBACK",
  "NEXT CHANGE",
] as const;

function ago(at: string | undefined, now: Date): string {
  const t = at ? Date.parse(at) : Number.NaN;
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((now.getTime() - t) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86_400)}d ago`;
}

export function statusRow(flag: FeatureFlag, now: Date): string[] {
  const s = flag.status ?? {};
  const steps = flag.spec.rollout?.canary?.steps;
  const controls = s.controls ?? {};
  let phase: string = s.phase ?? "Pending";
  if (phase === "Paused") phase = controls.paused ? "Paused" : "Paused (analysis)";
  const step = steps && s.currentStepIndex !== undefined ? `${s.currentStepIndex + 1}/${steps.length}` : "-";
  const current = s.currentPercent === undefined ? "-" : `${s.currentPercent}%`;
  const killed = controls.killed ? " (killed)" : "";
  const target = `${flag.spec.rollout?.percent ?? 100}%`;
  const last = s.lastAnalysis?.result
    ? `${s.lastAnalysis.result}${s.lastAnalysis.consecutiveFailures ? ` x${s.lastAnalysis.consecutiveFailures}` : ""} ${ago(s.lastAnalysis.at, now)}`.trim()
    : "-";
  const r = s.rollback;
  const rollback =
    s.phase === "RolledBack" && r
      ? [r.reason, r.alertName ?? (r.value !== undefined ? `value ${r.value}` : undefined), ago(r.at, now)]
          .filter(Boolean)
          .join(" ")
      : "-";
  return [
    flagKey(flag),
    phase,
    step,
    `${current}${killed}`,
    flag.spec.enabled ? target : `${target} (disabled)`,
    last,
    rollback,
    // A rule reading `now` changes answers at this instant (status.nextScheduledChange).
    s.nextScheduledChange ? `${s.nextScheduledChange} (${until(s.nextScheduledChange, now)})` : "-",
  ];
}

function until(at: string, now: Date): string {
  const s = Math.max(0, Math.round((Date.parse(at) - now.getTime()) / 1000));
  if (s < 120) return `in ${s}s`;
  if (s < 7200) return `in ${Math.round(s / 60)}m`;
  if (s < 172_800) return `in ${Math.round(s / 3600)}h`;
  return `in ${Math.round(s / 86_400)}d`;
}

export function statusTable(flags: FeatureFlag[], now: Date): string {
  const rows = [HEADERS as readonly string[], ...flags.map((f) => statusRow(f, now))];
  const widths = HEADERS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return `${rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("   ")).join("\n")}\n`;
}
