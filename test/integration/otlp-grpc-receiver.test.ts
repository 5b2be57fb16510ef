// The OTLP/gRPC listener's own handling of the gRPC protocol (it is served on node:http2, not grpc-js), driven by a
// raw HTTP/2 client where a gRPC client would not misbehave: a declared length over the limit is answered before the
// body is sent, only bytes that arrived count against the byte budget, a message that never arrives whole times
// out and gives its bytes back, and every protocol mistake gets a gRPC status naming it; deflate and gzip requests
// from grpc-js are stored.
import { createHash } from 'node:crypto';
import { type ClientHttp2Session, type IncomingHttpHeaders, connect as h2connect } from 'node:http2';
import { deflateSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { loopbackRuntimeConfig, sumMetric } from '../helpers.js';

const LIMIT = 64 * 1024;
const BUDGET = 256 * 1024;
const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

let rt: RunningRuntime;
let session: ClientHttp2Session;

beforeAll(async () => {
  rt = await startRuntime(loopbackRuntimeConfig({ backend: { memory: {} }, ingest: { maxRequestBytes: LIMIT, maxInflightBytes: BUDGET, requestTimeoutMs: 500 } }), pino({ level: 'silent' }));
  session = h2connect(`http://127.0.0.1:${rt.ports.otlpGrpc}`);
  session.on('error', () => undefined);
});
afterAll(async () => {
  session?.destroy();
  await rt?.stop();
});

const frame = (msg: Buffer, flag = 0, declared = msg.length) => {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(declared, 1);
  return Buffer.concat([h, msg]);
};

interface Answer {
  status?: number;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  /** the gRPC status, from the trailers or a trailers-only answer */
  code?: number;
  message?: string;
}

/** Sends `chunks` (ending the stream unless `keepOpen`) and collects the answer. */
function call(chunks: Buffer[], o: { path?: string; headers?: Record<string, string>; keepOpen?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': o.path ?? EXPORT, 'content-type': 'application/grpc', te: 'trailers', ...o.headers });
    const a: Answer = { headers: {}, trailers: {}, body: Buffer.alloc(0) };
    const parts: Buffer[] = [];
    stream.on('response', (h) => {
      a.headers = h;
      a.status = Number(h[':status']);
    });
    stream.on('trailers', (t) => (a.trailers = t));
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('error', reject);
    stream.on('close', () => {
      a.body = Buffer.concat(parts);
      const s = a.trailers['grpc-status'] ?? a.headers['grpc-status'];
      if (s !== undefined) a.code = Number(s);
      const m = a.trailers['grpc-message'] ?? a.headers['grpc-message'];
      if (m !== undefined) a.message = decodeURIComponent(String(m));
      resolve(a);
    });
    for (const c of chunks) stream.write(c);
    if (!o.keepOpen) stream.end();
  });
}

const hash = (s: string, hexChars: number) => createHash('sha256').update(s).digest('hex').slice(0, hexChars);
const batch = (name: string, n = 3) =>
  encodeTracesProto([serviceBatch('receiver-test', Array.from({ length: n }, (_, i) => newSpan({ traceId: hash(`${name} ${i}`, 32), spanId: hash(`${name} span ${i}`, 16), name, startTimeUnixNano: 1_000n, endTimeUnixNano: 2_000n })))]);

const inFlight = async () => sumMetric(await (await fetch(`http://127.0.0.1:${rt.ports.admin}/metrics`)).text(), 'jso_runtime_inflight_request_bytes');

test('an export is answered OK with its reply in a message and grpc-status 0 in the trailers', async () => {
  const a = await call([frame(batch('ok'))]);
  expect(a.status).toBe(200);
  expect(a.code).toBe(grpc.status.OK);
  expect(a.body.length).toBe(5); // an empty ExportTraceServiceResponse, framed
});

test('a declared length over maxRequestBytes is refused at once, before the body is sent', async () => {
  const a = await call([frame(Buffer.alloc(0), 0, LIMIT + 1)], { keepOpen: true });
  expect(a.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  expect(a.message).toContain(`more than the limit of ${LIMIT}`);
});

test('headers promising bytes that never come hold none of the byte budget', async () => {
  const promised = Array.from({ length: 20 }, () => call([frame(Buffer.alloc(0), 0, LIMIT - 10)], { keepOpen: true }));
  await new Promise((r) => setTimeout(r, 50));
  expect((await call([frame(batch('while-promised'))])).code).toBe(grpc.status.OK);
  // they time out (requestTimeoutMs 500)
  expect((await Promise.all(promised)).every((a) => a.code === grpc.status.DEADLINE_EXCEEDED)).toBe(true);
});

test('bytes that arrived are held until the call ends: beyond the budget a call is refused with a RetryInfo, and the budget comes back whole', async () => {
  // four calls that sent all but 10 bytes of a message of nearly the limit, then stall: the budget is full
  const held = [0, 1, 2, 3].map(() => call([frame(Buffer.alloc(LIMIT - 20), 0, LIMIT - 10)], { keepOpen: true }));
  await new Promise((r) => setTimeout(r, 100));
  const refused = await call([frame(batch('refused'))]);
  expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  expect(refused.message).toMatch(/in flight.*retry/);
  expect(refused.headers['grpc-status-details-bin']).toBeDefined();
  // the held ones time out and give their bytes back
  const timedOut = await Promise.all(held);
  expect(timedOut.map((a) => a.code)).toEqual([grpc.status.DEADLINE_EXCEEDED, grpc.status.DEADLINE_EXCEEDED, grpc.status.DEADLINE_EXCEEDED, grpc.status.DEADLINE_EXCEEDED]);
  expect(timedOut[0]!.message).toContain('did not arrive whole within 500 ms');
  expect(await inFlight()).toBe(0);
  expect((await call([frame(batch('after'))])).code).toBe(grpc.status.OK);
});

test('protocol mistakes get a status naming them', async () => {
  const two = await call([frame(batch('a')), frame(batch('b'))]);
  expect(two.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(two.message).toContain('one message');

  const cut = await call([frame(batch('cut')).subarray(0, 20)]);
  expect(cut.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(cut.message).toMatch(/ended after 15 of its \d+ bytes/);

  const none = await call([]);
  expect(none.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(none.message).toContain('no message');

  const flagged = await call([frame(batch('z'), 1)]);
  expect(flagged.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(flagged.message).toContain('no grpc-encoding');

  const badDeflate = await call([frame(Buffer.from('not deflate'), 1)], { headers: { 'grpc-encoding': 'deflate' } });
  expect(badDeflate.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(badDeflate.message).toContain('cannot be inflated');

  const bomb = await call([frame(deflateSync(Buffer.alloc(LIMIT * 4)), 1)], { headers: { 'grpc-encoding': 'deflate' } });
  expect(bomb.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  expect(bomb.message).toContain('inflates to more than');

  const encoding = await call([frame(batch('br'), 1)], { headers: { 'grpc-encoding': 'br' } });
  expect(encoding.code).toBe(grpc.status.UNIMPLEMENTED);
  expect(encoding.headers['grpc-accept-encoding']).toBe('identity,deflate,gzip');

  const method = await call([frame(batch('m'))], { path: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export' });
  expect(method.code).toBe(grpc.status.UNIMPLEMENTED);
  expect(method.message).toContain('TraceService/Export');

  const type = await call([frame(batch('t'))], { headers: { 'content-type': 'application/json' } });
  expect(type.status).toBe(415);

  expect(await inFlight()).toBe(0);
});

test('grpc-js clients sending deflate and gzip are stored', async () => {
  for (const [algorithm, name] of [
    [1, 'deflated'],
    [2, 'gzipped'],
  ] as const) {
    const client = new grpc.Client(`127.0.0.1:${rt.ports.otlpGrpc}`, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': algorithm });
    const raw = (b: Buffer) => b;
    await new Promise<void>((resolve, reject) => client.makeUnaryRequest(EXPORT, raw, raw, batch(name, 5), (e) => (e ? reject(e) : resolve())));
    client.close();
    const r = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/traces?query.service_name=receiver-test&query.operation_name=${name}&query.start_time_min=1970-01-01T00:00:00Z&query.start_time_max=2100-01-01T00:00:00Z`);
    const spans = ((await r.json()) as { result: { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] } }).result.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
    expect(spans).toHaveLength(5);
  }
});
