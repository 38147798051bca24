// Leader election on a coordination.k8s.io Lease, with client-go's semantics
// (k8s.io/client-go/tools/leaderelection):
// - A replica measures a lease by its own clock only. It remembers the local (monotonic) time at
//   which it last saw the lease record change (observeLease), and the lease expires
//   leaseDuration after that. The holder's renewTime is never compared with the local clock, so
//   clock skew between nodes can neither cut a lease short nor stretch it.
// - The leader renews every retryPeriod. If no renewal succeeds within renewDeadline of the last
//   one, it stops leading at once (a timer, so a hung request cannot keep it working) and the
//   operator exits. renewDeadline < leaseDuration keeps it from working on after a standby,
//   whose clock started later than the leader's last renewal, may take over.
// - A clean shutdown releases the lease (no holder, duration 1 s) so a standby takes it at once.
// decideLease and observeLease are the pure part; LeaderElector does the requests and timers.
import { performance } from "node:perf_hooks";
import type { KubeConfig, V1Lease, V1LeaseSpec } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { CoordinationV1Api } from "../kube/client.js";

/** The lease fields leader election reads and writes (client-go's LeaderElectionRecord). */
export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** A lease record as this replica last saw it, and the local time it first saw it so. */
export interface LeaseObservation {
  record: LeaseRecord;
  /** Monotonic local milliseconds (never another node's timestamp). */
  observedAt: number;
}

const sameRecord = (a: LeaseRecord, b: LeaseRecord) =>
  (a.holderIdentity ?? "") === (b.holderIdentity ?? "") &&
  (a.leaseDurationSeconds ?? 0) === (b.leaseDurationSeconds ?? 0) &&
  (a.acquireTime ?? "") === (b.acquireTime ?? "") &&
  (a.renewTime ?? "") === (b.renewTime ?? "") &&
  (a.leaseTransitions ?? 0) === (b.leaseTransitions ?? 0);

/** The observation after reading `record` at local time `now`: the clock restarts only on a change. */
export function observeLease(
  previous: LeaseObservation | undefined,
  record: LeaseRecord,
  now: number,
): LeaseObservation {
  return previous && sameRecord(previous.record, record) ? previous : { record, observedAt: now };
}

/** Whether the observed lease is still held at local time `now`. */
export function leaseValid(observation: LeaseObservation, now: number): boolean {
  return observation.observedAt + (observation.record.leaseDurationSeconds ?? 0) * 1000 > now;
}

export type LeaseDecision =
  /** Another replica holds an unexpired lease. */
  | { action: "wait"; holder: string }
  /** Write this record: a renewal of our own lease, or a take-over (acquiring). */
  | { action: "write"; record: LeaseRecord; acquiring: boolean };

/**
 * What a replica does with the lease as it observes it at local time `now`. `wallTime` only
 * stamps the record (acquireTime, renewTime) for people reading it; no replica decides by it.
 */
export function decideLease(
  observation: LeaseObservation,
  self: { identity: string; leaseDurationSeconds: number },
  now: number,
  wallTime: string,
): LeaseDecision {
  const { record } = observation;
  const holder = record.holderIdentity ?? "";
  const mine = holder === self.identity;
  if (holder && !mine && leaseValid(observation, now)) return { action: "wait", holder };
  return {
    action: "write",
    acquiring: !mine,
    record: {
      holderIdentity: self.identity,
      leaseDurationSeconds: self.leaseDurationSeconds,
      acquireTime: mine ? (record.acquireTime ?? wallTime) : wallTime,
      renewTime: wallTime,
      leaseTransitions: (record.leaseTransitions ?? 0) + (mine ? 0 : 1),
    },
  };
}

/** The record of a Lease spec as read (client-node gives its times as Date). */
export function leaseRecord(spec: V1LeaseSpec | undefined): LeaseRecord {
  const time = (t: Date | string | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
  return {
    holderIdentity: spec?.holderIdentity || undefined,
    leaseDurationSeconds: spec?.leaseDurationSeconds,
    acquireTime: time(spec?.acquireTime),
    renewTime: time(spec?.renewTime),
    leaseTransitions: spec?.leaseTransitions,
  };
}

// Lease times are MicroTime (six fractional digits); client-node would send a Date with three.
const microTime = (iso: string | undefined) =>
  iso === undefined ? undefined : (iso.replace(/Z$/, "000Z") as unknown as Date);
const leaseSpec = (record: LeaseRecord): V1LeaseSpec => ({
  holderIdentity: record.holderIdentity,
  leaseDurationSeconds: record.leaseDurationSeconds,
  acquireTime: microTime(record.acquireTime),
  renewTime: microTime(record.renewTime),
  leaseTransitions: record.leaseTransitions,
});

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
  /** Local clocks, for tests: monotonic milliseconds, and the wall time stamped into the Lease. */
  clock?: { monotonic: () => number; wall: () => Date };
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly clock: { monotonic: () => number; wall: () => Date };
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private deadline?: NodeJS.Timeout;
  private observation?: LeaseObservation;
  private reportedLeader = "";
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;

  constructor(private readonly options: LeaderElectionOptions) {
    this.api = options.kc.makeApiClient(CoordinationV1Api);
    this.clock = options.clock ?? { monotonic: () => performance.now(), wall: () => new Date() };
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    // client-go's own checks: the leader must give up before a standby may take over, and get
    // more than one try within the deadline.
    if (this.leaseDurationMs < 1000)
      throw new Error("--leader-election-lease-duration must be at least 1s (the Lease keeps whole seconds)");
    if (this.renewDeadlineMs >= this.leaseDurationMs)
      throw new Error(
        "--leader-election-renew-deadline must be shorter than --leader-election-lease-duration",
      );
    if (this.retryPeriodMs * 1.2 >= this.renewDeadlineMs)
      throw new Error(
        "--leader-election-retry-period (x1.2) must be shorter than --leader-election-renew-deadline",
      );
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
    clearTimeout(this.deadline);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.api.readNamespacedLease({
        name: this.options.name,
        namespace: this.options.namespace,
      });
      const record = leaseRecord(lease.spec);
      if (record.holderIdentity === this.options.identity) {
        const now = this.clock.wall().toISOString();
        lease.spec = leaseSpec({
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: record.leaseTransitions,
        });
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
      // Bounded, so a request that hangs neither stalls a standby's loop nor outlives the deadline.
      await withTimeout(this.tryAcquireOrRenew(), this.renewDeadlineMs);
    } catch (error) {
      this.options.log.warn(
        { lease: this.options.name, err: (error as Error).message },
        "leader election request failed",
      );
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.retryPeriodMs);
  }

  /** Leadership ends for good (as client-go's Run returns): the caller exits and restarts. */
  private lose(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    this.options.log.error({ lease: this.options.name, reason }, "lost leadership");
    this.options.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { namespace, name, identity } = this.options;
    const self = { identity, leaseDurationSeconds: Math.round(this.leaseDurationMs / 1000) };
    let lease: V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
    // The time a write is sent: the renewal counts from here, before any standby can see it.
    const sentAt = this.clock.monotonic();
    const wallTime = this.clock.wall().toISOString();
    if (!lease) {
      const decision = decideLease({ record: {}, observedAt: sentAt }, self, sentAt, wallTime);
      if (decision.action !== "write") return;
      const record = { ...decision.record, leaseTransitions: 0 };
      await this.api.createNamespacedLease({
        namespace,
        body: { metadata: { name, namespace }, spec: leaseSpec(record) },
      });
      return this.renewed(record, sentAt);
    }
    this.observation = observeLease(this.observation, leaseRecord(lease.spec), sentAt);
    this.reportLeader(this.observation.record.holderIdentity);
    const decision = decideLease(this.observation, self, sentAt, wallTime);
    if (decision.action === "wait") {
      if (this.leading) this.lose(`lease held by ${decision.holder}`);
      return;
    }
    if (this.stopped) return;
    lease.spec = leaseSpec(decision.record);
    // replace carries the read resourceVersion: of two standbys racing for an expired lease, one gets 409.
    await this.api.replaceNamespacedLease({ name, namespace, body: lease });
    this.renewed(decision.record, sentAt);
  }

  private renewed(record: LeaseRecord, sentAt: number): void {
    this.observation = { record, observedAt: sentAt };
    this.reportLeader(record.holderIdentity);
    if (this.stopped) return;
    clearTimeout(this.deadline);
    const remaining = sentAt + this.renewDeadlineMs - this.clock.monotonic();
    this.deadline = setTimeout(() => this.lose("renew deadline exceeded"), Math.max(0, remaining));
    if (this.leading) return;
    this.leading = true;
    this.options.log.info(
      { lease: this.options.name, reason: "Acquired", identity: this.options.identity },
      "became leader",
    );
    this.options.onStartedLeading();
  }

  private reportLeader(holder: string | undefined): void {
    if (!holder || holder === this.reportedLeader) return;
    this.reportedLeader = holder;
    this.options.onNewLeader?.(holder);
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
