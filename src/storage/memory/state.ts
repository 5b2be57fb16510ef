// What every narrow object of the memory backend shares: the per-tenant trace and service maps, the FIFO order of
// all traces (for the byte bound), the counters behind stats(), and the sampling and lock records. The writer,
// reader, dependency store, sampling store, lock and purger each hold this one object.
import { DEFAULT_TENANT, type DependencyLink, InvalidArgumentError, type Operation, type ServiceOperationValues, type Span, type StorageContext, type Throughput } from '../api/index.js';
import type { SpanView } from '../api/semantics.js';
import { MEMORY_DEFAULTS } from './limits.js';

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

/** Where a stored span came from: one object shared by every span of a batch's scope. */
export type Origin = Omit<SpanView, 'span'>;

export interface StoredTrace {
  id: string;
  /** the spans in arrival order, and in `origins` at the same index the resource and scope each came with */
  spans: Span[];
  origins: Origin[];
  start: bigint;
  end: bigint;
  bytes: number;
  tenant: Tenant;
}

export class Tenant {
  readonly traces = new Map<string, StoredTrace>();
  /** service → operation name → span kind → the operation */
  readonly services = new Map<string, Map<string, Map<string, Operation>>>();
  /** operations indexed per service */
  readonly operationCounts = new Map<string, number>();
  /** at least the span count of the longest stored trace (it does not shrink on eviction: an upper bound) */
  longestTrace = 0;
  operations = 0;
  readonly dependencies: { at: bigint; links: DependencyLink[] }[] = [];
}

const positiveInt = (v: number | undefined, field: string, def: number): number => {
  if (v === undefined) return def;
  if (!Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`memory.${field}`, `must be a positive integer (got ${v})`);
  return v;
};

/** The bounds in force, validated once. */
export interface MemoryLimits {
  maxTraces: number;
  chunkSize: number;
  maxBytes: number | undefined;
  maxSpansPerTrace: number;
  maxServices: number;
  maxOperationsPerService: number;
  maxOperations: number;
}

export function memoryLimits(config: MemoryConfig): MemoryLimits {
  if (!Number.isInteger(config.maxTraces) || config.maxTraces < 1) throw new InvalidArgumentError('memory.maxTraces', `must be a positive integer (got ${config.maxTraces})`);
  return {
    maxTraces: config.maxTraces,
    chunkSize: positiveInt(config.maxSpansPerChunk, 'maxSpansPerChunk', 1000),
    maxBytes: config.maxBytes === undefined ? undefined : positiveInt(config.maxBytes, 'maxBytes', 0),
    maxSpansPerTrace: positiveInt(config.maxSpansPerTrace, 'maxSpansPerTrace', MEMORY_DEFAULTS.maxSpansPerTrace),
    maxServices: positiveInt(config.maxServices, 'maxServices', MEMORY_DEFAULTS.maxServices),
    maxOperationsPerService: positiveInt(config.maxOperationsPerService, 'maxOperationsPerService', MEMORY_DEFAULTS.maxOperationsPerService),
    maxOperations: positiveInt(config.maxOperations, 'maxOperations', MEMORY_DEFAULTS.maxOperations),
  };
}

export type EvictionReason = 'tracesEvictedMaxTraces' | 'tracesEvictedMaxBytes';

export class MemoryState {
  readonly limits: MemoryLimits;
  readonly tenants = new Map<string, Tenant>();
  /** every stored trace of every tenant, oldest first (for eviction by bytes) */
  readonly order = new Set<StoredTrace>();
  readonly counts = { spans: 0, bytes: 0, tracesEvictedMaxTraces: 0, tracesEvictedMaxBytes: 0, spansRefused: 0, servicesNotIndexed: 0, operationsNotIndexed: 0 };
  /** throughput records of adaptive sampling, oldest first */
  readonly throughput: (Throughput & { at: bigint })[] = [];
  latestProbabilities: { at: bigint; values: ServiceOperationValues } | undefined;
  readonly locks = new Map<string, { holder: string; expires: number }>();

  constructor(config: MemoryConfig) {
    this.limits = memoryLimits(config);
  }

  tenant(ctx?: StorageContext, create = false): Tenant | undefined {
    const name = ctx?.tenant ?? DEFAULT_TENANT;
    let t = this.tenants.get(name);
    if (!t && create) this.tenants.set(name, (t = new Tenant()));
    return t;
  }

  evict(tr: StoredTrace, reason: EvictionReason): void {
    tr.tenant.traces.delete(tr.id);
    this.order.delete(tr);
    this.counts.spans -= tr.spans.length;
    this.counts.bytes -= tr.bytes;
    this.counts[reason]++;
  }

  stats(): MemoryStats {
    let traces = 0;
    for (const t of this.tenants.values()) traces += t.traces.size;
    return { traces, maxBytes: this.limits.maxBytes, ...this.counts };
  }

  /** Drops everything held; the eviction and refusal counters stay monotonic (they feed Prometheus counters). */
  clear(): void {
    this.tenants.clear();
    this.order.clear();
    this.counts.spans = 0;
    this.counts.bytes = 0;
    this.throughput.length = 0;
    this.latestProbabilities = undefined;
    this.locks.clear();
  }
}

/** A stored trace's spans as views (for reads: the store itself keeps no view per span). */
export function spanViews(tr: StoredTrace): SpanView[] {
  const out: SpanView[] = new Array<SpanView>(tr.spans.length);
  for (let i = 0; i < out.length; i++) out[i] = { span: tr.spans[i]!, ...tr.origins[i]! };
  return out;
}
