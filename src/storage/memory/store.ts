// The memory backend: per tenant, at most maxTraces traces with FIFO eviction (by first write); across tenants, at
// most maxBytes (an estimate of the heap the stored spans hold), again evicting the oldest trace first; at most
// maxSpansPerTrace spans per trace (later ones are refused and counted); a services/operations index that is never
// evicted but bounded (maxServices, maxOperationsPerService, maxOperations: names past a bound are not indexed, the
// spans are still stored and searchable); search by scanning newest first; dependencies derived from parent/child
// spans across services. stats() reports the counts for the runtime's metrics.
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
  checkOperationQuery,
  checkTimeRange,
  checkTraceQuery,
  serviceOf,
} from '../api/index.js';
import { MEMORY_DEFAULTS, resourceBytes, scopeBytes, spanBytes } from './limits.js';
import { DependencyTotals, SingleStoreBackend, type SpanView, checkDependencyLinks, chunkTrace, forEachDependency, spanMatches, validateBatch } from '../api/semantics.js';

export interface MemoryConfig {
  /** traces kept per tenant; the oldest are evicted first */
  maxTraces: number;
  /**
   * estimated heap bytes of the stored spans, all tenants together; above it the oldest traces are evicted. Unset:
   * no byte bound (the runtime sets it from the container's memory limit, see ./limits.ts)
   */
  maxBytes?: number;
  /** spans kept per trace; later spans of a full trace are refused (counted in stats().spansRefused) */
  maxSpansPerTrace?: number;
  /** services in the services/operations index per tenant; spans of further services are stored, not indexed */
  maxServices?: number;
  /** operations indexed per service */
  maxOperationsPerService?: number;
  /** operations indexed per tenant, all services together */
  maxOperations?: number;
  /** spans per chunk when streaming a trace (a larger trace comes in several consecutive chunks) */
  maxSpansPerChunk?: number;
}

/** What the store holds and what its bounds cost, for the runtime's metrics. The counters only grow. */
export interface MemoryStats {
  traces: number;
  spans: number;
  /** estimated heap bytes of the stored spans */
  bytes: number;
  /** maxBytes in force, or undefined for none */
  maxBytes: number | undefined;
  /** traces evicted to stay within maxTraces (per tenant) */
  tracesEvictedMaxTraces: number;
  /** traces evicted to stay within maxBytes */
  tracesEvictedMaxBytes: number;
  /** spans refused because their trace already held maxSpansPerTrace */
  spansRefused: number;
  /** index entries not made because a bound was reached */
  servicesNotIndexed: number;
  operationsNotIndexed: number;
}

type StoredSpan = SpanView;

interface StoredTrace {
  id: string;
  spans: StoredSpan[];
  start: bigint;
  end: bigint;
  bytes: number;
  tenant: Tenant;
}

class Tenant {
  readonly traces = new Map<string, StoredTrace>();
  readonly services = new Map<string, Map<string, Operation>>();
  operations = 0;
  readonly dependencies: { at: bigint; links: DependencyLink[] }[] = [];
}

const positiveInt = (v: number | undefined, field: string, def: number): number => {
  if (v === undefined) return def;
  if (!Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`memory.${field}`, `must be a positive integer (got ${v})`);
  return v;
};

/** throughput records kept (oldest dropped first) */
const MAX_THROUGHPUT = 100_000;

export class MemoryStore {
  private readonly tenants = new Map<string, Tenant>();
  /** every stored trace of every tenant, oldest first (for eviction by bytes) */
  private readonly order = new Set<StoredTrace>();
  private readonly chunkSize: number;
  private readonly maxBytes: number | undefined;
  private readonly maxSpansPerTrace: number;
  private readonly maxServices: number;
  private readonly maxOperationsPerService: number;
  private readonly maxOperations: number;
  private readonly counts = { spans: 0, bytes: 0, tracesEvictedMaxTraces: 0, tracesEvictedMaxBytes: 0, spansRefused: 0, servicesNotIndexed: 0, operationsNotIndexed: 0 };
  private readonly throughput: (Throughput & { at: bigint })[] = [];
  private latestProbabilities: { at: bigint; values: ServiceOperationValues } | undefined;
  private readonly locks = new Map<string, { holder: string; expires: number }>();

  constructor(readonly config: MemoryConfig) {
    if (!Number.isInteger(config.maxTraces) || config.maxTraces < 1) throw new InvalidArgumentError('memory.maxTraces', `must be a positive integer (got ${config.maxTraces})`);
    this.chunkSize = positiveInt(config.maxSpansPerChunk, 'maxSpansPerChunk', 1000);
    this.maxBytes = config.maxBytes === undefined ? undefined : positiveInt(config.maxBytes, 'maxBytes', 0);
    this.maxSpansPerTrace = positiveInt(config.maxSpansPerTrace, 'maxSpansPerTrace', MEMORY_DEFAULTS.maxSpansPerTrace);
    this.maxServices = positiveInt(config.maxServices, 'maxServices', MEMORY_DEFAULTS.maxServices);
    this.maxOperationsPerService = positiveInt(config.maxOperationsPerService, 'maxOperationsPerService', MEMORY_DEFAULTS.maxOperationsPerService);
    this.maxOperations = positiveInt(config.maxOperations, 'maxOperations', MEMORY_DEFAULTS.maxOperations);
  }

  stats(): MemoryStats {
    let traces = 0;
    for (const t of this.tenants.values()) traces += t.traces.size;
    return { traces, maxBytes: this.maxBytes, ...this.counts };
  }

  private evict(tr: StoredTrace, reason: 'tracesEvictedMaxTraces' | 'tracesEvictedMaxBytes'): void {
    tr.tenant.traces.delete(tr.id);
    this.order.delete(tr);
    this.counts.spans -= tr.spans.length;
    this.counts.bytes -= tr.bytes;
    this.counts[reason]++;
  }

  /** Indexes (service, kind, name) unless a bound is reached; the span is stored either way. */
  private index(t: Tenant, service: string, kind: string, name: string): void {
    let ops = t.services.get(service);
    if (!ops) {
      if (t.services.size >= this.maxServices) {
        this.counts.servicesNotIndexed++;
        return;
      }
      t.services.set(service, (ops = new Map()));
    }
    const key = `${kind}\u0000${name}`;
    if (ops.has(key)) return;
    if (ops.size >= this.maxOperationsPerService || t.operations >= this.maxOperations) {
      this.counts.operationsNotIndexed++;
      return;
    }
    ops.set(key, { name, spanKind: kind });
    t.operations++;
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
    // a trace that would exceed maxSpansPerTrace refuses the whole batch before anything is stored, so the caller
    // can isolate the spans that do not fit and tell their client (the runtime bisects down to single spans, and
    // only a refused single span is counted)
    const incoming = new Map<string, number>();
    for (const rs of traces) for (const ss of rs.scopeSpans) for (const span of ss.spans) incoming.set(span.traceId, (incoming.get(span.traceId) ?? 0) + 1);
    for (const [id, n] of incoming) {
      const have = t.traces.get(id)?.spans.length ?? 0;
      if (have + n > this.maxSpansPerTrace) {
        if (n === 1 && incoming.size === 1) this.counts.spansRefused++;
        throw new InvalidArgumentError('traceId', `trace ${id} already holds ${have} span(s): more than memory.maxSpansPerTrace (${this.maxSpansPerTrace}) would be stored, so the span is refused`);
      }
    }
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      let spansOfResource = 0;
      for (const ss of rs.scopeSpans) spansOfResource += ss.spans.length;
      // the resource and scope objects are shared by their spans: each span carries its share of their cost
      const resourceShare = spansOfResource ? Math.ceil(resourceBytes(rs.resource) / spansOfResource) : 0;
      for (const ss of rs.scopeSpans) {
        const scopeShare = ss.spans.length ? Math.ceil(scopeBytes(ss.scope) / ss.spans.length) : 0;
        for (const span of ss.spans) {
          let tr = t.traces.get(span.traceId);
          if (!tr) {
            tr = { id: span.traceId, spans: [], start: span.startTimeUnixNano, end: span.endTimeUnixNano, bytes: 0, tenant: t };
            t.traces.set(span.traceId, tr);
            this.order.add(tr);
            if (t.traces.size > this.config.maxTraces) this.evict(t.traces.values().next().value as StoredTrace, 'tracesEvictedMaxTraces');
          }
          const bytes = spanBytes(span) + resourceShare + scopeShare;
          tr.spans.push({ span, resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, service });
          tr.bytes += bytes;
          this.counts.spans++;
          this.counts.bytes += bytes;
          if (span.startTimeUnixNano < tr.start) tr.start = span.startTimeUnixNano;
          if (span.endTimeUnixNano > tr.end) tr.end = span.endTimeUnixNano;
          if (service) this.index(t, service, SPAN_KIND_NAMES[span.kind] ?? '', span.name);
          if (this.maxBytes !== undefined) {
            // oldest first, never the trace being written (a single trace is bounded by maxSpansPerTrace)
            while (this.counts.bytes > this.maxBytes) {
              const oldest = this.order.values().next().value as StoredTrace;
              if (oldest === tr) break;
              this.evict(oldest, 'tracesEvictedMaxBytes');
            }
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
    checkOperationQuery(q);
    const ops = this.tenant(ctx)?.services.get(q.service);
    if (!ops) return [];
    const kind = q.spanKind?.toLowerCase();
    return [...ops.values()].filter((o) => !kind || o.spanKind === kind).sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
  }

  private *matching(q: TraceQuery, ctx?: StorageContext): Generator<StoredTrace> {
    const cq = checkTraceQuery(q);
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
    this.order.clear();
    // what is held drops to zero; the eviction and refusal counters stay monotonic (they feed Prometheus counters)
    this.counts.spans = 0;
    this.counts.bytes = 0;
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

  /** what the store holds and what its bounds cost (for /metrics) */
  stats(): MemoryStats {
    return this.store.stats();
  }
}
