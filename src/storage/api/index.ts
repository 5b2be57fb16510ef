// The v2 storage API: what every backend implements. Mirrors Jaeger's tracestore / depstore / samplingstore
// over the OTLP model of ./model.ts.
import type { DependencyLink, FoundTraceId, GetTraceParams, Operation, OperationQuery, TimeRange, TraceQuery } from './query.js';
import type { ResourceSpans, TraceChunk } from './model.js';
import { LEAST_CAPABLE, type SearchCapabilities, type TraceSummary, summarizeTraces } from './summaries.js';

export * from './model.js';
export * from './query.js';
export * from './errors.js';
export * from './ids.js';
export * from './summaries.js';

/** Per-call context: the tenant (multi-tenancy), cancellation, and whether a write must go on its own. */
export interface StorageContext {
  tenant?: string;
  signal?: AbortSignal;
  /**
   * the caller is narrowing a failed write down to its bad spans: a writer that joins batches into one statement
   * writes this one on its own, so another caller's bad span cannot fail it (nor this one another's)
   */
  alone?: boolean;
}

export const DEFAULT_TENANT = '';

export interface TraceWriter {
  /**
   * Stores a batch. Idempotent for identical spans; appends to traces already stored. The whole batch is
   * validated first: a bad span rejects the batch and nothing of it is written. Takes ownership of `traces`.
   */
  writeTraces(traces: ResourceSpans[], ctx?: StorageContext): Promise<void>;
}

/**
 * Reads. Results stream as arrays of chunks: a chunk holds spans of one trace only, is never empty, and a
 * trace larger than one chunk comes in consecutive chunks. Unknown trace IDs yield nothing (not an error).
 * Returned objects are shared with the store: treat them as read-only.
 */
export interface TraceReader {
  getTraces(params: GetTraceParams[], ctx?: StorageContext): AsyncIterable<TraceChunk[]>;
  getServices(ctx?: StorageContext): Promise<string[]>;
  getOperations(q: OperationQuery, ctx?: StorageContext): Promise<Operation[]>;
  findTraces(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceChunk[]>;
  findTraceIds(q: TraceQuery, ctx?: StorageContext): AsyncIterable<FoundTraceId[]>;
  /**
   * The summaries of the traces findTraces would return (in an order of the backend's choosing), computed by the
   * backend. Optional: `traceSummaries` derives them from findTraces for a backend without it.
   */
  findTraceSummaries?(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceSummary[]>;
  /** what the search serves; optional: a backend without it reports LEAST_CAPABLE */
  searchCapabilities?(ctx?: StorageContext): Promise<SearchCapabilities>;
}

/** The summaries of a search: the backend's own, or else computed from findTraces by the shared rules. */
export function traceSummaries(reader: TraceReader, q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceSummary[]> {
  return reader.findTraceSummaries ? reader.findTraceSummaries(q, ctx) : summarizeTraces(reader.findTraces(q, ctx));
}

/** What a reader's search serves (LEAST_CAPABLE when it does not say). */
export function searchCapabilities(reader: TraceReader, ctx?: StorageContext): Promise<SearchCapabilities> {
  return reader.searchCapabilities ? reader.searchCapabilities(ctx) : Promise.resolve({ ...LEAST_CAPABLE });
}

export interface DependencyReader {
  getDependencies(r: TimeRange, ctx?: StorageContext): Promise<DependencyLink[]>;
}

export interface DependencyWriter {
  /** Stores links computed for the window ending at `timestamp` (ns). */
  writeDependencies(timestamp: bigint, links: DependencyLink[], ctx?: StorageContext): Promise<void>;
}

/** Per-operation root-span throughput observed in one interval (adaptive sampling input). */
export interface Throughput {
  service: string;
  operation: string;
  count: number;
  /** probabilities the observed spans were sampled with */
  probabilities: number[];
}

export type ServiceOperationValues = Record<string, Record<string, number>>;

export interface SamplingStore {
  insertThroughput(at: bigint, throughput: Throughput[]): Promise<void>;
  getThroughput(r: TimeRange): Promise<(Throughput & { at: bigint })[]>;
  insertProbabilitiesAndQps(hostname: string, at: bigint, probabilities: ServiceOperationValues, qps: ServiceOperationValues): Promise<void>;
  /** the most recently inserted probabilities, or {} */
  getLatestProbabilities(): Promise<ServiceOperationValues>;
}

/** A lease on a named resource: one holder at a time until its TTL runs out. */
export interface Lock {
  /** true when `holder` now holds `resource` (acquired, or renewed by the same holder) */
  acquire(resource: string, holder: string, ttlMs: number): Promise<boolean>;
  /** releases the lease if `holder` holds it; true when released */
  forfeit(resource: string, holder: string): Promise<boolean>;
}

export interface Purger {
  /** deletes every stored trace, index entry, dependency and sampling record of every tenant */
  purge(): Promise<void>;
}

/**
 * One backend: owns its connections, provisions its schema, and creates the readers and writers.
 * Backends register in src/storage/registry.ts.
 */
export interface BackendFactory {
  readonly type: string;
  /** creates schema / templates / tables where the backend needs them; idempotent */
  provision(): Promise<void>;
  traceWriter(): TraceWriter;
  traceReader(): TraceReader;
  dependencyReader(): DependencyReader;
  dependencyWriter(): DependencyWriter;
  samplingStore(): SamplingStore;
  lock(): Lock;
  purger(): Purger;
  close(): Promise<void>;
  /** periodic housekeeping the backend needs from the runtime (rollover, retention); returns what it did */
  maintain?(): Promise<string[]>;
  /** resolves when the backend answers (readiness) */
  ping?(): Promise<void>;
  /** concurrent writes the runtime should give the trace writer when its configuration does not say */
  readonly ingestWriters?: number;
}
