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

export const MAX_SEARCH_DEPTH = 10_000;

/** Validated copy of a query with a normalised attribute map (values as strings). */
export interface CheckedQuery extends Omit<TraceQuery, 'attributes'> {
  attributes: [string, string][];
}

export function checkTraceQuery(q: TraceQuery, maxDepth = MAX_SEARCH_DEPTH): CheckedQuery {
  if (!Number.isInteger(q.searchDepth) || q.searchDepth < 1 || q.searchDepth > maxDepth) {
    throw new InvalidArgumentError('searchDepth', `must be an integer from 1 to ${maxDepth} (got ${q.searchDepth})`);
  }
  for (const k of ['durationMin', 'durationMax'] as const) {
    const v = q[k];
    if (v !== undefined && v < 0n) throw new InvalidArgumentError(k, `must not be negative (got ${v} ns)`);
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
    attributes.push([k, attrToString(v)]);
  }
  return { ...q, attributes };
}

export function checkGetTraceParams(params: readonly GetTraceParams[]): GetTraceParams[] {
  return params.map((p, i) => {
    const traceId = normalizeTraceId(p.traceId, `traceIds[${i}]`);
    if (p.start !== undefined && p.end !== undefined && p.start > p.end) throw new InvalidArgumentError(`traceIds[${i}].start`, 'is after end: the time range is inverted');
    return { ...p, traceId };
  });
}

export function checkTimeRange(r: TimeRange): TimeRange {
  if (r.start > r.end) throw new InvalidArgumentError('start', 'is after end: the time range is inverted');
  return r;
}
