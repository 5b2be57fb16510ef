// Jaeger's classic HTTP API, as Jaeger UI and Grafana's Jaeger data source call it:
//   GET /api/services, /api/services/{service}/operations, /api/operations?service=&spanKind=,
//       /api/traces/{id}, /api/traces?service=&operation=&tags=&start=&end=&lookback=&minDuration=&maxDuration=&limit=,
//       /api/dependencies?endTs=&lookback=
// Envelope: { data, total, limit, offset, errors }.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AttrValue, type DependencyReader, InvalidArgumentError, MAX_SEARCH_DEPTH, checkDurationNs, checkOperationQuery, normalizeTraceId, type StorageContext, type TraceQuery, type TraceReader } from '../../storage/api/index.js';
import { gather, sendJson } from './api-v3-http.js';
import { toJaegerTraces } from './jaeger-json.js';
import { parseAttributeJson, parseDuration, parseEpoch, parseIntParam, parseUnits, pathSegment, pick, traceIdOfPath } from './params.js';

const envelope = (data: unknown, total = Array.isArray(data) ? data.length : 0) => ({ data, total, limit: 0, offset: 0, errors: null });

export function sendClassicError(res: ServerResponse, code: number, msg: string): void {
  sendJson(res, code, { data: null, total: 0, limit: 0, offset: 0, errors: [{ code, msg }] });
}

/** the search depth of a classic search without `limit` (Jaeger UI always sends one) */
const DEFAULT_LIMIT = 20;

/** lookback such as 1h, 30m or 2d (Jaeger UI sends hours; days are accepted too) */
function lookback(v: string, field: string): bigint {
  const d = /^(\d{1,6})d$/.exec(v.trim());
  return d ? checkDurationNs(BigInt(d[1]!) * 86_400_000_000_000n, field) : parseDuration(v, field);
}

const micros = (v: string, field: string): bigint => parseEpoch(v, field, 1_000n, 'microseconds');

function searchQuery(q: URLSearchParams): TraceQuery {
  const service = pick(q, 'service');
  if (!service) throw new InvalidArgumentError('service', 'is required (or ask for traceID=...)');
  const query: TraceQuery = { serviceName: service, searchDepth: DEFAULT_LIMIT };
  const op = pick(q, 'operation');
  if (op) query.operationName = op;
  const end = pick(q, 'end') ? micros(q.get('end')!, 'end') : BigInt(Date.now()) * 1_000_000n;
  const start = pick(q, 'start') ? micros(q.get('start')!, 'start') : end - lookback(pick(q, 'lookback') ?? '1h', 'lookback');
  if (start > end) throw new InvalidArgumentError('start', 'is after end: the time range is inverted');
  query.startTimeMin = start;
  query.startTimeMax = end;
  const minD = pick(q, 'minDuration');
  if (minD) query.durationMin = parseDuration(minD, 'minDuration');
  const maxD = pick(q, 'maxDuration');
  if (maxD) query.durationMax = parseDuration(maxD, 'maxDuration');
  if (query.durationMin !== undefined && query.durationMax !== undefined && query.durationMin > query.durationMax) throw new InvalidArgumentError('maxDuration', 'must not be less than minDuration');
  const limit = pick(q, 'limit');
  // Jaeger passes limit=0 to the backend, whose answer varies (its memory store refuses it): we refuse it here
  if (limit) query.searchDepth = parseIntParam(limit, 'limit', 1, MAX_SEARCH_DEPTH);
  // no prototype: a filter on an attribute named __proto__ is a filter like any other
  const attrs: Record<string, AttrValue> = Object.create(null) as Record<string, AttrValue>;
  for (const json of q.getAll('tags')) if (json) parseAttributeJson(json, 'tags', attrs);
  for (const t of q.getAll('tag')) {
    const i = t.indexOf(':');
    if (i <= 0) throw new InvalidArgumentError('tag', `${JSON.stringify(t.slice(0, 100))} is not key:value`);
    attrs[t.slice(0, i)] = t.slice(i + 1);
  }
  if (Object.keys(attrs).length) query.attributes = attrs;
  return query;
}

/** Handles /api/* except /api/v3/*, reading as the tenant of `ctx`; returns false when the path is not one of ours. */
export async function handleClassic(reader: TraceReader, deps: DependencyReader, req: IncomingMessage, res: ServerResponse, url: URL, ctx: StorageContext): Promise<boolean> {
  const p = url.pathname.replace(/\/+$/, '');
  if (!p.startsWith('/api/') || p.startsWith('/api/v3/')) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendClassicError(res, 405, 'use GET');
    return true;
  }
  const q = url.searchParams;
  if (p === '/api/services') {
    sendJson(res, 200, envelope(await reader.getServices(ctx)));
    return true;
  }
  const opsOf = /^\/api\/services\/([^/]+)\/operations$/.exec(p);
  if (opsOf) {
    const names = [...new Set((await reader.getOperations(checkOperationQuery({ service: pathSegment(opsOf[1]!, 'service') }), ctx)).map((o) => o.name))];
    sendJson(res, 200, envelope(names));
    return true;
  }
  if (p === '/api/operations') {
    const service = pick(q, 'service');
    if (!service) throw new InvalidArgumentError('service', 'is required');
    sendJson(res, 200, envelope(await reader.getOperations(checkOperationQuery({ service, spanKind: pick(q, 'spanKind', 'span_kind') }), ctx)));
    return true;
  }
  const byId = /^\/api\/traces\/([^/]+)$/.exec(p);
  if (byId) {
    const traces = toJaegerTraces(await gather(reader.getTraces([{ traceId: traceIdOfPath(byId[1]!, 'traceID') }], ctx), ctx.signal));
    if (!traces.length) sendClassicError(res, 404, 'trace not found');
    else sendJson(res, 200, envelope(traces));
    return true;
  }
  if (p === '/api/traces') {
    const ids = q.getAll('traceID');
    if (ids.length > MAX_SEARCH_DEPTH) throw new InvalidArgumentError('traceID', `at most ${MAX_SEARCH_DEPTH} trace IDs per request (got ${ids.length})`);
    const spans = ids.length ? await gather(reader.getTraces(ids.map((id) => ({ traceId: normalizeTraceId(id, 'traceID') })), ctx), ctx.signal) : await gather(reader.findTraces(searchQuery(q), ctx), ctx.signal);
    sendJson(res, 200, envelope(toJaegerTraces(spans)));
    return true;
  }
  if (p === '/api/dependencies') {
    // milliseconds, as Jaeger UI sends them; both bounded so that the range stays within int64 nanoseconds
    const endTs = pick(q, 'endTs');
    const look = pick(q, 'lookback');
    const end = endTs ? parseEpoch(endTs, 'endTs', 1_000_000n, 'milliseconds') : BigInt(Date.now()) * 1_000_000n;
    const lookNs = look ? parseUnits(look, 'lookback', 1_000_000n, 'milliseconds') : 86_400_000_000_000n;
    const links = await deps.getDependencies({ start: end - lookNs, end }, ctx);
    sendJson(res, 200, envelope(links.map((l) => ({ parent: l.parent, child: l.child, callCount: l.callCount, ...(l.source ? { source: l.source } : {}) }))));
    return true;
  }
  sendClassicError(res, 404, `no such route ${p}`);
  return true;
}
