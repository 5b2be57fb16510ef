// A work queue with the guarantees of client-go's rate-limited queue:
//  - a key is never processed by two workers at once (a key added while in flight runs again after `done`);
//  - adds of a key already waiting coalesce into one;
//  - failures retry with per-key exponential backoff, and retries share a global token bucket;
//  - delayed adds (requeueAfter) keep the earliest deadline.

export interface RateLimiterOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  /** global retries per second and burst */
  qps: number;
  burst: number;
}

export const DEFAULT_RATE_LIMITS: RateLimiterOptions = { baseDelayMs: 5, maxDelayMs: 300_000, qps: 10, burst: 100 };

export class RateLimiter {
  private readonly failures = new Map<string, number>();
  private tokens: number;
  private last = Date.now();

  constructor(private readonly o: RateLimiterOptions = DEFAULT_RATE_LIMITS) {
    this.tokens = o.burst;
  }

  /** delay before the next retry of `key`, counting this failure */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const perItem = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** Math.min(n, 40));
    // token bucket: reserve one token, wait until it is there
    const now = Date.now();
    this.tokens = Math.min(this.o.burst, this.tokens + ((now - this.last) / 1000) * this.o.qps);
    this.last = now;
    this.tokens -= 1;
    const bucket = this.tokens >= 0 ? 0 : (-this.tokens / this.o.qps) * 1000;
    return Math.max(perItem, bucket);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

export interface QueueObserver {
  depth?(n: number): void;
  added?(): void;
  retried?(): void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  readonly limiter: RateLimiter;

  constructor(
    limits: RateLimiterOptions = DEFAULT_RATE_LIMITS,
    private readonly observer: QueueObserver = {},
  ) {
    this.limiter = new RateLimiter(limits);
  }

  get length(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  get pendingDelayed(): number {
    return this.timers.size;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.observer.added?.();
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const w = this.waiters.shift();
    if (w) {
      this.dirty.delete(key);
      this.processing.add(key);
      w(key);
    } else {
      this.queue.push(key);
      this.observer.depth?.(this.queue.length);
    }
  }

  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  addRateLimited(key: string): number {
    const d = this.limiter.when(key);
    this.observer.retried?.();
    this.addAfter(key, d);
    return d;
  }

  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** Next key to process; resolves undefined once shut down and drained. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.observer.depth?.(this.queue.length);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((r) => this.waiters.push(r));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
