// The memory backend: per tenant, at most maxTraces traces with FIFO eviction (by first write), a
// services/operations index that is never evicted, search by scanning newest first, dependencies derived from
// parent/child spans across services.
import {
  DEFAULT_TENANT,
  type DependencyLink,
  type FoundTraceId,
  type GetTraceParams,
  InvalidArgumentError,
  type Operation,
  type OperationQuery,
  type ResourceSpans,
  SPAN_KIND_NAMES,
  type ServiceOperationValues,
  type StorageContext,
  type Throughput,
  type TimeRange,
  type TraceChunk,
  type TraceQuery,
  checkGetTraceParams,
  checkTimeRange,
  checkTraceQuery,
  serviceOf,
} from '../api/index.js';
import { DependencyTotals, SingleStoreBackend, type SpanView, checkDependencyLinks, chunkTrace, forEachDependency, spanMatches, validateBatch } from '../api/semantics.js';

export interface MemoryConfig {
  maxTraces: number;
  /** spans per chunk when streaming a trace (a larger trace comes in several consecutive chunks) */
  maxSpansPerChunk?: number;
}

type StoredSpan = SpanView;

interface StoredTrace {
  id: string;
  spans: StoredSpan[];
  start: bigint;
  end: bigint;
}

class Tenant {
  readonly traces = new Map<string, StoredTrace>();
  readonly services = new Map<string, Map<string, Operation>>();
  readonly dependencies: { at: bigint; links: DependencyLink[] }[] = [];
}

/** throughput records kept (oldest dropped first) */
const MAX_THROUGHPUT = 100_000;

export class MemoryStore {
  private readonly tenants = new Map<string, Tenant>();
  private readonly chunkSize: number;
  private readonly throughput: (Throughput & { at: bigint })[] = [];
  private latestProbabilities: { at: bigint; values: ServiceOperationValues } | undefined;
  private readonly locks = new Map<string, { holder: string; expires: number }>();

  constructor(readonly config: MemoryConfig) {
    if (!Number.isInteger(config.maxTraces) || config.maxTraces < 1) throw new InvalidArgumentError('memory.maxTraces', `must be a positive integer (got ${config.maxTraces})`);
    this.chunkSize = config.maxSpansPerChunk ?? 1000;
  }

  private tenant(ctx?: StorageContext, create = false): Tenant | undefined {
    const name = ctx?.tenant ?? DEFAULT_TENANT;
    let t = this.tenants.get(name);
    if (!t && create) this.tenants.set(name, (t = new Tenant()));
    return t;
  }

  async writeTraces(traces: ResourceSpans[], ctx?: StorageContext): Promise<void> {
    validateBatch(traces);
    const t = this.tenant(ctx, true)!;
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          let tr = t.traces.get(span.traceId);
          if (!tr) {
            tr = { id: span.traceId, spans: [], start: span.startTimeUnixNano, end: span.endTimeUnixNano };
            t.traces.set(span.traceId, tr);
            if (t.traces.size > this.config.maxTraces) t.traces.delete(t.traces.keys().next().value as string);
          }
          tr.spans.push({ span, resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, service });
          if (span.startTimeUnixNano < tr.start) tr.start = span.startTimeUnixNano;
          if (span.endTimeUnixNano > tr.end) tr.end = span.endTimeUnixNano;
          if (service) {
            let ops = t.services.get(service);
            if (!ops) t.services.set(service, (ops = new Map()));
            const kind = SPAN_KIND_NAMES[span.kind] ?? '';
            const key = `${kind}\u0000${span.name}`;
            if (!ops.has(key)) ops.set(key, { name: span.name, spanKind: kind });
          }
        }
      }
    }
  }

  private chunks(tr: StoredTrace): Generator<TraceChunk> {
    return chunkTrace(tr.id, tr.spans, this.chunkSize);
  }

  async *getTraces(params: GetTraceParams[], ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const checked = checkGetTraceParams(params);
    const t = this.tenant(ctx);
    if (!t) return;
    const seen = new Set<string>();
    for (const p of checked) {
      if (seen.has(p.traceId)) continue;
      seen.add(p.traceId);
      const tr = t.traces.get(p.traceId);
      if (!tr) continue;
      if (p.start !== undefined || p.end !== undefined) {
        const inWindow = tr.spans.some((s) => (p.start === undefined || s.span.startTimeUnixNano >= p.start) && (p.end === undefined || s.span.startTimeUnixNano <= p.end));
        if (!inWindow) continue;
      }
      for (const c of this.chunks(tr)) yield [c];
    }
  }

  async getServices(ctx?: StorageContext): Promise<string[]> {
    return [...(this.tenant(ctx)?.services.keys() ?? [])].sort();
  }

  async getOperations(q: OperationQuery, ctx?: StorageContext): Promise<Operation[]> {
    if (typeof q.service !== 'string') throw new InvalidArgumentError('service', 'is required');
    const ops = this.tenant(ctx)?.services.get(q.service);
    if (!ops) return [];
    const kind = q.spanKind?.toLowerCase();
    return [...ops.values()].filter((o) => !kind || o.spanKind === kind).sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
  }

  private *matching(q: TraceQuery, ctx?: StorageContext): Generator<StoredTrace> {
    const cq = checkTraceQuery(q, Math.max(1, Math.min(this.config.maxTraces, 1_000_000)));
    const t = this.tenant(ctx);
    if (!t) return;
    const all = [...t.traces.values()];
    let found = 0;
    for (let i = all.length - 1; i >= 0 && found < cq.searchDepth; i--) {
      const tr = all[i]!;
      if (tr.spans.some((s) => spanMatches(s, cq))) {
        found++;
        yield tr;
      }
    }
  }

  async *findTraceIds(q: TraceQuery, ctx?: StorageContext): AsyncIterable<FoundTraceId[]> {
    const batch: FoundTraceId[] = [];
    for (const tr of this.matching(q, ctx)) batch.push({ traceId: tr.id, start: tr.start, end: tr.end });
    if (batch.length) yield batch;
  }

  async *findTraces(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    for (const tr of this.matching(q, ctx)) for (const c of this.chunks(tr)) yield [c];
  }

  async getDependencies(r: TimeRange, ctx?: StorageContext): Promise<DependencyLink[]> {
    checkTimeRange(r);
    const t = this.tenant(ctx);
    const totals = new DependencyTotals();
    const add = totals.add.bind(totals);
    for (const tr of t?.traces.values() ?? []) {
      if (tr.start > r.end || tr.start < r.start) continue;
      forEachDependency(tr.spans, (parent, child) => add(parent, child, 1));
    }
    for (const d of t?.dependencies ?? []) if (d.at >= r.start && d.at <= r.end) for (const l of d.links) add(l.parent, l.child, l.callCount, l.source);
    return totals.list();
  }

  async writeDependencies(at: bigint, links: DependencyLink[], ctx?: StorageContext): Promise<void> {
    checkDependencyLinks(links);
    this.tenant(ctx, true)!.dependencies.push({ at, links: links.map((l) => ({ ...l })) });
  }

  // sampling store
  async insertThroughput(at: bigint, throughput: Throughput[]): Promise<void> {
    for (const x of throughput) this.throughput.push({ ...x, probabilities: [...x.probabilities], at });
    // bounded: adaptive sampling reads only the last intervals
    if (this.throughput.length > MAX_THROUGHPUT) this.throughput.splice(0, this.throughput.length - MAX_THROUGHPUT);
  }

  async getThroughput(r: TimeRange): Promise<(Throughput & { at: bigint })[]> {
    checkTimeRange(r);
    return this.throughput.filter((x) => x.at >= r.start && x.at <= r.end).map((x) => ({ ...x, probabilities: [...x.probabilities] }));
  }

  async insertProbabilitiesAndQps(_hostname: string, at: bigint, probabilities: ServiceOperationValues): Promise<void> {
    if (!this.latestProbabilities || at >= this.latestProbabilities.at) this.latestProbabilities = { at, values: structuredClone(probabilities) };
  }

  async getLatestProbabilities(): Promise<ServiceOperationValues> {
    return structuredClone(this.latestProbabilities?.values ?? {});
  }

  // lock
  async acquire(resource: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!holder) throw new InvalidArgumentError('holder', 'must not be empty');
    if (!(ttlMs > 0)) throw new InvalidArgumentError('ttlMs', `must be positive (got ${ttlMs})`);
    const now = Date.now();
    const cur = this.locks.get(resource);
    if (cur && cur.holder !== holder && cur.expires > now) return false;
    this.locks.set(resource, { holder, expires: now + ttlMs });
    return true;
  }

  async forfeit(resource: string, holder: string): Promise<boolean> {
    const cur = this.locks.get(resource);
    if (!cur || cur.holder !== holder || cur.expires <= Date.now()) return false;
    this.locks.delete(resource);
    return true;
  }

  async purge(): Promise<void> {
    this.tenants.clear();
    this.throughput.length = 0;
    this.latestProbabilities = undefined;
    this.locks.clear();
  }
}

/** The memory backend's factory: every reader and writer shares one store. */
export class MemoryBackend extends SingleStoreBackend<MemoryStore> {
  constructor(config: MemoryConfig) {
    super('memory', new MemoryStore(config));
  }
}
