// `npm run demo`: Flagwright end to end on this machine, nothing to install but Node and Go. It
// starts a real control plane (kube-apiserver + etcd), Prometheus and Alertmanager
// with the project's rules, the operator, a sidecar and a demo app whose simulated users ask the
// sidecar for a canary flag; it applies the canary, shows the ramp 1 → 5 → 25 → 50 → 100 % live,
// then ships a "bug" and shows the automatic rollback to 0 %; then a guarded rollout: a second flag
// whose bug triples flag-on users' error rate at 5 % exposure, too little for the absolute alert,
// rolled back by the cohort comparison. Everything it starts is stopped and removed on exit, on
// Ctrl-C and when its parent goes away. With --gitops, the flag comes from a Git repository
// synced by real Argo CD instead, and a commit (0 → 25 %) drives what the sidecar answers; with
// --node, the ramp and the rollback run in real pods on a real node (scripts/demo/node.ts).
// See docs/demo.md.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { type FeatureFlag, GROUP, PLURAL, VERSION } from "../src/api/index.js";
import { bucketOf } from "../src/core/index.js";
import {
  ensureClusterBinaries,
  installCrds,
  kubectl,
  type RunningCluster,
  startCluster,
} from "../test/cluster/cluster.js";
import { type Application, IN_CLUSTER, shippedArgocdCm, startArgocd } from "../test/support/argocd.js";
import { argocdVersion, ensureArgocd } from "../test/support/argocd-build.js";
import { startGitServer } from "../test/support/git-server.js";
import { type OperatorProcess, startOperator } from "../test/support/operator.js";
import {
  ensurePrometheusBinaries,
  freePort,
  RULE_FILE,
  startAlertmanager,
  startPrometheus,
} from "../test/support/prometheus.js";
import { ensureHelm } from "../test/unit/chart/helm.js";
import { type DemoApp, type Sweep, startDemoApp } from "./demo/app.js";
import { bar, colours, type Display, liveDisplay, plainDisplay } from "./demo/display.js";
import { nodeDemo } from "./demo/node.js";
import { type SidecarProcess, startSidecar } from "./demo/sidecar.js";

const usage = `Usage: npm run demo [-- OPTIONS]

Flagwright end to end on this machine, in about a minute:
  1. starts a local Kubernetes control plane (kube-apiserver + etcd), Prometheus 3 and
     Alertmanager on 127.0.0.1 (all built from Go modules on the first run, which takes several
     minutes, and cached under ~/.cache/flagwright) with deploy/prometheus/flagwright-rules.yaml,
     the operator, a sidecar and a demo app whose simulated users ask the sidecar (OFREP) for the
     flag;
  2. applies a canary FeatureFlag (1 → 5 → 25 → 50 → 100 %, analysis on the error-rate alert)
     and shows the ramp live: phase, step, percent, and how many users the sidecar really serves;
  3. makes the new code path fail, and shows the alert firing and the automatic rollback to 0 %,
     its reason, and how long it took; then a summary;
  4. a guarded rollout: a second flag whose bug takes flag-on users from 1 % to 3 % errors at 5 %
     exposure (below the alert's 5 %), rolled back by comparing flag-on with flag-off users.
Everything it starts is stopped and removed on exit, on Ctrl-C and when its parent exits.

Options:
  --ci                non-interactive: short pauses, plain line-by-line output, a hard deadline
                      (also when CI=true or stdout is not a terminal)
  --pause <duration>  pause of each ramp step (default: 5s, 2s with --ci, 10s with --node)
  --users <n>         simulated users (default: 1000, 200 with --node)
  --deadline <s>      give up after this many seconds, not counting a first-run build
                      (default: 210 with --ci, 600 otherwise and with --node)
  --gitops            instead of steps 2-4: a local Git repository holds the flag, real Argo CD
                      (v3.2, built from Go modules on first use) syncs it, and a commit changing
                      its percent 0 → 25 drives the sidecar's answers (needs root: a firewall rule
                      keeps Argo CD's controller metrics port, bound on all interfaces, on loopback)
  --node              steps 1-3 with real pods (needs root, Linux, and the packages .ci/run
                      installs): a real node on this machine (containerd, kubelet, kube-proxy,
                      controller-manager, scheduler), the image built from the Dockerfile, \`helm
                      install\` of the chart, an app Deployment whose pods get the injected sidecar;
                      the users' requests go to the pods and Prometheus scrapes them
  -h, --help          show this help

Needs Node 20.19+ and Go 1.26+ (the first run builds the Go programs).`;

const NAMESPACE = "flagwright-demo";
const FLAG = "new-checkout";
const ALERT = "FlagwrightFlagErrorRateHigh";
const RAMP = [1, 5, 25, 50, 100];
/** Share of new-path requests that fail once the "bug" ships. */
const BUG_ERROR_RATIO = 0.5;

const { values } = parseArgs({
  options: {
    ci: { type: "boolean", default: false },
    pause: { type: "string" },
    users: { type: "string" },
    deadline: { type: "string" },
    gitops: { type: "boolean", default: false },
    node: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const ciEnv = process.env.CI !== undefined && !["", "0", "false"].includes(process.env.CI.toLowerCase());
const ci = values.ci || ciEnv || !process.stdout.isTTY;
// Real pods answer slower than a local sidecar (and a sidecar's 10m CPU request gets little on a
// busy node): the node demo sweeps fewer users and pauses longer, so a sweep fits in a step.
const pause = values.pause ?? (values.node ? "10s" : ci ? "2s" : "5s");
const userCount = Number(values.users ?? (values.node ? 200 : 1000));
const deadlineSeconds = Number(values.deadline ?? (values.node ? 600 : ci ? 210 : 600));
if (!Number.isInteger(userCount) || userCount < 10 || userCount > 100_000) {
  console.error("flagwright demo: --users must be a whole number from 10 to 100000");
  process.exit(2);
}
if (values.gitops && values.node) {
  console.error("flagwright demo: --gitops and --node are separate demos; choose one");
  process.exit(2);
}
if (!(deadlineSeconds > 0)) {
  console.error("flagwright demo: --deadline must be a positive number of seconds");
  process.exit(2);
}
if (!/^\d+(ms|s|m)$/.test(pause)) {
  console.error("flagwright demo: --pause must be a duration such as 2s, 500ms or 1m");
  process.exit(2);
}

const c = colours(!ci);
const demoStart = Date.now();
const display: Display = ci ? plainDisplay(demoStart) : liveDisplay(demoStart);
const say = (text: string) => display.line(text);

// ---- cleanup: everything started registers how to undo itself; undone newest first, once ----

const cleanups: { what: string; run: () => Promise<void> | void }[] = [];
const onCleanup = (what: string, run: () => Promise<void> | void) => cleanups.push({ what, run });
/**
 * Registers the undo of a start before the start has finished, so an interruption while a part
 * is still coming up stops it too (once it is up, or at once if it failed to start).
 */
function started<T>(what: string, starting: Promise<T>, stop: (value: T) => Promise<void>): Promise<T> {
  onCleanup(what, async () => {
    const value = await starting.catch(() => undefined);
    if (value !== undefined) await stop(value);
  });
  // Once the demo is finishing, the run stops here: nothing new starts after the cleanup began.
  return starting.then((value) => (finishing ? new Promise<never>(() => {}) : value));
}
let finishing = false;
let stage = "starting";

async function finish(code: number, message?: string): Promise<never> {
  if (finishing) return new Promise<never>(() => {});
  finishing = true;
  clearInterval(refresh);
  display.close();
  if (message) (code === 0 ? console.log : console.error)(message);
  const undone: string[] = [];
  // Newest first; anything registered meanwhile (a start that was under way) is undone too.
  for (let next = cleanups.pop(); next; next = cleanups.pop()) {
    const { what, run } = next;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        run(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("timed out after 30 s")), 30_000);
        }),
      ]);
      undone.push(what);
    } catch (error) {
      console.error(`cleanup: ${what}: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
  if (undone.length) console.log(`cleaned up: ${undone.join(", ")}`);
  process.exit(code);
}

function failed(error: unknown): Promise<never> {
  const lines = [`${c.red("demo failed:")} ${(error as Error).message ?? String(error)}`];
  if (operator)
    lines.push("operator log (last lines):", ...operator.logs.slice(-8).map((l) => `  ${JSON.stringify(l)}`));
  if (sidecar) lines.push("sidecar log (last lines):", ...sidecar.logs.slice(-5).map((l) => `  ${l}`));
  return finish(1, lines.join("\n"));
}

process.on("SIGINT", () => void finish(130, "interrupted (SIGINT): stopping everything the demo started..."));
process.on(
  "SIGTERM",
  () => void finish(143, "terminated (SIGTERM): stopping everything the demo started..."),
);
process.on("SIGHUP", () => void finish(129, "hung up (SIGHUP): stopping everything the demo started..."));
// npm does not pass SIGTERM on to its script, and runs it under `sh -c`: when our parent or its
// parent (npm) goes away, so do we.
const parentOf = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
};
const parent = process.ppid;
const grandparent = parentOf(parent);
setInterval(() => {
  if (process.ppid !== parent || parentOf(parent) !== grandparent) {
    void finish(1, "the demo's parent process exited: stopping everything...");
  }
}, 500).unref();

// ---- the parts ----

let operator: OperatorProcess | undefined;
let sidecar: SidecarProcess | undefined;
let app: DemoApp | undefined;

interface Firing {
  activeAt: number;
  value: number;
}
interface StepRecord {
  index: number;
  percent: number;
  at: number;
  expected: number;
  /** When a sweep first matched the buckets, and its count. */
  servedAt?: number;
  served?: number;
}

const state = {
  flag: undefined as FeatureFlag | undefined,
  firing: undefined as Firing | undefined,
  appliedAt: 0,
  bugAt: 0,
  rolledBackSeenAt: 0,
  allOffAt: 0,
  steps: [] as StepRecord[],
};

const fmtS = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(1)}%`;
const alertLabel = `${ALERT}{flag="${FLAG}"}`;

function manifest(): string {
  const steps = RAMP.map(
    (percent, i) => `        - { percent: ${percent}, pause: ${i === RAMP.length - 1 ? "10m" : pause} }`,
  );
  return [
    `apiVersion: ${GROUP}/${VERSION}`,
    "kind: FeatureFlag",
    "metadata:",
    `  name: ${FLAG}`,
    `  namespace: ${NAMESPACE}`,
    "spec:",
    "  description: The redesigned one-page checkout (Flagwright demo).",
    "  owner: team-checkout",
    "  enabled: true",
    "  rollout:",
    "    percent: 100",
    "    canary:",
    "      steps:",
    ...steps,
    "      analysis:",
    "        alerts:",
    `          - alertName: ${ALERT}`,
    `            matchLabels: { flag: ${FLAG} }`,
    "        interval: 1s",
    "        failureLimit: 1",
    "        onFailure: rollback",
    "",
  ].join("\n");
}

/** Users whose bucket puts them in at `percent` (the seed article's rule; the sidecar must agree). */
function expectedOn(users: string[], percent: number): number {
  return users.filter((u) => bucketOf(FLAG, u) < percent).length;
}

function statusBlock(): string[] {
  const s = state.flag?.status;
  const total = RAMP.length;
  const phase = s?.phase ?? (state.appliedAt ? "Pending" : "not applied yet");
  const percent = s?.currentPercent ?? 0;
  const step = s?.currentStepIndex === undefined ? "-" : `${s.currentStepIndex + 1}/${total}`;
  const phaseText =
    phase === "RolledBack" ? c.red(phase) : phase === "Progressing" ? c.green(phase) : c.yellow(phase);
  const last = app?.last;
  const rates = app?.rates() ?? { total: 0, onPath: 0, errors: 0 };
  const alert = state.firing ? c.red("FIRING") : c.green("not firing");
  const analysis = s?.lastAnalysis
    ? `last check ${s.lastAnalysis.result} ${((Date.now() - Date.parse(s.lastAnalysis.at ?? "")) / 1000 || 0).toFixed(1)} s ago`
    : "no check yet";
  return [
    c.dim("─".repeat(72)),
    ` ${c.bold(FLAG)}  ${phaseText}  step ${step}  flag at ${String(percent).padStart(3)}%  ${bar(percent / 100)}`,
    ` users served the new checkout by the sidecar: ${last ? `${pct(last.on, last.total).padStart(6)} (${last.on}/${last.total})` : "-"}  ${bar(last ? last.on / last.total : 0)}`,
    ` traffic ${Math.round(rates.total)} req/s, ${Math.round(rates.onPath)} on the new path, ${c[rates.errors > 0 ? "red" : "dim"](`${Math.round(rates.errors)} errors/s`)}`,
    ` alert ${alertLabel}: ${alert}; ${analysis}`,
    c.dim(` stage: ${stage}.  Ctrl-C stops the demo and removes everything it started.`),
  ];
}
const refresh = setInterval(() => {
  if (!ci && !finishing) display.block(statusBlock());
}, 250);

// ---- the run ----

async function main(): Promise<void> {
  say(
    c.bold(
      values.node
        ? `Flagwright demo on a real node: the chart installed with helm, an app whose pods get the sidecar, a canary ramping ${RAMP.join(" → ")} % over real pods, then a bug and the rollback.`
        : values.gitops
          ? `Flagwright demo, GitOps: Argo CD ${argocdVersion()} syncs ${FLAG} from Git, and a commit changing its percent 0 → 25 reaches the sidecar's answers.`
          : `Flagwright demo: a canary flag ramps ${RAMP.join(" → ")} % under Prometheus analysis, then a bug ships and it rolls back on its own.`,
    ),
  );
  if (values.node) return nodeAct();
  stage = "preparing the control plane, Prometheus and Alertmanager binaries";
  await ensureClusterBinaries((line) => say(`control plane: ${line}`));
  await ensurePrometheusBinaries((line) => say(`prometheus: ${line}`));
  if (values.gitops) await ensureArgocd((line) => say(`argo cd: ${line}`));
  const deadline = setTimeout(
    () =>
      void failed(
        new Error(
          `deadline of ${deadlineSeconds} s passed while ${stage} (raise it with --deadline SECONDS)`,
        ),
      ),
    deadlineSeconds * 1000,
  );
  deadline.unref();

  const dir = mkdtempSync(join(tmpdir(), "flagwright-demo-"));
  onCleanup("temp folder", () => rmSync(dir, { recursive: true, force: true }));
  const token = `demo-${Math.random().toString(36).slice(2)}`;
  const tokenFile = join(dir, "webhook-token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });

  stage = "starting the control plane, Prometheus and Alertmanager";
  say("starting the control plane (kube-apiserver + etcd), Prometheus and Alertmanager on 127.0.0.1...");
  const demoApp = await started("demo app", startDemoApp({ flag: FLAG, users: userCount }), (a) => a.stop());
  app = demoApp;
  const guardedApp = await started(
    "guarded demo app",
    startDemoApp({ flag: GUARDED_FLAG, users: userCount }),
    (a) => a.stop(),
  );
  const operatorPort = await freePort();

  const clusterReady = (async () => {
    const t0 = Date.now();
    const cl = await started("control plane", startCluster(), (x) => x.stop());
    await installCrds(cl);
    await kubectl(cl, ["create", "namespace", NAMESPACE]);
    say(
      `control plane: API server ${cl.server} ready in ${fmtS(Date.now() - t0)}, FeatureFlag CRD installed`,
    );
    return cl;
  })();
  const monitoringReady = (async () => {
    const am = await started(
      "alertmanager",
      startAlertmanager({
        webhookUrl: `http://127.0.0.1:${operatorPort}/webhooks/alertmanager`,
        token,
      }),
      (x) => x.dispose(),
    );
    const prom = await started(
      "prometheus",
      // The namespace label Kubernetes service discovery would add: the operator confines a flag's
      // queries to the flag's namespace.
      startPrometheus({
        targets: [demoApp.target, guardedApp.target],
        targetLabels: { namespace: NAMESPACE },
        alertmanagers: [am.target],
      }),
      (x) => x.dispose(),
    );
    say(
      `prometheus: ${prom.url} (rules ${RULE_FILE.replace(/.*\/deploy\//, "deploy/")}, scraping the demo app every 1 s); alertmanager: ${am.url}, receiver = the operator's webhook`,
    );
    return prom;
  })();
  // Both settle before going on, so a failure in one never leaves the other half-registered.
  const [cl, prom] = await Promise.all([clusterReady, monitoringReady]);

  stage = "starting the operator and the sidecar";
  const operatorReady = (async () => {
    const op = await started(
      "operator",
      startOperator(
        [
          "--namespaces",
          NAMESPACE,
          "--http-address",
          `127.0.0.1:${operatorPort}`,
          "--prometheus-url",
          prom.url,
          "--webhook-token-file",
          tokenFile,
        ],
        { kubeconfig: cl.kubeconfig },
      ),
      (x) => stopOrKill(x.child, x.exited),
    );
    operator = op;
    void op.exited.then((code) => {
      if (!finishing) void failed(new Error(`the operator exited unexpectedly (exit ${code})`));
    });
    void watchdog(op.url);
    say(
      `operator: watching namespace ${NAMESPACE}, analysis against Prometheus, Alertmanager webhook at ${op.url}/webhooks/alertmanager`,
    );
  })();
  const sidecarReady = (async () => {
    const sc = await started("sidecar", startSidecar(`${NAMESPACE}/flagwright-flags`, cl.kubeconfig), (x) =>
      stopOrKill(x.child, x.exited),
    );
    sidecar = sc;
    void sc.exited.then((code) => {
      if (!finishing) void failed(new Error(`the sidecar exited unexpectedly (exit ${code})`));
    });
    say(`sidecar: OFREP at ${sc.url}, watching ConfigMap ${NAMESPACE}/flagwright-flags`);
    return sc;
  })();
  const [, sc] = await Promise.all([operatorReady, sidecarReady]);

  demoApp.startTraffic(sc.url);
  say(
    `demo app: ${userCount} simulated users, each asking the sidecar "is ${FLAG} on for me?" several times a second; metrics at http://${demoApp.target}/metrics`,
  );

  // Watch the flag (status) and the alert for the rest of the run.
  const kc = new KubeConfig();
  kc.loadFromFile(cl.kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let polling = true;
  onCleanup("status polling", () => {
    polling = false;
  });
  const pollFlag = async () => {
    while (polling) {
      try {
        state.flag = (await custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: NAMESPACE,
          plural: PLURAL,
          name: FLAG,
        })) as FeatureFlag;
        onFlag(state.flag);
      } catch {
        // not created yet, or a transient error: look again
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const pollAlert = async () => {
    while (polling) {
      try {
        const res = await fetch(`${prom.url}/api/v1/alerts`, { signal: AbortSignal.timeout(2000) });
        const body = (await res.json()) as {
          data: {
            alerts: { labels: Record<string, string>; state: string; activeAt: string; value: string }[];
          };
        };
        const hit = body.data.alerts.find(
          (a) => a.labels.alertname === ALERT && a.labels.flag === FLAG && a.state === "firing",
        );
        if (hit && !state.firing) {
          state.firing = { activeAt: Date.parse(hit.activeAt), value: Number(hit.value) };
          say(
            `${c.red("alert firing:")} ${alertLabel} in Prometheus, active since ${fmtS(state.firing.activeAt - state.bugAt)} after the bug shipped (error ratio ${(100 * state.firing.value).toFixed(1)}% over 1m, threshold 5%)`,
          );
          maybeReportRollback();
        }
      } catch {
        // Prometheus busy: look again
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  void pollFlag();
  void pollAlert();
  demoApp.onSweep(onSweep);

  // A few sweeps of baseline traffic first (everyone off): warms the app and the sidecar up, and
  // gives Prometheus samples before the flag depends on them.
  stage = "sending baseline traffic";
  let sweeps = 0;
  demoApp.onSweep(() => {
    sweeps++;
  });
  await until(() => sweeps >= 3);

  if (values.gitops) {
    await gitopsAct(cl, kc, custom, demoApp);
    polling = false;
    clearTimeout(deadline);
    return;
  }

  // Apply the canary.
  stage = "applying the canary flag";
  const yaml = manifest();
  say(`applying the canary FeatureFlag (kubectl apply -f -):\n${yaml.trimEnd().replace(/^/gm, "    ")}`);
  state.appliedAt = Date.now();
  await kubectl(cl, ["apply", "-f", "-"], yaml);

  stage = `ramping ${RAMP.join(" → ")} %`;
  await until(() => {
    const top = state.steps.at(-1);
    return top?.index === RAMP.length - 1 && top.servedAt !== undefined;
  });
  const rampDone = Date.now();
  const bake = ci ? 1000 : 4000;
  stage = "holding at 100% (the last step's bake)";
  say(
    `at 100%: the last step holds for a 10m bake before Completed; a bug ships ${bake / 1000} s into it...`,
  );
  await new Promise((resolve) => setTimeout(resolve, bake));

  stage = "waiting for the alert and the rollback";
  demoApp.setErrorRatio(BUG_ERROR_RATIO);
  state.bugAt = Date.now();
  say(
    `${c.red("bug shipped:")} ${BUG_ERROR_RATIO * 100}% of requests on the new checkout path now fail (HTTP 500); Prometheus evaluates ${ALERT} every 1 s`,
  );
  await until(() => state.allOffAt > 0 && state.firing !== undefined && rollbackReported);

  stage = "writing the summary";
  await summary(cl, rampDone);
  await guardedRollout(cl, custom, prom.url, guardedApp, sc.url);
  polling = false;
  clearTimeout(deadline);
}

let rollbackReported = false;
let lastPhase = "";

function onFlag(flag: FeatureFlag) {
  const s = flag.status;
  if (!s?.phase) return;
  const index = s.currentStepIndex ?? 0;
  if (s.phase !== lastPhase && !(s.phase === "Progressing" && lastPhase === "")) {
    if (s.phase !== "RolledBack") say(`phase ${s.phase}${lastPhase ? ` (was ${lastPhase})` : ""}`);
  }
  lastPhase = s.phase;
  if ((s.phase === "Progressing" || s.phase === "Paused") && state.steps.at(-1)?.index !== index) {
    const percent = s.currentPercent ?? 0;
    const record: StepRecord = {
      index,
      percent,
      at: Date.now(),
      expected: expectedOn(app?.users ?? [], percent),
    };
    state.steps.push(record);
    const since = state.appliedAt ? ` (${fmtS(record.at - state.appliedAt)} after apply)` : "";
    say(
      `${c.bold(`step ${index + 1}/${RAMP.length}`)}: phase ${s.phase}, flag at ${percent}%${since}; last check: ${s.lastAnalysis?.result ?? "-"}`,
    );
  }
  if (s.phase === "RolledBack" && !state.rolledBackSeenAt) {
    state.rolledBackSeenAt = Date.now();
    maybeReportRollback();
  }
}

function maybeReportRollback() {
  const s = state.flag?.status;
  // Reported once Prometheus' side is known too, so the lines read in cause-and-effect order.
  if (rollbackReported || !state.rolledBackSeenAt || !s?.rollback || !state.firing) return;
  rollbackReported = true;
  const rb = s.rollback;
  const rbAt = Date.parse(rb.at ?? "");
  const via = rb.message?.includes("(Alertmanager)")
    ? "pushed by Alertmanager's webhook"
    : "polled from Prometheus";
  const fromAlert = `, ${fmtS(rbAt - state.firing.activeAt)} after the alert fired`;
  say(
    `${c.red(c.bold("ROLLED BACK to 0%"))}: phase ${s.phase}, current ${s.currentPercent}%, reason ${rb.reason}, alert ${rb.alertName ?? "-"} (${via})${fromAlert}`,
  );
  say(`  rollback record: from step ${(rb.stepIndex ?? 0) + 1} at ${rb.percent}%: ${rb.message ?? ""}`);
}

function onSweep(sweep: Sweep) {
  if (process.env.FLAGWRIGHT_DEMO_DEBUG)
    say(`sweep ${sweep.on}/${sweep.total} in ${sweep.endedAt - sweep.startedAt} ms`);
  const step = state.steps.at(-1);
  if (step && step.servedAt === undefined && sweep.startedAt >= step.at && sweep.on === step.expected) {
    step.servedAt = sweep.endedAt;
    step.served = sweep.on;
    say(
      `  sidecar: ${sweep.on}/${sweep.total} users (${pct(sweep.on, sweep.total)}) now get ${FLAG} — exactly the users whose bucket is below ${step.percent}; ${fmtS(sweep.endedAt - step.at)} after the step`,
    );
  }
  if (
    state.rolledBackSeenAt &&
    !state.allOffAt &&
    sweep.startedAt >= state.rolledBackSeenAt &&
    sweep.on === 0
  ) {
    state.allOffAt = sweep.endedAt;
    const fromAlert = state.firing
      ? `, ${fmtS(sweep.endedAt - state.firing.activeAt)} after the alert fired`
      : "";
    say(`  sidecar: 0/${sweep.total} users get ${FLAG} any more${fromAlert}`);
  }
}

async function summary(cl: RunningCluster, rampDone: number) {
  const flag = state.flag as FeatureFlag;
  const s = flag.status ?? {};
  const rb = s.rollback ?? {};
  const firing = state.firing as Firing;
  const rbAt = Date.parse(rb.at ?? "");
  const lines = [
    "",
    c.bold("summary"),
    `  ramp      ${state.steps.map((st) => `${st.percent}%`).join(" → ")} in ${fmtS(rampDone - state.appliedAt)} from kubectl apply, analysis passing at every step`,
    `  users     the sidecar served ${state.steps.map((st) => `${st.served ?? "?"}`).join(", ")} of ${userCount} users at those steps: exactly the deterministic buckets, each within ${fmtS(Math.max(...state.steps.map((st) => (st.servedAt ?? st.at) - st.at)))} of the step`,
    `  the bug   ${BUG_ERROR_RATIO * 100}% of new-path requests failing from +${((state.bugAt - demoStart) / 1000).toFixed(1)}s; ${alertLabel} firing ${fmtS(firing.activeAt - state.bugAt)} later`,
    `  rollback  to 0% ${fmtS(rbAt - firing.activeAt)} after the alert fired (reason ${rb.reason}, alert ${rb.alertName}); every simulated user off ${fmtS(state.allOffAt - firing.activeAt)} after it fired`,
    `  gitops    spec untouched (generation ${flag.metadata?.generation}); phase ${s.phase}, the decision lives in status. Retry with: kubectl flagwright retry ${FLAG} -n ${NAMESPACE}`,
  ];
  say(lines.join("\n"));
  // The same table an operator's user would look at.
  let out = "";
  const { runPlugin } = await import("../src/cli/kubectl-plugin/program.js");
  const code = await runPlugin(["status", "-n", NAMESPACE, "--kubeconfig", cl.kubeconfig], {
    out: (t: string) => {
      out += t;
    },
    err: (t: string) => {
      out += t;
    },
  });
  say(
    `kubectl flagwright status -n ${NAMESPACE}${code === 0 ? "" : ` (exit ${code})`}:\n${out.trimEnd().replace(/^/gm, "  ")}`,
  );
}

// ---- act 2: a guarded rollout (issue 21) ----

const GUARDED_FLAG = "new-search";
/** Background errors both paths share, and what the bug adds on the new path: 1 % -> 3 %. */
const BASE_ERROR_RATIO = 0.01;
const GUARDED_BUG_RATIO = 0.02;

function guardedManifest(): string {
  return [
    `apiVersion: ${GROUP}/${VERSION}`,
    "kind: FeatureFlag",
    "metadata:",
    `  name: ${GUARDED_FLAG}`,
    `  namespace: ${NAMESPACE}`,
    "spec:",
    "  description: The new search ranking, guarded by a flag-on vs flag-off comparison (Flagwright demo).",
    "  owner: team-search",
    "  enabled: true",
    "  rollout:",
    "    percent: 100",
    "    canary:",
    "      steps:",
    "        - { percent: 5, pause: 10m }",
    "        - { percent: 25, pause: 10m }",
    "        - { percent: 100 }",
    "      analysis:",
    "        alerts:",
    `          - alertName: ${ALERT}`,
    `            matchLabels: { flag: ${GUARDED_FLAG} }`,
    "        cohort:",
    "          requests: http_requests_total",
    '          errors: http_requests_total{code="500"}',
    "          maxRelativeDegradation: 0.5",
    "        interval: 1s",
    "        onFailure: rollback",
    "",
  ].join("\n");
}

/**
 * A flag whose users' error rate triples at 5 % exposure: the absolute alert (5 % of flagged
 * requests failing) stays silent, the cohort comparison rolls it back. Prints which comparison
 * and with what interval.
 */
async function guardedRollout(
  cl: RunningCluster,
  custom: CustomObjectsApi,
  prometheusUrl: string,
  guardedApp: DemoApp,
  sidecarUrl: string,
): Promise<void> {
  stage = "guarded rollout: baseline traffic";
  say(
    c.bold(
      `\nguarded rollout: ${GUARDED_FLAG}'s app labels every request with feature_flag_key and feature_flag_result_variant (OpenTelemetry's names), ${BASE_ERROR_RATIO * 100}% background errors on both paths`,
    ),
  );
  guardedApp.setBaseErrorRatio(BASE_ERROR_RATIO);
  guardedApp.startTraffic(sidecarUrl);
  let sweeps = 0;
  guardedApp.onSweep(() => {
    sweeps++;
  });
  await until(() => sweeps >= 3);
  const yaml = guardedManifest();
  say(`applying (kubectl apply -f -):\n${yaml.trimEnd().replace(/^/gm, "    ")}`);
  await kubectl(cl, ["apply", "-f", "-"], yaml);
  const get = async () =>
    (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NAMESPACE,
      plural: PLURAL,
      name: GUARDED_FLAG,
    })) as FeatureFlag;
  stage = "guarded rollout: first comparison at 5%";
  let first: FeatureFlag | undefined;
  while (!first) {
    const f = await get().catch(() => undefined);
    if (f?.status?.lastAnalysis?.message?.includes("cohort")) first = f;
    else await new Promise((resolve) => setTimeout(resolve, 250));
  }
  say(
    `at ${first.status?.currentPercent}%: ${first.status?.lastAnalysis?.result}: ${first.status?.lastAnalysis?.message}`,
  );

  guardedApp.setErrorRatio(GUARDED_BUG_RATIO);
  const bugAt = Date.now();
  say(
    `${c.red("bug shipped:")} flag-on users of ${GUARDED_FLAG} now fail ${(BASE_ERROR_RATIO + GUARDED_BUG_RATIO) * 100}% of requests instead of ${BASE_ERROR_RATIO * 100}% (the alert ${ALERT} needs 5%)`,
  );
  stage = "guarded rollout: waiting for the comparison to roll back";
  let rolledBack: FeatureFlag | undefined;
  while (!rolledBack) {
    const f = await get().catch(() => undefined);
    if (f?.status?.phase === "RolledBack") rolledBack = f;
    else await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const rb = rolledBack.status?.rollback ?? {};
  say(
    `${c.red(c.bold("ROLLED BACK to 0%"))} ${fmtS(Date.parse(rb.at ?? "") - bugAt)} after the bug shipped, at ${rb.percent}% exposure: reason ${rb.reason}`,
  );
  say(`  comparison: ${rb.message ?? ""}`);
  const alerts = await fetch(
    `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(`max_over_time(ALERTS{alertname="${ALERT}",flag="${GUARDED_FLAG}"}[10m])`)}`,
  )
    .then((r) => r.json() as Promise<{ data: { result: unknown[] } }>)
    .catch(() => undefined);
  say(
    `  absolute alert ${ALERT}{flag="${GUARDED_FLAG}"}: ${alerts === undefined ? "unknown (Prometheus did not answer)" : alerts.data.result.length === 0 ? "never fired" : c.red("fired as well")}`,
  );
}

// ---- --gitops: a Git commit drives the flag, through real Argo CD ----

const GITOPS_APP = "demo-flags";
const GITOPS_PERCENTS = [0, 25];

function staticManifest(percent: number): string {
  return [
    `apiVersion: ${GROUP}/${VERSION}`,
    "kind: FeatureFlag",
    "metadata:",
    `  name: ${FLAG}`,
    "spec:",
    "  description: The redesigned one-page checkout (Flagwright demo).",
    "  owner: team-checkout",
    "  enabled: true",
    "  rollout:",
    `    percent: ${percent}`,
    "",
  ].join("\n");
}

/**
 * A Git repository (git http-backend on 127.0.0.1) holds the flag; Argo CD's application controller
 * and repo server sync it with the Application of deploy/argocd/application.yaml; a commit changes
 * its percent, and the sweeps show the sidecar's answers following.
 */
async function gitopsAct(cl: RunningCluster, kc: KubeConfig, custom: CustomObjectsApi, demoApp: DemoApp) {
  const [first, second] = GITOPS_PERCENTS as [number, number];
  const path = "flags/new-checkout.yaml";
  stage = "starting the Git server and Argo CD";
  const git = await started(
    "git server",
    startGitServer("demo-flags", { [path]: staticManifest(first) }),
    (g) => g.stop(),
  );
  say(`git: ${git.url} (git http-backend on 127.0.0.1), ${path} at ${first}%`);
  const argo = await started(
    "argo cd",
    startArgocd({
      kubeconfig: cl.kubeconfig,
      kubectl: (args, input) => kubectl(cl, args, input),
      core: kc.makeApiClient(CoreV1Api),
      custom,
      destinationNamespaces: [NAMESPACE],
      argocdCm: shippedArgocdCm(),
      log: (line) => say(`argo cd: ${line}`),
    }),
    (a) => a.stop(),
  );
  await custom.createNamespacedCustomObject({
    group: "argoproj.io",
    version: "v1alpha1",
    namespace: argo.namespace,
    plural: "applications",
    body: {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Application",
      metadata: { name: GITOPS_APP },
      spec: {
        project: "default",
        source: { repoURL: git.url, targetRevision: "main", path: "flags" },
        destination: { server: IN_CLUSTER, namespace: NAMESPACE },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          // Background: foreground propagation waits on a garbage collector this control plane lacks.
          syncOptions: ["ServerSideApply=true", "PrunePropagationPolicy=background"],
        },
      },
    },
  });
  say(
    `argo cd: Application ${GITOPS_APP} (automated sync, self-heal, prune, server-side apply) → namespace ${NAMESPACE}`,
  );

  /**
   * Waits until Argo CD has synced `revision`; with `healthy`, also until its health check reads
   * Healthy, which needs the operator to have resolved the flag after the sync.
   */
  const syncedAt = async (revision: string, healthy = false): Promise<Application> => {
    for (;;) {
      const app = await argo.getApplication(GITOPS_APP).catch(() => undefined);
      const s = app?.status;
      if (
        s?.sync?.status === "Synced" &&
        (!healthy || s.health?.status === "Healthy") &&
        s.sync.revision === revision &&
        s.operationState?.phase === "Succeeded" &&
        s.operationState.syncResult?.revision === revision
      ) {
        return app as Application;
      }
      if (finishing) return new Promise(() => {});
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  /** Waits for a sweep begun after `since` in which exactly the users below `percent` are on. */
  const servedAt = (since: number, percent: number) =>
    new Promise<Sweep>((resolve) => {
      const expected = expectedOn(demoApp.users, percent);
      demoApp.onSweep((sweep) => {
        if (sweep.startedAt >= since && sweep.on === expected) resolve(sweep);
      });
    });

  stage = "waiting for Argo CD's first sync and the flag's health (Healthy once the operator resolved it)";
  const head = (await git.git(["rev-parse", "HEAD"])).trim();
  const initial = await syncedAt(head, true);
  say(
    `argo cd: synced ${head.slice(0, 8)} (${initial.status?.sync?.status}, health ${initial.status?.health?.status ?? "-"}): ${FLAG} at ${first}%`,
  );
  const baseline = await servedAt(Date.now(), first);
  say(`  sidecar: ${baseline.on}/${baseline.total} users get ${FLAG}`);

  stage = `committing ${FLAG} ${first}% → ${second}% to Git`;
  const pushedAt = Date.now();
  const revision = await git.commit(`${FLAG}: roll out to ${second}%`, { [path]: staticManifest(second) });
  say(
    `${c.bold("git push")}: ${revision.slice(0, 8)} "${FLAG}: roll out to ${second}%" (spec.rollout.percent ${first} → ${second}); refresh requested as Argo CD's Git webhook would`,
  );
  await argo.refresh(GITOPS_APP);
  stage = "waiting for Argo CD to sync the commit";
  const served = servedAt(pushedAt, second);
  const synced = await syncedAt(revision);
  say(
    `argo cd: synced ${revision.slice(0, 8)} ${fmtS(Date.now() - pushedAt)} after the push (${synced.status?.sync?.status}, health ${synced.status?.health?.status ?? "-"})`,
  );
  stage = "waiting for the sidecar to follow";
  const sweep = await served;
  say(
    `  sidecar: ${sweep.on}/${sweep.total} users (${pct(sweep.on, sweep.total)}) now get ${FLAG} — exactly the users whose bucket is below ${second}; ${fmtS(sweep.endedAt - pushedAt)} after git push`,
  );
  // Read after the operator has written the flag's status: only status changed, so still Synced.
  const after = await argo.getApplication(GITOPS_APP);
  say(
    `\n${c.bold("summary")}\n  gitops    a commit in Git, synced by Argo CD, reached the sidecar's answers in ${fmtS(sweep.endedAt - pushedAt)}; the Application is ${after.status?.sync?.status} at ${after.status?.sync?.revision?.slice(0, 8)} after the operator's status writes (it writes only status)`,
  );
}

/** Fails the demo when the operator stops answering /healthz for 10 s (hung or starved). */
async function watchdog(url: string) {
  let since = Date.now();
  while (!finishing) {
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) since = Date.now();
    } catch {
      // counted below
    }
    if (Date.now() - since > 10_000) {
      return failed(new Error(`the operator at ${url} has not answered /healthz for 10 s (hung or starved)`));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The demo with real pods (scripts/demo/node.ts), under this script's cleanup and deadline. */
async function nodeAct(): Promise<void> {
  stage = "preparing the control plane, Prometheus, Alertmanager and helm binaries";
  await ensureClusterBinaries((line) => say(`control plane: ${line}`));
  await ensurePrometheusBinaries((line) => say(`prometheus: ${line}`));
  await ensureHelm((line) => say(`helm: ${line}`));
  const summaryLines = await nodeDemo(
    {
      say,
      started,
      stage: (text) => {
        stage = text;
      },
      startDeadline: () => {
        setTimeout(
          () =>
            void failed(
              new Error(
                `deadline of ${deadlineSeconds} s passed while ${stage} (raise it with --deadline SECONDS)`,
              ),
            ),
          deadlineSeconds * 1000,
        ).unref();
      },
      until,
      bold: c.bold,
      red: c.red,
      green: c.green,
      pause,
      users: userCount,
    },
    expectedOn,
  );
  say("");
  say(c.bold("summary"));
  for (const line of summaryLines) say(`  ${line}`);
}

/** SIGTERM, and SIGKILL if the process has not exited 10 s later. */
async function stopOrKill(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Resolves once `test` holds (checked every 50 ms). The overall deadline bounds every wait. */
async function until(test: () => boolean): Promise<void> {
  while (!test()) {
    if (finishing) return new Promise(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

try {
  await main();
  await finish(0, c.green(`demo complete in ${fmtS(Date.now() - demoStart)}`));
} catch (error) {
  await failed(error);
}
