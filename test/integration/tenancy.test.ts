// Tenancy (Jaeger's x-tenant) against a real runtime on loopback, memory backend, tenants [a, b]: spans sent as one
// tenant over OTLP/HTTP, OTLP/gRPC and the remote-storage Export are seen by that tenant only, on every query surface
// (classic HTTP, api_v3 HTTP and gRPC, jaeger.storage.v2); a missing or unknown tenant is refused before anything is
// read or written; a backend that does not keep tenants apart refuses to start with tenancy on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { ConfigError, parseRuntimeConfig } from '../../src/api/runtime-config.js';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { type Span, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { Writer } from '../../src/otlp/proto-wire.js';
import { validateSpec } from '../../src/api/crds.js';
import { renderRuntimeConfig } from '../../src/reconcilers/tracestore/desired.js';
import { PLUGINS } from '../../src/storage/plugins.js';
import { memoryStore, loopbackRuntimeConfig } from '../helpers.js';

const raw = (b: Buffer): Buffer => b;
const log = pino({ level: 'silent' });

let n = 0;
const span = (): Span => {
  n++;
  const now = BigInt(Date.now()) * 1_000_000n;
  return newSpan({ traceId: (0x7e0000000 + n).toString(16).padStart(32, '0'), spanId: n.toString(16).padStart(16, '0'), name: 'op', startTimeUnixNano: now - 1_000_000n, endTimeUnixNano: now });
};
const otlp = (service: string, s: Span): Buffer => encodeTracesProto([serviceBatch(service, [s])]);

const md = (tenant?: string): grpc.Metadata => {
  const m = new grpc.Metadata();
  if (tenant !== undefined) m.set('x-tenant', tenant);
  return m;
};

type Result = { code: number; details: string; messages: Buffer[] };

function unary(client: grpc.Client, path: string, msg: Buffer, tenant?: string): Promise<Result> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(path, raw, raw, msg, md(tenant), { deadline: Date.now() + 10_000 }, (e: grpc.ServiceError | null, v?: Buffer) =>
      resolve(e ? { code: e.code, details: e.details, messages: [] } : { code: 0, details: '', messages: v ? [v] : [] }),
    ),
  );
}

function stream(client: grpc.Client, path: string, msg: Buffer, tenant?: string): Promise<Result> {
  return new Promise((resolve) => {
    const messages: Buffer[] = [];
    const call = client.makeServerStreamRequest(path, raw, raw, msg, md(tenant), { deadline: Date.now() + 10_000 });
    call.on('data', (b: Buffer) => messages.push(b));
    call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details, messages }));
    call.on('end', () => resolve({ code: 0, details: '', messages }));
  });
}

const has = (r: Result, text: string): boolean => r.messages.some((b) => b.toString('latin1').includes(text));

describe('tenancy on the memory backend', () => {
  let rt: RunningRuntime;
  let otlpClient: grpc.Client;
  let queryClient: grpc.Client;
  let remoteClient: grpc.Client;
  const sent: Record<'http' | 'grpc' | 'remote', Span> = { http: span(), grpc: span(), remote: span() };
  const http = (port: number, path: string, tenant?: string) => fetch(`http://127.0.0.1:${port}${path}`, { headers: tenant === undefined ? {} : { 'x-tenant': tenant } });
  const postOtlp = (body: Buffer, tenant?: string) =>
    fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf', ...(tenant === undefined ? {} : { 'X-Tenant': tenant }) }, body: new Uint8Array(body) });
  const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

  beforeAll(async () => {
    rt = await startRuntime(loopbackRuntimeConfig({ backend: { memory: {} }, tenancy: { enabled: true, tenants: ['a', 'b'] } }), log);
    otlpClient = new grpc.Client(`127.0.0.1:${rt.ports.otlpGrpc}`, grpc.credentials.createInsecure());
    queryClient = new grpc.Client(`127.0.0.1:${rt.ports.queryGrpc}`, grpc.credentials.createInsecure());
    remoteClient = new grpc.Client(`127.0.0.1:${rt.ports.remoteStorage}`, grpc.credentials.createInsecure());
    // one span per ingest path, all as tenant a
    expect((await postOtlp(otlp('svc-http', sent.http), 'a')).status).toBe(200);
    expect(await unary(otlpClient, EXPORT, otlp('svc-grpc', sent.grpc), 'a')).toMatchObject({ code: 0 });
    expect(await unary(remoteClient, EXPORT, otlp('svc-remote', sent.remote), 'a')).toMatchObject({ code: 0 });
  });
  afterAll(async () => {
    for (const c of [otlpClient, queryClient, remoteClient]) c?.close();
    await rt?.stop();
  });

  test('the spans are stored as tenant a, not in the default tenant or as b', async () => {
    const services = async (tenant?: string) => rt.backend.traceReader().getServices(tenant === undefined ? {} : { tenant });
    expect(await services('a')).toEqual(['svc-grpc', 'svc-http', 'svc-remote']);
    expect(await services('b')).toEqual([]);
    expect(await services()).toEqual([]);
  });

  test('classic HTTP API: visible as a, not as b', async () => {
    const services = async (tenant: string) => ((await (await http(rt.ports.queryHttp, '/api/services', tenant)).json()) as { data: string[] }).data;
    expect(await services('a')).toEqual(['svc-grpc', 'svc-http', 'svc-remote']);
    expect(await services('b')).toEqual([]);
    const trace = (tenant: string) => http(rt.ports.queryHttp, `/api/traces/${sent.http.traceId}`, tenant);
    expect((await trace('a')).status).toBe(200);
    expect((await trace('b')).status).toBe(404);
    const search = async (tenant: string) => ((await (await http(rt.ports.queryHttp, '/api/traces?service=svc-grpc&lookback=1h', tenant)).json()) as { data: unknown[] }).data;
    expect(await search('a')).toHaveLength(1);
    expect(await search('b')).toHaveLength(0);
    expect((await http(rt.ports.queryHttp, '/api/dependencies', 'b')).status).toBe(200);
  });

  test('api_v3 HTTP: visible as a, not as b', async () => {
    const services = async (tenant: string) => ((await (await http(rt.ports.queryHttp, '/api/v3/services', tenant)).json()) as { services: string[] }).services;
    expect(await services('a')).toEqual(['svc-grpc', 'svc-http', 'svc-remote']);
    expect(await services('b')).toEqual([]);
    const trace = (tenant: string) => http(rt.ports.queryHttp, `/api/v3/traces/${sent.grpc.traceId}`, tenant);
    expect((await trace('a')).status).toBe(200);
    expect((await trace('b')).status).toBe(404);
  });

  test('api_v3 gRPC: visible as a, not as b', async () => {
    const P = '/jaeger.api_v3.QueryService/';
    const services = (tenant: string) => unary(queryClient, `${P}GetServices`, Buffer.alloc(0), tenant);
    expect(has(await services('a'), 'svc-remote')).toBe(true);
    expect(has(await services('b'), 'svc-remote')).toBe(false);
    const get = new Writer().string(1, sent.remote.traceId).finish();
    const a = await stream(queryClient, `${P}GetTrace`, get, 'a');
    expect(a.code).toBe(0);
    expect(a.messages.length).toBeGreaterThan(0);
    expect(await stream(queryClient, `${P}GetTrace`, get, 'b')).toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  test('remote storage (jaeger.storage.v2): visible as a, not as b', async () => {
    const P = '/jaeger.storage.v2.TraceReader/';
    expect(has(await unary(remoteClient, `${P}GetServices`, Buffer.alloc(0), 'a'), 'svc-http')).toBe(true);
    expect(has(await unary(remoteClient, `${P}GetServices`, Buffer.alloc(0), 'b'), 'svc-http')).toBe(false);
    const get = new Writer().bytes(1, new Writer().bytes(1, Buffer.from(sent.http.traceId, 'hex')).finish()).finish();
    expect((await stream(remoteClient, `${P}GetTraces`, get, 'a')).messages.length).toBeGreaterThan(0);
    expect(await stream(remoteClient, `${P}GetTraces`, get, 'b')).toEqual({ code: 0, details: '', messages: [] });
    expect(await unary(remoteClient, '/jaeger.storage.v2.DependencyReader/GetDependencies', Buffer.alloc(0), 'b')).toMatchObject({ code: 0 });
  });

  test('a missing tenant is refused everywhere: 401 naming the header, UNAUTHENTICATED', async () => {
    const before = await rt.backend.traceReader().getServices({ tenant: 'a' });
    for (const r of [await postOtlp(otlp('svc-anon', span())), await http(rt.ports.queryHttp, '/api/services'), await http(rt.ports.queryHttp, '/api/v3/services')]) {
      expect(r.status).toBe(401);
      expect(await r.text()).toContain('x-tenant');
    }
    const refused = { code: grpc.status.UNAUTHENTICATED, details: expect.stringContaining('missing tenant header x-tenant') as unknown };
    expect(await unary(otlpClient, EXPORT, otlp('svc-anon', span()))).toMatchObject(refused);
    expect(await unary(remoteClient, EXPORT, otlp('svc-anon', span()))).toMatchObject(refused);
    expect(await unary(queryClient, '/jaeger.api_v3.QueryService/GetServices', Buffer.alloc(0))).toMatchObject(refused);
    expect(await stream(queryClient, '/jaeger.api_v3.QueryService/GetTrace', new Writer().string(1, sent.http.traceId).finish())).toMatchObject(refused);
    expect(await unary(remoteClient, '/jaeger.storage.v2.TraceReader/GetServices', Buffer.alloc(0))).toMatchObject(refused);
    expect(await stream(remoteClient, '/jaeger.storage.v2.TraceReader/FindTraces', Buffer.alloc(0))).toMatchObject(refused);
    expect(await unary(remoteClient, '/jaeger.storage.v2.DependencyReader/GetDependencies', Buffer.alloc(0))).toMatchObject(refused);
    // an empty value is no tenant
    expect((await http(rt.ports.queryHttp, '/api/services', '')).status).toBe(401);
    expect(await rt.backend.traceReader().getServices({ tenant: 'a' })).toEqual(before);
    expect(await rt.backend.traceReader().getServices()).toEqual([]);
  });

  test('an unknown tenant is refused: 401, UNAUTHENTICATED', async () => {
    const r = await postOtlp(otlp('svc-c', span()), 'c');
    expect(r.status).toBe(401);
    expect((await http(rt.ports.queryHttp, '/api/traces?service=svc-http', 'c')).status).toBe(401);
    expect((await http(rt.ports.queryHttp, '/api/v3/services', 'c')).status).toBe(401);
    const refused = { code: grpc.status.UNAUTHENTICATED, details: expect.stringContaining('unknown tenant') as unknown };
    expect(await unary(otlpClient, EXPORT, otlp('svc-c', span()), 'c')).toMatchObject(refused);
    expect(await unary(queryClient, '/jaeger.api_v3.QueryService/GetServices', Buffer.alloc(0), 'c')).toMatchObject(refused);
    expect(await unary(remoteClient, '/jaeger.storage.v2.TraceReader/GetServices', Buffer.alloc(0), 'c')).toMatchObject(refused);
    expect(await rt.backend.traceReader().getServices({ tenant: 'c' })).toEqual([]);
  });

  test('sampling is not tenanted', async () => {
    expect((await http(rt.ports.samplingHttp, '/sampling?service=svc-http')).status).toBe(200);
  });
});

test('tenancy off: no header needed, the default tenant', async () => {
  const rt = await startRuntime(loopbackRuntimeConfig({ backend: { memory: {} } }), log);
  try {
    const s = span();
    const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf', 'x-tenant': 'a' }, body: new Uint8Array(otlp('svc-default', s)) });
    expect(r.status).toBe(200);
    expect(await rt.backend.traceReader().getServices()).toEqual(['svc-default']);
    expect((await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/traces/${s.traceId}`)).status).toBe(200);
  } finally {
    await rt.stop();
  }
});

test('a backend without tenancy refuses to start with tenancy enabled, naming the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-tenancy-'));
  try {
    const start = startRuntime(loopbackRuntimeConfig({ backend: { embedded: {} }, dataDir: dir, tenancy: { enabled: true } }), log);
    await expect(start).rejects.toThrow(ConfigError);
    await expect(start).rejects.toThrow(/config\.tenancy\.enabled: the embedded backend does not keep tenants apart/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the tenancy section is validated: a header that is not a header name', () => {
  expect(() => loopbackRuntimeConfig({ backend: { memory: {} }, tenancy: { enabled: true, header: 'x tenant' } })).toThrow(/config\.tenancy\.header/);
});

test('the operator renders spec.tenancy into the runtime config, and nothing when it is unset', () => {
  const plain = memoryStore('t', 'ns');
  expect(renderRuntimeConfig(plain, PLUGINS)).not.toHaveProperty('tenancy');
  const ts = { ...plain, spec: { ...plain.spec, tenancy: { enabled: true, tenants: ['a', 'b'] } } };
  const cfg = parseRuntimeConfig(renderRuntimeConfig(ts, PLUGINS));
  expect(cfg.tenancy).toEqual({ enabled: true, header: 'x-tenant', tenants: ['a', 'b'] });
  expect(validateSpec('TraceStore', ts.spec)).toEqual([]);
  expect(validateSpec('TraceStore', { backend: { embedded: {} }, tenancy: { enabled: false } })).toEqual([]);
  expect(validateSpec('TraceStore', { backend: { embedded: {} }, tenancy: { enabled: true } })).toEqual([{ field: 'spec.tenancy.enabled', message: expect.stringContaining('spec.backend.memory') as unknown }]);
});
