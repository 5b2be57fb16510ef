// The runtime with real OpenTelemetry JS SDK exporters (OTLP HTTP/JSON, HTTP/protobuf and gRPC): a trace sent
// by the SDK comes back intact through api_v3; bad input gets clear 4xx answers and costs nothing accepted.
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { gzipSync } from 'node:zlib';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { loopbackRuntimeConfig } from '../helpers.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { decodeTracesJson } from '../../src/otlp/otlp-json.js';

let rt: RunningRuntime;

beforeAll(async () => {
  const cfg = loopbackRuntimeConfig({
    backend: { memory: { maxTraces: 10_000 } },
    // every protobuf request is checked on a decode thread
    ingest: { maxRequestBytes: 64 * 1024, batchAgeMs: 20, decodeThreads: 1, decodeThreadMinBytes: 0 },
  });
  rt = await startRuntime(cfg, pino({ level: 'silent' }));
});
afterAll(async () => rt?.stop());

const q = (path: string) => fetch(`http://127.0.0.1:${rt.ports.queryHttp}${path}`);

interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  events: { name: string; attributes: { key: string; value: Record<string, unknown> }[] }[];
  links: { traceId: string; spanId: string; attributes: { key: string; value: Record<string, unknown> }[] }[];
  status: { code: number; message: string };
}
interface JsonTraces {
  resourceSpans: { resource: { attributes: { key: string; value: Record<string, unknown> }[] }; scopeSpans: { scope: { name: string; version: string }; spans: JsonSpan[] }[] }[];
}

const spansOf = (t: JsonTraces) => t.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));

/** The trace once it has at least `minSpans` spans (spans of one trace may arrive in separate exports). */
async function getTrace(traceId: string, minSpans = 1, timeoutMs = 10_000): Promise<JsonTraces> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await q(`/api/v3/traces/${traceId}`);
    if (r.status === 200) {
      const t = ((await r.json()) as { result: JsonTraces }).result;
      if (spansOf(t).length >= minSpans) return t;
    }
    if (Date.now() > deadline) throw new Error(`trace ${traceId} not readable with ${minSpans} span(s)`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const attrs = (list: { key: string; value: Record<string, unknown> }[]) => Object.fromEntries(list.map((a) => [a.key, a.value]));

async function sendWithSdk(exporter: SpanExporter, service: string): Promise<{ traceId: string; linked: { traceId: string; spanId: string } }> {
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('checkout-lib', '4.5.6');
  const other = tracer.startSpan('earlier');
  other.end();
  const linked = { traceId: other.spanContext().traceId, spanId: other.spanContext().spanId };
  const root = tracer.startSpan('GET /cart', {
    kind: SpanKind.SERVER,
    attributes: { 'http.method': 'GET', 'http.status_code': 503, 'cart.ratio': 0.75, 'cache.hit': true, 'cart.skus': ['a', 'b'], 'cart.sizes': [1, 2, 3] },
    links: [{ context: other.spanContext(), attributes: { 'link.kind': 'follows' } }],
  });
  root.addEvent('cart.loaded', { 'cart.items': 3 });
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'backend unavailable' });
  const child = tracer.startSpan('SELECT cart', { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql' } }, trace.setSpan(context.active(), root));
  child.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  return { traceId: root.spanContext().traceId, linked };
}

describe.each([
  ['OTLP/HTTP JSON', () => new HttpJsonExporter({ url: `http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces` })],
  ['OTLP/HTTP protobuf', () => new HttpProtoExporter({ url: `http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces` })],
  ['OTLP/gRPC', () => new GrpcExporter({ url: `http://127.0.0.1:${rt.ports.otlpGrpc}` })],
])('OpenTelemetry JS SDK over %s', (name, makeExporter) => {
  it('round-trips attributes of every type, events, links, status, kind, resource and scope', async () => {
    const service = `sdk-${name.replace(/[^a-z]/gi, '').toLowerCase()}`;
    const { traceId, linked } = await sendWithSdk(makeExporter(), service);
    const t = await getTrace(traceId, 2);
    for (const rs of t.resourceSpans) {
      expect(attrs(rs.resource.attributes)['service.name']).toEqual({ stringValue: service });
      expect(attrs(rs.resource.attributes)['deployment.environment']).toEqual({ stringValue: 'test' });
      for (const ss of rs.scopeSpans) expect(ss.scope).toMatchObject({ name: 'checkout-lib', version: '4.5.6' });
    }
    const spans = spansOf(t);
    expect(spans).toHaveLength(2);
    const root = spans.find((s) => s.name === 'GET /cart')!;
    const child = spans.find((s) => s.name === 'SELECT cart')!;
    expect(root.kind).toBe(2);
    expect(child.kind).toBe(3);
    expect(child.parentSpanId).toBe(root.spanId);
    const a = attrs(root.attributes);
    expect(a['http.method']).toEqual({ stringValue: 'GET' });
    expect(a['http.status_code']).toEqual({ intValue: '503' });
    expect(a['cart.ratio']).toEqual({ doubleValue: 0.75 });
    expect(a['cache.hit']).toEqual({ boolValue: true });
    expect(a['cart.skus']).toEqual({ arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } });
    expect(a['cart.sizes']).toEqual({ arrayValue: { values: [{ intValue: '1' }, { intValue: '2' }, { intValue: '3' }] } });
    expect(root.events[0]!.name).toBe('cart.loaded');
    expect(attrs(root.events[0]!.attributes)['cart.items']).toEqual({ intValue: '3' });
    expect(root.links[0]).toMatchObject({ traceId: linked.traceId, spanId: linked.spanId });
    expect(attrs(root.links[0]!.attributes)['link.kind']).toEqual({ stringValue: 'follows' });
    expect(root.status).toEqual({ code: 2, message: 'backend unavailable' });

    const services = (await (await q('/api/v3/services')).json()) as { services: string[] };
    expect(services.services).toContain(service);
    const ops = (await (await q(`/api/v3/operations?service=${service}&span_kind=server`)).json()) as { operations: { name: string }[] };
    expect(ops.operations).toEqual([{ name: 'GET /cart', spanKind: 'server' }]);
    const now = new Date();
    const found = (await (await q(
      `/api/v3/traces?query.service_name=${service}&query.start_time_min=${new Date(now.getTime() - 60_000).toISOString()}&query.start_time_max=${now.toISOString()}&query.attributes=${encodeURIComponent(JSON.stringify({ 'http.status_code': '503' }))}`,
    )).json()) as { result: JsonTraces };
    expect(spansOf(found.result).map((x) => x.traceId)).toContain(traceId);
  });
});

describe('bad input', () => {
  const post = (body: Buffer | string, type: string, extra: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': type, ...extra }, body: typeof body === 'string' ? body : new Uint8Array(body) });
  const valid = () => encodeTracesProto(decodeTracesJson({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bad-input-check' } }] }, scopeSpans: [{ spans: [{ traceId: 'feedbeef000000000000000000000001', spanId: 'feedbeef00000001', name: 'ok', startTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n), endTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n + 1000n) }] }] }] }));

  it('answers truncated and garbage protobuf with 400 naming the problem', async () => {
    const bytes = valid();
    for (const body of [bytes.subarray(0, bytes.length - 3), Buffer.from('definitely not protobuf')]) {
      const r = await post(body, 'application/x-protobuf');
      expect(r.status).toBe(400);
      expect(Buffer.from(await r.arrayBuffer()).toString('latin1')).toContain('malformed protobuf');
    }
  });
  it('answers a wrong content type with 415 and malformed JSON with 400', async () => {
    expect((await post('x', 'text/plain')).status).toBe(415);
    const r = await post('{"resourceSpans": [', 'application/json');
    expect(r.status).toBe(400);
    expect(((await r.json()) as { message: string }).message).toContain('not valid JSON');
  });
  it('answers an oversized body with 413, also when it only grows past the limit after gunzip', async () => {
    expect((await post(Buffer.alloc(70 * 1024, 1), 'application/x-protobuf')).status).toBe(413);
    expect((await post(gzipSync(Buffer.alloc(1024 * 1024)), 'application/x-protobuf', { 'Content-Encoding': 'gzip' })).status).toBe(413);
  });
  it('accepts gzip and ignores unknown JSON fields', async () => {
    expect((await post(gzipSync(valid()), 'application/x-protobuf', { 'Content-Encoding': 'gzip' })).status).toBe(200);
    const r = await post(JSON.stringify({ resourceSpans: [], somethingNew: 1 }), 'application/json');
    expect(r.status).toBe(200);
  });
  it('answers partial_success for spans with invalid IDs and keeps the rest', async () => {
    const body = JSON.stringify({
      resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'partial' } }] }, scopeSpans: [{ spans: [{ traceId: 'feedbeef000000000000000000000002', spanId: 'feedbeef00000002', name: 'kept', startTimeUnixNano: '1', endTimeUnixNano: '2' }, { traceId: 'nope', spanId: 'feedbeef00000003', name: 'rejected' }] }] }],
    });
    const r = await post(body, 'application/json');
    expect(r.status).toBe(200);
    const j = (await r.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(j.partialSuccess.rejectedSpans).toBe('1');
    expect(j.partialSuccess.errorMessage).toContain('traceId');
    expect(spansOf(await getTrace('feedbeef000000000000000000000002')).map((s) => s.name)).toEqual(['kept']);
  });
  it('answers invalid query input with 400 naming the parameter, and keeps serving', async () => {
    const r1 = await q('/api/v3/traces/not-a-trace-id');
    expect(r1.status).toBe(400);
    expect(((await r1.json()) as { error: { message: string } }).error.message).toContain('not a trace ID');
    const r2 = await q('/api/v3/traces?query.service_name=x&query.start_time_min=yesterday&query.start_time_max=2026-01-01T00:00:00Z');
    expect(r2.status).toBe(400);
    expect(((await r2.json()) as { error: { message: string } }).error.message).toContain('query.start_time_min');
    const r3 = await q('/api/v3/traces?query.service_name=x&query.start_time_min=2026-01-01T00:00:00Z&query.start_time_max=2026-01-02T00:00:00Z&query.duration_min=-5s');
    expect(r3.status).toBe(400);
    expect((await q('/api/v3/traces/00000000000000000000000000000abc')).status).toBe(404);
    expect((await post(valid(), 'application/x-protobuf')).status).toBe(200);
    expect((await getTrace('feedbeef000000000000000000000001')).resourceSpans.length).toBeGreaterThan(0);
  });
});
