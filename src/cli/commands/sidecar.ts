// `flagwright sidecar`: its options (source, limits, experiments, serving) and the start-up that
// reads the files they name and runs startSidecar until SIGTERM or SIGINT.
import { readFile } from "node:fs/promises";
import { type Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_CONFIGMAP_NAME, DOCUMENT_KEY } from "../../core/document.js";
import { parseHostPort } from "../../host-port.js";
import { loadKubeConfig } from "../../kube/kubeconfig.js";
import { createLogger } from "../../log.js";
import { exposureKeyOf } from "../../sidecar/exposure.js";
import {
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_CONTEXT_LIMITS,
  DEFAULT_HOST,
  DEFAULT_OVER_BUDGET_WAITING,
  DEFAULT_PORT,
  type SidecarOptions,
  type SourceOptions,
  startSidecar,
} from "../../sidecar/index.js";

interface SidecarFlags {
  file?: string;
  configmap?: string;
  key: string;
  listen: string;
  kubeconfig?: string;
  pollInterval: number;
  maxBodyBytes: number;
  maxContextDepth: number;
  maxContextValues: number;
  maxConnections: number;
  headersTimeout: number;
  requestTimeout: number;
  exposureLog?: string;
  exposureKeyFile?: string;
  exposures: "first" | "every";
  exposureUsers: number;
  eventStoreUrlFile?: string;
  eventStoreMaxPending: number;
  eventStoreFlushInterval: number;
  shutdownTimeout: number;
  maxEventStreams: number;
  maxOverBudgetWaiting: number;
  heartbeatInterval: number;
  publicUrl?: string;
  corsOrigin?: string;
  authTokenFile?: string;
  logLevel: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be a non-negative integer");
  return n;
}

function atLeastOne(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

// The full description is laid out by hand (lists); the command list shows the summary instead.
const DESCRIPTION = [
  "Serve flag evaluations next to an application over OFREP (the OpenFeature Remote Evaluation Protocol) from the namespace's resolved flag document.",
  "",
  "Exactly one source is required:",
  "  --file       a mounted ConfigMap volume (follows the kubelet's ..data swap)",
  "  --configmap  the ConfigMap, watched through the Kubernetes API (sub-second)",
  "A new document that fails to parse is logged and counted in flagwright_sidecar_reload_failures_total; the last good one keeps serving.",
  "",
  "Endpoints:",
  "  POST /ofrep/v1/evaluate/flags/{key}  one flag",
  "  POST /ofrep/v1/evaluate/flags        all flags (ETag / If-None-Match -> 304)",
  "  GET  /ofrep/v1/events                change events (SSE, OFREP ADR 0008)",
  "  GET  /healthz, /readyz (503 until the first good document), /metrics",
  "No route returns the flag document or its rules, only evaluations.",
  "It listens on loopback by default, so only containers of the same pod reach it.",
  "SIGTERM/SIGINT: stop accepting, finish in-flight requests, exit 0.",
].join("\n");

export function registerSidecarCommand(program: Command): void {
  const command = program
    .command("sidecar")
    .summary("Serve flag evaluations next to an application over OFREP from the namespace's resolved flags.")
    .description(DESCRIPTION);
  addSourceOptions(command);
  addLimitOptions(command);
  addExperimentOptions(command);
  addServingOptions(command);
  command.action((flags: SidecarFlags, command: Command) => runSidecar(flags, command));
}

/** Where the document comes from: a mounted file or the ConfigMap through the API. */
function addSourceOptions(command: Command): void {
  command
    .addOption(
      new Option("--file <path>", "directory of a mounted ConfigMap volume, or the document file itself")
        .env("FLAGWRIGHT_FILE")
        .conflicts("configmap"),
    )
    .addOption(
      new Option(
        "--configmap <namespace/name>",
        `ConfigMap to watch through the API (name defaults to ${DEFAULT_CONFIGMAP_NAME}: "--configmap shop/")`,
      ).env("FLAGWRIGHT_CONFIGMAP"),
    )
    .option("--key <name>", "file name in the volume / data key in the ConfigMap", DOCUMENT_KEY)
    .addOption(
      new Option(
        "--listen <host:port>",
        "address to serve on (a bare :PORT means loopback); 0.0.0.0:PORT lets any peer evaluate flags, so keep it on loopback unless a NetworkPolicy guards the pod",
      )
        .default(`${DEFAULT_HOST}:${DEFAULT_PORT}`)
        .env("FLAGWRIGHT_LISTEN"),
    )
    .option(
      "--kubeconfig <path>",
      "kubeconfig for --configmap (default: in-cluster, $KUBECONFIG, ~/.kube/config)",
    )
    .option(
      "--poll-interval <ms>",
      "with --file, also re-read this often in case a change event is missed (0: never)",
      positiveInt,
      5000,
    );
}

/** Request, context and connection limits. */
function addLimitOptions(command: Command): void {
  command
    .option("--max-body-bytes <n>", "largest accepted request body; larger ones get 413", positiveInt, 65536)
    .option(
      "--max-context-depth <n>",
      "deepest nesting of objects and lists in an evaluation context (the context is level 1); deeper ones get 400",
      atLeastOne,
      DEFAULT_CONTEXT_LIMITS.maxDepth,
    )
    .option(
      "--max-context-values <n>",
      "most values in an evaluation context (attributes, nested members and list items together); more get 400",
      atLeastOne,
      DEFAULT_CONTEXT_LIMITS.maxValues,
    )
    .option(
      "--max-connections <n>",
      "open connections held at once (event streams included); a new one beyond is closed at once",
      atLeastOne,
      DEFAULT_CONNECTION_LIMITS.maxConnections,
    )
    .option(
      "--headers-timeout <ms>",
      "time a client has to send a request's headers (408 and closed after)",
      atLeastOne,
      DEFAULT_CONNECTION_LIMITS.headersTimeoutMs,
    )
    .option(
      "--request-timeout <ms>",
      "time a client has to send a whole request, body included (event streams stay open past it); at least --headers-timeout",
      atLeastOne,
      DEFAULT_CONNECTION_LIMITS.requestTimeoutMs,
    );
}

/** Exposure logs, experiment counters and the event store. */
function addExperimentOptions(command: Command): void {
  command
    .option(
      "--exposure-log <path>",
      'append exposure events (flag, variant, reason, hashed user, time) as JSON lines; "-" for stdout',
    )
    .addOption(
      new Option(
        "--exposure-key-file <path>",
        "key of the exposure log's user hash (HMAC-SHA256; at least 16 bytes, surrounding whitespace ignored); the same key in every sidecar makes hashes join across pods; default: a random key per process",
      ).env("FLAGWRIGHT_EXPOSURE_KEY_FILE"),
    )
    .addOption(
      new Option(
        "--exposures <mode>",
        "flagwright_exposures_total counts the first evaluation per user and flag (per process) or every one",
      )
        .choices(["first", "every"])
        .default("first"),
    )
    .option(
      "--exposure-users <n>",
      "with --exposures first: users remembered per process",
      positiveInt,
      100000,
    )
    .addOption(
      new Option(
        "--event-store-url-file <path>",
        "file holding the experiment event store's URL (postgres://USER:PASSWORD@HOST:PORT/DB, from a Secret); exposures and conversions are written there in batches so users count once across pods and restarts; needs --exposure-key-file",
      ).env("FLAGWRIGHT_EVENT_STORE_URL_FILE"),
    )
    .option(
      "--event-store-max-pending <n>",
      "experiment events held unwritten at most (a crash loses at most these); beyond, /track answers 503 and exposures are dropped and counted",
      atLeastOne,
      5000,
    )
    .option(
      "--event-store-flush-interval <ms>",
      "longest time an experiment event waits before its batch is written",
      atLeastOne,
      1000,
    );
}

/** Event streams, the over-budget lane, CORS, the bearer token, shutdown and logs. */
function addServingOptions(command: Command): void {
  command
    .option(
      "--max-event-streams <n>",
      "open OFREP event streams (SSE) allowed at once; more get 503 and keep polling (0: no streams)",
      positiveInt,
      1000,
    )
    .option(
      "--max-over-budget-waiting <n>",
      "single-flag requests that may wait at once for a flag whose rules recently ran out of evaluation budget (they are evaluated one per event-loop turn, after other flags'); more get 429 with Retry-After before their bodies are read",
      atLeastOne,
      DEFAULT_OVER_BUDGET_WAITING,
    )
    .option(
      "--heartbeat-interval <ms>",
      "comment line sent on idle event streams so proxies keep them open",
      positiveInt,
      15000,
    )
    .option(
      "--public-url <url>",
      "base URL clients reach this server at, for the event stream URL in bulk answers (default: the request's Host)",
    )
    .addOption(
      new Option(
        "--cors-origin <origins>",
        'comma-separated browser origins allowed to call OFREP here (CORS), e.g. https://shop.example.com; "*" for any; default none',
      ).env("FLAGWRIGHT_CORS_ORIGIN"),
    )
    .addOption(
      new Option(
        "--auth-token-file <path>",
        "require Authorization: Bearer <the file's content> on OFREP and /track (401 without); for a shared evaluator serving many pods (/healthz, /readyz, /metrics stay open)",
      ).env("FLAGWRIGHT_AUTH_TOKEN_FILE"),
    )
    .option(
      "--shutdown-timeout <ms>",
      "on SIGTERM, wait this long for in-flight requests",
      positiveInt,
      10000,
    )
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
        .default("info")
        .env("FLAGWRIGHT_LOG_LEVEL"),
    );
}

/** The document source the flags name; exits with a usage error without one. */
async function sourceOf(flags: SidecarFlags, command: Command): Promise<SourceOptions> {
  if (flags.file) {
    return { kind: "file", path: flags.file, key: flags.key, pollIntervalMs: flags.pollInterval };
  }
  if (!flags.configmap) command.error("error: one of --file or --configmap is required");
  const [namespace, name] = flags.configmap.split("/", 2);
  if (!namespace) command.error("error: --configmap must be NAMESPACE/NAME");
  // Only API-watch mode loads the Kubernetes client (~70 MiB); file mode never does.
  const kubeConfig = await loadKubeConfig({ kubeconfig: flags.kubeconfig });
  return {
    kind: "configmap",
    namespace: namespace as string,
    name: name || DEFAULT_CONFIGMAP_NAME,
    key: flags.key,
    kubeConfig,
  };
}

async function authTokenOf(flags: SidecarFlags, command: Command): Promise<string | undefined> {
  if (!flags.authTokenFile) return undefined;
  const authToken = (await readFile(flags.authTokenFile, "utf8")).trim();
  if (authToken === "") command.error(`error: --auth-token-file ${flags.authTokenFile} is empty`);
  return authToken;
}

async function exposureKeyOfFlags(flags: SidecarFlags, command: Command): Promise<Uint8Array | undefined> {
  if (!flags.exposureKeyFile) return undefined;
  try {
    return exposureKeyOf(
      await readFile(flags.exposureKeyFile),
      `--exposure-key-file ${flags.exposureKeyFile}`,
    );
  } catch (error) {
    command.error(`error: ${(error as Error).message}`);
  }
}

type EventStoreOptions = NonNullable<SidecarOptions["eventStore"]>;

async function eventStoreOf(
  flags: SidecarFlags,
  exposureKey: Uint8Array | undefined,
  command: Command,
): Promise<EventStoreOptions | undefined> {
  if (!flags.eventStoreUrlFile) return undefined;
  const field = `--event-store-url-file ${flags.eventStoreUrlFile}`;
  if (exposureKey === undefined)
    command.error(
      "error: --event-store-url-file needs --exposure-key-file (the same key in every sidecar, so a user is one user across pods)",
    );
  let url = "";
  try {
    url = (await readFile(flags.eventStoreUrlFile, "utf8")).trim();
  } catch (error) {
    command.error(`error: ${field}: ${(error as Error).message}`);
  }
  // Loaded only with an event store, like the client it loads.
  const { eventStoreUrlProblem, postgresEventWriter } = await import("../../experiment/event-store.js");
  const problem = eventStoreUrlProblem(url, field);
  if (problem) command.error(`error: ${problem}`);
  return {
    writer: await postgresEventWriter(url),
    maxPending: flags.eventStoreMaxPending,
    flushIntervalMs: flags.eventStoreFlushInterval,
  };
}

/** The options of startSidecar that follow from the flags alone. */
function servingOptions(flags: SidecarFlags): Partial<SidecarOptions> {
  const corsOrigins = flags.corsOrigin
    ?.split(",")
    .map((o) => o.trim())
    .filter((o) => o !== "");
  return {
    maxBodyBytes: flags.maxBodyBytes,
    contextLimits: { maxDepth: flags.maxContextDepth, maxValues: flags.maxContextValues },
    connectionLimits: {
      maxConnections: flags.maxConnections,
      headersTimeoutMs: flags.headersTimeout,
      requestTimeoutMs: flags.requestTimeout,
    },
    exposureLog: flags.exposureLog,
    exposures: { mode: flags.exposures, maxUsers: flags.exposureUsers },
    shutdownTimeoutMs: flags.shutdownTimeout,
    overBudgetWaitingPerFlag: flags.maxOverBudgetWaiting,
    eventStreams:
      flags.maxEventStreams === 0
        ? false
        : { maxStreams: flags.maxEventStreams, heartbeatMs: Math.max(1, flags.heartbeatInterval) },
    ...(flags.publicUrl ? { publicUrl: flags.publicUrl } : {}),
    ...(corsOrigins ? { corsOrigins } : {}),
  };
}

async function runSidecar(flags: SidecarFlags, command: Command): Promise<void> {
  const source = await sourceOf(flags, command);
  const { host, port } = parseHostPort(flags.listen, { flag: "--listen", defaultHost: DEFAULT_HOST });
  const authToken = await authTokenOf(flags, command);
  if (flags.headersTimeout > flags.requestTimeout) {
    command.error(
      `error: --headers-timeout (${flags.headersTimeout}) must not exceed --request-timeout (${flags.requestTimeout})`,
    );
  }
  const exposureKey = await exposureKeyOfFlags(flags, command);
  const eventStore = await eventStoreOf(flags, exposureKey, command);
  const logger = createLogger("sidecar", flags.logLevel);
  const sidecar = await startSidecar({
    ...servingOptions(flags),
    source,
    host,
    port,
    ...(exposureKey ? { exposureKey } : {}),
    ...(eventStore ? { eventStore } : {}),
    ...(authToken ? { authToken } : {}),
    logger,
  });
  const stop = (signal: string) => {
    logger.info({ reason: "Signal", signal }, `received ${signal}`);
    sidecar.close().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error({ reason: "ShutdownFailed", err: error.message }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
