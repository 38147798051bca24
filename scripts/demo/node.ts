// `npm run demo -- --node`: the demo's story with real pods. A real single node on this machine
// (test/cluster/node.ts), the image built from the Dockerfile, `helm install` of the chart (two
// operator replicas, webhooks), an app Deployment whose three pods get the injected sidecar; the
// users' requests go to the pods, Prometheus scrapes the pods, a canary ramps 1 → 5 → 25 → 50 → 100
// % and rolls back on its own when a bug ships (the alert reaches the operator's Service through
// Alertmanager). Everything runs on this machine: the node's pod network and loopback.
import { Agent, request } from "node:http";
import { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { type FeatureFlag, GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { kubectl } from "../../test/cluster/cluster.js";
import { nodeUnavailable, POD_GATEWAY, type RunningNode, startNode } from "../../test/cluster/node.js";
import { loadNodeImages } from "../../test/cluster/node-images.js";
import {
  ALERTMANAGER_TOKEN,
  type AppPod,
  appManifests,
  deployApp,
  installRelease,
  operatorService,
  SYSTEM_NAMESPACE,
} from "../../test/support/node-install.js";
import { freePort, startAlertmanager, startPrometheus } from "../../test/support/prometheus.js";

export interface NodeDemoContext {
  say(text: string): void;
  /** Registers how to stop what `starting` starts, before it has started (see demo.ts). */
  started<T>(what: string, starting: Promise<T>, stop: (value: T) => Promise<void>): Promise<T>;
  /** What the demo is doing, for the deadline's message. */
  stage(text: string): void;
  /** Starts the demo's deadline: called once the first-run builds (the images) are done. */
  startDeadline(): void;
  /** Resolves once `test` holds; never, once the demo is finishing. */
  until(test: () => boolean): Promise<void>;
  bold(text: string): string;
  red(text: string): string;
  green(text: string): string;
  pause: string;
  users: number;
}

const NAMESPACE = "shop";
const FLAG = "new-checkout";
const ALERT = "FlagwrightFlagErrorRateHigh";
const RAMP = [1, 5, 25, 50, 100];
const REPLICAS = 3;
/** Share of new-path requests that fail once the bug ships. */
const BUG_ERROR_RATIO = 0.5;
/** The step whose users are served before the bug ships. */
const BUG_AT_PERCENT = 25;

const fmtS = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

/** Users whose bucket puts them in at `percent` (the seed article's rule; the sidecars must agree). */
export type ExpectedOn = (users: string[], percent: number) => number;

/** The demo flag's manifest with `rollout` (YAML, indented under it) as given. */
function flagManifest(rollout: string): string {
  return `apiVersion: ${GROUP}/${VERSION}
kind: FeatureFlag
metadata: {name: ${FLAG}, namespace: ${NAMESPACE}}
spec:
  description: The redesigned one-page checkout (Flagwright demo on a real node).
  owner: team-checkout
  enabled: true
  rollout:
${rollout}`;
}

const flagAt0 = () => flagManifest("    percent: 0\n");

function canaryFlag(pause: string): string {
  const steps = RAMP.map(
    (percent, i) => `{percent: ${percent}, pause: ${i === RAMP.length - 1 ? "10m" : pause}}`,
  );
  return flagManifest(`    percent: 100
    canary:
      steps: [${steps.join(", ")}]
      analysis:
        alerts: [{alertName: ${ALERT}, matchLabels: {flag: ${FLAG}}}]
        interval: 1s
        failureLimit: 1
        onFailure: rollback
`);
}

interface PodSweep {
  startedAt: number;
  endedAt: number;
  on: number;
  errors: number;
  total: number;
}

/** The users' requests, spread over the app's pods (GET /checkout), sweep after sweep. */
function podTraffic(pods: AppPod[], users: string[], onSweep: (sweep: PodSweep) => void) {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  let running = true;
  const checkout = (ip: string, user: string) =>
    new Promise<{ on: boolean; failed: boolean }>((resolve) => {
      const req = request(
        { host: ip, port: 8080, path: `/checkout?user=${encodeURIComponent(user)}`, agent, timeout: 2_000 },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => {
            body += chunk;
          });
          res.on("end", () => {
            const value = (() => {
              try {
                return (JSON.parse(body) as { value?: unknown }).value;
              } catch {
                return undefined;
              }
            })();
            resolve({ on: value === true, failed: res.statusCode !== 200 });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve({ on: false, failed: true }));
      req.end();
    });
  const sweep = async () => {
    const startedAt = Date.now();
    let next = 0;
    let on = 0;
    let errors = 0;
    const worker = async () => {
      for (let i = next++; i < users.length && running; i = next++) {
        const pod = pods[i % pods.length] as AppPod;
        const answer = await checkout(pod.ip, users[i] as string);
        if (answer.on) on++;
        if (answer.failed) errors++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    return { startedAt, endedAt: Date.now(), on, errors, total: users.length };
  };
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const result = await sweep();
      if (running) onSweep(result);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 250 - (Date.now() - started))));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      agent.destroy();
    },
  };
}

/** Runs the node demo; resolves with the summary's lines. */
export async function nodeDemo(ctx: NodeDemoContext, expectedOn: ExpectedOn): Promise<string[]> {
  const { say } = ctx;
  const why = nodeUnavailable();
  if (why) throw new Error(`--node cannot run here: ${why}`);
  const users = Array.from({ length: ctx.users }, (_, i) => `user-${String(i + 1).padStart(4, "0")}`);

  ctx.stage("starting the real node");
  say(
    "starting a real node on this machine: containerd and runc, kubelet, kube-proxy, controller-manager and scheduler beside the control plane...",
  );
  const node: RunningNode = await ctx.started(
    "node",
    startNode({ log: (line) => say(`node: ${line}`) }),
    (n) => n.stop(),
  );

  ctx.stage("building the images and importing them into containerd");
  let t0 = Date.now();
  // podman's own output is long: its steps and the outcome are enough to see progress.
  const imageLog = (line: string) => {
    if (/STEP \d+\/\d+|^built |without a build|^building /.test(line)) say(`image: ${line}`);
  };
  const images = await loadNodeImages(node, { tag: "demo", log: imageLog });
  const imagesTook = Date.now() - t0;
  say(
    `images: ${images.flagwright} (the Dockerfile) and ${images.app}, in the node's containerd after ${fmtS(imagesTook)}`,
  );
  ctx.startDeadline();

  ctx.stage("helm install");
  const prometheusPort = await freePort();
  const prometheusUrl = `http://${POD_GATEWAY}:${prometheusPort}`;
  t0 = Date.now();
  await installRelease(node, "demo", ["--set", `prometheus.url=${prometheusUrl}`]);
  const installTook = Date.now() - t0;
  say(
    `helm install: two operator pods (leader election, webhooks with the chart's certificates) in ${SYSTEM_NAMESPACE}, restricted Pod Security, in ${fmtS(installTook)}`,
  );

  ctx.stage("deploying the app");
  t0 = Date.now();
  const pods = await deployApp(node, NAMESPACE, REPLICAS, appManifests(NAMESPACE, REPLICAS, flagAt0()));
  const deployTook = Date.now() - t0;
  say(
    `app: ${pods.length} pods of Deployment ${NAMESPACE}/shop Ready in ${fmtS(deployTook)}, each with the injected sidecar (${pods[0]?.initContainers.join(", ")}) answering OFREP on localhost`,
  );

  ctx.stage("starting Alertmanager and Prometheus");
  const service = await operatorService(node);
  const am = await ctx.started(
    "alertmanager",
    startAlertmanager({
      webhookUrl: `http://${service.ip}:${service.port}/webhooks/alertmanager`,
      token: ALERTMANAGER_TOKEN,
    }),
    (x) => x.dispose(),
  );
  const prom = await ctx.started(
    "prometheus",
    startPrometheus({
      host: POD_GATEWAY,
      port: prometheusPort,
      targets: pods.map((p) => `${p.ip}:8080`),
      targetLabels: { namespace: NAMESPACE },
      alertmanagers: [am.target],
    }),
    (x) => x.dispose(),
  );
  say(
    `prometheus: ${prom.url} on the pod bridge (the operator pods query it), scraping the ${pods.length} app pods every 1 s; alertmanager: ${am.url}, receiver = the operator's Service ${service.ip}:${service.port}`,
  );

  const listeners = new Set<(sweep: PodSweep) => void>();
  await ctx.started(
    "traffic",
    Promise.resolve(
      podTraffic(pods, users, (sweep) => {
        for (const listener of listeners) listener(sweep);
      }),
    ),
    (x) => x.stop(),
  );
  const servedAt = (since: number, percent: number) =>
    new Promise<PodSweep>((resolve) => {
      const expected = expectedOn(users, percent);
      const listener = (sweep: PodSweep) => {
        if (sweep.startedAt >= since && sweep.on === expected) {
          listeners.delete(listener);
          resolve(sweep);
        }
      };
      listeners.add(listener);
    });
  const baseline = await servedAt(Date.now(), 0);
  say(
    `users: ${users.length} users' checkouts spread over the ${pods.length} pods; ${baseline.on}/${baseline.total} get ${FLAG}`,
  );

  const kc = new KubeConfig();
  kc.loadFromFile(node.kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let flag: FeatureFlag | undefined;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      flag = await custom
        .getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: NAMESPACE,
          plural: PLURAL,
          name: FLAG,
        })
        .then((f) => f as FeatureFlag)
        .catch(() => flag);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  // Wrapped: a bare promise given to started() would be awaited, and polling never ends by itself.
  await ctx.started("status polling", Promise.resolve({ poll }), async (x) => {
    polling = false;
    await x.poll;
  });

  ctx.stage("ramping the canary");
  await kubectl(node, ["apply", "-f", "-"], canaryFlag(ctx.pause));
  say(
    ctx.bold(
      `kubectl apply: ${FLAG} canary ${RAMP.join(" → ")} %, pausing ${ctx.pause} a step, analysis on the alert ${ALERT}{flag="${FLAG}"}`,
    ),
  );
  const served: string[] = [];
  let bugAt = 0;
  for (const [index, percent] of RAMP.entries()) {
    await ctx.until(() => flag?.status?.currentStepIndex === index && flag.status.currentPercent === percent);
    const at = Date.now();
    const sweep = await servedAt(at, percent);
    const line = `step ${index + 1}/${RAMP.length}: ${percent}% — the pods serve ${FLAG} to ${sweep.on}/${sweep.total} users, exactly those whose bucket is below ${percent}; ${fmtS(sweep.endedAt - at)} after the operator's status write`;
    say(`  ${line}`);
    served.push(line);
    if (percent === BUG_AT_PERCENT) {
      await Promise.all(
        pods.map(
          (pod) =>
            new Promise<void>((resolve, reject) => {
              const req = request(
                {
                  host: pod.ip,
                  port: 8080,
                  method: "POST",
                  path: `/bug?ratio=${BUG_ERROR_RATIO}`,
                  agent: false,
                },
                (res) => {
                  res.resume();
                  res.on("end", () =>
                    res.statusCode === 200
                      ? resolve()
                      : reject(new Error(`pod ${pod.name}: /bug answered ${res.statusCode}`)),
                  );
                },
              );
              req.on("error", reject);
              req.end();
            }),
        ),
      );
      bugAt = Date.now();
      say(
        ctx.red(
          `bug shipped: ${100 * BUG_ERROR_RATIO}% of the new checkout's requests now fail, in every pod`,
        ),
      );
      break;
    }
  }

  ctx.stage("waiting for the alert and the rollback");
  await ctx.until(() => flag?.status?.phase === "RolledBack");
  const rolledBackSeen = Date.now();
  const rollback = flag?.status?.rollback;
  say(
    ctx.red(
      `rolled back: ${FLAG} at 0% ${fmtS(rolledBackSeen - bugAt)} after the bug shipped (${rollback?.reason ?? "?"}: ${rollback?.alertName ?? rollback?.query ?? ""}, from ${rollback?.percent ?? "?"}%)`,
    ),
  );
  const off = await servedAt(rolledBackSeen, 0);
  say(
    `  every pod now answers off: ${off.on}/${off.total} users get ${FLAG}; ${fmtS(off.endedAt - bugAt)} after the bug shipped`,
  );

  return [
    `node      real pods: images ${fmtS(imagesTook)}, helm install ${fmtS(installTook)}, ${pods.length} app pods with injected sidecars Ready in ${fmtS(deployTook)}`,
    `ramp      ${served.length} steps served exactly by the pods' sidecars (${RAMP.slice(0, served.length).join(" → ")} %)`,
    `rollback  ${fmtS(rolledBackSeen - bugAt)} from the bug to RolledBack (Prometheus → Alertmanager → the operator's Service), every user off ${fmtS(off.endedAt - bugAt)} after it`,
  ];
}
