// Jaeger api_v3 over HTTP/JSON (the routes of jaeger.api_v3.QueryService's and Capabilities' HTTP form):
//   GET /api/v3/services, /api/v3/operations?service=&span_kind=, /api/v3/traces/{id}, /api/v3/traces?query.*,
//       /api/v3/trace-summaries?query.*, /api/v3/dependencies?start_time=&end_time=, /api/v3/capabilities
// Traces use OTLP/JSON (hex IDs, integer enums, int64 as strings) under "result"; the other answers are the proto3
// JSON of their response message (lowerCamelCase, 64-bit integers as strings, every field present). A path's trace ID may be hex or
// base64; parameters go by their camelCase names, the snake_case ones serving when alone.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AttrValue,
  DEFAULT_SEARCH_DEPTH,
  type DependencyReader,
  InvalidArgumentError,
  MAX_SEARCH_DEPTH,
  type ResourceSpans,
  type StorageContext,
  type TraceChunk,
  type TraceQuery,
  type TraceReader,
  type TraceSummary,
  checkOperationQuery,
  searchCapabilities,
  traceSummaries,
} from '../../storage/api/index.js';
import { encodeTracesJson } from '../../otlp/otlp-json.js';
import { throwIfGone, untilAborted } from '../cancel.js';
import { pageDepth } from '../grpc-codec.js';
import { parseAttributeJson, parseDuration, parseIntParam, parseTime, pick, traceIdOfPath } from './params.js';

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
  res.end(payload);
}

export const sendError = (res: ServerResponse, code: number, message: string): void => sendJson(res, code, { error: { httpCode: code, message } });

/** All ResourceSpans of a chunk stream, in order; stops pulling (ClientGoneError) once `signal` aborts. */
export async function gather(iter: AsyncIterable<TraceChunk[]>, signal?: AbortSignal): Promise<ResourceSpans[]> {
  const out: ResourceSpans[] = [];
  for await (const batch of untilAborted(iter, signal)) for (const c of batch) out.push(...c.resourceSpans);
  throwIfGone(signal);
  return out;
}

/** the summaries of a stream in proto3 JSON (jaeger.api_v3.TraceSummary) */
async function gatherSummaries(iter: AsyncIterable<TraceSummary[]>, signal?: AbortSignal): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const batch of untilAborted(iter, signal))
    for (const s of batch) out.push({ ...s, minStartTimeUnixNano: s.minStartTimeUnixNano.toString(), maxEndTimeUnixNano: s.maxEndTimeUnixNano.toString() });
  throwIfGone(signal);
  return out;
}

/** The page size of a trace-summaries request, by the rules of the gRPC form (pageDepth in ../grpc-codec.ts). */
function pageSize(q: URLSearchParams, depth: string | undefined): number | undefined {
  const size = pick(q, 'query.pagination.pageSize', 'query.pagination.page_size');
  const token = pick(q, 'query.pagination.pageToken', 'query.pagination.page_token');
  if (!size && !token) return undefined;
  return pageDepth(
    { pageSize: size ? parseIntParam(size, 'query.pagination.page_size', 0, 2 ** 32 - 1) : 0, pageToken: token ?? '' },
    // 0 is "unset", as over gRPC
    depth ? parseIntParam(depth, 'query.search_depth', 0, MAX_SEARCH_DEPTH) : 0,
  );
}

/**
 * The search of a request; each parameter by its camelCase name, as Jaeger reads it, or its older snake_case one.
 * `paged`: pagination is accepted (trace summaries); FindTraces refuses it.
 */
function traceQuery(q: URLSearchParams, paged = false): TraceQuery {
  // any spelling of a structured filter is refused rather than ignored (ignoring it would widen the answer)
  if ([...q.keys()].some((k) => k === 'query.filter' || k.startsWith('query.filter.') || k.startsWith('query.filter['))) throw new InvalidArgumentError('query.filter', 'structured filters are not served by this storage (its capabilities name no filter operators): search with query.service_name, query.operation_name, query.attributes and query.duration_min/max');
  if (!paged && pick(q, 'query.pagination.pageSize', 'query.pagination.page_size', 'query.pagination.pageToken', 'query.pagination.page_token')) throw new InvalidArgumentError('query.pagination', 'is not accepted by /api/v3/traces, which query.search_depth bounds: page through /api/v3/trace-summaries');
  const query: TraceQuery = { searchDepth: DEFAULT_SEARCH_DEPTH };
  const service = pick(q, 'query.serviceName', 'query.service_name');
  if (service) query.serviceName = service;
  const op = pick(q, 'query.operationName', 'query.operation_name');
  if (op) query.operationName = op;
  const tmin = pick(q, 'query.startTimeMin', 'query.start_time_min');
  const tmax = pick(q, 'query.startTimeMax', 'query.start_time_max');
  if (!tmin || !tmax) throw new InvalidArgumentError('query.start_time_min', 'query.start_time_min and query.start_time_max are required (RFC 3339)');
  query.startTimeMin = parseTime(tmin, 'query.start_time_min');
  query.startTimeMax = parseTime(tmax, 'query.start_time_max');
  if (query.startTimeMin > query.startTimeMax) throw new InvalidArgumentError('query.start_time_min', 'is after query.start_time_max: the time range is inverted');
  const dmin = pick(q, 'query.durationMin', 'query.duration_min');
  if (dmin) query.durationMin = parseDuration(dmin, 'query.duration_min');
  const dmax = pick(q, 'query.durationMax', 'query.duration_max');
  if (dmax) query.durationMax = parseDuration(dmax, 'query.duration_max');
  if (query.durationMin !== undefined && query.durationMax !== undefined && query.durationMin > query.durationMax) throw new InvalidArgumentError('query.duration_min', 'must not exceed query.duration_max');
  // 0 is proto3's "unset" in the gRPC form: the default depth, as there; beyond MAX_SEARCH_DEPTH is refused
  const depth = pick(q, 'query.searchDepth', 'query.search_depth', 'query.numTraces', 'query.num_traces');
  if (depth) query.searchDepth = parseIntParam(depth, 'query.search_depth', 0, MAX_SEARCH_DEPTH) || DEFAULT_SEARCH_DEPTH;
  const page = paged ? pageSize(q, depth) : undefined;
  if (page !== undefined) query.searchDepth = page;
  // no prototype: a filter on an attribute named __proto__ is a filter like any other
  const attrs: Record<string, AttrValue> = Object.create(null) as Record<string, AttrValue>;
  const json = pick(q, 'query.attributes');
  if (json) parseAttributeJson(json, 'query.attributes', attrs);
  for (const [k, v] of q) {
    const m = /^query\.attributes\[(.+)\]$/.exec(k);
    if (m) attrs[m[1]!] = v;
  }
  if (Object.keys(attrs).length) query.attributes = attrs;
  return query;
}

/** the largest search request body taken: a query is a few hundred bytes, a thousand attribute filters some KiB */
export const MAX_SEARCH_BODY = 256 * 1024;

/** The body of a POST search, at most MAX_SEARCH_BODY bytes, as text; stops reading once `signal` aborts. */
async function readBody(req: IncomingMessage, signal?: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of untilAborted(req as AsyncIterable<Buffer>, signal)) {
    size += c.length;
    if (size > MAX_SEARCH_BODY) throw new InvalidArgumentError('body', `is larger than ${MAX_SEARCH_BODY} bytes: a search request is {"query": {...}}`);
    chunks.push(c);
  }
  throwIfGone(signal);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A POST search body, FindTracesRequest / FindTraceSummariesRequest in proto3 JSON ({"query": {"serviceName": ...}},
 * names in lowerCamelCase or as in the proto, times RFC 3339, durations such as "1.5s"), as the query parameters the
 * GET form takes, so that both are read and checked by the same code.
 */
function bodyParams(text: string): URLSearchParams {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('body', 'is not JSON: send {"query": {"serviceName": "...", "startTimeMin": "2026-01-01T00:00:00Z", "startTimeMax": "..."}}');
  }
  const query = (body as { query?: unknown } | null)?.query;
  if (!query || typeof query !== 'object' || Array.isArray(query)) throw new InvalidArgumentError('query', 'is required: the body is {"query": {...}}');
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    // only the fields of TraceQueryParameters: an unknown one is refused rather than ignored (ignoring a predicate
    // would widen the answer), which also bounds the work a body can ask for
    if (!QUERY_FIELDS.has(k)) throw new InvalidArgumentError(`query.${k.slice(0, 100)}`, `is not a field of the query: use ${[...QUERY_FIELDS].filter((f) => !f.includes('_')).join(', ')}`);
    if (v === null || v === undefined) continue;
    if (k === 'attributes' || k === 'filter') out.append(`query.${k}`, JSON.stringify(v));
    else if (k === 'pagination') {
      if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError('query.pagination', 'must be an object such as {"pageSize": 20}');
      const page = v as Record<string, unknown>;
      const size = page.pageSize ?? page.page_size;
      const token = page.pageToken ?? page.page_token;
      if (typeof size !== 'number' && typeof size !== 'string') throw new InvalidArgumentError('query.pagination.page_size', 'is required: a whole number from 1');
      out.append('query.pagination.page_size', String(size));
      if (token !== undefined && token !== '') out.append('query.pagination.page_token', typeof token === 'string' ? token : JSON.stringify(token));
    } else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.append(`query.${k}`, String(v));
    else throw new InvalidArgumentError(`query.${k}`, 'must be a string, number or boolean');
  }
  return out;
}

/** the fields of TraceQueryParameters a POST search body may carry, as protojson names them (both spellings) */
const QUERY_FIELDS: ReadonlySet<string> = new Set(
  ['service_name', 'operation_name', 'attributes', 'start_time_min', 'start_time_max', 'duration_min', 'duration_max', 'search_depth', 'num_traces', 'raw_traces', 'filter', 'pagination'].flatMap((f) => [f, f.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())]),
);

/** Handles /api/v3/*, reading as the tenant of `ctx`; returns false when the path is not one of ours. */
export async function handleApiV3(reader: TraceReader, deps: DependencyReader, req: IncomingMessage, res: ServerResponse, url: URL, ctx: StorageContext): Promise<boolean> {
  const p = url.pathname.replace(/\/+$/, '');
  if (!p.startsWith('/api/v3/')) return false;
  // the searches also take their request as a JSON body (the POST bindings of jaeger.api_v3), the rest GET only
  const search = p === '/api/v3/traces' || p === '/api/v3/trace-summaries';
  if (req.method !== 'GET' && req.method !== 'HEAD' && !(search && req.method === 'POST')) {
    sendError(res, 405, search ? 'use GET or POST' : 'use GET');
    return true;
  }
  const q = req.method === 'POST' ? bodyParams(await readBody(req, ctx.signal)) : url.searchParams;
  if (p === '/api/v3/services') {
    sendJson(res, 200, { services: await reader.getServices(ctx) });
    return true;
  }
  if (p === '/api/v3/operations') {
    const service = pick(q, 'service');
    if (!service) throw new InvalidArgumentError('service', 'is required');
    const kind = pick(q, 'spanKind', 'span_kind');
    sendJson(res, 200, { operations: await reader.getOperations(checkOperationQuery({ service, spanKind: kind }), ctx) });
    return true;
  }
  const byId = /^\/api\/v3\/traces\/([^/]+)$/.exec(p);
  if (byId) {
    const start = pick(q, 'startTime', 'start_time');
    const end = pick(q, 'endTime', 'end_time');
    const traceId = traceIdOfPath(byId[1]!, 'trace_id');
    const window = { ...(start ? { start: parseTime(start, 'start_time') } : {}), ...(end ? { end: parseTime(end, 'end_time') } : {}) };
    if (window.start !== undefined && window.end !== undefined && window.start > window.end) throw new InvalidArgumentError('start_time', 'is after end_time: the time range is inverted');
    const traces = await gather(reader.getTraces([{ traceId, ...window }], ctx), ctx.signal);
    if (!traces.length) sendError(res, 404, `trace ${traceId} not found`);
    else sendJson(res, 200, { result: encodeTracesJson(traces) });
    return true;
  }
  if (p === '/api/v3/traces') {
    sendJson(res, 200, { result: encodeTracesJson(await gather(reader.findTraces(traceQuery(q), ctx), ctx.signal)) });
    return true;
  }
  if (p === '/api/v3/trace-summaries') {
    sendJson(res, 200, { summaries: await gatherSummaries(traceSummaries(reader, traceQuery(q, true), ctx), ctx.signal), nextPageToken: '' });
    return true;
  }
  if (p === '/api/v3/capabilities') {
    sendJson(res, 200, { search: { ...(await searchCapabilities(reader, ctx)), filter: { levels: [], operators: [] }, paginated: false, spanSearch: false, spanSorting: false } });
    return true;
  }
  if (p === '/api/v3/dependencies') {
    const start = pick(q, 'startTime', 'start_time');
    const end = pick(q, 'endTime', 'end_time');
    if (!start || !end) throw new InvalidArgumentError(start ? 'end_time' : 'start_time', 'is required: give start_time and end_time (RFC 3339)');
    const range = { start: parseTime(start, 'start_time'), end: parseTime(end, 'end_time') };
    if (range.start > range.end) throw new InvalidArgumentError('start_time', 'is after end_time: the time range is inverted');
    const links = await deps.getDependencies(range, ctx);
    sendJson(res, 200, { dependencies: links.map((d) => ({ parent: d.parent, child: d.child, callCount: String(d.callCount) })) });
    return true;
  }
  sendError(res, 404, `no such route ${p}`);
  return true;
}
