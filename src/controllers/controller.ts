// A controller: a work queue of object keys drained by N workers that call one reconcile function.
import type { Logger } from 'pino';
import type { OperatorMetrics } from '../kube/metrics.js';
import { DEFAULT_RATE_LIMITS, type RateLimiterOptions, WorkQueue } from '../kube/workqueue.js';

export interface ReconcileResult {
  /** reconcile this key again after this long (without counting as a failure) */
  requeueAfterMs?: number;
}

export type ReconcileFn = (key: string) => Promise<ReconcileResult | void>;

export interface ControllerOptions {
  workers: number;
  rateLimits?: RateLimiterOptions;
}

export class Controller {
  readonly queue: WorkQueue;
  private workers: Promise<void>[] = [];

  constructor(
    readonly name: string,
    private readonly reconcile: ReconcileFn,
    private readonly opts: ControllerOptions,
    private readonly metrics: OperatorMetrics,
    private readonly log: Logger,
  ) {
    const labels = { controller: name };
    this.queue = new WorkQueue(opts.rateLimits ?? DEFAULT_RATE_LIMITS, {
      depth: (n) => metrics.queueDepth.set(labels, n),
      added: () => metrics.queueAdds.inc(labels),
      retried: () => metrics.queueRetries.inc(labels),
    });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    for (let i = 0; i < this.opts.workers; i++) this.workers.push(this.work());
  }

  /** Stops taking new keys and waits for in-flight reconciles to finish. */
  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const end = this.metrics.reconcileSeconds.startTimer({ controller: this.name });
      try {
        const r = await this.reconcile(key);
        this.queue.forget(key);
        this.metrics.reconcileTotal.inc({ controller: this.name, result: r?.requeueAfterMs ? 'requeue_after' : 'success' });
        if (r?.requeueAfterMs) this.queue.addAfter(key, r.requeueAfterMs);
      } catch (e) {
        this.metrics.reconcileTotal.inc({ controller: this.name, result: 'error' });
        this.metrics.reconcileErrors.inc({ controller: this.name });
        const delay = this.queue.addRateLimited(key);
        this.log.warn({ controller: this.name, key, err: e instanceof Error ? e.message : String(e), retryInMs: Math.round(delay) }, 'reconcile failed: will retry');
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }
}
