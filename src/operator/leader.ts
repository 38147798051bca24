// Leader election on a coordination.k8s.io Lease, with client-go's timing semantics: a leader
// that cannot renew within renewDeadline gives up at once (and the process stops working), a
// standby takes over once the lease has gone unrenewed for leaseDuration, and a clean shutdown
// releases the lease so the standby need not wait it out.
import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "pino";

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  /** Called once when leadership is lost; the caller must stop working immediately. */
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
}

// Lease times are MicroTime (six fractional digits); client-node would send a Date with three.
const microTime = (ms: number) => new Date(ms).toISOString().replace(/Z$/, "000Z") as unknown as Date;

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private lastRenew = 0;
  private observedLeader = "";
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;

  constructor(private readonly options: LeaderElectionOptions) {
    this.api = options.kc.makeApiClient(CoordinationV1Api);
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Stops trying; a leader releases the lease so a standby can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.api.readNamespacedLease({
        name: this.options.name,
        namespace: this.options.namespace,
      });
      if (lease.spec?.holderIdentity === this.options.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.leaseDurationSeconds = 1;
        lease.spec.renewTime = microTime(Date.now());
        await this.api.replaceNamespacedLease({
          name: this.options.name,
          namespace: this.options.namespace,
          body: lease,
        });
        this.options.log.info({ lease: this.options.name, reason: "Released" }, "released leader lease");
      }
    } catch (error) {
      this.options.log.warn(
        { lease: this.options.name, err: (error as Error).message },
        "could not release leader lease",
      );
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.tryAcquireOrRenew();
    } catch (error) {
      this.options.log.warn(
        { lease: this.options.name, err: (error as Error).message },
        "leader election request failed",
      );
    }
    if (this.leading && Date.now() - this.lastRenew > this.renewDeadlineMs)
      this.lose("renew deadline exceeded");
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.retryPeriodMs);
  }

  private lose(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.options.log.error({ lease: this.options.name, reason }, "lost leadership");
    this.options.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { namespace, name, identity } = this.options;
    const now = Date.now();
    let lease: V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.round(this.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!lease) {
      await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } });
      return this.becameLeader(now);
    }
    const holder = lease.spec?.holderIdentity ?? "";
    if (holder && holder !== this.observedLeader) {
      this.observedLeader = holder;
      this.options.onNewLeader?.(holder);
    }
    const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
    const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (holder && holder !== identity && renewed + duration > now) {
      if (this.leading) this.lose(`lease held by ${holder}`);
      return;
    }
    lease.spec = {
      ...spec,
      acquireTime: holder === identity && lease.spec?.acquireTime ? lease.spec.acquireTime : spec.acquireTime,
      leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
    };
    // replace carries the read resourceVersion: of two standbys racing for an expired lease, one gets 409.
    await this.api.replaceNamespacedLease({ name, namespace, body: lease });
    this.becameLeader(now);
  }

  private becameLeader(now: number): void {
    this.lastRenew = now;
    if (this.leading) return;
    this.leading = true;
    this.observedLeader = this.options.identity;
    this.options.log.info(
      { lease: this.options.name, reason: "Acquired", identity: this.options.identity },
      "became leader",
    );
    this.options.onStartedLeading();
  }
}
