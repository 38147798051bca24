// Flagwright installed on the real node as a user installs it: `helm install` of the chart with
// the image built from the Dockerfile, into a namespace that enforces the restricted Pod Security
// standard; and an application Deployment whose pods get the injected sidecar by label. Used by
// test/integration/node and `npm run demo -- --node`.
import { get } from "node:http";
import type { FeatureFlagStatus } from "../../src/api/index.js";
import { SHARED_EVALUATOR } from "../../src/operator/injection/mutation.js";
import { kubectl, runKubectl } from "../cluster/cluster.js";
import type { RunningNode } from "../cluster/node.js";
import { APP_IMAGE } from "../cluster/node-images.js";
import { chartDir, helm, requireHelm } from "../unit/chart/helm.js";
import { waitFor } from "./wait.js";

export const RELEASE = "flagwright";
export const SYSTEM_NAMESPACE = "flagwright-system";
export const ALERTMANAGER_TOKEN = "node-test-alertmanager-token";
export const FLAG = "new-checkout";
type Node = Pick<RunningNode, "kubectl" | "kubeconfig">;

/** helm against the node's cluster; rejects with helm's output when it fails. */
export async function helmOnNode(node: Node, args: string[]): Promise<string> {
  requireHelm();
  const result = await helm([...args, "--kubeconfig", node.kubeconfig]);
  if (result.code !== 0) throw new Error(`helm ${args.join(" ")} failed: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/** The chart's values for the local image (no registry: pulled never) with injection on. */
export function releaseValues(imageTag: string): string[] {
  return [
    "--set",
    "image.repository=localhost/flagwright",
    "--set",
    `image.tag=${imageTag}`,
    "--set",
    "image.pullPolicy=Never",
    "--set",
    "injection.enabled=true",
    "--set",
    `alertmanagerWebhook.tokenSecret.name=${RELEASE}-alertmanager-token`,
  ];
}

/**
 * Creates the release namespace (labelled to enforce the restricted Pod Security standard) and
 * the Alertmanager token Secret, then `helm install --wait` with the image `imageTag` (and
 * `extraValues`, helm arguments such as `--set prometheus.url=...`).
 */
export async function installRelease(
  node: Node,
  imageTag: string,
  extraValues: string[] = [],
): Promise<void> {
  await kubectl(node, ["create", "namespace", SYSTEM_NAMESPACE]);
  await kubectl(node, [
    "label",
    "namespace",
    SYSTEM_NAMESPACE,
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/warn=restricted",
  ]);
  await kubectl(node, [
    "create",
    "secret",
    "generic",
    `${RELEASE}-alertmanager-token`,
    "-n",
    SYSTEM_NAMESPACE,
    `--from-literal=token=${ALERTMANAGER_TOKEN}`,
  ]);
  await helmOnNode(node, [
    "install",
    RELEASE,
    chartDir,
    "--namespace",
    SYSTEM_NAMESPACE,
    "--wait",
    "--timeout",
    "5m",
    ...releaseValues(imageTag),
    ...extraValues,
  ]);
}

/** The app's container (under the pod's `spec:`), as the restricted standard wants it. */
const APP_CONTAINERS = `      containers:
        - name: app
          image: ${APP_IMAGE}
          imagePullPolicy: Never
          env: [{name: FLAG_KEY, value: ${FLAG}}]
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
`;

/** The app's flag as the node test starts it: on for everyone. */
function allOnFlag(namespace: string): string {
  return `apiVersion: flagwright.dev/v1alpha1
kind: FeatureFlag
metadata: {name: ${FLAG}, namespace: ${namespace}}
spec:
  key: ${FLAG}
  enabled: true
  rollout: {percent: 100}
`;
}

/**
 * The application's namespace: its flag (`flagManifest`, by default on for everyone), a Role for
 * the sidecar's ConfigMap watch, the Deployment.
 */
export function appManifests(
  namespace: string,
  replicas: number,
  flagManifest = allOnFlag(namespace),
): string {
  return `apiVersion: v1
kind: Namespace
metadata:
  name: ${namespace}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: flags-reader, namespace: ${namespace}}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    resourceNames: [flagwright-flags]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: flags-reader, namespace: ${namespace}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: flags-reader}
subjects: [{kind: ServiceAccount, name: default, namespace: ${namespace}}]
---
${flagManifest}---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: ${namespace}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: shop}}
  template:
    metadata:
      labels: {app: shop, flagwright.dev/inject: "true"}
      # The API-watch sidecar: a change reaches it in milliseconds (a mounted ConfigMap waits
      # for the kubelet's next sync).
      annotations: {flagwright.dev/source: watch}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
${APP_CONTAINERS}`;
}

export interface AppPod {
  name: string;
  ip: string;
  initContainers: string[];
}

/** The app's Ready pods. */
export async function readyAppPods(node: Node, namespace: string): Promise<AppPod[]> {
  const list = JSON.parse(
    await kubectl(node, ["get", "pods", "-n", namespace, "-l", "app=shop", "-o", "json"]),
  );
  return (
    list.items as {
      metadata: { name: string; deletionTimestamp?: string };
      spec: { initContainers?: { name: string }[] };
      status: { podIP?: string; conditions?: { type: string; status: string }[] };
    }[]
  )
    .filter(
      (p) =>
        !p.metadata.deletionTimestamp &&
        p.status.podIP &&
        p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    )
    .map((p) => ({
      name: p.metadata.name,
      ip: p.status.podIP as string,
      initContainers: (p.spec.initContainers ?? []).map((c) => c.name),
    }));
}

export interface FeatureAnswer {
  pod: string;
  value?: unknown;
  reason?: string;
  error?: string;
}

/** GET http://<pod>:8080/<path>: the application's own answer (node:http, a fresh connection). */
export function askPod(
  ip: string,
  path = "/feature",
  timeoutMs = 2_000,
): Promise<FeatureAnswer & Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const request = get({ host: ip, port: 8080, path, timeout: timeoutMs, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => {
        body += chunk;
      });
      response.on("end", () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`pod ${ip} answered ${response.statusCode}: ${body.slice(0, 200)}`));
        }
      });
    });
    request.on("timeout", () =>
      request.destroy(new Error(`pod ${ip} did not answer within ${timeoutMs} ms`)),
    );
    request.on("error", reject);
  });
}

/** Applies the app (by default with its sidecar) and waits until `replicas` pods are Ready. */
export async function deployApp(
  node: Node,
  namespace: string,
  replicas: number,
  manifests = appManifests(namespace, replicas),
): Promise<AppPod[]> {
  await kubectl(node, ["apply", "-f", "-"], manifests);
  return waitFor(
    async () => {
      const pods = await readyAppPods(node, namespace);
      return pods.length === replicas ? pods : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 250, what: `${replicas} Ready pods of the app in ${namespace}` },
  );
}

/** The name of the pod holding the operator's leader Lease. */
export async function leaderPod(node: Node): Promise<string | undefined> {
  const result = await runKubectl(node, [
    "get",
    "lease",
    "flagwright-operator",
    "-n",
    SYSTEM_NAMESPACE,
    "-o",
    "jsonpath={.spec.holderIdentity}",
  ]);
  // The operator's identity is "<pod name>_<random suffix>".
  return result.code === 0 && result.stdout ? result.stdout.split("_")[0] : undefined;
}

/** A FeatureFlag's status as the API server has it, or undefined when there is none yet. */
export async function flagStatus(
  node: Node,
  namespace: string,
  name: string,
): Promise<FeatureFlagStatus | undefined> {
  const result = await runKubectl(node, ["get", "featureflag", name, "-n", namespace, "-o", "json"]);
  if (result.code !== 0) return undefined;
  return (JSON.parse(result.stdout) as { status?: FeatureFlagStatus }).status;
}

/** The operator Service's ClusterIP and HTTP port (metrics and the Alertmanager webhook). */
export async function operatorService(node: Node): Promise<{ ip: string; port: number }> {
  const list = JSON.parse(
    await kubectl(node, [
      "get",
      "services",
      "-n",
      SYSTEM_NAMESPACE,
      "-l",
      "app.kubernetes.io/name=flagwright",
      "-o",
      "json",
    ]),
  ).items as { spec: { clusterIP: string; ports: { name: string; port: number }[] } }[];
  for (const service of list) {
    const http = service.spec.ports.find((p) => p.name === "http");
    if (http) return { ip: service.spec.clusterIP, port: http.port };
  }
  throw new Error(`no Service with an "http" port in ${SYSTEM_NAMESPACE}`);
}

/**
 * An application in `namespace` that asks the namespace's shared evaluator (annotation
 * flagwright.dev/evaluator: shared): the webhook gives its container OFREP_ENDPOINT, a DNS name of
 * the evaluator's Service, and OFREP_HEADERS with the token. The node runs no cluster DNS, so the
 * pod's hostAliases map that name to the Service's ClusterIP, as cluster DNS would answer.
 */
export function sharedEvaluatorAppManifests(namespace: string, evaluatorIp: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: ${namespace}}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop}}
  template:
    metadata:
      labels: {app: shop, flagwright.dev/inject: "true"}
      annotations: {flagwright.dev/evaluator: shared}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      hostAliases: [{ip: ${evaluatorIp}, hostnames: [${SHARED_EVALUATOR.service}.${namespace}.svc]}]
${APP_CONTAINERS}`;
}
