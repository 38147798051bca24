// `kubectl flagwright dashboard` in Debian's headless Chromium (playwright-core), against the local
// control plane and the real operator: opening the printed one-time login URL signs the browser
// in, while another browser (without the secret, or with it used again), another process and a
// page of another origin get nothing and cannot write; the flags page lists the flags, a step change shows live,
// the kill button kills (the ConfigMap shows it) while a viewer gets the RBAC message, the evaluate
// box agrees with the sidecar's OFREP answers, Tab reaches every control, and axe-core finds no
// serious or critical violation. Screenshots of each page go to docs/images with
// FLAGWRIGHT_UPDATE_SCREENSHOTS=1, else to a temporary directory.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { type FeatureFlag, GROUP, PLURAL, VERSION } from "../../../src/api/index.js";
import { runRefs } from "../../../src/cli/commands/refs.js";
import { runPlugin } from "../../../src/cli/kubectl-plugin/program.js";
import { DOCUMENT_KEY, parseDocument } from "../../../src/core/index.js";
import { analyzeExperiment } from "../../../src/experiment/analysis.js";
import { getFeatureFlag } from "../../../src/kube/featureflags.js";
import { impersonatingKubeconfig } from "../../support/impersonation.js";
import { clients, kubectl, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { type SidecarProcess, sidecarLogged, startSidecarProcess } from "../../support/processes.js";
import { type PrometheusHandle, startPrometheus } from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";
import { type ObjectWatch, watchObjects } from "../../support/watch.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
];
const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const SCREENSHOTS =
  process.env.FLAGWRIGHT_UPDATE_SCREENSHOTS === "1" ? join(repoRoot, "docs/images") : undefined;

const canary = (steps: { percent: number; pause?: string }[]) => ({
  enabled: true,
  rollout: { percent: 100, canary: { steps } },
});

/** The namespace's flags: a canary to ramp, one to roll back, a targeted one, an experiment, debt. */
function manifests(namespace: string) {
  const flag = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "FeatureFlag",
    metadata: { name, namespace },
    spec,
  });
  return [
    {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "Segment",
      metadata: { name: "beta-testers", namespace },
      spec: { description: "Opted into beta", when: 'plan == "beta"', included: ["qa-lead"], excluded: [] },
    },
    flag("new-checkout", {
      description: "The redesigned checkout, ramped as a canary",
      owner: "team-checkout",
      ...canary([
        { percent: 5, pause: "1h" },
        { percent: 25, pause: "1h" },
        { percent: 50, pause: "1h" },
        { percent: 100 },
      ]),
    }),
    flag("search-v2", {
      description: "New search ranking",
      owner: "team-search",
      ...canary([{ percent: 10, pause: "1h" }, { percent: 100 }]),
    }),
    flag("reports-redesign", {
      description: "Redesigned reports for beta testers and Dutch users",
      owner: "team-insights",
      enabled: true,
      variants: [
        { name: "classic", weight: 50, value: "classic" },
        { name: "redesign", weight: 50, value: "redesign" },
      ],
      defaultValue: "classic",
      rules: [
        { name: "beta", segments: ["beta-testers"], serve: { variant: "redesign" } },
        {
          name: "dutch",
          when: 'country == "NL" && semverCompare(appVersion, "2.0.0") >= 0',
          serve: { percent: 50 },
        },
      ],
      rollout: { percent: 20 },
    }),
    flag("payments-kill-switch", {
      description: "Route payments through the new provider",
      owner: "team-payments",
      enabled: true,
      rollout: { percent: 100 },
    }),
    flag("signup-cta-text", {
      description: "Which call-to-action converts better",
      owner: "team-growth",
      enabled: true,
      rollout: { percent: 100 },
      variants: [
        { name: "control", weight: 50, value: "Sign up" },
        { name: "urgent", weight: 50, value: "Start free today" },
      ],
      defaultValue: "Sign up",
      experiment: { conversionEvent: "signup-completed", control: "control", minSamplePerVariant: 2000 },
    }),
    flag("old-banner", {
      description: "Holiday banner, long since shipped",
      owner: "team-web",
      enabled: true,
      rollout: { percent: 100 },
      expires: "2026-01-31T00:00:00Z",
    }),
  ];
}

interface DashboardProcess {
  /** The printed URL, with the one-time login secret. */
  url: string;
  /** The same server's clean address, http://127.0.0.1:PORT/. */
  origin: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `kubectl flagwright dashboard --port 0` as a real process; resolves with the URL it prints. */
async function startDashboard(global: string[], options: string[] = []): Promise<DashboardProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/kubectl-plugin/main.ts", ...global, "dashboard", "--port", "0", ...options],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
  const lines: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (l) => lines.push(l));
  const url = await Promise.race([
    waitFor(() => lines.map((l) => /^Flagwright dashboard for .*: (http:\S+)$/.exec(l)?.[1]).find(Boolean), {
      timeoutMs: 60_000,
      what: "the dashboard's URL on stdout",
    }),
    exited.then((code) => {
      throw new Error(`dashboard exited ${code}: ${stderr}`);
    }),
  ]);
  return {
    url,
    origin: new URL("/", url).href,
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

let ns: Awaited<ReturnType<typeof testNamespace>>;
let operator: OperatorProcess;
let sidecar: SidecarProcess;
let prometheus: PrometheusHandle;
/** What the test sent per variant of signup-cta-text. */
const traffic: Record<string, { exposures: number; conversions: number }> = {};
let admin: DashboardProcess;
let viewer: DashboardProcess;
let viewerKubeconfig = "";
let workDir = "";
let shotsDir = "";
let browser: BrowserContext;
/** What opening each printed login URL gave: where the browser landed and what it showed. */
const signedIn: Record<"admin" | "viewer", { landedAt: string; rendered?: string; rows: number }> = {
  admin: { landedAt: "", rows: 0 },
  viewer: { landedAt: "", rows: 0 },
};
const { custom, core } = clients();

const plugin = (args: string[]) =>
  runPlugin(["--kubeconfig", inject("kubeconfig"), "-n", ns.name, ...args], {
    out: () => {},
    err: (t) => process.stderr.write(t),
  });

const readFlag = (name: string) => getFeatureFlag(custom, ns.name, name);

async function projected() {
  const cm = await core.readNamespacedConfigMap({ name: "flagwright-flags", namespace: ns.name });
  return parseDocument(cm.data?.[DOCUMENT_KEY] ?? "");
}

async function newPage(base: string): Promise<Page> {
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") process.stderr.write(`[page] ${m.text()}\n`);
  });
  page.on("pageerror", (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await page.goto(base);
  await page.waitForFunction(() => document.body.dataset.rendered !== undefined);
  return page;
}

/** Opens the printed login URL in the browser, as the user does, once per dashboard. */
async function signIn(dashboard: DashboardProcess) {
  const page = await newPage(dashboard.url);
  const result = {
    landedAt: page.url(),
    rendered: await page.evaluate(() => document.body.dataset.rendered),
    rows: await page.locator("#flags-body tr[data-flag]").count(),
  };
  await page.close();
  return result;
}

async function openFlag(page: Page, base: string, name: string) {
  await page.goto(`${base}#/flag/${ns.name}/${name}`);
  await page.waitForFunction(
    (n) =>
      document.body.dataset.rendered === "flag" && document.querySelector("h1")?.textContent?.includes(n),
    name,
  );
}

async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: join(shotsDir, `dashboard-${name}.png`), fullPage: true });
}

/** axe-core's serious and critical violations on the page as it is now. */
async function seriousViolations(page: Page) {
  const source = readFileSync(join(repoRoot, "node_modules/axe-core/axe.min.js"), "utf8");
  // Evaluated through the DevTools protocol, so the page's CSP (no inline scripts) does not apply.
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const w = window as unknown as {
      axe: {
        run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }>;
      };
    };
    return (await w.axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: apt-get install chromium (.ci/run does)`);
  }
  workDir = await mkdtemp(join(tmpdir(), "flagwright-dashboard-"));
  shotsDir = SCREENSHOTS ?? workDir;
  await mkdir(shotsDir, { recursive: true });
  ns = await testNamespace("dash");
  operator = await startOperator(["--namespaces", ns.name]);
  await kubectl(
    ["apply", "--server-side", "-f", "-"],
    manifests(ns.name)
      .map((m) => stringify(m))
      .join("---\n"),
  );
  await waitFor(
    async () => {
      const doc = await projected();
      return ["new-checkout", "search-v2", "reports-redesign", "payments-kill-switch"].every(
        (k) => doc.flags[k] !== undefined,
      );
    },
    { timeoutMs: 60_000, what: "the operator's projection of every flag" },
  );
  // A rollback with a person's cause on the timeline, and experiment results as the operator's
  // experiment loop writes them (under its own field manager), from the same analysis code.
  await waitFor(async () => (await readFlag("search-v2")).status?.phase === "Progressing", {
    timeoutMs: 30_000,
    what: "search-v2 ramping",
  });
  expect(await plugin(["abort", "search-v2", "--reason", "p99 latency regression in canary"])).toBe(0);
  const result = analyzeExperiment(
    { conversionEvent: "signup-completed", control: "control", minSamplePerVariant: 2000 },
    [
      { name: "control", weight: 50, exposures: 10_412, conversions: 832 },
      { name: "urgent", weight: 50, exposures: 10_288, conversions: 967 },
    ],
    new Date(),
  );
  await custom.patchNamespacedCustomObjectStatus(
    {
      group: GROUP,
      version: VERSION,
      namespace: ns.name,
      plural: PLURAL,
      name: "signup-cta-text",
      fieldManager: "flagwright-experiments",
      body: { status: { experiment: result } },
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  // Code references as `flagwright refs --json` reports them.
  await mkdir(join(workDir, "src/web"), { recursive: true });
  await writeFile(
    join(workDir, "src/web/banner.ts"),
    'export const show = () => client.getBooleanValue("old-banner", false);\n',
  );
  const refs = await runRefs([join(workDir, "src")], { defaults: true, json: true, cluster: false });
  // Paths as if run from the checkout's root, as people do.
  await writeFile(join(workDir, "refs.json"), refs.output.replaceAll(`${workDir}/`, ""));

  // A viewer, bound to the shipped flagwright-viewer rules in this namespace only (so the
  // dashboard also has to fall back from a cluster-wide list to the context's namespace).
  const roles = parseAllDocuments(readFileSync(join(repoRoot, "deploy/user-roles.yaml"), "utf8")).map(
    (d) => d.toJS() as { metadata: { name: string }; rules: unknown[] },
  );
  const viewerRole = roles.find((r) => r.metadata.name === "flagwright-viewer");
  const viewerUser = `viewer-${ns.name}`;
  await kubectl(
    ["apply", "-n", ns.name, "-f", "-"],
    stringify({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "viewer" },
      rules: viewerRole?.rules,
    }) +
      "---\n" +
      stringify({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "viewer" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "viewer" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: viewerUser }],
      }),
  );
  viewerKubeconfig = impersonatingKubeconfig(viewerUser, { namespace: ns.name });

  sidecar = await startSidecarProcess(ns.name);
  await waitFor(() => sidecar.logs.some(sidecarLogged("DocumentLoaded")), {
    what: "the sidecar's projected document",
  });

  // Traffic for the experiment, scraped by a real Prometheus: exposures through OFREP, conversions
  // through the sidecar's /track, as applications send them.
  prometheus = await startPrometheus({ targets: [new URL(sidecar.url).host] });
  for (let i = 0; i < 120; i++) {
    const user = `visitor-${i}`;
    const res = await fetch(`${sidecar.url}/ofrep/v1/evaluate/flags/signup-cta-text`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ context: { targetingKey: user } }),
    });
    const { variant } = (await res.json()) as { variant: string };
    traffic[variant] ??= { exposures: 0, conversions: 0 };
    (traffic[variant] as { exposures: number }).exposures++;
    if (i % (variant === "urgent" ? 3 : 5) === 0) {
      const tracked = await fetch(`${sidecar.url}/track`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ flag: "signup-cta-text", targetingKey: user, event: "signup-completed" }),
      });
      expect(tracked.status).toBe(200);
      (traffic[variant] as { conversions: number }).conversions++;
    }
  }

  [admin, viewer] = await Promise.all([
    startDashboard(
      ["--kubeconfig", inject("kubeconfig")],
      ["--refs", join(workDir, "refs.json"), "--prometheus-url", prometheus.url],
    ),
    startDashboard(["--kubeconfig", viewerKubeconfig]),
  ]);

  browser = await chromium.launchPersistentContext(join(workDir, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: CHROMIUM_ARGS,
  });
  // The user opens each printed URL once; every later page uses the clean address.
  signedIn.admin = await signIn(admin);
  signedIn.viewer = await signIn(viewer);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await admin?.stop();
  await viewer?.stop();
  await prometheus?.dispose();
  await sidecar?.stop();
  await operator?.stop();
  await ns?.remove();
  if (viewerKubeconfig) await rm(viewerKubeconfig, { force: true });
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("kubectl flagwright dashboard", () => {
  it("prints a one-time login URL; opening it signs the browser in and lands on the clean address", async () => {
    for (const d of [admin, viewer]) {
      expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?login=[A-Za-z0-9_-]{43}$/);
      expect(d.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    }
    // Opened in beforeAll, as a user would: a working page at the address without the secret.
    expect(signedIn.admin).toEqual({ landedAt: admin.origin, rendered: "flags", rows: expect.any(Number) });
    expect(signedIn.admin.rows).toBeGreaterThanOrEqual(6);
    expect(signedIn.viewer).toMatchObject({ landedAt: viewer.origin, rendered: "flags" });
    // One HttpOnly, SameSite=Strict cookie per dashboard (named per port, so the two coexist).
    for (const d of [admin, viewer]) {
      const port = new URL(d.origin).port;
      const cookies = (await browser.cookies(d.origin)).filter((c) =>
        c.name.startsWith("flagwright_dashboard_"),
      );
      expect(cookies.find((c) => c.name === `flagwright_dashboard_${port}`)).toMatchObject({
        httpOnly: true,
        sameSite: "Strict",
        path: "/",
        secure: false,
        expires: -1,
      });
    }
    // The page itself holds no credential: scripts see no cookie, the HTML embeds no token.
    const page = await newPage(admin.origin);
    expect(await page.evaluate(() => document.cookie)).not.toContain("flagwright_dashboard_");
    const html = await (await browser.request.get(admin.origin)).text();
    expect(html).not.toMatch(/token/i);
    await page.close();
  });

  it("a browser without the session gets no data: no secret, or the printed secret used again", {
    timeout: 60_000,
  }, async () => {
    const other = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      for (const [what, address] of [
        ["the address without the secret", admin.origin],
        ["the printed URL again", admin.url],
        ["the address with a made-up secret", `${admin.origin}?login=${"A".repeat(43)}`],
      ] as const) {
        const context = await other.newContext();
        const page = await context.newPage();
        const response = await page.goto(address);
        expect(response?.status(), what).toBe(401);
        expect(await page.locator("body").textContent(), what).toMatch(/login (URL|link)/);
        // No app, no rows; and the page's own requests are refused as well.
        expect(await page.evaluate(() => document.body.dataset.rendered), what).toBeUndefined();
        const answers = await page.evaluate(async () => {
          const get = async (path: string) => {
            const r = await fetch(path);
            return { status: r.status, body: await r.text() };
          };
          return [await get("/api/info"), await get("/api/flags"), await get("/api/events")];
        });
        for (const a of answers) {
          expect(a.status, what).toBe(401);
          expect(JSON.parse(a.body), what).toMatchObject({ error: { kind: "unauthenticated" } });
        }
        expect(await context.cookies(), what).toEqual([]);
        await context.close();
      }
    } finally {
      await other.close();
    }
  });

  it("another process on this machine gets 401 for reads, the event stream and writes", async () => {
    const port = new URL(admin.origin).port;
    const kill = `${admin.origin}api/flags/${ns.name}/payments-kill-switch/controls/kill`;
    for (const path of [
      "",
      "?login=x",
      "api/info",
      "api/flags",
      `api/flags/${ns.name}/payments-kill-switch`,
      "api/events",
    ]) {
      const res = await fetch(`${admin.origin}${path}`, { redirect: "manual" });
      const body = await res.text();
      expect(res.status, path).toBe(401);
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      expect(body, path).not.toContain("payments-kill-switch");
      expect(body, path).not.toMatch(/token/i);
    }
    // The printed URL once more: the secret is spent.
    expect((await fetch(admin.url, { redirect: "manual" })).status).toBe(401);
    // A write with everything but the cookie: the right Host and Origin, JSON, a guessed session.
    for (const cookie of [undefined, `flagwright_dashboard_${port}=${"A".repeat(43)}`]) {
      const res = await fetch(kill, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          origin: admin.origin.replace(/\/$/, ""),
          ...(cookie !== undefined && { cookie }),
        },
        body: JSON.stringify({ reason: "from another process" }),
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { kind: "unauthenticated" } });
    }
    expect((await readFlag("payments-kill-switch")).status?.controls?.killed).toBeUndefined();
  });

  it("refuses requests for another Host, and writes from another origin even with the cookie", async () => {
    const port = new URL(admin.origin).port;
    const session = (await browser.cookies(admin.origin)).find(
      (c) => c.name === `flagwright_dashboard_${port}`,
    );
    const cookie = `${session?.name}=${session?.value}`;
    // fetch cannot set Host; node:http can.
    const { request } = await import("node:http");
    const status = (headers: Record<string, string>, method = "GET", path = "/api/flags") =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path, method, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end(method === "POST" ? "{}" : undefined);
      });
    expect(await status({ host: `127.0.0.1:${port}`, cookie })).toBe(200);
    expect(await status({ host: `rebind.example:${port}`, cookie })).toBe(421);
    const kill = `/api/flags/${ns.name}/payments-kill-switch/controls/kill`;
    const json = { host: `127.0.0.1:${port}`, "content-type": "application/json", cookie };
    expect(await status({ ...json, origin: "https://evil.example" }, "POST", kill)).toBe(403);
    expect(await status({ ...json, origin: "http://127.0.0.1:1" }, "POST", kill)).toBe(403);
    expect(await status(json, "POST", kill)).toBe(403);
    expect((await readFlag("payments-kill-switch")).status?.controls?.killed).toBeUndefined();
  });

  it("a page of another origin in the signed-in browser can neither read nor kill", {
    timeout: 60_000,
  }, async () => {
    const { createServer } = await import("node:http");
    const elsewhere = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>another site</title><p>another site</p>");
    });
    // Chromium keeps connections open and may open one more that never sends a request; every
    // socket is destroyed at the end so close() does not wait for the server's header timeout.
    const sockets = new Set<import("node:net").Socket>();
    elsewhere.on("connection", (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => elsewhere.listen({ host: "127.0.0.1", port: 0 }, resolve));
    const elsewherePort = (elsewhere.address() as import("node:net").AddressInfo).port;
    const kill = `${admin.origin}api/flags/${ns.name}/payments-kill-switch/controls/kill`;
    try {
      // Another port of 127.0.0.1 is another origin but the same site: the cookie goes along, the
      // Origin check refuses (403). localhost is another site: SameSite=Strict keeps the cookie (401).
      for (const [site, expected] of [
        [`http://127.0.0.1:${elsewherePort}/`, 403],
        [`http://localhost:${elsewherePort}/`, 401],
      ] as const) {
        const page = await browser.newPage();
        await page.goto(site);
        const attempt = await page.evaluate(
          async ({ kill, flags }) => {
            // Reading needs CORS, which the dashboard never grants.
            const read = await fetch(flags, { credentials: "include" }).then(
              () => "read",
              (e: Error) => `refused: ${e.name}`,
            );
            // A blind write: no-cors sends it with the cookie where the browser allows.
            await fetch(kill, {
              method: "POST",
              mode: "no-cors",
              credentials: "include",
              headers: { "content-type": "text/plain" },
              body: JSON.stringify({ reason: "cross-origin" }),
            });
            return read;
          },
          { kill, flags: `${admin.origin}api/flags` },
        );
        expect(attempt, site).toBe("refused: TypeError");
        // A form posted to the kill URL, as a top-level navigation: the dashboard's answer shows.
        const answer = page.waitForResponse((r) => r.url() === kill);
        await page.evaluate((action) => {
          const form = document.createElement("form");
          form.method = "POST";
          form.action = action;
          form.enctype = "text/plain";
          const input = document.createElement("input");
          input.name = '{"reason":"form","x":"';
          input.value = '"}';
          form.append(input);
          document.body.append(form);
          form.submit();
        }, kill);
        expect((await answer).status(), site).toBe(expected);
        // Not awaited: after the earlier tests' pages, Chromium holds close() of a page that has just
        // navigated to a form's answer until the browser context closes (after the suite).
        void page.close().catch(() => undefined);
      }
      expect((await readFlag("payments-kill-switch")).status?.controls?.killed).toBeUndefined();
    } finally {
      const closed = new Promise<void>((resolve) => elsewhere.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    }
  });

  it("lists the flags, filterable, and shows each page (screenshots)", { timeout: 60_000 }, async () => {
    // What the first load transfers (the event stream excepted: it never ends).
    const page = await browser.newPage();
    const sizes: Promise<number>[] = [];
    page.on("response", (r) => {
      if (!r.url().endsWith("/api/events")) {
        sizes.push(
          r
            .request()
            .sizes()
            .then((s) => s.responseBodySize + s.responseHeadersSize),
        );
      }
    });
    await page.goto(admin.origin);
    await page.waitForFunction(() => document.body.dataset.rendered === "flags");
    const transferred = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
    console.log(`[dashboard] first load of the flags page: ${sizes.length} responses, ${transferred} bytes`);
    expect(transferred).toBeLessThan(100_000);
    await page.selectOption("#f-ns", ns.name);
    const listed = await page.$$eval("#flags-body tr[data-flag]", (trs) => trs.map((tr) => tr.dataset.flag));
    expect(listed.sort()).toEqual(
      [
        "new-checkout",
        "old-banner",
        "payments-kill-switch",
        "reports-redesign",
        "search-v2",
        "signup-cta-text",
      ].map((n) => `${ns.name}/${n}`),
    );
    const rolledBack = page.locator(`tr[data-flag="${ns.name}/search-v2"]`);
    await expect.poll(() => rolledBack.locator("td.phase").textContent()).toBe("RolledBack");
    expect(await rolledBack.locator("td.rollback").textContent()).toContain("p99 latency regression");
    expect(await page.locator(`tr[data-flag="${ns.name}/old-banner"]`).textContent()).toContain(
      "stale: Expired",
    );
    await page.fill("#f-text", "team-search");
    expect(await page.$$eval("#flags-body tr[data-flag]", (trs) => trs.map((tr) => tr.dataset.flag))).toEqual(
      [`${ns.name}/search-v2`],
    );
    await page.fill("#f-text", "");
    await page.locator("#f-text").blur();
    await screenshot(page, "flags");

    await openFlag(page, admin.origin, "search-v2");
    const timeline = await page.locator("ol.events").textContent();
    expect(timeline).toContain("Abort requested");
    expect(timeline).toContain("p99 latency regression in canary");
    // The operator's Events for the flag are part of its history.
    expect(await page.locator('ol.events li[data-kind="event"]').count()).toBeGreaterThan(0);
    expect(await page.locator("ol.steps li").evaluateAll((lis) => lis.map((li) => li.dataset.state))).toEqual(
      ["failed", "pending"],
    );
    await screenshot(page, "flag");

    // Over time: the dashboard's range queries see what the test sent, once Prometheus scraped it.
    let lastHistory = "";
    const historyUrl = `${admin.origin}api/flags/${ns.name}/signup-cta-text/experiment/history`;
    const history = await waitFor(
      async () => {
        // Through the browser's request context: it carries the session cookie.
        const h = (await (await browser.request.get(historyUrl)).json()) as {
          variants: { name: string; exposures: (number | null)[]; conversions: (number | null)[] }[];
        };
        const last = (xs: (number | null)[]) => xs.filter((x) => x !== null).at(-1);
        const got = Object.fromEntries(
          h.variants.map((v) => [v.name, { exposures: last(v.exposures), conversions: last(v.conversions) }]),
        );
        const canonical = (o: Record<string, unknown>) => JSON.stringify(Object.entries(o).sort());
        lastHistory = canonical(got);
        return canonical(got) === canonical(traffic) ? got : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: "the experiment's traffic in Prometheus range queries" },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; sent ${JSON.stringify(traffic)}, last seen ${lastHistory}`);
    });
    expect(Object.keys(history).sort()).toEqual(["control", "urgent"]);
    await page.goto(`${admin.origin}#/experiments`);
    await page.waitForFunction(() => document.body.dataset.rendered === "experiments");
    // This test's experiment only: other suites' experiments on the shared control plane may be listed too.
    const panel = page.locator(`section[aria-labelledby="exp-${ns.name}-signup-cta-text"]`);
    await panel.locator("figure.chart.wide canvas").waitFor();
    expect(await panel.locator("figure.chart").count()).toBe(4);
    expect(await panel.textContent()).toContain("SRM p");
    await screenshot(page, "experiments");
    await page.close();
  });

  it("shows flag debt with code references from --refs", { timeout: 60_000 }, async () => {
    const page = await newPage(`${admin.origin}#/debt`);
    const row = page.locator(`#debt tr[data-flag="${ns.name}/old-banner"]`);
    expect(await row.textContent()).toContain("Expired");
    expect(await row.textContent()).toContain("banner.ts:1");
    await screenshot(page, "debt");
    await page.close();
  });

  it("a step change in the cluster shows on the open page within 1 s, without a reload", async () => {
    const page = await newPage(admin.origin);
    await page.selectOption("#f-ns", ns.name);
    const row = `tr[data-flag="${ns.name}/new-checkout"] td.step`;
    await expect.poll(() => page.locator(row).textContent(), { timeout: 30_000 }).toBe("1/4");
    // Page time of the first DOM change showing step 2, recorded by the page itself.
    await page.evaluate((selector) => {
      const w = window as unknown as { stepSeenAt?: number; marker: boolean };
      w.marker = true;
      new MutationObserver(() => {
        if (w.stepSeenAt === undefined && document.querySelector(selector)?.textContent === "2/4") {
          w.stepSeenAt = performance.timeOrigin + performance.now();
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    }, row);
    const watch: ObjectWatch<FeatureFlag> = await watchObjects(
      `/apis/${GROUP}/${VERSION}/namespaces/${ns.name}/${PLURAL}`,
      "metadata.name=new-checkout",
    );
    try {
      expect(await plugin(["promote", "new-checkout"])).toBe(0);
      const changed = await watch.until((f) => f.status?.currentStepIndex === 1, {
        timeoutMs: 30_000,
        what: "the operator's step change",
      });
      const seenAt = await waitFor(
        () => page.evaluate(() => (window as unknown as { stepSeenAt?: number }).stepSeenAt),
        { timeoutMs: 5_000, intervalMs: 10, what: "step 2/4 on the page" },
      );
      console.log(`[dashboard] step change: API watch -> page DOM ${seenAt - changed.at} ms`);
      expect(seenAt - changed.at).toBeLessThan(1000);
      // The same document: no reload happened.
      expect(await page.evaluate(() => (window as unknown as { marker?: boolean }).marker)).toBe(true);
    } finally {
      watch.stop();
      await page.close();
    }
  });

  it("the evaluate box agrees with the sidecar's OFREP answers", { timeout: 60_000 }, async () => {
    const contexts = [
      { targetingKey: "user-1" },
      { targetingKey: "user-2", plan: "beta" },
      { targetingKey: "qa-lead" },
      { targetingKey: "user-3", country: "NL", appVersion: "2.4.1" },
      { targetingKey: "user-4", country: "NL", appVersion: "1.9.0" },
      { targetingKey: "user-5", country: "DE" },
      ...Array.from({ length: 10 }, (_, i) => ({
        targetingKey: `visitor-${i}`,
        country: "NL",
        appVersion: "3.0.0",
      })),
      {},
    ];
    const page = await newPage(admin.origin);
    await openFlag(page, admin.origin, "reports-redesign");
    const seen: string[] = [];
    const want: string[] = [];
    for (const context of contexts) {
      await page.evaluate(() => {
        const out = document.getElementById("eval-result");
        if (out) delete out.dataset.result;
      });
      await page.fill("#eval-context", JSON.stringify(context));
      await page.click("#eval-run");
      const shown = JSON.parse(
        (await (await page.waitForSelector("#eval-result[data-result]")).getAttribute("data-result")) ?? "{}",
      ) as { value?: unknown; variant?: string; reason: string; errorCode?: string };
      const res = await fetch(`${sidecar.url}/ofrep/v1/evaluate/flags/reports-redesign`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ context }),
      });
      const ofrep = (await res.json()) as {
        value?: unknown;
        variant?: string;
        reason: string;
        errorCode?: string;
      };
      // OFREP answers an error with its code only (the client then serves its default).
      const line = (r: typeof ofrep) =>
        `${JSON.stringify(context)} -> ${
          r.errorCode ? `error ${r.errorCode}` : `${JSON.stringify(r.value)} ${r.variant ?? "-"} ${r.reason}`
        }`;
      seen.push(line(shown));
      want.push(line(ofrep));
    }
    expect(seen).toEqual(want);
    // The set exercises more than one answer: rules, segments and the default rollout.
    expect(new Set(want.map((w) => w.split(" -> ")[1])).size).toBeGreaterThan(2);
    await page.close();
  });

  it("Tab alone reaches every link, button and field of each page, and of the confirmation", {
    timeout: 60_000,
  }, async () => {
    const page = await newPage(admin.origin);
    for (const [hash, rendered] of [
      ["#/flags", "flags"],
      ["#/debt", "debt"],
      [`#/flag/${ns.name}/payments-kill-switch`, "flag"],
    ] as const) {
      await page.goto(`${admin.origin}${hash}`);
      await page.waitForFunction((r) => document.body.dataset.rendered === r, rendered);
      expect(await unreachedByTab(page, "body"), hash).toEqual([]);
    }
    // The flag page, last: its seven controls were among what Tab reached.
    expect(await page.locator("#controls button").count()).toBe(7);
    await page.focus('button[data-command="kill"]');
    await page.keyboard.press("Enter");
    await page.waitForSelector("dialog#confirm[open]");
    expect(await unreachedByTab(page, "dialog#confirm")).toEqual([]);
    await page.keyboard.press("Escape");
    await page.waitForSelector("dialog#confirm:not([open])", { state: "attached" });
    expect((await readFlag("payments-kill-switch")).status?.controls?.killed).toBeUndefined();
    await page.close();
  });

  it("axe-core reports no serious or critical violation on any page", { timeout: 60_000 }, async () => {
    const page = await newPage(admin.origin);
    const found: string[] = [];
    for (const [hash, rendered] of [
      ["#/flags", "flags"],
      [`#/flag/${ns.name}/reports-redesign`, "flag"],
      [`#/flag/${ns.name}/search-v2`, "flag"],
      ["#/experiments", "experiments"],
      ["#/debt", "debt"],
    ] as const) {
      await page.goto(`${admin.origin}${hash}`);
      await page.waitForFunction((r) => document.body.dataset.rendered === r, rendered);
      found.push(...(await seriousViolations(page)).map((v) => `${hash}: ${v}`));
    }
    expect(found).toEqual([]);
    await page.close();
  });

  it("a viewer gets the RBAC message instead of a kill; the kill button kills and the ConfigMap shows it", {
    timeout: 60_000,
  }, async () => {
    const page = await newPage(viewer.origin);
    await openFlag(page, viewer.origin, "payments-kill-switch");
    await page.click('button[data-command="kill"]');
    await page.fill("#confirm-reason", "viewer tries");
    await page.click("#confirm-ok");
    const refusal = await page.waitForSelector('#control-message.error[data-kind="forbidden"]');
    const text = (await refusal.textContent()) ?? "";
    expect(text).toContain("Forbidden by RBAC");
    expect(text).toContain("patch featureflags/status");
    expect(text).toContain(`viewer-${ns.name}`);
    expect((await readFlag("payments-kill-switch")).status?.controls?.killed).toBeUndefined();
    // The viewer rules grant neither Events nor the flags ConfigMap: the page says what is missing.
    expect(await page.locator("#events-note").textContent()).toContain("list events");
    await page.click("#eval-run");
    const evalRefusal = await page.waitForSelector('#eval-result [data-kind="forbidden"]');
    expect(await evalRefusal.textContent()).toContain("get configmaps");
    await screenshot(page, "rbac");
    await page.close();

    const adminPage = await newPage(admin.origin);
    await openFlag(adminPage, admin.origin, "payments-kill-switch");
    await adminPage.click('button[data-command="kill"]');
    await adminPage.fill("#confirm-reason", "provider outage");
    await adminPage.click("#confirm-ok");
    await adminPage.waitForSelector("#control-message.ok");
    const killed = (await readFlag("payments-kill-switch")).status?.controls?.killed;
    expect(killed).toMatchObject({ reason: "provider outage" });
    await waitFor(async () => (await projected()).flags["payments-kill-switch"]?.killed === true, {
      timeoutMs: 15_000,
      what: "the kill in the projected ConfigMap",
    });
    // The page shows it too, live.
    await adminPage.waitForSelector("#flag-live .badge.b-bad");
    await adminPage.close();
  });
});

/**
 * The visible links, buttons and fields under `scope` that pressing Tab (at most twice their
 * number, plus some) never focuses, described by tag and text.
 */
async function unreachedByTab(page: Page, scope: string): Promise<string[]> {
  const wanted = await page.evaluate((sel) => {
    const els = Array.from(
      document.querySelectorAll(
        `${sel} a[href], ${sel} button, ${sel} input, ${sel} textarea, ${sel} select`,
      ),
    ).filter((e) => (e as HTMLElement).offsetParent !== null);
    els.forEach((e, i) => {
      (e as HTMLElement).dataset.tabId = String(i);
    });
    return els.map(
      (e) =>
        `${e.tagName.toLowerCase()} ${e.id || (e as HTMLElement).dataset.command || e.textContent?.trim()}`,
    );
  }, scope);
  expect(wanted.length).toBeGreaterThan(0);
  const reached = new Set<number>();
  for (let i = 0; i < wanted.length * 2 + 10; i++) {
    await page.keyboard.press("Tab");
    const id = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.tabId);
    if (id !== undefined) reached.add(Number(id));
  }
  return wanted.filter((_, i) => !reached.has(i));
}
