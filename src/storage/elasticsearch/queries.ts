// The request bodies of the Elasticsearch / OpenSearch backend, as pure functions of the query and the index
// names (no client, no I/O), so they can be checked against golden files without a server. As in Jaeger's reader:
// find = a size-0 search with a terms aggregation on traceId ordered by the latest span start; get-trace = a term
// query on traceId sorted by start time, paged with search_after.
import type { CheckedQuery, DependencyLink, OperationQuery, ServiceOperationValues, Throughput, TimeRange } from '../api/index.js';
import { queryTerm } from './docs.js';
import type { Names } from './layout.js';

/** One search: the index expression it targets and its body. */
export interface SearchRequest {
  index: string;
  body: Record<string, unknown>;
}

/** One document to index: the index (or stream) and the document. */
export interface DocRequest {
  index: string;
  doc: Record<string, unknown>;
}

/** Query-string options of every read: a daily index that does not exist (yet) is no error. */
export const READ_OPTS = { ignore_unavailable: true, allow_no_indices: true };

/** The order spans are read in: by start time, ties broken by document ID (stable pages for search_after). */
const SPAN_ORDER = [{ startTimeNanos: 'asc' }, { docId: 'asc' }];

const ms = (ns: bigint): number => Number(ns / 1_000_000n);

/** An inclusive range on a field of ns strings, only with the bounds given. */
function nsRange(min: bigint | undefined, max: bigint | undefined): Record<string, string> {
  const r: Record<string, string> = {};
  if (min !== undefined) r.gte = min.toString();
  if (max !== undefined) r.lte = max.toString();
  return r;
}

/**
 * The trace IDs matching a query, newest first, at most searchDepth. Undefined when no span can match (an
 * attribute filter that never holds, such as error=maybe): nothing needs to be asked.
 */
export function findTraceIdsRequest(n: Names, cq: CheckedQuery): SearchRequest | undefined {
  const filter: unknown[] = [];
  const start = nsRange(cq.startTimeMin, cq.startTimeMax);
  if (Object.keys(start).length) {
    filter.push({ range: { startTimeNanos: start } });
    const millis: Record<string, number> = {};
    if (cq.startTimeMin !== undefined) millis.gte = ms(cq.startTimeMin);
    if (cq.startTimeMax !== undefined) millis.lte = ms(cq.startTimeMax) + 1;
    filter.push({ range: { startTimeMillis: millis } }); // lets the server skip shards and indices
  }
  if (cq.serviceName) filter.push({ term: { service: cq.serviceName } });
  if (cq.operationName) filter.push({ term: { name: cq.operationName } });
  const dur = nsRange(cq.durationMin, cq.durationMax);
  if (Object.keys(dur).length) filter.push({ range: { durationNanos: dur } });
  for (const [k, v] of cq.attributes) {
    const t = queryTerm(k, v);
    if (t === undefined) return undefined;
    filter.push({ term: { match: t } });
  }
  return {
    index: n.spanRead(cq.startTimeMin, cq.startTimeMax),
    body: {
      size: 0,
      query: { bool: { filter } },
      aggs: { t: { terms: { field: 'traceId', size: cq.searchDepth, order: { latest: 'desc' } }, aggs: { latest: { max: { field: 'startTimeNanos' } } } } },
    },
  };
}

/** One page of a trace's spans in start order (`after`: the sort values of the previous page's last hit). */
export function traceSpansRequest(n: Names, traceId: string, pageSize: number, fields?: string[], after?: unknown[]): SearchRequest {
  return {
    index: n.spanRead(),
    body: { size: pageSize, query: { term: { traceId } }, sort: SPAN_ORDER, ...(fields ? { _source: fields } : {}), ...(after ? { search_after: after } : {}) },
  };
}

/** The spans of several traces in one search (complete when fewer than pageSize come back), `fields` of each only. */
export function tracesRequest(n: Names, traceIds: string[], pageSize: number, fields?: string[]): SearchRequest {
  return { index: n.spanRead(), body: { size: pageSize, query: { terms: { traceId: traceIds } }, sort: SPAN_ORDER, ...(fields ? { _source: fields } : {}) } };
}

/** What a trace summary reads of a span document: the keyword and time fields and the status code of the record. */
export const SUMMARY_FIELDS = ['traceId', 'spanId', 'parentSpanId', 'service', 'name', 'startTimeNanos', 'durationNanos', 'record.span.status.code'];

/** Whether a trace has a span starting in [start, end]: the time hints of a get-trace. */
export function spanInRangeRequest(n: Names, traceId: string, start?: bigint, end?: bigint): SearchRequest {
  return { index: n.spanRead(start, end), body: { size: 1, _source: false, query: { bool: { filter: [{ term: { traceId } }, { range: { startTimeNanos: nsRange(start, end) } }] } } } };
}

export function servicesRequest(n: Names): SearchRequest {
  return { index: n.serviceRead(), body: { size: 0, aggs: { s: { terms: { field: 'service', size: 10_000 } } } } };
}

export function operationsRequest(n: Names, q: OperationQuery): SearchRequest {
  const filter: unknown[] = [{ term: { service: q.service } }];
  if (q.spanKind) filter.push({ term: { kind: q.spanKind.toLowerCase() } });
  return { index: n.serviceRead(), body: { size: 0, query: { bool: { filter } }, aggs: { n: { terms: { field: 'name', size: 10_000 }, aggs: { k: { terms: { field: 'kind', size: 10 } } } } } } };
}

/** One page of the trace IDs of spans starting in a window (the first step of deriving dependencies). */
export function windowTraceIdsRequest(n: Names, r: TimeRange, pageSize: number, after?: unknown[]): SearchRequest {
  return {
    index: n.spanRead(r.start, r.end),
    body: { size: pageSize, _source: ['traceId'], query: { range: { startTimeNanos: nsRange(r.start, r.end) } }, sort: SPAN_ORDER, ...(after ? { search_after: after } : {}) },
  };
}

/** The span fields dependencies are derived from. */
export const DEPENDENCY_FIELDS = ['spanId', 'parentSpanId', 'service'];

/** Links written by the dependencies job in a window. */
export function storedDependenciesRequest(n: Names, r: TimeRange): SearchRequest {
  return { index: n.dependenciesRead(r.start, r.end), body: { size: 10_000, query: { range: { timestampNanos: nsRange(r.start, r.end) } } } };
}

export function dependenciesDoc(n: Names, at: bigint, links: DependencyLink[]): DocRequest {
  return { index: n.dependenciesWrite(at), doc: { timestamp: ms(at), timestampNanos: at.toString(), dependencies: links } };
}

export function throughputDoc(n: Names, at: bigint, throughput: Throughput[]): DocRequest {
  return { index: n.sampling, doc: { kind: 'throughput', at: at.toString(), atMillis: ms(at), data: { throughput } } };
}

export function probabilitiesDoc(n: Names, hostname: string, at: bigint, probabilities: ServiceOperationValues, qps: ServiceOperationValues): DocRequest {
  return { index: n.sampling, doc: { kind: 'probabilities', at: at.toString(), atMillis: ms(at), hostname, data: { probabilities, qps } } };
}

export function throughputRequest(n: Names, r: TimeRange): SearchRequest {
  return { index: n.sampling, body: { size: 10_000, query: { bool: { filter: [{ term: { kind: 'throughput' } }, { range: { at: nsRange(r.start, r.end) } }] } }, sort: [{ at: 'asc' }] } };
}

export function latestProbabilitiesRequest(n: Names): SearchRequest {
  return { index: n.sampling, body: { size: 1, query: { term: { kind: 'probabilities' } }, sort: [{ at: 'desc' }] } };
}

/** The document of a lock on `resource` (in the sampling index). */
export const lockPath = (n: Names, resource: string): string => `/${n.sampling}/_doc/lock-${encodeURIComponent(resource)}`;
