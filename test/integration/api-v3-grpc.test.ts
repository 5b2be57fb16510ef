// Jaeger api_v3 over gRPC (jaeger.api_v3.QueryService on the queryGrpc port), called by a generic @grpc/grpc-js
// client built by @grpc/proto-loader from the published jaeger-idl and OpenTelemetry .proto files (fetched by
// test/env/fetch-protos.sh), so the wire format is checked against the real definitions, not against our codec.
// Traces go in through the OpenTelemetry JS SDK (OTLP/HTTP protobuf) and, for the large one, OTLP/HTTP JSON.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { SpanKind as SdkSpanKind, SpanStatusCode, TraceFlags, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { type Span, serviceBatch } from '../../src/storage/api/index.js';
import { stepSpans } from '../../src/storage/testing/fixtures.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { loadService } from '../env/protos.js';
import { loopbackRuntimeConfig, waitFor } from '../helpers.js';

// TracesData as proto-loader decodes it with LOADER_OPTIONS (snake_case, int64 as strings, bytes as Buffers,
// oneof names in `value`, empty and default fields left out)
interface PAnyValue {
  value?: string;
  string_value?: string;
  int_value?: string;
  double_value?: number;
  bool_value?: boolean;
  array_value?: { values?: PAnyValue[] };
}
interface PKeyValue {
  key: string;
  value?: PAnyValue;
}
interface PSpan {
  trace_id: Buffer;
  span_id: Buffer;
  parent_span_id?: Buffer;
  name: string;
  kind?: number;
  start_time_unix_nano?: string;
  end_time_unix_nano?: string;
  attributes?: PKeyValue[];
  events?: { name: string; time_unix_nano?: string; attributes?: PKeyValue[] }[];
  links?: { trace_id: Buffer; span_id: Buffer; attributes?: PKeyValue[] }[];
  status?: { code?: number; message?: string };
}
interface PTracesData {
  resource_spans?: { resource?: { attributes?: PKeyValue[] }; scope_spans?: { scope?: { name?: string; version?: string }; spans?: PSpan[] }[] }[];
}
interface PTimestamp {
  seconds: number;
  nanos: number;
}

type UnaryMethod = (req: object, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res?: unknown) => void) => void;
type StreamMethod = (req: object, opts: grpc.CallOptions) => grpc.ClientReadableStream<PTracesData>;

let rt: RunningRuntime;
let client: grpc.Client;

beforeAll(async () => {
  const QueryService = loadService('api_v3/query_service.proto', 'jaeger.api_v3.QueryService');
  rt = await startRuntime(
    loopbackRuntimeConfig({
      backend: { memory: { maxTraces: 10_000 } },
      ingest: { batchAgeMs: 20 },
    }),
    pino({ level: 'silent' }),
  );
  client = new QueryService(`127.0.0.1:${rt.ports.queryGrpc}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await rt?.stop();
});

const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 60_000 });

function unary<T>(name: string, req: object): Promise<T> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[name]!.bind(client);
  return new Promise((resolve, reject) => fn(req, deadline(), (e, res) => (e ? reject(e) : resolve(res as T))));
}

/** every message of a server stream, or the status it failed with */
function streamed(name: string, req: object): Promise<{ messages: PTracesData[]; error?: grpc.ServiceError }> {
  const call = (client as unknown as Record<string, StreamMethod>)[name]!.call(client, req, deadline());
  const messages: PTracesData[] = [];
  return new Promise((resolve) => {
    call.on('data', (m: PTracesData) => messages.push(m));
    call.on('error', (error: grpc.ServiceError) => resolve({ messages, error }));
    call.on('end', () => resolve({ messages }));
  });
}

const spansOf = (messages: PTracesData[]): PSpan[] => messages.flatMap((m) => (m.resource_spans ?? []).flatMap((r) => (r.scope_spans ?? []).flatMap((s) => s.spans ?? [])));
const hex = (b: Buffer | undefined) => (b ? b.toString('hex') : '');
const attrs = (list: PKeyValue[] | undefined) => Object.fromEntries((list ?? []).map((a) => [a.key, a.value]));
const ts = (ms: number): PTimestamp => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

async function getTraceWhenStored(traceId: string, minSpans: number): Promise<PTracesData[]> {
  return waitFor(`trace ${traceId} with ${minSpans} span(s) over gRPC`, async () => {
    const r = await streamed('GetTrace', { trace_id: traceId });
    if (r.error && r.error.code !== grpc.status.NOT_FOUND) throw r.error;
    return spansOf(r.messages).length >= minSpans ? r.messages : undefined;
  }, 20_000, 50);
}

const SERVICE = 'checkout-grpc';
const t0 = Date.now() - 10_000;
let slowId = ''; // GET /cart failing with 503 in 250 ms
let fastId = ''; // GET /cart answering 200 in 5 ms
let otherId = ''; // another service, 503 in 300 ms
/** the span context each root span links to, by trace ID */
const linkOf = new Map<string, { traceId: string; spanId: string }>();

/** Sends one trace per entry through the OpenTelemetry JS SDK; returns their trace IDs. */
async function sendWithSdk(service: string, requests: { status: number; startMs: number; durationMs: number }[]): Promise<string[]> {
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces` });
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('checkout-lib', '4.5.6');
  const ids: string[] = [];
  for (const r of requests) {
    const linked = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
    const root = tracer.startSpan('GET /cart', {
      kind: SdkSpanKind.SERVER,
      startTime: r.startMs,
      attributes: { 'http.method': 'GET', 'http.status_code': r.status, 'cart.ratio': 0.75, 'cache.hit': true, 'cart.skus': ['a', 'b'] },
      links: [{ context: { ...linked, traceFlags: TraceFlags.SAMPLED }, attributes: { 'link.kind': 'follows' } }],
    });
    root.addEvent('cart.loaded', { 'cart.items': 3 }, r.startMs + 1);
    if (r.status >= 500) root.setStatus({ code: SpanStatusCode.ERROR, message: 'backend unavailable' });
    const child = tracer.startSpan('SELECT cart', { kind: SdkSpanKind.CLIENT, startTime: r.startMs + 1, attributes: { 'db.system': 'postgresql' } }, trace.setSpan(context.active(), root));
    child.end(r.startMs + 2);
    root.end(r.startMs + r.durationMs);
    ids.push(root.spanContext().traceId);
    linkOf.set(root.spanContext().traceId, linked);
  }
  await provider.forceFlush();
  await provider.shutdown();
  return ids;
}

describe('jaeger.api_v3.QueryService over gRPC', () => {
  beforeAll(async () => {
    const ids = await sendWithSdk(SERVICE, [
      { status: 503, startMs: t0, durationMs: 250 },
      { status: 200, startMs: t0 + 1000, durationMs: 5 },
    ]);
    [slowId, fastId] = [ids[0]!, ids[1]!];
    otherId = (await sendWithSdk('inventory-grpc', [{ status: 503, startMs: t0 + 500, durationMs: 300 }]))[0]!;
    for (const id of [slowId, fastId, otherId]) await getTraceWhenStored(id, 2);
  });

  it('GetServices lists the services', async () => {
    const r = await unary<{ services?: string[] }>('GetServices', {});
    expect(r.services).toEqual(expect.arrayContaining([SERVICE, 'inventory-grpc']));
  });

  it('GetOperations lists a service\'s operations, all kinds or one', async () => {
    const all = await unary<{ operations?: { name: string; span_kind?: string }[] }>('GetOperations', { service: SERVICE });
    expect(all.operations).toEqual([
      { name: 'GET /cart', span_kind: 'server' },
      { name: 'SELECT cart', span_kind: 'client' },
    ]);
    const server = await unary<{ operations?: { name: string; span_kind?: string }[] }>('GetOperations', { service: SERVICE, span_kind: 'server' });
    expect(server.operations).toEqual([{ name: 'GET /cart', span_kind: 'server' }]);
  });

  it('GetTrace streams the trace as TracesData: resource, scope, attributes of every type, events, links, status', async () => {
    const { messages, error } = await streamed('GetTrace', { trace_id: slowId });
    expect(error).toBeUndefined();
    for (const m of messages) {
      for (const rs of m.resource_spans ?? []) {
        expect(attrs(rs.resource?.attributes)['service.name']).toEqual({ value: 'string_value', string_value: SERVICE });
        expect(attrs(rs.resource?.attributes)['deployment.environment']).toEqual({ value: 'string_value', string_value: 'test' });
        for (const ss of rs.scope_spans ?? []) expect(ss.scope).toMatchObject({ name: 'checkout-lib', version: '4.5.6' });
      }
    }
    const spans = spansOf(messages);
    expect(spans).toHaveLength(2);
    const root = spans.find((s) => s.name === 'GET /cart')!;
    const child = spans.find((s) => s.name === 'SELECT cart')!;
    expect(hex(root.trace_id)).toBe(slowId);
    expect(root.kind).toBe(2);
    expect(child.kind).toBe(3);
    expect(hex(child.parent_span_id)).toBe(hex(root.span_id));
    expect(BigInt(root.end_time_unix_nano!) - BigInt(root.start_time_unix_nano!)).toBe(250_000_000n);
    const a = attrs(root.attributes);
    expect(a['http.method']).toEqual({ value: 'string_value', string_value: 'GET' });
    expect(a['http.status_code']).toEqual({ value: 'int_value', int_value: '503' });
    expect(a['cart.ratio']).toEqual({ value: 'double_value', double_value: 0.75 });
    expect(a['cache.hit']).toEqual({ value: 'bool_value', bool_value: true });
    expect(a['cart.skus']).toEqual({
      value: 'array_value',
      array_value: {
        values: [
          { value: 'string_value', string_value: 'a' },
          { value: 'string_value', string_value: 'b' },
        ],
      },
    });
    expect(root.events).toHaveLength(1);
    expect(root.events![0]!.name).toBe('cart.loaded');
    expect(attrs(root.events![0]!.attributes)['cart.items']).toEqual({ value: 'int_value', int_value: '3' });
    expect(root.links).toHaveLength(1);
    expect(hex(root.links![0]!.trace_id)).toBe(linkOf.get(slowId)!.traceId);
    expect(hex(root.links![0]!.span_id)).toBe(linkOf.get(slowId)!.spanId);
    expect(attrs(root.links![0]!.attributes)['link.kind']).toEqual({ value: 'string_value', string_value: 'follows' });
    expect(root.status).toEqual({ code: 2, message: 'backend unavailable' });
  });

  it('GetTrace with a time window that misses the trace, or of an unknown ID, is NOT_FOUND', async () => {
    const unknown = await streamed('GetTrace', { trace_id: 'ffffffffffffffffffffffffffff0001' });
    expect(unknown.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(unknown.messages).toEqual([]);
    const outside = await streamed('GetTrace', { trace_id: slowId, start_time: ts(t0 + 5_000), end_time: ts(t0 + 6_000) });
    expect(outside.error?.code).toBe(grpc.status.NOT_FOUND);
    const inside = await streamed('GetTrace', { trace_id: slowId, start_time: ts(t0 - 1_000), end_time: ts(t0 + 1_000) });
    expect(inside.error).toBeUndefined();
    expect(spansOf(inside.messages)).toHaveLength(2);
  });

  it('GetTrace with a malformed ID is INVALID_ARGUMENT naming trace_id', async () => {
    for (const bad of ['not-a-trace-id', '', 'f'.repeat(33)]) {
      const r = await streamed('GetTrace', { trace_id: bad });
      expect(r.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(r.error?.details).toContain('trace_id');
    }
  });

  it('FindTraces matches service, attributes, minimum duration and time window, and nothing else', async () => {
    const window = { start_time_min: ts(t0 - 60_000), start_time_max: ts(Date.now() + 1_000) };
    const find = async (query: object) => {
      const r = await streamed('FindTraces', { query: { ...window, ...query } });
      expect(r.error).toBeUndefined();
      return [...new Set(spansOf(r.messages).map((s) => hex(s.trace_id)))].sort();
    };
    expect(await find({ service_name: SERVICE, attributes: { 'http.status_code': '503' }, duration_min: { seconds: 0, nanos: 100_000_000 } })).toEqual([slowId]);
    expect(await find({ service_name: SERVICE })).toEqual([slowId, fastId].sort());
    expect(await find({ service_name: SERVICE, attributes: { 'http.status_code': '200' } })).toEqual([fastId]);
    expect(await find({ service_name: SERVICE, duration_min: { seconds: 0, nanos: 100_000_000 }, duration_max: { seconds: 0, nanos: 200_000_000 } })).toEqual([]);
    expect(await find({ service_name: SERVICE, operation_name: 'SELECT cart', search_depth: 1 })).toHaveLength(1);
    expect(await find({ attributes: { 'http.status_code': '503' } })).toEqual([slowId, otherId].sort());
    // the window excludes the slow trace (its spans start at t0)
    const later = await streamed('FindTraces', { query: { service_name: SERVICE, start_time_min: ts(t0 + 500), start_time_max: ts(Date.now() + 1_000) } });
    expect([...new Set(spansOf(later.messages).map((s) => hex(s.trace_id)))]).toEqual([fastId]);
    // each trace found comes whole
    const whole = await streamed('FindTraces', { query: { ...window, service_name: SERVICE, attributes: { 'db.system': 'postgresql' } } });
    expect(spansOf(whole.messages)).toHaveLength(4);
  });

  it('FindTraces without its time window is INVALID_ARGUMENT naming the missing field', async () => {
    const noMin = await streamed('FindTraces', { query: { service_name: SERVICE, start_time_max: ts(Date.now()) } });
    expect(noMin.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noMin.error?.details).toContain('start_time_min');
    const noMax = await streamed('FindTraces', { query: { service_name: SERVICE, start_time_min: ts(t0) } });
    expect(noMax.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noMax.error?.details).toContain('start_time_max');
    const noQuery = await streamed('FindTraces', {});
    expect(noQuery.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noQuery.error?.details).toContain('start_time_min');
  });

  it('GetOperations without a service is INVALID_ARGUMENT', async () => {
    await expect(unary('GetOperations', {})).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('service') });
  });

  it('reports SERVING on grpc.health.v1 for the server and for jaeger.api_v3.QueryService', async () => {
    const health = new grpc.Client(`127.0.0.1:${rt.ports.queryGrpc}`, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<{ code: number; body?: Buffer }>((resolve) => {
        const name = Buffer.from(service);
        const req = service ? Buffer.concat([Buffer.from([0x0a, name.length]), name]) : Buffer.alloc(0);
        health.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, req, deadline(), (e, body) => resolve({ code: e ? e.code : 0, body }));
      });
    try {
      // HealthCheckResponse { status = SERVING (1) }
      expect(await check('')).toEqual({ code: 0, body: Buffer.from([0x08, 0x01]) });
      expect(await check('jaeger.api_v3.QueryService')).toEqual({ code: 0, body: Buffer.from([0x08, 0x01]) });
      expect((await check('no.such.Service')).code).toBe(grpc.status.NOT_FOUND);
    } finally {
      health.close();
    }
  });
});

describe('a trace larger than the 4 MiB gRPC message limit', () => {
  const traceId = 'b16b16b16b16b16b16b16b16b16b1601';
  const COUNT = 30_000;

  beforeAll(async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    // the first 1,000 spans alone make a store chunk above 4 MiB, which must itself be split
    const spans: Span[] = stepSpans(traceId, COUNT, now, (i) => [
      { key: 'payload', value: (i < 1000 ? 'p' : 'q').repeat(i < 1000 ? 4500 : 150) },
      { key: 'step', value: BigInt(i) },
      { key: 'ok', value: i % 2 === 0 },
    ]);
    for (let i = 0; i < COUNT; i += 1000) {
      const body = JSON.stringify(encodeTracesJson([serviceBatch('huge-grpc', spans.slice(i, i + 1000), { name: 'bulk' })]));
      const status = await waitFor(`OTLP/HTTP part ${i / 1000} accepted`, async () => {
        const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
        await r.arrayBuffer();
        return r.status === 429 ? undefined : r.status; // queue full: retry, as OTLP clients do
      }, 30_000, 100);
      expect(status).toBe(200);
    }
    await waitFor('the large trace stored', async () => {
      let n = 0;
      for await (const b of rt.backend.traceReader().getTraces([{ traceId }])) for (const c of b) for (const r of c.resourceSpans) for (const s of r.scopeSpans) n += s.spans.length;
      return n === COUNT;
    }, 60_000, 200);
  }, 120_000);

  it('arrives whole in several stream messages, none above the client\'s default 4 MiB limit', async () => {
    const { messages, error } = await streamed('GetTrace', { trace_id: traceId });
    expect(error).toBeUndefined(); // a message above 4 MiB would fail the call with RESOURCE_EXHAUSTED
    expect(messages.length).toBeGreaterThan(1);
    const spans = spansOf(messages);
    expect(spans).toHaveLength(COUNT);
    expect(new Set(spans.map((s) => hex(s.span_id))).size).toBe(COUNT);
    for (const s of spans) expect(hex(s.trace_id)).toBe(traceId);
    const payloadBytes = spans.reduce((n, s) => n + (attrs(s.attributes)['payload']?.string_value?.length ?? 0), 0);
    expect(payloadBytes).toBeGreaterThan(4 * 1024 * 1024);
    for (const m of messages) for (const rs of m.resource_spans ?? []) expect(attrs(rs.resource?.attributes)['service.name']?.string_value).toBe('huge-grpc');
    const step = attrs(spans.find((s) => hex(s.span_id) === (12345).toString(16).padStart(16, '0'))!.attributes);
    expect(step['step']).toEqual({ value: 'int_value', int_value: '12344' });
    expect(step['ok']).toEqual({ value: 'bool_value', bool_value: true });
  }, 120_000);

  it('FindTraces returns it whole as well', async () => {
    const now = Date.now();
    const { messages, error } = await streamed('FindTraces', { query: { service_name: 'huge-grpc', start_time_min: ts(now - 600_000), start_time_max: ts(now + 600_000) } });
    expect(error).toBeUndefined();
    expect(messages.length).toBeGreaterThan(1);
    expect(new Set(spansOf(messages).map((s) => hex(s.span_id))).size).toBe(COUNT);
  }, 120_000);
});
