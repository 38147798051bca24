// The GitOps contract with real Argo CD (v3.2.x application controller and repo server, built from
// the Go module proxy): flag manifests and a Segment in a Git repository served over smart HTTP on
// loopback, one Application with automated sync, self-heal, prune and server-side apply, the
// project's health check installed in argocd-cm, the real operator, the validating webhook and a
// sidecar process. One Argo CD serves every test in this file; the tests run in order and each
// starts from the repository the previous one left.
//
// Refresh after a push is the `argocd.argoproj.io/refresh` annotation, which is what Argo CD's Git
// webhook handler sets (that handler lives in the API server, which is not run here).
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdmissionregistrationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { type FeatureFlag, GROUP, PLURAL, VERSION } from "../../../src/api/index.js";
import type { AdmissionServer } from "../../../src/operator/injection/admission-server.js";
import { generateCertificates } from "../../../src/operator/injection/certificates.js";
import { startValidationServer } from "../../../src/operator/validation-webhook.js";
import {
  type Application,
  ARGO_GROUP,
  ARGO_VERSION,
  type ArgocdHandle,
  IN_CLUSTER,
  shippedArgocdCm,
  startArgocd,
} from "../../support/argocd.js";
import { getFlag, projectedDocument } from "../../support/flag-objects.js";
import { type GitServer, startGitServer } from "../../support/git-server.js";
import { registerValidationWebhook } from "../../support/injection-webhook.js";
import { clients, kubeConfig, kubectl, testNamespace } from "../../support/kube.js";
import { externalAddresses, probeHttp } from "../../support/loopback-firewall.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import {
  installKubectlPlugin,
  type KubectlPlugin,
  type SidecarProcess,
  startSidecarProcess,
} from "../../support/processes.js";
import { freePort } from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";
import { type ObjectWatch, watchObjects } from "../../support/watch.js";

const APP = "shop-flags";
const ALERT = "FlagErrorRateHigh";
const TOKEN = `argocd-${randomBytes(8).toString("hex")}`;
// Argo CD under a loaded 2-core machine: a sync is seconds, a wave adds 2 s, a refresh queues.
const ARGO_TIMEOUT = 120_000;
const TEST_TIMEOUT = 300_000;

const { core, custom } = clients();
const admission = kubeConfig().makeApiClient(AdmissionregistrationV1Api);

type Manifest = Record<string, unknown>;
const yaml = (...docs: Manifest[]) => docs.map((d) => stringify(d)).join("---\n");

const flag = (name: string, spec: Manifest, annotations?: Record<string, string>): Manifest => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "FeatureFlag",
  metadata: { name, ...(annotations && { annotations }) },
  spec,
});

// Segments sync in an earlier wave than the flags that name them.
const betaSegment = {
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "Segment",
  metadata: { name: "beta-testers", annotations: { "argocd.argoproj.io/sync-wave": "-1" } },
  spec: { when: 'plan == "beta"', included: ["qa-lead"] },
};

const checkoutSpec = (percent: number, enabled = true) => ({
  enabled,
  rules: [{ name: "beta", segments: ["beta-testers"], serve: { enabled: true } }],
  rollout: { percent },
});

const initialFiles = {
  "flags/segment-beta.yaml": yaml(betaSegment),
  "flags/checkout.yaml": yaml(flag("checkout", checkoutSpec(0))),
  "flags/controlled.yaml": yaml(
    flag("controlled", {
      enabled: true,
      rollout: {
        percent: 100,
        canary: {
          steps: [
            { percent: 10, pause: "1h" },
            { percent: 50, pause: "1h" },
          ],
        },
      },
    }),
  ),
  "flags/retired.yaml": yaml(flag("retired", { enabled: true, rollout: { percent: 100 } })),
};

describe("Argo CD v3.2 syncing flags from Git", () => {
  let apps: Awaited<ReturnType<typeof testNamespace>>;
  let git: GitServer;
  let argo: ArgocdHandle;
  let operator: OperatorProcess;
  let sidecar: SidecarProcess;
  let plugin: KubectlPlugin;
  let validation: AdmissionServer | undefined;
  let tokenDir: string;
  const webhookName = `flagwright-argocd-test-${randomBytes(3).toString("hex")}`;
  const watches: ObjectWatch<unknown>[] = [];

  const application = () => argo.getApplication(APP);
  const resourceHealth = (app: Application, kind: string, name: string) =>
    app.status?.resources?.find((r) => r.kind === kind && r.name === name)?.health?.status;

  /** Pushes a commit, asks Argo CD to refresh, and waits until that revision is synced. */
  async function pushAndSync(message: string, files: Record<string, string | null>) {
    const pushedAt = Date.now();
    const revision = await git.commit(message, files);
    await argo.refresh(APP);
    const app = await syncedAt(revision);
    return { revision, pushedAt, app };
  }

  function syncedAt(revision: string): Promise<Application> {
    return untilApplication(
      (app) => {
        const op = app.status?.operationState;
        return (
          app.status?.sync?.status === "Synced" &&
          app.status.sync.revision === revision &&
          op?.phase === "Succeeded" &&
          op.syncResult?.revision === revision
        );
      },
      `Argo CD to sync ${revision.slice(0, 8)}`,
    );
  }

  /** Waits for `test` on the Application; a timeout reports the Application's last status. */
  async function untilApplication(test: (app: Application) => boolean, what: string): Promise<Application> {
    let last: Application | undefined;
    try {
      return await waitFor(
        async () => {
          last = await application();
          return test(last) ? last : undefined;
        },
        { timeoutMs: ARGO_TIMEOUT, intervalMs: 250, what },
      );
    } catch (error) {
      throw new Error(
        `${(error as Error).message}; the Application's status: ${JSON.stringify(last?.status)}`,
      );
    }
  }

  const answer = async (key: string, targetingKey: string) =>
    (await sidecar.evaluate(key, targetingKey)).value;

  beforeAll(async () => {
    apps = await testNamespace("argocd-flags");
    tokenDir = mkdtempSync(join(tmpdir(), "flagwright-argocd-token-"));
    writeFileSync(join(tokenDir, "token"), `${TOKEN}\n`);

    // The project's validating webhook, for this namespace only (the control plane is shared).
    const certs = generateCertificates({ ipAddresses: ["127.0.0.1"] });
    validation = await startValidationServer({ host: "127.0.0.1", port: 0, tls: certs });
    await registerValidationWebhook(admission, {
      name: webhookName,
      namespace: apps.name,
      url: `https://127.0.0.1:${validation.address.port}/validate`,
      caBundle: certs.caCert,
    });

    operator = await startOperator([
      "--namespaces",
      apps.name,
      // Nothing listens there: analysis only hears alerts through the webhook.
      "--prometheus-url",
      `http://127.0.0.1:${await freePort()}`,
      "--webhook-token-file",
      join(tokenDir, "token"),
    ]);
    git = await startGitServer("shop-config", initialFiles);
    argo = await startArgocd({
      kubeconfig: inject("kubeconfig"),
      kubectl,
      core,
      custom,
      destinationNamespaces: [apps.name],
      argocdCm: shippedArgocdCm(),
      log: (line) => console.warn(`[argocd] ${line}`),
    });
    plugin = installKubectlPlugin();
    sidecar = await startSidecarProcess(apps.name);
  }, 240_000);

  afterAll(async () => {
    for (const w of watches) w.stop();
    await sidecar?.stop();
    plugin?.dispose();
    await argo?.stop();
    await operator?.stop();
    await git?.stop();
    await admission.deleteValidatingWebhookConfiguration({ name: webhookName }).catch(() => undefined);
    await validation?.stop();
    if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
    await apps?.remove();
  }, 120_000);

  it("the controller's metrics port (bound on 0.0.0.0 by Argo CD) answers on loopback only", async () => {
    const port = argo.controllerMetricsPort;
    expect(await probeHttp("127.0.0.1", port)).toBe("HTTP 200");
    const external = externalAddresses();
    expect(external.length, "a non-loopback address to probe").toBeGreaterThan(0);
    for (const { address } of external) {
      // Refused at once (a reset), not left to time out.
      expect(await probeHttp(address, port, "/metrics", 3_000), `${address} port ${port}`).toBe(
        "error ECONNREFUSED",
      );
    }
  });

  it(
    "syncs the repository with automated sync: Synced, the Segment in an earlier wave than the flags",
    async () => {
      const head = (await git.git(["rev-parse", "HEAD"])).trim();
      await custom.createNamespacedCustomObject({
        group: ARGO_GROUP,
        version: ARGO_VERSION,
        namespace: argo.namespace,
        plural: "applications",
        body: {
          apiVersion: `${ARGO_GROUP}/${ARGO_VERSION}`,
          kind: "Application",
          metadata: { name: APP },
          spec: {
            project: "default",
            source: { repoURL: git.url, targetRevision: "main", path: "flags" },
            destination: { server: IN_CLUSTER, namespace: apps.name },
            syncPolicy: {
              automated: { prune: true, selfHeal: true },
              // Background: Argo CD's default (foreground) leaves the foregroundDeletion finalizer
              // for the garbage collector, which the suite's control plane does not run.
              syncOptions: ["ServerSideApply=true", "PrunePropagationPolicy=background"],
            },
          },
        },
      });
      const app = await syncedAt(head);
      expect(
        (app.status?.resources ?? [])
          .map((r) => `${r.kind}/${r.name} ${r.status} wave ${r.syncWave ?? 0}`)
          .sort(),
      ).toEqual([
        "FeatureFlag/checkout Synced wave 0",
        "FeatureFlag/controlled Synced wave 0",
        "FeatureFlag/retired Synced wave 0",
        "Segment/beta-testers Synced wave -1",
      ]);
      // Argo CD applies wave -1, waits for it to be healthy (and 2 s), then applies wave 0.
      const created = async (plural: string, name: string) =>
        Date.parse(
          (
            (await custom.getNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              namespace: apps.name,
              plural,
              name,
            })) as {
              metadata: { creationTimestamp: string };
            }
          ).metadata.creationTimestamp,
        );
      const segmentAt = await created("segments", "beta-testers");
      for (const name of ["checkout", "controlled", "retired"]) {
        expect(await created(PLURAL, name), `${name} created after the Segment`).toBeGreaterThan(segmentAt);
      }
      // The operator projected what Git holds; the beta segment's member gets checkout, others not yet.
      await waitFor(async () => (await answer("checkout", "qa-lead")) === true, { what: "qa-lead in beta" });
      expect(await answer("checkout", "someone")).toBe(false);
    },
    TEST_TIMEOUT,
  );

  it(
    "a commit that changes a flag's percent reaches the sidecar's answer (push → answer timed)",
    async () => {
      const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
      for (const user of users) expect(await answer("checkout", user)).toBe(false);
      const pushedAt = Date.now();
      const revision = await git.commit("checkout to 100%", {
        "flags/checkout.yaml": yaml(flag("checkout", checkoutSpec(100))),
      });
      const pushedDone = Date.now();
      await argo.refresh(APP);
      await waitFor(async () => (await answer("checkout", "user-0")) === true, {
        timeoutMs: ARGO_TIMEOUT,
        intervalMs: 20,
        what: "the sidecar to answer true for user-0",
      });
      const answeredAt = Date.now();
      console.log(
        `[argocd] git push (${pushedDone - pushedAt} ms) → sidecar answers the new percent: ${answeredAt - pushedAt} ms (refresh by annotation right after the push, as Argo CD's webhook does)`,
      );
      for (const user of users) expect(await answer("checkout", user)).toBe(true);
      await syncedAt(revision);
    },
    TEST_TIMEOUT,
  );

  it(
    "Argo CD's own health view: Progressing during a ramp, Healthy when complete, Degraded after an alert rollback",
    async () => {
      const { revision } = await pushAndSync("a ramping canary and a guarded one", {
        "flags/ramp.yaml": yaml(
          flag("ramp", {
            enabled: true,
            rollout: {
              percent: 100,
              canary: {
                steps: [
                  { percent: 20, pause: "8s" },
                  { percent: 60, pause: "8s" },
                ],
              },
            },
          }),
        ),
        "flags/guarded.yaml": yaml(
          flag("guarded", {
            enabled: true,
            rollout: {
              percent: 100,
              canary: {
                steps: [
                  { percent: 10, pause: "1h" },
                  { percent: 50, pause: "1h" },
                ],
                analysis: {
                  alerts: [{ alertName: ALERT, matchLabels: { flag: "guarded" } }],
                  interval: "30s",
                },
              },
            },
          }),
        ),
      });
      // Argo CD also reads a flag the operator has not written status for yet as Progressing, so
      // the view is checked while the ramp itself is under way.
      const progressing = await waitFor(
        async () => {
          const app = await application();
          const ramping = (await getFlag(custom, apps.name, "ramp")).status?.phase === "Progressing";
          return ramping && resourceHealth(app, "FeatureFlag", "ramp") === "Progressing" ? app : undefined;
        },
        { timeoutMs: ARGO_TIMEOUT, intervalMs: 200, what: "Argo CD to show ramp Progressing while it ramps" },
      );
      expect(progressing.status?.health?.status).toBe("Progressing");

      const healthy = await waitFor(
        async () => {
          const app = await application();
          return resourceHealth(app, "FeatureFlag", "ramp") === "Healthy" ? app : undefined;
        },
        { timeoutMs: ARGO_TIMEOUT, intervalMs: 200, what: "Argo CD to show ramp Healthy" },
      );
      expect((await getFlag(custom, apps.name, "ramp")).status?.phase).toBe("Completed");
      expect(healthy.status?.sync).toMatchObject({ status: "Synced", revision });

      await waitFor(
        async () => (await getFlag(custom, apps.name, "guarded")).status?.phase === "Progressing",
        {
          what: "guarded at its first step",
        },
      );
      // Alertmanager's webhook notification, as it would deliver it to the operator's Service.
      const res = await fetch(`${operator.url}/webhooks/alertmanager`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({
          version: "4",
          status: "firing",
          alerts: [
            {
              status: "firing",
              labels: { alertname: ALERT, flag: "guarded" },
              annotations: {},
              startsAt: new Date().toISOString(),
            },
          ],
        }),
      });
      expect(res.status).toBe(200);
      const degraded = await waitFor(
        async () => {
          const app = await application();
          return resourceHealth(app, "FeatureFlag", "guarded") === "Degraded" ? app : undefined;
        },
        { timeoutMs: ARGO_TIMEOUT, intervalMs: 200, what: "Argo CD to show guarded Degraded" },
      );
      expect((await getFlag(custom, apps.name, "guarded")).status?.phase).toBe("RolledBack");
      expect(degraded.status?.health?.status).toBe("Degraded");
      // Git still says what it said: the rollback is the operator's decision, in status.
      expect(degraded.status?.sync).toMatchObject({ status: "Synced", revision });
    },
    TEST_TIMEOUT,
  );

  it(
    "kill, pause and promote leave the Application Synced; self-heal never reverts them, status writes never make it OutOfSync",
    async () => {
      const before = await application();
      const lastSync = before.status?.operationState?.startedAt;
      const specBefore = (await getFlag(custom, apps.name, "controlled")) as FeatureFlag;
      // Every version of the Application from here on.
      const appWatch = await watchObjects<Application>(
        `/apis/${ARGO_GROUP}/${ARGO_VERSION}/namespaces/${argo.namespace}/applications`,
        `metadata.name=${APP}`,
      );
      watches.push(appWatch as ObjectWatch<unknown>);
      const windowStart = Date.now();
      const steps: [string[], (doc: Awaited<ReturnType<typeof projectedDocument>>) => boolean][] = [
        [["pause", "controlled", "-n", apps.name], () => true],
        [["promote", "controlled", "-n", apps.name], (doc) => doc?.flags.controlled?.percent === 50],
        [
          ["kill", "controlled", "-n", apps.name, "--reason", "argocd test"],
          (doc) => doc?.flags.controlled?.killed === true,
        ],
      ];
      for (const [args, projected] of steps) {
        const run = await plugin.run(args);
        expect(run.code, `kubectl flagwright ${args.join(" ")}: ${run.err}`).toBe(0);
        await waitFor(async () => projected(await projectedDocument(core, apps.name)), {
          what: `the operator to act on ${args[0]}`,
        });
        // A full comparison with Git after the action (hard: manifests regenerated, not cached).
        const asked = Date.now();
        await argo.refresh(APP, "hard");
        await waitFor(
          async () => {
            const app = await application();
            return Date.parse(app.status?.reconciledAt ?? "") >= Math.floor(asked / 1000) * 1000 &&
              app.metadata?.annotations?.["argocd.argoproj.io/refresh"] === undefined
              ? app
              : undefined;
          },
          { timeoutMs: ARGO_TIMEOUT, intervalMs: 200, what: `Argo CD to compare again after ${args[0]}` },
        );
      }
      const flagNow = (await getFlag(custom, apps.name, "controlled")) as FeatureFlag;
      expect(flagNow.status?.controls?.paused).toBeDefined();
      expect(flagNow.status?.controls?.killed).toMatchObject({ reason: "argocd test" });
      expect(flagNow.spec).toEqual(specBefore.spec);
      expect(flagNow.metadata?.generation).toBe(specBefore.metadata?.generation);
      const after = await application();
      // No sync ran (self-heal syncs only what is OutOfSync), and the Application never was.
      expect(after.status?.operationState?.startedAt).toBe(lastSync);
      const seen = appWatch.events
        .filter((e) => e.at >= windowStart)
        .map((e) => e.object.status?.sync?.status);
      expect(seen.length).toBeGreaterThan(0);
      expect(new Set(seen)).toEqual(new Set(["Synced"]));
      const autoSyncs = argo.logs.controller.filter(
        (l) =>
          Date.parse(String(l.time)) >= windowStart && String(l.msg).includes("Initiated automated sync"),
      );
      expect(autoSyncs).toEqual([]);
      expect((await projectedDocument(core, apps.name))?.flags.controlled).toMatchObject({ killed: true });
    },
    TEST_TIMEOUT,
  );

  it(
    "git revert of a bad change brings the spec back and the operator follows",
    async () => {
      expect(await answer("checkout", "user-1")).toBe(true);
      const bad = await pushAndSync("turn checkout off (by mistake)", {
        "flags/checkout.yaml": yaml(flag("checkout", checkoutSpec(100, false))),
      });
      await waitFor(async () => (await answer("checkout", "user-1")) === false, { what: "checkout off" });
      await git.git(["revert", "--no-edit", bad.revision]);
      await git.git(["push", "--quiet", "origin", "main"]);
      const reverted = (await git.git(["rev-parse", "HEAD"])).trim();
      await argo.refresh(APP);
      await syncedAt(reverted);
      expect((await getFlag(custom, apps.name, "checkout")).spec).toMatchObject(checkoutSpec(100));
      await waitFor(async () => (await answer("checkout", "user-1")) === true, { what: "checkout back on" });
    },
    TEST_TIMEOUT,
  );

  it(
    "a rule the validating webhook refuses is a sync failure naming the field",
    async () => {
      const broken = await git.commit("a broken rule", {
        "flags/broken.yaml": yaml(
          flag("broken", {
            enabled: true,
            rules: [
              {
                name: "staff",
                when: 'email.endsWith("@shop.example") && nosuch(email)',
                serve: { enabled: true },
              },
            ],
          }),
        ),
      });
      await argo.refresh(APP);
      // Automated sync retries a failed apply (five times, with backoff, by default in v3) and keeps
      // the operation Running meanwhile; each attempt records the webhook's refusal.
      const failed = await untilApplication(
        (app) =>
          app.status?.operationState?.syncResult?.revision === broken &&
          app.status.operationState.syncResult.resources?.some(
            (r) => r.kind === "FeatureFlag" && r.name === "broken" && r.status === "SyncFailed",
          ) === true,
        "the sync of the broken rule to fail",
      );
      const op = failed.status?.operationState;
      const result = op?.syncResult?.resources?.find((r) => r.kind === "FeatureFlag" && r.name === "broken");
      console.log(`[argocd] failed sync (${op?.phase}): ${op?.message}`);
      for (const said of [op?.message, result?.message]) {
        expect(said).toContain('admission webhook "validate.flagwright.dev" denied the request');
        expect(said).toContain("spec.rules[0].when: invalid CEL at 1:36");
      }
      expect(failed.status?.sync?.status).toBe("OutOfSync");
      expect(failed.status?.resources?.find((r) => r.name === "broken")?.status).toBe("OutOfSync");
      await expect(getFlag(custom, apps.name, "broken")).rejects.toThrow();
      // The way out is Git: fix the commit, then end the retrying operation (what
      // `argocd app terminate-op` does) so automated sync takes the new revision at once.
      const fixed = await git.commit("remove the broken rule", { "flags/broken.yaml": null });
      await kubectl([
        "patch",
        "-n",
        argo.namespace,
        `applications.${ARGO_GROUP}/${APP}`,
        "--type",
        "merge",
        "-p",
        JSON.stringify({ status: { operationState: { phase: "Terminating" } } }),
      ]);
      await argo.refresh(APP);
      // Nothing is left to apply (the refused flag never existed), so the fix compares Synced
      // without another sync operation.
      await untilApplication(
        (app) => app.status?.sync?.status === "Synced" && app.status.sync.revision === fixed,
        `Argo CD to compare ${fixed.slice(0, 8)} Synced`,
      );
    },
    TEST_TIMEOUT,
  );

  it(
    "prune: a flag deleted from Git is deleted and leaves the projected ConfigMap",
    async () => {
      expect((await projectedDocument(core, apps.name))?.flags.retired).toBeDefined();
      await pushAndSync("retire a flag", { "flags/retired.yaml": null });
      await waitFor(
        async () => (await getFlag(custom, apps.name, "retired").catch(() => undefined)) === undefined,
        {
          timeoutMs: ARGO_TIMEOUT,
          what: "the retired flag to be pruned",
        },
      );
      await waitFor(async () => (await projectedDocument(core, apps.name))?.flags.retired === undefined, {
        what: "retired gone from the ConfigMap",
      });
      expect(await sidecar.evaluate("retired", "user-1")).toMatchObject({ errorCode: "FLAG_NOT_FOUND" });
      expect((await application()).status?.sync?.status).toBe("Synced");
    },
    TEST_TIMEOUT,
  );
});
