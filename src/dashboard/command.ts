// Registers `kubectl flagwright dashboard`. The server (express, the Kubernetes watch) is imported
// only when the command runs, so the plugin's other commands start as fast as before.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { DEFAULT_CONFIGMAP_NAME } from "../core/document.js";
import { parseHostPort } from "../host-port.js";
import type { RefsReport } from "../hygiene/refs.js";
import { createLogger } from "../log.js";
import { INSECURE_LISTEN_FLAG, listenPolicy } from "./security.js";

interface DashboardFlags {
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  port: string;
  address: string;
  refs?: string;
  prometheusUrl?: string;
  configmapName: string;
  allowHost?: string[];
  insecureListenAny?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A `flagwright refs --json` report, checked enough to fail with a clear message. */
export function readRefsReport(path: string): RefsReport {
  const report = JSON.parse(readFileSync(path, "utf8")) as Partial<RefsReport>;
  if (!Array.isArray(report.referenced) || !Array.isArray(report.unreferenced)) {
    throw new Error(
      `${path} is not the output of 'flagwright refs --json' (no referenced/unreferenced lists)`,
    );
  }
  return {
    referenced: report.referenced,
    unreferenced: report.unreferenced,
    undefinedKeys: report.undefinedKeys ?? [],
  };
}

export function registerDashboardCommand(program: Command): void {
  program
    .command("dashboard")
    .summary("serve a local web dashboard: flags, rollout timelines, experiments, flag debt, controls")
    .description(
      "Serve a web dashboard on this machine: flags, rollout timelines, experiments, flag debt, live " +
        "updates and the manual controls. It uses your kubeconfig and RBAC, so it can do what you can do " +
        "with kubectl, no more. Binds 127.0.0.1, prints a login URL and runs until Ctrl-C. The URL's " +
        "secret works once: the browser that opens it gets a session cookie, and every other client " +
        "(another browser, another process on this machine) is refused (docs/dashboard.md).",
    )
    .option("--port <port>", "port to listen on (0: any free port)", "3100")
    .option(
      "--address <ip>",
      `address to bind; anything but loopback (127.0.0.0/8, ::1) also needs ${INSECURE_LISTEN_FLAG}`,
      "127.0.0.1",
    )
    .option(
      INSECURE_LISTEN_FLAG,
      "allow --address to be a non-loopback address (e.g. 0.0.0.0): other machines can then reach the " +
        "dashboard, which acts with your credentials, over plain HTTP; prints a warning",
    )
    .option("--refs <file>", "`flagwright refs --json` output, to show code references on the Flag debt page")
    .option("--prometheus-url <url>", "Prometheus the operator reads, to chart experiments over time")
    .option(
      "--configmap-name <name>",
      "name of the projected flags ConfigMap (evaluate box)",
      DEFAULT_CONFIGMAP_NAME,
    )
    .option("--allow-host <name>", "also accept requests addressed to this host name (repeatable)", collect)
    .addHelpText(
      "after",
      "\nWithout -n it shows every namespace you may list flags in (else your context's namespace).\n" +
        "Global options go before 'dashboard': -n/--namespace, --kubeconfig, --context.\n\n" +
        "Open the printed URL (http://127.0.0.1:PORT/?login=...) in your browser: it signs that\n" +
        "browser in (an HttpOnly cookie) and works only once. To reach the dashboard from elsewhere,\n" +
        "prefer an SSH tunnel (ssh -L) to a loopback dashboard over --address with\n" +
        `${INSECURE_LISTEN_FLAG}.\n\n` +
        "Examples:\n  kubectl flagwright dashboard\n  kubectl flagwright -n shop dashboard --port 8080 --refs refs.json\n",
    )
    .action((_opts, cmd: Command) => runDashboard(cmd.optsWithGlobals<DashboardFlags>()));
}

/** Serves the dashboard until Ctrl-C, then closes the watches and the server. */
async function runDashboard(flags: DashboardFlags): Promise<void> {
  const { host, port } = parseHostPort(
    `${flags.address.includes(":") ? `[${flags.address}]` : flags.address}:${flags.port}`,
    {
      flag: "--address/--port",
      defaultHost: "127.0.0.1",
    },
  );
  // Refused (or warned about) before anything else happens.
  const { warning } = listenPolicy(host, flags.insecureListenAny === true);
  if (warning !== undefined) process.stderr.write(warning);
  const { startDashboard } = await import("./server.js");
  const log = createLogger("dashboard", undefined, 2);
  const dashboard = await startDashboard({
    namespaces: flags.namespace ? [flags.namespace] : [],
    address: host,
    port,
    configMapName: flags.configmapName,
    log,
    ...(flags.kubeconfig !== undefined && { kubeconfig: flags.kubeconfig }),
    ...(flags.context !== undefined && { context: flags.context }),
    ...(flags.refs !== undefined && { refs: readRefsReport(flags.refs) }),
    ...(flags.prometheusUrl !== undefined && { prometheusUrl: flags.prometheusUrl }),
    ...(flags.allowHost !== undefined && { allowHosts: flags.allowHost }),
  });
  process.stdout.write(`Flagwright dashboard for ${dashboard.user}: ${dashboard.url}\n`);
  // Runs until interrupted; Ctrl-C closes the watches and the server.
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await dashboard.close();
}
