// The pod mutation of sidecar injection: adds `flagwright sidecar` to pods that ask for it, as a
// native sidecar (an init container with restartPolicy Always: it starts before the app
// containers and stops after them). Pure: pod in, JSON patch out.
//
// Opt-in: the label `flagwright.dev/inject: "true"` (the webhook's objectSelector matches it, so
// pods that did not ask never reach the webhook and an operator outage cannot block them). The
// same key as an annotation is accepted too, for pods a namespace-wide selector sends here.
// Options by annotation:
//   flagwright.dev/source: volume (default) | watch   mounted ConfigMap, or API watch
//   flagwright.dev/configmap: <name>                   the flags ConfigMap (default flagwright-flags)
//   flagwright.dev/evaluator: shared                   no sidecar: point the app containers at the
//                                                      namespace's shared evaluator instead
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { admissionRequest, admissionResponse } from "./admission-review.js";

export const INJECT_KEY = "flagwright.dev/inject";
export const SOURCE_ANNOTATION = "flagwright.dev/source";
export const CONFIGMAP_ANNOTATION = "flagwright.dev/configmap";
export const INJECTED_ANNOTATION = "flagwright.dev/injected";
export const EVALUATOR_ANNOTATION = "flagwright.dev/evaluator";
/** The shared evaluator's Service and token Secret in each namespace (charts/flagwright evaluator). */
export const SHARED_EVALUATOR = {
  service: "flagwright-evaluator",
  port: 8016,
  tokenSecret: "flagwright-evaluator-token",
  tokenKey: "token",
} as const;
export const SIDECAR_CONTAINER = "flagwright-sidecar";
export const FLAGS_VOLUME = "flagwright-flags";
export const FLAGS_MOUNT = "/etc/flagwright/flags";
/** Where the Flagwright image (Dockerfile) keeps Node and the CLI bundle. */
const IMAGE_NODE = "/nodejs/bin/node";
const IMAGE_CLI = "/app/dist/bundle/main.js";

/**
 * V8 options of the injected sidecar, one copy in every pod, chosen by measurement
 * (docs/benchmarks.md, `npm run bench -- sidecar-vs-flagd` starts the sidecar with them):
 * - a 1 MiB semi-space keeps the young generation from growing to 16 MiB under load (peak RSS
 *   about 4 MiB lower, no measurable CPU cost at the sidecar's allocation rate);
 * - no background GC threads, whose work and memory a sidecar does not need, and one V8 worker
 *   thread instead of four: the optimizing compiler runs on it, not on the event loop (with
 *   --single-threaded each compile, 5 - 13 ms, stalled every request waiting behind it, and a
 *   hostile flood that brings new code paths kept other flags' p99 above 5 ms; the same memory);
 * - an explicit old-space limit: V8 then also sizes its heap growth for a small heap (about 1 MiB
 *   less RSS idle and under load), and the process stops with "heap out of memory" well inside the
 *   container's 128 MiB limit instead of being OOM-killed;
 * - four times V8's default interrupt budget (67,584 bytes of bytecode between checks for hot
 *   functions): loading a document, whose revision is verified by hashing all of it, then stays in
 *   the interpreter, so an idle sidecar never pays for the optimizing compiler's code pages (about
 *   4 MiB of RSS); under traffic the request path is optimized a little later and costs the same.
 * Not all of these are allowed in NODE_OPTIONS, so the container's command carries them.
 */
export const SIDECAR_NODE_OPTIONS = [
  "--max-semi-space-size=1",
  "--single-threaded-gc",
  "--max-old-space-size=64",
  "--interrupt-budget=270336",
  "--v8-pool-size=1",
] as const;

export interface InjectionSettings {
  /** Image of the sidecar (the Flagwright image runs both the operator and the sidecar). */
  image: string;
  /** Default flags ConfigMap name (the operator's --configmap-name). */
  configMapName: string;
  /** Port the sidecar serves OFREP on, loopback only. */
  port?: number;
  imagePullPolicy?: string;
}

type JsonPatchOp = { op: "add" | "replace"; path: string; value: unknown };

const escapePointer = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/** Whether a pod asked for the sidecar (label or annotation flagwright.dev/inject: "true"). */
export function wantsInjection(pod: V1Pod): boolean {
  return pod.metadata?.labels?.[INJECT_KEY] === "true" || pod.metadata?.annotations?.[INJECT_KEY] === "true";
}

/** Whether the pod already has the sidecar (an earlier injection, or added by hand). */
export function alreadyInjected(pod: V1Pod): boolean {
  const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
  return names.includes(SIDECAR_CONTAINER) || pod.metadata?.annotations?.[INJECTED_ANNOTATION] !== undefined;
}

/** The sidecar container for a pod in `namespace`. */
export function sidecarContainer(pod: V1Pod, namespace: string, settings: InjectionSettings): V1Container {
  const port = settings.port ?? 8016;
  const annotations = pod.metadata?.annotations ?? {};
  const configMap = annotations[CONFIGMAP_ANNOTATION] || settings.configMapName;
  const watch = annotations[SOURCE_ANNOTATION] === "watch";
  // The sidecar listens on loopback only, so the kubelet (outside the pod's network namespace)
  // cannot reach it over HTTP: the probe runs the image's node against 127.0.0.1. node:http, not
  // fetch: starting fetch's HTTP client takes a probe to about 82 MiB and three times the CPU, and
  // beside the sidecar at its peak (56 MiB) that passes the container's 128 Mi limit; node:http
  // stays near 43 MiB.
  const probe = (path: string) => ({
    exec: {
      command: [
        IMAGE_NODE,
        "-e",
        `require("node:http").get("http://127.0.0.1:${port}${path}",(r)=>process.exit(r.statusCode===200?0:1)).on("error",()=>process.exit(1))`,
      ],
    },
  });
  return {
    name: SIDECAR_CONTAINER,
    image: settings.image,
    ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
    // A native sidecar: started before the app containers, stopped after them.
    restartPolicy: "Always",
    command: [IMAGE_NODE, ...SIDECAR_NODE_OPTIONS, IMAGE_CLI],
    args: [
      "sidecar",
      `--listen=127.0.0.1:${port}`,
      ...(watch ? [`--configmap=${namespace}/${configMap}`] : [`--file=${FLAGS_MOUNT}`]),
    ],
    env: [{ name: "FLAGWRIGHT_SIDECAR_SOURCE", value: watch ? "watch" : "volume" }],
    // The startup probe holds the app containers back until the first good document is loaded.
    // No readiness probe: once loaded, the sidecar never unloads its document, so a failing
    // readiness check could only mean a slow exec, and it would take the whole pod out of its
    // Services. The liveness probe restarts only a sidecar that stopped answering for minutes: a
    // restart discards the loaded document and fails the app's evaluations until the new process
    // has loaded it, so a probe slowed by a busy node must never cause one.
    startupProbe: { ...probe("/readyz"), periodSeconds: 1, failureThreshold: 120, timeoutSeconds: 10 },
    livenessProbe: { ...probe("/healthz"), periodSeconds: 30, failureThreshold: 6, timeoutSeconds: 10 },
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    ...(watch ? {} : { volumeMounts: [{ name: FLAGS_VOLUME, mountPath: FLAGS_MOUNT, readOnly: true }] }),
  } as V1Container;
}

/**
 * The environment that points an app container at the namespace's shared evaluator, as OFREP's
 * ADR 0007 names it: OFREP_ENDPOINT, and OFREP_HEADERS carrying the bearer token, which comes from
 * the token Secret through a variable Kubernetes expands ($(VAR)) so it never sits in the pod spec.
 */
export function sharedEvaluatorEnv(namespace: string) {
  const { service, port, tokenSecret, tokenKey } = SHARED_EVALUATOR;
  return [
    {
      name: "FLAGWRIGHT_EVALUATOR_TOKEN",
      valueFrom: { secretKeyRef: { name: tokenSecret, key: tokenKey } },
    },
    { name: "OFREP_ENDPOINT", value: `http://${service}.${namespace}.svc:${port}` },
    { name: "OFREP_HEADERS", value: "Authorization=Bearer $(FLAGWRIGHT_EVALUATOR_TOKEN)" },
  ];
}

/** Patch ops adding the shared evaluator's environment to every app container that has none. */
function sharedEvaluatorOps(pod: V1Pod, namespace: string): JsonPatchOp[] {
  const env = sharedEvaluatorEnv(namespace);
  const ops: JsonPatchOp[] = [];
  (pod.spec?.containers ?? []).forEach((container, i) => {
    // A container that names its own endpoint keeps it.
    if (container.env?.some((e) => e.name === "OFREP_ENDPOINT")) return;
    if (container.env?.length) {
      for (const value of env) ops.push({ op: "add", path: `/spec/containers/${i}/env/-`, value });
    } else ops.push({ op: "add", path: `/spec/containers/${i}/env`, value: env });
  });
  return ops;
}

/** The JSON patch that injects the sidecar, or undefined when the pod is to be left alone. */
export function injectionPatch(
  pod: V1Pod,
  namespace: string,
  settings: InjectionSettings,
): JsonPatchOp[] | undefined {
  if (!wantsInjection(pod) || alreadyInjected(pod)) return undefined;
  if (pod.metadata?.annotations?.[EVALUATOR_ANNOTATION] === "shared") {
    const ops = sharedEvaluatorOps(pod, namespace);
    ops.push({
      op: "add",
      path: `/metadata/annotations/${escapePointer(INJECTED_ANNOTATION)}`,
      value: `shared-evaluator:${SHARED_EVALUATOR.service}`,
    });
    return ops;
  }
  const ops: JsonPatchOp[] = [];
  const container = sidecarContainer(pod, namespace, settings);
  if (pod.spec?.initContainers?.length)
    ops.push({ op: "add", path: "/spec/initContainers/0", value: container });
  else ops.push({ op: "add", path: "/spec/initContainers", value: [container] });
  if (pod.metadata?.annotations?.[SOURCE_ANNOTATION] !== "watch") {
    const configMap = pod.metadata?.annotations?.[CONFIGMAP_ANNOTATION] || settings.configMapName;
    // optional: a namespace without flags yet still starts; the sidecar is ready once they exist.
    const volume = { name: FLAGS_VOLUME, configMap: { name: configMap, optional: true } };
    if (pod.spec?.volumes?.length) ops.push({ op: "add", path: "/spec/volumes/-", value: volume });
    else ops.push({ op: "add", path: "/spec/volumes", value: [volume] });
  }
  if (!pod.metadata?.annotations) ops.push({ op: "add", path: "/metadata/annotations", value: {} });
  ops.push({
    op: "add",
    path: `/metadata/annotations/${escapePointer(INJECTED_ANNOTATION)}`,
    value: settings.image,
  });
  return ops;
}

/** The AdmissionReview response for a request: always allowed, with a patch when injecting. */
export function review(body: unknown, settings: InjectionSettings) {
  const request = admissionRequest<V1Pod>(body);
  const pod = request.object ?? {};
  const namespace = request.namespace ?? pod.metadata?.namespace ?? "default";
  const patch =
    request.kind?.kind === undefined || request.kind.kind === "Pod"
      ? injectionPatch(pod, namespace, settings)
      : undefined;
  return admissionResponse(request.uid, {
    allowed: true,
    ...(patch
      ? { patchType: "JSONPatch" as const, patch: Buffer.from(JSON.stringify(patch)).toString("base64") }
      : {}),
  });
}
