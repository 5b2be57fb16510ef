// Jaeger's classic HTTP API, as Jaeger UI and Grafana's Jaeger data source call it:
//   GET /api/services, /api/services/{service}/operations, /api/operations?service=&spanKind=,
//       /api/traces/{id}, /api/traces?service=&operation=&tags=&start=&end=&lookback=&minDuration=&maxDuration=&limit=,
//       /api/dependencies?endTs=&lookback=
// Envelope: { data, total, limit, offset, errors }.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AttrValue, type DependencyReader, InvalidArgumentError, type TraceQuery, type TraceReader } from '../../storage/api/index.js';
import { gather, sendJson } from './api-v3-http.js';
import { toJaegerTraces } from './jaeger-json.js';
import { parseDuration, parseIntParam, pick } from './params.js';

const envelope = (data: unknown, total = Array.isArray(data) ? data.length : 0) => ({ data, total, limit: 0, offset: 0, errors: null });

export function sendClassicError(res: ServerResponse, code: number, msg: string): void {
  sendJson(res, code, { data: null, total: 0, limit: 0, offset: 0, errors: [{ code, msg }] });
}

const US = 1000n;

/** lookback such as 1h, 30m or 2d (Jaeger UI sends hours; days are accepted too) */
function lookback(v: string, field: string): bigint {
  const d = /^(\d+)d$/.exec(v.trim());
  return d ? BigInt(d[1]!) * 86_400_000_000_000n : parseDuration(v, field);
}

function micros(v: string, field: string): bigint {
  if (!/^\d{1,20}$/.test(v.trim())) throw new InvalidArgumentError(field, `"${v}" is not a time in microseconds since the epoch`);
  return BigInt(v) * US;
}

function searchQuery(q: URLSearchParams): TraceQuery {
  const service = pick(q, 'service');
  if (!service) throw new InvalidArgumentError('service', 'is required (or ask for traceID=...)');
  const query: TraceQuery = { serviceName: service, searchDepth: 20 };
  const op = pick(q, 'operation');
  if (op) query.operationName = op;
  const end = pick(q, 'end') ? micros(q.get('end')!, 'end') : BigInt(Date.now()) * 1_000_000n;
  const start = pick(q, 'start') ? micros(q.get('start')!, 'start') : end - lookback(pick(q, 'lookback') ?? '1h', 'lookback');
  query.startTimeMin = start;
  query.startTimeMax = end;
  const minD = pick(q, 'minDuration');
  if (minD) query.durationMin = parseDuration(minD, 'minDuration');
  const maxD = pick(q, 'maxDuration');
  if (maxD) query.durationMax = parseDuration(maxD, 'maxDuration');
  const limit = pick(q, 'limit');
  if (limit) query.searchDepth = Math.max(1, parseIntParam(limit, 'limit'));
  const attrs: Record<string, AttrValue> = {};
  const json = pick(q, 'tags');
  if (json) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new InvalidArgumentError('tags', 'must be a JSON object such as {"http.status_code":"500"}');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError('tags', 'must be a JSON object');
    for (const [k, v] of Object.entries(parsed)) attrs[k] = String(v);
  }
  for (const t of q.getAll('tag')) {
    const i = t.indexOf(':');
    if (i <= 0) throw new InvalidArgumentError('tag', `"${t}" is not key:value`);
    attrs[t.slice(0, i)] = t.slice(i + 1);
  }
  if (Object.keys(attrs).length) query.attributes = attrs;
  return query;
}

/** Handles /api/* except /api/v3/*; returns false when the path is not one of ours. */
export async function handleClassic(reader: TraceReader, deps: DependencyReader, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const p = url.pathname.replace(/\/+$/, '');
  if (!p.startsWith('/api/') || p.startsWith('/api/v3/')) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendClassicError(res, 405, 'use GET');
    return true;
  }
  const q = url.searchParams;
  if (p === '/api/services') {
    sendJson(res, 200, envelope(await reader.getServices()));
    return true;
  }
  const opsOf = /^\/api\/services\/([^/]+)\/operations$/.exec(p);
  if (opsOf) {
    const names = [...new Set((await reader.getOperations({ service: decodeURIComponent(opsOf[1]!) })).map((o) => o.name))];
    sendJson(res, 200, envelope(names));
    return true;
  }
  if (p === '/api/operations') {
    const service = pick(q, 'service');
    if (!service) throw new InvalidArgumentError('service', 'is required');
    sendJson(res, 200, envelope(await reader.getOperations({ service, spanKind: pick(q, 'spanKind', 'span_kind') })));
    return true;
  }
  const byId = /^\/api\/traces\/([^/]+)$/.exec(p);
  if (byId) {
    const traces = toJaegerTraces(await gather(reader.getTraces([{ traceId: decodeURIComponent(byId[1]!) }])));
    if (!traces.length) sendClassicError(res, 404, 'trace not found');
    else sendJson(res, 200, envelope(traces));
    return true;
  }
  if (p === '/api/traces') {
    const ids = q.getAll('traceID');
    const spans = ids.length ? await gather(reader.getTraces(ids.map((traceId) => ({ traceId })))) : await gather(reader.findTraces(searchQuery(q)));
    sendJson(res, 200, envelope(toJaegerTraces(spans)));
    return true;
  }
  if (p === '/api/dependencies') {
    const endMs = pick(q, 'endTs') ? BigInt(parseIntParam(q.get('endTs')!, 'endTs')) : BigInt(Date.now());
    const lookMs = pick(q, 'lookback') ? BigInt(parseIntParam(q.get('lookback')!, 'lookback')) : 86_400_000n;
    const links = await deps.getDependencies({ start: (endMs - lookMs) * 1_000_000n, end: endMs * 1_000_000n });
    sendJson(res, 200, envelope(links.map((l) => ({ parent: l.parent, child: l.child, callCount: l.callCount, ...(l.source ? { source: l.source } : {}) }))));
    return true;
  }
  sendClassicError(res, 404, `no such route ${p}`);
  return true;
}
