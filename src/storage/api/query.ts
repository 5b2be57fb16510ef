// Query types shared by every backend, and their validation (done once, above the backends).
import { type AttrValue, attrToString } from './model.js';
import { InvalidArgumentError } from './errors.js';
import { normalizeTraceId } from './ids.js';

export interface GetTraceParams {
  traceId: string;
  /** optional hints: a backend may limit its search to traces with a span starting in [start, end] (ns) */
  start?: bigint;
  end?: bigint;
}

export interface TraceQuery {
  serviceName?: string;
  operationName?: string;
  /**
   * All must hold on one span. Special keys: error (true|false), span.kind (server, client, ...),
   * span.status (ok, error, unset), scope.name, scope.version, resource.<key>; any other key is looked up in the
   * span, scope, resource, event and link attributes. Values compare as strings.
   */
  attributes?: Record<string, AttrValue>;
  /** inclusive bounds on a span's start time, ns since the epoch */
  startTimeMin?: bigint;
  startTimeMax?: bigint;
  /** inclusive bounds on a span's duration, ns */
  durationMin?: bigint;
  durationMax?: bigint;
  /** the most traces to return */
  searchDepth: number;
}

export interface FoundTraceId {
  traceId: string;
  /** hints: the earliest span start and the latest span end seen */
  start?: bigint;
  end?: bigint;
}

export interface OperationQuery {
  service: string;
  /** '' or undefined: every kind */
  spanKind?: string;
}

export interface Operation {
  name: string;
  /** lowercase OTLP kind: server, client, producer, consumer, internal, or '' */
  spanKind: string;
}

export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
  source?: string;
}

export interface TimeRange {
  /** ns since the epoch, inclusive */
  start: bigint;
  end: bigint;
}

/** the search depth of a query that does not set one */
export const DEFAULT_SEARCH_DEPTH = 100;

/** the most traces one search may ask for, on every backend (Jaeger's own backends cap it likewise) */
export const MAX_SEARCH_DEPTH = 10_000;

/** the most attribute filters one search may carry */
export const MAX_QUERY_ATTRIBUTES = 1_000;

/**
 * The longest service name, operation name, span kind or attribute key a query may name, in UTF-8 bytes: a bound on
 * the work one query can ask for. Backends whose index keys are smaller (the embedded store's LMDB keys are at most
 * 1,978 bytes) key long names by their hash, so any name that can be stored can be looked up.
 */
export const MAX_NAME_BYTES = 16_384;

/** `v` when it is at most MAX_NAME_BYTES long in UTF-8, else InvalidArgumentError naming `field`. */
export function checkName(v: string, field: string): string {
  if (v.length > MAX_NAME_BYTES / 3 && Buffer.byteLength(v, 'utf8') > MAX_NAME_BYTES) throw new InvalidArgumentError(field, `is ${Buffer.byteLength(v, 'utf8')} bytes long: names in a query are at most ${MAX_NAME_BYTES} bytes (UTF-8)`);
  return v;
}

/** Validates a GetOperations query: a service name, and a span kind, each at most MAX_NAME_BYTES. */
export function checkOperationQuery(q: OperationQuery): OperationQuery {
  if (typeof q.service !== 'string') throw new InvalidArgumentError('service', 'is required');
  checkName(q.service, 'service');
  if (q.spanKind !== undefined) checkName(q.spanKind, 'spanKind');
  return q;
}

/**
 * Times are ns since the epoch as a signed 64-bit integer, the range of Go's time.UnixNano() and of OTLP's fixed64
 * fields read as signed: 1677-09-21T00:12:43Z to 2262-04-11T23:47:16Z. Durations: 0 to MAX_NS.
 */
export const MAX_NS = 9_223_372_036_854_775_807n;
export const MIN_NS = -9_223_372_036_854_775_808n;

/** An int64 time bound, or InvalidArgumentError naming `field` and the range. */
export function checkTimeNs(v: bigint, field: string): bigint {
  if (v < MIN_NS || v > MAX_NS) throw new InvalidArgumentError(field, `is out of range: times must lie from 1677-09-21T00:12:43Z to 2262-04-11T23:47:16Z (ns since the epoch as int64, got ${clip(v)})`);
  return v;
}

/** A duration in [0, MAX_NS] ns, or InvalidArgumentError naming `field` and the range. */
export function checkDurationNs(v: bigint, field: string): bigint {
  if (v < 0n) throw new InvalidArgumentError(field, `must not be negative (got ${clip(v)} ns)`);
  if (v > MAX_NS) throw new InvalidArgumentError(field, `is too long: at most ${MAX_NS} ns (about 292 years)`);
  return v;
}

/** An integer count in [min, max], or InvalidArgumentError naming `field` and the range. */
export function checkCount(v: number, field: string, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(field, `must be an integer from ${min} to ${max} (got ${Number.isFinite(v) ? v : String(v)})`);
  return v;
}

/** a value for an error message: long numbers are cut */
const clip = (v: bigint): string => {
  const s = v.toString();
  return s.length > 40 ? `${s.slice(0, 20)}...(${s.length} digits)` : s;
};

/** Validated copy of a query with a normalised attribute map (values as strings). */
export interface CheckedQuery extends Omit<TraceQuery, 'attributes'> {
  attributes: [string, string][];
}

/**
 * Validates a search for every backend: searchDepth from 1 to MAX_SEARCH_DEPTH (a backend may allow fewer with
 * `maxDepth`, never more), time bounds and durations in range and not inverted, at most MAX_QUERY_ATTRIBUTES
 * attribute filters with non-empty keys, service and operation names and attribute keys of at most MAX_NAME_BYTES.
 */
export function checkTraceQuery(q: TraceQuery, maxDepth = MAX_SEARCH_DEPTH): CheckedQuery {
  checkCount(q.searchDepth, 'searchDepth', 1, Math.min(maxDepth, MAX_SEARCH_DEPTH));
  if (q.serviceName !== undefined) checkName(q.serviceName, 'serviceName');
  if (q.operationName !== undefined) checkName(q.operationName, 'operationName');
  for (const k of ['startTimeMin', 'startTimeMax'] as const) {
    const v = q[k];
    if (v !== undefined) checkTimeNs(v, k);
  }
  for (const k of ['durationMin', 'durationMax'] as const) {
    const v = q[k];
    if (v !== undefined) checkDurationNs(v, k);
  }
  if (q.durationMin !== undefined && q.durationMax !== undefined && q.durationMin > q.durationMax) {
    throw new InvalidArgumentError('durationMin', `must not exceed durationMax (${q.durationMin} > ${q.durationMax} ns)`);
  }
  if (q.startTimeMin !== undefined && q.startTimeMax !== undefined && q.startTimeMin > q.startTimeMax) {
    throw new InvalidArgumentError('startTimeMin', 'is after startTimeMax: the time range is inverted');
  }
  const attributes: [string, string][] = [];
  for (const [k, v] of Object.entries(q.attributes ?? {})) {
    if (!k) throw new InvalidArgumentError('attributes', 'keys must not be empty');
    checkName(k, 'attributes');
    if (attributes.length >= MAX_QUERY_ATTRIBUTES) throw new InvalidArgumentError('attributes', `at most ${MAX_QUERY_ATTRIBUTES} attribute filters per search`);
    attributes.push([k, attrToString(v)]);
  }
  return { ...q, attributes };
}

export function checkGetTraceParams(params: readonly GetTraceParams[]): GetTraceParams[] {
  return params.map((p, i) => {
    const traceId = normalizeTraceId(p.traceId, `traceIds[${i}]`);
    if (p.start !== undefined) checkTimeNs(p.start, `traceIds[${i}].start`);
    if (p.end !== undefined) checkTimeNs(p.end, `traceIds[${i}].end`);
    if (p.start !== undefined && p.end !== undefined && p.start > p.end) throw new InvalidArgumentError(`traceIds[${i}].start`, 'is after end: the time range is inverted');
    return { ...p, traceId };
  });
}

export function checkTimeRange(r: TimeRange): TimeRange {
  checkTimeNs(r.start, 'start');
  checkTimeNs(r.end, 'end');
  if (r.start > r.end) throw new InvalidArgumentError('start', 'is after end: the time range is inverted');
  return r;
}
