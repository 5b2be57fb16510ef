// Between receivers and the backend: a bounded queue (counted in spans) that refuses new data when full, so
// clients retry (HTTP 429 / gRPC RESOURCE_EXHAUSTED) instead of the runtime dropping what it accepted. Batches
// are merged and flushed by size or age by a few concurrent writers; a failed write is retried with backoff
// and its spans stay counted against the queue, which turns a slow backend into backpressure.
import type { Logger } from 'pino';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { InvalidArgumentError, type ResourceSpans, type TraceWriter } from '../storage/api/index.js';

export interface PipelineOptions {
  /** spans accepted but not yet written, at most */
  maxQueuedSpans: number;
  /** flush when this many spans are pending */
  batchSpans: number;
  /** or when the oldest pending span waited this long */
  batchAgeMs: number;
  /** concurrent writes to the backend */
  writers: number;
}

export const DEFAULT_PIPELINE: PipelineOptions = { maxQueuedSpans: 200_000, batchSpans: 5_000, batchAgeMs: 200, writers: 2 };

export interface PipelineMetrics {
  written: Counter<string>;
  refused: Counter<string>;
  queued: Gauge<string>;
  writeSeconds: Histogram<string>;
  writeErrors: Counter<string>;
}

interface Pending {
  traces: ResourceSpans[];
  spans: number;
}

/** A stage run on every decoded batch before it is queued (sampling policy: blocklist, downsampling). */
export type IngestStage = (traces: ResourceSpans[]) => { traces: ResourceSpans[]; kept: number };

export class IngestPipeline {
  /** set by the runtime when a sampling policy is in force; swapped atomically */
  stage?: IngestStage;
  private pending: Pending[] = [];
  private pendingSpans = 0;
  private queued = 0; // pending + being written
  private oldest = 0;
  private timer?: NodeJS.Timeout;
  private active = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly writer: TraceWriter,
    private readonly o: PipelineOptions,
    private readonly metrics: PipelineMetrics,
    private readonly log: Logger,
  ) {}

  get queuedSpans(): number {
    return this.queued;
  }

  /**
   * Takes a decoded batch. Returns false when the queue is full (the caller answers "retry later"); a batch
   * larger than the whole queue is still taken when the queue is empty, so it can never be refused forever.
   */
  offer(traces: ResourceSpans[], spans: number): boolean {
    if (this.closed) return false;
    if (spans === 0) return true;
    if (this.queued > 0 && this.queued + spans > this.o.maxQueuedSpans) {
      this.metrics.refused.inc({ reason: 'queue_full' }, spans);
      return false;
    }
    if (!this.pending.length) this.oldest = Date.now();
    this.pending.push({ traces, spans });
    this.pendingSpans += spans;
    this.queued += spans;
    this.metrics.queued.set(this.queued);
    if (this.pendingSpans >= this.o.batchSpans) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.o.batchAgeMs - (Date.now() - this.oldest)));
    return true;
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.pending.length && this.active < this.o.writers) {
      // take up to batchSpans (at least one request)
      const take: Pending[] = [];
      let n = 0;
      while (this.pending.length && (n === 0 || n + this.pending[0]!.spans <= this.o.batchSpans)) {
        const p = this.pending.shift()!;
        take.push(p);
        n += p.spans;
      }
      this.pendingSpans -= n;
      this.active++;
      void this.write(take.flatMap((p) => p.traces), n).finally(() => {
        this.active--;
        this.queued -= n;
        this.metrics.queued.set(this.queued);
        if (this.pending.length) {
          if (this.pendingSpans >= this.o.batchSpans || this.closed) this.flush();
          else this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.o.batchAgeMs - (Date.now() - this.oldest)));
        }
        if (this.queued === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
    if (this.pending.length) this.oldest = Date.now();
  }

  private async write(traces: ResourceSpans[], spans: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const end = this.metrics.writeSeconds.startTimer();
      try {
        await this.writer.writeTraces(traces);
        end();
        this.metrics.written.inc(spans);
        return;
      } catch (e) {
        end();
        this.metrics.writeErrors.inc();
        if (e instanceof InvalidArgumentError) {
          // cannot succeed on retry; receivers validate first, so this means a bug: say so loudly
          this.metrics.refused.inc({ reason: 'invalid' }, spans);
          this.log.error({ err: e.message, spans }, 'backend rejected an accepted batch as invalid: dropped');
          return;
        }
        const delay = Math.min(10_000, 100 * 2 ** Math.min(attempt, 7));
        this.log.warn({ err: e instanceof Error ? e.message : String(e), spans, attempt, retryInMs: delay }, 'backend write failed: retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Writes what is pending now and resolves once everything accepted so far has been written. */
  async idle(): Promise<void> {
    this.flush();
    if (this.queued === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** Stops taking data and resolves once everything accepted has been written. */
  async drain(): Promise<void> {
    this.closed = true;
    await this.idle();
  }
}
