// Between receivers and the backend. The acknowledgement contract lives here: a request is answered only when
// every span it carried was committed by the backend (or rejected, and then named in partial_success), so an
// OTLP success means durable.
//
// - The queue is bounded in spans; when it is full, or the backend reported that it is out of space, new work is
//   refused at once (HTTP 429 / gRPC RESOURCE_EXHAUSTED) instead of accepted and lost.
// - Requests are merged into batches by group commit: a free writer takes everything pending (up to batchSpans),
//   so a lone client waits for one write and a busy runtime writes large batches. A batch holds one tenant's
//   requests only and is written with that tenant's StorageContext: the oldest pending request picks the tenant,
//   requests of other tenants keep their place for the next batch.
// - A batch the backend refuses as invalid is split by request, then each bad request by halves down to the
//   single span at fault: the bad span is rejected, every other span is written. One client's bad span never
//   costs another client's data.
// - A backend that is unavailable or full is retried with backoff for as long as it takes (the requests' clients
//   get UNAVAILABLE when their wait runs out and retry); any other error is retried `maxAttempts` times, then the
//   batch is isolated the same way and the spans that still fail are dead-lettered: counted, logged with their
//   IDs, and reported to their client as rejected.
// - Every request first goes through the stages the pipeline was built with, in order (sampling rules first).
import type { Logger } from 'pino';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { InvalidArgumentError, type ResourceSpans, type StorageContext, StorageError, type TraceWriter, spanCount } from '../storage/api/index.js';
import type { IngestStage, Submission, TraceConsumer, WriteOutcome } from './consumer.js';

export type { IngestStage, Submission, TraceConsumer, WriteOutcome } from './consumer.js';

export interface PipelineOptions {
  /** spans accepted but not yet written, at most */
  maxQueuedSpans: number;
  /** spans per backend write, at most */
  batchSpans: number;
  /** how long a free writer waits for a batch to fill before writing what is pending (0: write at once) */
  batchAgeMs: number;
  /** concurrent writes to the backend */
  writers: number;
  /** tries for a write failing with an error that is neither "unavailable" nor "full" before isolating it */
  maxAttempts: number;
}

export const DEFAULT_PIPELINE: PipelineOptions = { maxQueuedSpans: 200_000, batchSpans: 5_000, batchAgeMs: 0, writers: 2, maxAttempts: 5 };

/** Why a set of options cannot work, or undefined. */
export function pipelineOptionsProblem(o: PipelineOptions): string | undefined {
  if (o.maxQueuedSpans < o.batchSpans) return `ingest.maxQueuedSpans (${o.maxQueuedSpans}) must be at least ingest.batchSpans (${o.batchSpans}): a batch could never fill`;
  return undefined;
}

export interface PipelineMetrics {
  written: Counter<string>;
  refused: Counter<string>;
  queued: Gauge<string>;
  writeSeconds: Histogram<string>;
  writeErrors: Counter<string>;
  deadLettered: Counter<string>;
  backendFull: Gauge<string>;
}

/** What the pipeline is built with besides its writer and options. */
export interface PipelineParts {
  /** run on every request before it is queued, in this order */
  stages?: readonly IngestStage[];
  /** called when the backend runs out of space (its message) and when it takes writes again (undefined) */
  onBackendFull?: (message: string | undefined) => void;
}

interface Request {
  traces: ResourceSpans[];
  /** the tenant the spans are written as (undefined: the default tenant) */
  tenant: string | undefined;
  spans: number;
  outcome: WriteOutcome;
  resolve: (o: WriteOutcome) => void;
}

type Attempt = { ok: true } | { ok: false; error: Error; invalid: boolean };

const MAX_PROBLEMS = 5;
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const transient = (e: unknown): boolean => e instanceof StorageError && (e.code === 'Unavailable' || e.code === 'ResourceExhausted');

/** Splits a batch into two halves by span, keeping each span with its resource and scope. */
export function splitBatch(traces: readonly ResourceSpans[]): [ResourceSpans[], ResourceSpans[]] {
  const half = Math.ceil(spanCount(traces) / 2);
  const a: ResourceSpans[] = [];
  const b: ResourceSpans[] = [];
  let seen = 0;
  for (const rs of traces) {
    const ra: ResourceSpans = { ...rs, scopeSpans: [] };
    const rb: ResourceSpans = { ...rs, scopeSpans: [] };
    for (const ss of rs.scopeSpans) {
      const take = Math.max(0, Math.min(ss.spans.length, half - seen));
      if (take > 0) ra.scopeSpans.push({ ...ss, spans: ss.spans.slice(0, take) });
      if (take < ss.spans.length) rb.scopeSpans.push({ ...ss, spans: ss.spans.slice(take) });
      seen += ss.spans.length;
    }
    if (ra.scopeSpans.length) a.push(ra);
    if (rb.scopeSpans.length) b.push(rb);
  }
  return [a, b];
}

const firstSpan = (traces: readonly ResourceSpans[]) => traces[0]?.scopeSpans[0]?.spans[0];

export class IngestPipeline implements TraceConsumer {
  readonly stages: readonly IngestStage[];
  readonly onBackendFull?: (message: string | undefined) => void;
  private pending: Request[] = [];
  private pendingSpans = 0;
  private queued = 0; // pending + being written
  private timer?: NodeJS.Timeout;
  private active = 0;
  private closed = false;
  private full?: string; // the backend's "out of space" message while it lasts
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly writer: TraceWriter,
    private readonly o: PipelineOptions,
    private readonly metrics: PipelineMetrics,
    private readonly log: Logger,
    parts: PipelineParts = {},
  ) {
    const problem = pipelineOptionsProblem(o);
    if (problem) throw new InvalidArgumentError('config.ingest', problem);
    this.stages = parts.stages ?? [];
    this.onBackendFull = parts.onBackendFull;
  }

  get queuedSpans(): number {
    return this.queued;
  }

  /** The backend's "out of space" message while new work is refused for it. */
  get backendFull(): string | undefined {
    return this.full;
  }

  /** Runs the stages on one request, then submits what they kept. */
  consume(traces: ResourceSpans[], ctx: StorageContext = {}): Submission {
    let spans = spanCount(traces);
    for (const stage of this.stages) {
      if (spans === 0) break;
      const r = stage.process(traces, spans, ctx);
      traces = r.traces;
      spans = r.kept;
    }
    return this.submit(traces, spans, ctx);
  }

  /**
   * Takes a decoded batch that went through the stages. Refuses at once when the queue is full or the backend is
   * out of space; otherwise the returned promise settles when every span was written or rejected. A batch larger
   * than the whole queue is still taken when the queue is empty, so it can never be refused forever. The spans are
   * written as the tenant of `ctx` (its signal is not used: a batch outlives the requests in it).
   */
  submit(traces: ResourceSpans[], spans: number, ctx: StorageContext = {}): Submission {
    if (this.closed) return { ok: false, reason: 'closed', message: 'the runtime is shutting down: retry against another replica or later' };
    if (spans === 0) return { ok: true, done: Promise.resolve({ written: 0, rejected: 0, problems: [] }) };
    if (this.full) {
      this.metrics.refused.inc({ reason: 'backend_full' }, spans);
      return { ok: false, reason: 'backend_full', message: `the backend is out of space (${this.full}): retry later` };
    }
    if (this.queued > 0 && this.queued + spans > this.o.maxQueuedSpans) {
      this.metrics.refused.inc({ reason: 'queue_full' }, spans);
      return { ok: false, reason: 'queue_full', message: `the runtime's ingest queue is full (${this.queued} spans waiting for the backend): retry later` };
    }
    let resolve!: (o: WriteOutcome) => void;
    const done = new Promise<WriteOutcome>((r) => (resolve = r));
    this.pending.push({ traces, spans, tenant: ctx.tenant, outcome: { written: 0, rejected: 0, problems: [] }, resolve });
    this.pendingSpans += spans;
    this.queued += spans;
    this.metrics.queued.set(this.queued);
    this.schedule();
    return { ok: true, done };
  }

  private schedule(): void {
    if (!this.pending.length || this.active >= this.o.writers) return;
    if (this.pendingSpans >= this.o.batchSpans || this.o.batchAgeMs === 0 || this.closed) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.o.batchAgeMs);
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.pending.length && this.active < this.o.writers) {
      // take up to batchSpans (at least one request) of the oldest request's tenant, in order; the rest stay
      const take: Request[] = [];
      let n = 0;
      const tenant = this.pending[0]!.tenant;
      const rest: Request[] = [];
      let full = false;
      for (const p of this.pending) {
        if (!full && p.tenant === tenant && (n === 0 || n + p.spans <= this.o.batchSpans)) {
          take.push(p);
          n += p.spans;
        } else {
          rest.push(p);
          // the batch ends at the first request of its tenant that does not fit, so each tenant's order is kept
          if (p.tenant === tenant) full = true;
        }
      }
      this.pending = rest;
      this.pendingSpans -= n;
      this.active++;
      void this.writeRequests(take)
        .catch((e: unknown) => {
          // writeRequests settles every request itself; reaching here is a bug, and the requests must not hang
          this.log.error({ err: message(e) }, 'ingest write loop failed');
          for (const r of take) {
            const left = r.spans - r.outcome.written - r.outcome.rejected;
            if (left > 0) this.reject(r, left, `internal error: ${message(e)}`);
          }
        })
        .finally(() => {
          this.active--;
          this.queued -= n;
          this.metrics.queued.set(this.queued);
          for (const r of take) r.resolve(r.outcome);
          this.schedule();
          if (this.queued === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  /** Writes several requests as one batch; when the batch fails for good, each request alone. */
  private async writeRequests(reqs: Request[]): Promise<void> {
    const traces = reqs.length === 1 ? reqs[0]!.traces : reqs.flatMap((r) => r.traces);
    const spans = reqs.reduce((n, r) => n + r.spans, 0);
    const tenant = reqs[0]!.tenant; // one tenant per batch (flush)
    // a merged batch is tried once for an unexplained error: one client's bad request must not make the others wait
    const res = await this.attempt(traces, spans, reqs.length === 1 ? this.o.maxAttempts : 1, tenant);
    if (res.ok) {
      for (const r of reqs) r.outcome.written += r.spans;
      return;
    }
    if (reqs.length === 1) return this.isolate(reqs[0]!, reqs[0]!.traces, res);
    this.log.warn({ err: res.error.message, requests: reqs.length, spans }, 'backend refused a merged batch: writing each request alone to isolate the bad spans');
    // each request alone, answering the good ones at once; then the failing ones are bisected
    const failing: [Request, Attempt & { ok: false }][] = [];
    for (const r of reqs) {
      const one = await this.attempt(r.traces, r.spans, 1, tenant, true);
      if (one.ok) {
        r.outcome.written += r.spans;
        r.resolve(r.outcome);
      } else failing.push([r, one]);
    }
    for (const [r, failure] of failing) {
      await this.isolate(r, r.traces, failure);
      r.resolve(r.outcome);
    }
  }

  /** Bisects a failing part of one request down to the spans at fault. */
  private async isolate(req: Request, traces: ResourceSpans[], failure: Attempt & { ok: false }): Promise<void> {
    const n = spanCount(traces);
    if (n <= 1) {
      this.reject(req, n, failure.error.message, failure.invalid ? 'invalid' : 'dead_letter', traces);
      return;
    }
    for (const half of splitBatch(traces)) {
      const hn = spanCount(half);
      const res = await this.attempt(half, hn, 1, req.tenant, true);
      if (res.ok) req.outcome.written += hn;
      else await this.isolate(req, half, res);
    }
  }

  private reject(req: Request, spans: number, reason: string, kind: 'invalid' | 'dead_letter' = 'dead_letter', traces?: ResourceSpans[]): void {
    req.outcome.rejected += spans;
    if (req.outcome.problems.length < MAX_PROBLEMS) req.outcome.problems.push(reason);
    const s = traces ? firstSpan(traces) : undefined;
    if (kind === 'invalid') {
      this.metrics.refused.inc({ reason: 'invalid' }, spans);
      this.log.warn({ err: reason, traceId: s?.traceId, spanId: s?.spanId }, 'backend refused a span as invalid: rejected');
    } else {
      this.metrics.deadLettered.inc(spans);
      this.log.error({ err: reason, spans, traceId: s?.traceId, spanId: s?.spanId }, 'span could not be written after retries: dead-lettered and reported to its client as rejected');
    }
  }

  /**
   * One write with the retry policy: unavailable or full → retry with backoff until it succeeds; invalid → give up
   * at once; anything else → up to `tries` times.
   */
  private async attempt(traces: ResourceSpans[], spans: number, tries: number, tenant: string | undefined, alone = false): Promise<Attempt> {
    // isolation writes go alone: a writer that joins batches must not let another caller's bad span fail them
    const ctx: StorageContext | undefined = tenant === undefined && !alone ? undefined : { ...(tenant === undefined ? {} : { tenant }), ...(alone ? { alone } : {}) };
    for (let attempt = 0; ; attempt++) {
      const end = this.metrics.writeSeconds.startTimer();
      try {
        await (ctx === undefined ? this.writer.writeTraces(traces) : this.writer.writeTraces(traces, ctx));
        end();
        this.metrics.written.inc(spans);
        this.setFull(undefined);
        return { ok: true };
      } catch (e) {
        end();
        this.metrics.writeErrors.inc();
        const error = e instanceof Error ? e : new Error(String(e));
        if (e instanceof InvalidArgumentError) return { ok: false, error, invalid: true };
        if (e instanceof StorageError && e.code === 'ResourceExhausted') this.setFull(e.message);
        if (!transient(e) && attempt + 1 >= tries) return { ok: false, error, invalid: false };
        const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
        this.log.warn({ err: error.message, spans, attempt, retryInMs: delay }, 'backend write failed: retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private setFull(msg: string | undefined): void {
    if (msg === this.full) return;
    if (msg) this.log.error({ err: msg }, 'backend is out of space: refusing new spans until a write succeeds');
    else this.log.info('backend accepts writes again');
    this.full = msg;
    this.metrics.backendFull.set(msg ? 1 : 0);
    this.onBackendFull?.(msg);
  }

  /** Writes what is pending now and resolves once everything accepted so far has been written or rejected. */
  async idle(): Promise<void> {
    this.flush();
    if (this.queued === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** Stops taking data and resolves once everything accepted has been written or rejected. */
  async drain(): Promise<void> {
    this.closed = true;
    await this.idle();
  }
}
