// Lease-based leader election (coordination.k8s.io/v1), with client-go's semantics: a candidate takes the lease
// when the holder has not renewed it for leaseDuration as observed on the candidate's own clock (no clock-skew
// trust), the leader renews every retryPeriod and gives up leadership if it cannot renew within renewDeadline.
// On graceful shutdown the leader releases the lease so a standby takes over at once.
import type { Logger } from 'pino';
import { type KubeClient, isConflict, isNotFound, resourcePath } from './client.js';
import { LEASES } from './resources.js';


export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const DEFAULT_LEASE = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (d: Date): string => d.toISOString().replace(/Z$/, '000Z');

export class LeaderElector {
  private leading = false;
  private observedRenew?: string;
  private observedHolder?: string;
  private observedAt = 0;
  private readonly stopCtl = new AbortController();

  constructor(
    private readonly client: KubeClient,
    private readonly o: LeaderElectionOptions,
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  private path(name?: string): string {
    return resourcePath(LEASES, this.o.namespace, name);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.stopCtl.signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
    });
  }

  /** One attempt to acquire or renew. Returns true when we hold the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const leaseSeconds = Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000));
    let current: Lease | undefined;
    try {
      current = await this.client.get<Lease>(this.path(this.o.name));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!current) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace },
        spec: { holderIdentity: this.o.identity, leaseDurationSeconds: leaseSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      };
      try {
        await this.client.request('POST', this.path(), { body: lease });
        return true;
      } catch (e) {
        if (isConflict(e) || (e as { code?: number }).code === 409) return false;
        throw e;
      }
    }
    const spec = current.spec;
    if (spec.holderIdentity !== this.observedHolder || spec.renewTime !== this.observedRenew) {
      this.observedHolder = spec.holderIdentity;
      this.observedRenew = spec.renewTime;
      this.observedAt = Date.now();
    }
    const heldByOther = !!spec.holderIdentity && spec.holderIdentity !== this.o.identity;
    const durationMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (heldByOther && this.observedAt + durationMs > Date.now()) return false;
    const next: Lease = {
      ...current,
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: leaseSeconds,
        renewTime: microTime(now),
        acquireTime: heldByOther || !spec.acquireTime ? microTime(now) : spec.acquireTime,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (heldByOther || !spec.holderIdentity ? 1 : 0),
      },
    };
    try {
      const updated = await this.client.request<Lease>('PUT', this.path(this.o.name), { body: next });
      this.observedHolder = updated.spec.holderIdentity;
      this.observedRenew = updated.spec.renewTime;
      this.observedAt = Date.now();
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }

  /**
   * Blocks until leadership is acquired, then calls onStartedLeading, renews in the background and calls
   * onStoppedLeading if the lease is lost. Resolves when stopped.
   */
  async run(onStartedLeading: () => void, onStoppedLeading: () => void): Promise<void> {
    const signal = this.stopCtl.signal;
    while (!signal.aborted && !this.leading) {
      try {
        if (await this.tryAcquireOrRenew()) {
          this.leading = true;
          this.log.info({ lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity }, 'became leader');
          break;
        }
      } catch (e) {
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'leader election attempt failed');
      }
      await this.sleep(this.o.retryPeriodMs * (1 + Math.random() * 0.2));
    }
    if (signal.aborted) return;
    onStartedLeading();
    let lastRenew = Date.now();
    while (!signal.aborted) {
      await this.sleep(this.o.retryPeriodMs);
      if (signal.aborted) break;
      try {
        if (await this.tryAcquireOrRenew()) {
          lastRenew = Date.now();
          continue;
        }
        this.log.error('lease taken by another replica');
      } catch (e) {
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'lease renewal failed');
        if (Date.now() - lastRenew < this.o.renewDeadlineMs) continue;
      }
      this.leading = false;
      this.log.error({ lease: `${this.o.namespace}/${this.o.name}` }, 'lost leadership');
      onStoppedLeading();
      return;
    }
  }

  /** Stops renewing and, if leading, releases the lease so a standby can take over immediately. */
  async stop(): Promise<void> {
    this.stopCtl.abort();
    if (!this.leading) return;
    this.leading = false;
    try {
      const current = await this.client.get<Lease>(this.path(this.o.name));
      if (current.spec.holderIdentity !== this.o.identity) return;
      await this.client.request('PUT', this.path(this.o.name), {
        body: { ...current, spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date()) } },
      });
      this.log.info('released leader lease');
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not release the lease');
    }
  }
}
