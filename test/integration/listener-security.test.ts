// Listener security of the runtime (issue #10): TLS, mTLS and bearer tokens per listener group, against the real
// runtime on loopback with certificates made by openssl at test time. Groups here: ingest = TLS + bearer tokens,
// query = mTLS, remoteStorage = bearer tokens over plaintext, sampling = nothing (plaintext and open, as before).
import { copyFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { type TestPki, loopbackRuntimeConfig, testPki, waitFor } from '../helpers.js';

let rt: RunningRuntime;
let pki: TestPki;
let pki2: TestPki;
let tokensFile: string;
let serverCert: string;
let serverKey: string;

beforeAll(async () => {
  pki = testPki();
  pki2 = testPki(); // a second CA, for the rotation test
  tokensFile = join(pki.dir, 'tokens');
  writeFileSync(tokensFile, 'old-token\n\n  new-token  \n');
  // the runtime reads copies, so the rotation test can overwrite them
  serverCert = join(pki.dir, 'served.crt');
  serverKey = join(pki.dir, 'served.key');
  copyFileSync(pki.certFile, serverCert);
  copyFileSync(pki.keyFile, serverKey);
  const cfg = loopbackRuntimeConfig({
    backend: { memory: { maxTraces: 1000 } },
    ingest: { batchAgeMs: 5 },
    security: {
      ingest: { tls: { certFile: serverCert, keyFile: serverKey }, auth: { bearerTokenFile: tokensFile } },
      query: { tls: { certFile: pki.certFile, keyFile: pki.keyFile, clientCaFile: pki.caFile } },
      remoteStorage: { auth: { bearerTokenFile: tokensFile } },
      reloadIntervalMs: 200,
    },
  });
  rt = await startRuntime(cfg, pino({ level: 'silent' }));
}, 60_000);
afterAll(async () => rt?.stop());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface Req {
  tls?: { ca?: string; cert?: string; key?: string };
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

/** One HTTP(S) request to 127.0.0.1:port (no agent: every request has its own connection and handshake). */
function call(port: number, r: Req): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port, path: r.path, method: r.method ?? 'GET', headers: r.headers ?? {}, agent: false as const, ...(r.tls ?? {}) };
    const req = (r.tls ? httpsRequest : httpRequest)(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(r.body);
  });
}

const emptyExport = (headers: Record<string, string> = {}): Omit<Req, 'tls'> => ({ method: 'POST', path: '/v1/traces', headers: { 'Content-Type': 'application/json', ...headers }, body: Buffer.from('{}') });
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

const raw = (b: Buffer) => b;
// grpc-js sends the target's host as the TLS server name (SNI), and Node (>= 26) refuses an IP address there: a
// gRPC client of a TLS listener names it by a DNS name its certificate covers (the test certificate: localhost).
const TLS_SERVER_NAME = { 'grpc.ssl_target_name_override': 'localhost' };
/** One unary gRPC call with raw bytes to 127.0.0.1:port; resolves to the status code (0 = OK). */
function grpcCall(port: number, creds: grpc.ChannelCredentials, path: string, md: Record<string, string> = {}, body = Buffer.alloc(0)): Promise<{ code: number; details: string }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, creds, TLS_SERVER_NAME);
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, raw, raw, body, metadata, { deadline: Date.now() + 5_000 }, (err) => {
      client.close();
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' });
    });
  });
}
const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const HEALTH = '/grpc.health.v1.Health/Check';
const GET_SERVICES = '/jaeger.api_v3.QueryService/GetServices';

describe('TLS on an HTTP group (ingest: OTLP/HTTP)', () => {
  it('refuses a plaintext client; a client trusting the CA gets through (with a token)', async () => {
    await expect(call(rt.ports.otlpHttp, emptyExport(bearer('new-token')))).rejects.toThrow();
    await expect(call(rt.ports.otlpHttp, { tls: {}, ...emptyExport(bearer('new-token')) })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    const ok = await call(rt.ports.otlpHttp, { tls: { ca: pki.ca }, ...emptyExport(bearer('new-token')) });
    expect(ok.status).toBe(200);
  });
});

describe('TLS on a gRPC group (ingest: OTLP/gRPC)', () => {
  it('refuses a plaintext client; a client trusting the CA gets through (with a token)', async () => {
    const auth = { authorization: 'Bearer old-token' };
    expect((await grpcCall(rt.ports.otlpGrpc, grpc.credentials.createInsecure(), EXPORT, auth)).code).toBe(grpc.status.UNAVAILABLE);
    expect((await grpcCall(rt.ports.otlpGrpc, grpc.credentials.createSsl(Buffer.from(pki2.ca)), EXPORT, auth)).code).toBe(grpc.status.UNAVAILABLE);
    expect(await grpcCall(rt.ports.otlpGrpc, grpc.credentials.createSsl(Buffer.from(pki.ca)), EXPORT, auth)).toEqual({ code: grpc.status.OK, details: '' });
  });
});

describe('mTLS (query: clientCaFile)', () => {
  it('HTTP: refuses a client without a certificate, serves one with a certificate signed by the client CA', async () => {
    await expect(call(rt.ports.queryHttp, { tls: { ca: pki.ca }, path: '/api/services' })).rejects.toThrow();
    const ok = await call(rt.ports.queryHttp, { tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, path: '/api/services' });
    expect(ok.status).toBe(200);
    // a client certificate from another CA is refused too
    await expect(call(rt.ports.queryHttp, { tls: { ca: pki.ca, cert: pki2.clientCert, key: pki2.clientKey }, path: '/api/services' })).rejects.toThrow();
  });

  it('gRPC: refuses a client without a certificate, serves one with a certificate', async () => {
    const without = await grpcCall(rt.ports.queryGrpc, grpc.credentials.createSsl(Buffer.from(pki.ca)), GET_SERVICES);
    expect(without.code).toBe(grpc.status.UNAVAILABLE);
    const withCert = await grpcCall(rt.ports.queryGrpc, grpc.credentials.createSsl(Buffer.from(pki.ca), Buffer.from(pki.clientKey), Buffer.from(pki.clientCert)), GET_SERVICES);
    expect(withCert.code).toBe(grpc.status.OK);
  });
});

describe('bearer tokens', () => {
  const tls = () => ({ ca: pki.ca });

  it('HTTP: no token or a wrong one -> 401 with WWW-Authenticate; either listed token -> accepted', async () => {
    const none = await call(rt.ports.otlpHttp, { tls: tls(), ...emptyExport() });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer realm="jaeger-storage-ingest"$/);
    const wrong = await call(rt.ports.otlpHttp, { tls: tls(), ...emptyExport(bearer('new-token-but-longer')) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toContain('error="invalid_token"');
    expect((await call(rt.ports.otlpHttp, { tls: tls(), ...emptyExport({ Authorization: 'Basic b2xkLXRva2Vu' }) })).status).toBe(401);
    expect((await call(rt.ports.otlpHttp, { tls: tls(), ...emptyExport(bearer('old-token')) })).status).toBe(200);
    expect((await call(rt.ports.otlpHttp, { tls: tls(), ...emptyExport({ Authorization: 'bearer new-token' }) })).status).toBe(200);
  });

  it('gRPC (remote storage, plaintext): no token or a wrong one -> UNAUTHENTICATED; the right one works; health stays open', async () => {
    const plain = grpc.credentials.createInsecure();
    expect((await grpcCall(rt.ports.remoteStorage, plain, EXPORT)).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await grpcCall(rt.ports.remoteStorage, plain, EXPORT, { authorization: 'Bearer nope' })).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await grpcCall(rt.ports.remoteStorage, plain, '/jaeger.storage.v2.TraceReader/GetServices')).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await grpcCall(rt.ports.remoteStorage, plain, EXPORT, { authorization: 'Bearer new-token' })).code).toBe(grpc.status.OK);
    expect((await grpcCall(rt.ports.remoteStorage, plain, '/jaeger.storage.v2.TraceReader/GetServices', { authorization: 'Bearer old-token' })).code).toBe(grpc.status.OK);
    expect((await grpcCall(rt.ports.remoteStorage, plain, HEALTH)).code).toBe(grpc.status.OK);
  });

  it('a group without security stays plaintext and open (sampling)', async () => {
    const r = await call(rt.ports.samplingHttp, { path: '/sampling?service=x' });
    expect(r.status).toBe(200);
  });
});

/** Spans made by the SDK, then handed to `exporter` directly so its ExportResult can be seen. */
async function exportWith(exporter: SpanExporter, service: string): Promise<{ result: ExportResult; traceId: string }> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: [new SimpleSpanProcessor(memory)] });
  const span = provider.getTracer('t').startSpan('op');
  span.end();
  await provider.forceFlush();
  const spans: ReadableSpan[] = memory.getFinishedSpans();
  const result = await new Promise<ExportResult>((r) => exporter.export(spans, r));
  await exporter.shutdown();
  await provider.shutdown();
  return { result, traceId: span.spanContext().traceId };
}

const readTrace = (traceId: string) => call(rt.ports.queryHttp, { tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, path: `/api/v3/traces/${traceId}` });

describe('OpenTelemetry JS exporters with headers', () => {
  it('OTLP/HTTP over TLS: without the header FAILED, with Authorization the spans are stored', async () => {
    const url = `https://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`;
    const refused = await exportWith(new HttpExporter({ url, httpAgentOptions: { ca: pki.ca } }), 'sdk-http-refused');
    expect(refused.result.code).toBe(ExportResultCode.FAILED);
    const ok = await exportWith(new HttpExporter({ url, httpAgentOptions: { ca: pki.ca }, headers: bearer('new-token') }), 'sdk-http');
    expect(ok.result).toEqual({ code: ExportResultCode.SUCCESS });
    await waitFor('the trace is readable', async () => (await readTrace(ok.traceId)).status === 200, 10_000);
    expect((await readTrace(refused.traceId)).status).toBe(404);
  });

  it('OTLP/gRPC over TLS: without metadata FAILED, with authorization metadata the spans are stored', async () => {
    // by name, not IP (see TLS_SERVER_NAME): the exporter takes no channel options
    const url = `https://localhost:${rt.ports.otlpGrpc}`;
    const refused = await exportWith(new GrpcExporter({ url, credentials: grpc.credentials.createSsl(Buffer.from(pki.ca)) }), 'sdk-grpc-refused');
    expect(refused.result.code).toBe(ExportResultCode.FAILED);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer old-token');
    const ok = await exportWith(new GrpcExporter({ url, credentials: grpc.credentials.createSsl(Buffer.from(pki.ca)), metadata }), 'sdk-grpc');
    expect(ok.result).toEqual({ code: ExportResultCode.SUCCESS });
    await waitFor('the trace is readable', async () => (await readTrace(ok.traceId)).status === 200, 10_000);
  });
});

describe('rotation without a restart', () => {
  it('a rewritten token file and certificate take effect within the reload interval', async () => {
    writeFileSync(tokensFile, 'rotated-token\n');
    await waitFor('the old token is refused', async () => (await call(rt.ports.otlpHttp, { tls: { ca: pki.ca }, ...emptyExport(bearer('old-token')) })).status === 401, 5_000);
    expect((await call(rt.ports.otlpHttp, { tls: { ca: pki.ca }, ...emptyExport(bearer('rotated-token')) })).status).toBe(200);
    expect((await grpcCall(rt.ports.remoteStorage, grpc.credentials.createInsecure(), EXPORT, { authorization: 'Bearer rotated-token' })).code).toBe(grpc.status.OK);

    // the certificate of the second CA replaces the first
    copyFileSync(pki2.certFile, serverCert);
    copyFileSync(pki2.keyFile, serverKey);
    const ok = (ca: string) => call(rt.ports.otlpHttp, { tls: { ca }, ...emptyExport(bearer('rotated-token')) }).then((r) => r.status === 200, () => false);
    await waitFor('HTTPS presents the new certificate', async () => (await ok(pki2.ca)) && !(await ok(pki.ca)), 5_000);
    const grpcOk = async (ca: string) => (await grpcCall(rt.ports.otlpGrpc, grpc.credentials.createSsl(Buffer.from(ca)), EXPORT, { authorization: 'Bearer rotated-token' })).code === grpc.status.OK;
    await waitFor('gRPC presents the new certificate', async () => (await grpcOk(pki2.ca)) && !(await grpcOk(pki.ca)), 5_000);
  });
});

describe('bad security files', () => {
  it('stop the start with the file named: a missing token file, a key that does not match the certificate', async () => {
    const cfg = (security: Record<string, unknown>) => loopbackRuntimeConfig({ backend: { memory: {} }, security });
    await expect(startRuntime(cfg({ remoteStorage: { auth: { bearerTokenFile: join(pki.dir, 'absent') } } }), pino({ level: 'silent' }))).rejects.toThrow(/security\.remoteStorage\.auth: cannot read .*absent/);
    await expect(startRuntime(cfg({ query: { tls: { certFile: pki.certFile, keyFile: pki2.keyFile } } }), pino({ level: 'silent' }))).rejects.toThrow(/security\.query\.tls: .*tls\.crt/);
  });
});
