// Hostile input against a real runtime on loopback (memory and embedded backends): request targets that are not
// URLs, attribute values nested thousands deep, spans whose end precedes their start, names longer than any
// index key, request bodies withheld or trickled, idle connections, and a stop while a client holds a stream open.
// Each case once took the process down, lost acknowledged spans or held resources without bound.
import { connect as h2connect } from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { type Span, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { Writer } from '../../src/otlp/proto-wire.js';
import { loopbackRuntimeConfig, sumMetric } from '../helpers.js';

/** Sends raw bytes and returns the status line (or '' when the server closed without answering). */
function raw(port: number, request: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let data = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer to ${JSON.stringify(request.slice(0, 40))} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(t);
      resolve(data.split('\r\n')[0] ?? '');
    });
    s.on('error', () => undefined);
    s.write(request);
    setTimeout(() => s.end(), 200);
  });
}

let n = 0;
const span = (fields: Partial<Span> = {}): Span => {
  n++;
  const now = BigInt(Date.now()) * 1_000_000n;
  return newSpan({ traceId: (0xabc000000 + n).toString(16).padStart(32, '0'), spanId: n.toString(16).padStart(16, '0'), name: 'op', startTimeUnixNano: now, endTimeUnixNano: now + 1000n, ...fields });
};

async function storedSpans(rt: RunningRuntime, traceId: string): Promise<Span[]> {
  const out: Span[] = [];
  for await (const b of rt.backend.traceReader().getTraces([{ traceId }])) for (const c of b) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) out.push(...ss.spans);
  return out;
}

const post = (rt: RunningRuntime, body: Uint8Array | string, type = 'application/x-protobuf', headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': type, ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body) });

/** An AnyValue nested `depth` deep as OTLP/JSON text: {"kvlistValue":{"values":[{"key":"k","value":...}]}} */
const deepJson = (depth: number): string => '{"kvlistValue":{"values":[{"key":"k","value":'.repeat(depth) + '{"stringValue":"leaf"}' + '}]}}'.repeat(depth);

/** A span whose only attribute is an AnyValue nested `depth` deep, as protobuf (built inside out). */
function deepProto(s: Span, depth: number): Buffer {
  let value = new Writer().string(1, 'leaf').finish(); // AnyValue{string_value}
  for (let i = 0; i < depth; i++) {
    const kv = new Writer().string(1, 'k').bytes(2, value).finish(); // KeyValue{key, value}
    const list = new Writer().bytes(1, kv).finish(); // KeyValueList{values}
    value = new Writer().bytes(6, list).finish(); // AnyValue{kvlist_value}
  }
  const attr = new Writer().string(1, 'deep').bytes(2, value).finish();
  const spanMsg = new Writer().bytes(1, Buffer.from(s.traceId, 'hex')).bytes(2, Buffer.from(s.spanId, 'hex')).string(5, s.name).fixed64(7, s.startTimeUnixNano).fixed64(8, s.endTimeUnixNano).bytes(9, attr).finish();
  const scopeSpans = new Writer().bytes(2, spanMsg).finish();
  return new Writer().bytes(1, new Writer().bytes(2, scopeSpans).finish()).finish();
}

describe.each([['memory'], ['embedded']])('runtime on %s under hostile input', (backend) => {
  let rt: RunningRuntime;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jso-hardening-'));
    rt = await startRuntime(
      loopbackRuntimeConfig({
        backend: backend === 'memory' ? { memory: {} } : { embedded: {} },
        dataDir: dir,
        ingest: { maxInflightBytes: 4 * 1024 * 1024, maxRequestBytes: 1024 * 1024, requestTimeoutMs: 1_000, idleTimeoutMs: 1_000, ackTimeoutMs: 5_000 },
      }),
      pino({ level: 'silent' }),
    );
  });
  afterAll(async () => {
    await rt?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const alive = async () => {
    const r = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/services`);
    expect(r.status).toBe(200);
  };

  test('request targets that are not URL paths answer 400 and the runtime keeps serving', async () => {
    for (const target of ['//', '/\\', '//[', '//:99999', '//%zz', '//x:y@z']) {
      const line = await raw(rt.ports.queryHttp, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(line).toMatch(/^HTTP\/1\.1 (400|404) /);
    }
    expect(await raw(rt.ports.samplingHttp, 'GET // HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 (400|404) /);
    expect(await raw(rt.ports.samplingHttp, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 (400|404) /);
    expect(await raw(rt.ports.otlpHttp, 'POST //[ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')).toMatch(/^HTTP\/1\.1 404 /);
    expect(await raw(rt.ports.queryHttp, 'NONSENSE\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    await alive();
  });

  test('an attribute nested 5,000 deep is rejected at the door (JSON and protobuf, HTTP and gRPC); the other spans are stored', async () => {
    const good = span();
    const bad = span();
    const body = encodeTracesJson([serviceBatch('deep-json', [good, bad])]) as { resourceSpans: { scopeSpans: { spans: { attributes: unknown[] }[] }[] }[] };
    body.resourceSpans[0]!.scopeSpans[0]!.spans[1]!.attributes = [{ key: 'deep', value: 'DEEP' }];
    const r = await post(rt, JSON.stringify(body).replace('"DEEP"', deepJson(5_000)), 'application/json');
    expect(r.status).toBe(200);
    const out = (await r.json()) as { partialSuccess?: { rejectedSpans: string; errorMessage: string } };
    expect(out.partialSuccess?.rejectedSpans).toBe('1');
    expect(out.partialSuccess?.errorMessage).toMatch(/nested deeper than 32 levels/);
    expect(await storedSpans(rt, good.traceId)).toHaveLength(1);
    expect(await storedSpans(rt, bad.traceId)).toHaveLength(0);

    const p = span();
    const rp = await post(rt, deepProto(p, 5_000));
    expect(rp.status).toBe(200);
    expect(Buffer.from(await rp.arrayBuffer()).toString('latin1')).toContain('nested deeper than 32 levels');
    expect(await storedSpans(rt, p.traceId)).toHaveLength(0);

    // 31 levels is within the bound and reads back
    const ok = span();
    expect((await post(rt, deepProto(ok, 30))).status).toBe(200);
    expect(await storedSpans(rt, ok.traceId)).toHaveLength(1);

    const client = new grpc.Client(`127.0.0.1:${rt.ports.otlpGrpc}`, grpc.credentials.createInsecure());
    const g = span();
    const reply = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, deepProto(g, 5_000), (e, v) => (e ? reject(e) : resolve(v!))),
    );
    client.close();
    expect(reply.toString('latin1')).toContain('nested deeper than 32 levels');
    await alive();
  });

  test("a span ending before it starts is rejected at the door and costs no other client's spans", async () => {
    const others = Array.from({ length: 30 }, () => span());
    const bad = span();
    bad.endTimeUnixNano = bad.startTimeUnixNano - 5n;
    const badBody = JSON.stringify(encodeTracesJson([serviceBatch('clock-skew', [bad])]));
    const results = await Promise.all([
      post(rt, badBody, 'application/json'),
      ...others.map((s) => post(rt, JSON.stringify(encodeTracesJson([serviceBatch('other-client', [s])])), 'application/json')),
    ]);
    const first = (await results[0]!.json()) as { partialSuccess?: { rejectedSpans: string; errorMessage: string } };
    expect(first.partialSuccess?.rejectedSpans).toBe('1');
    expect(first.partialSuccess?.errorMessage).toMatch(/endTimeUnixNano: is before startTimeUnixNano/);
    for (const r of results.slice(1)) expect(r.status).toBe(200);
    for (const s of others) expect(await storedSpans(rt, s.traceId)).toHaveLength(1);
  });

  test('names far longer than an index key are stored and found whole, and later spans still flow', async () => {
    const longService = `svc-${'s'.repeat(3_000)}`;
    const longName = `op-${'o'.repeat(3_000)}`;
    const longKey = `key-${'k'.repeat(3_000)}`;
    const s = span({ name: longName, attributes: [{ key: longKey, value: 'v' }] });
    const r = await post(rt, encodeTracesProto([serviceBatch(longService, [s])]));
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).length).toBe(0); // no partial_success
    const stored = await storedSpans(rt, s.traceId);
    expect(stored).toHaveLength(1); // exactly one copy
    expect(stored[0]!.name).toBe(longName);
    const reader = rt.backend.traceReader();
    expect(await reader.getServices()).toContain(longService);
    expect((await reader.getOperations({ service: longService })).map((o) => o.name)).toEqual([longName]);
    const found: string[] = [];
    for await (const b of reader.findTraceIds({ serviceName: longService, operationName: longName, attributes: { [longKey]: 'v' }, startTimeMin: s.startTimeUnixNano - 1_000_000_000n, startTimeMax: s.startTimeUnixNano + 1_000_000_000n, searchDepth: 10 }))
      found.push(...b.map((f) => f.traceId));
    expect(found).toEqual([s.traceId]);
    const later = span();
    expect((await post(rt, encodeTracesProto([serviceBatch('later', [later])]))).status).toBe(200);
    expect(await storedSpans(rt, later.traceId)).toHaveLength(1);
  });

  test('request bytes in flight are bounded: bodies withheld by slow clients get 429 beyond the budget, and the budget comes back', async () => {
    // 12 uploads announcing 1 MiB and sending 900 KiB, then stalling: 4 MiB budget
    const stalled = Array.from({ length: 12 }, () => {
      const s = connect(rt.ports.otlpHttp, '127.0.0.1');
      let answer = '';
      s.on('data', (d) => (answer += d.toString('latin1')));
      s.on('error', () => undefined);
      s.write(`POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${1024 * 1024 - 1}\r\n\r\n`);
      s.write(Buffer.alloc(900 * 1024, 0x0a));
      return { s, answer: () => answer };
    });
    await new Promise((r) => setTimeout(r, 500));
    const refused = stalled.filter((x) => x.answer().startsWith('HTTP/1.1 429')).length;
    expect(refused).toBeGreaterThanOrEqual(7);
    // the trickling ones are cut by the request timeout (1 s here), which hands their bytes back
    await new Promise((r) => setTimeout(r, 2_000));
    for (const x of stalled) x.s.destroy();
    const s = span();
    expect((await post(rt, encodeTracesProto([serviceBatch('after-stall', [s])]))).status).toBe(200);
    // gzip bodies are counted inflated: a small body that inflates past the request limit is refused with 413
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024, 0));
    const rb = await post(rt, bomb, 'application/x-protobuf', { 'Content-Encoding': 'gzip' });
    expect(rb.status).toBe(413);
  });

  test('a body trickled one byte at a time is cut off by the request timeout', async () => {
    const started = Date.now();
    const line = await new Promise<string>((resolve) => {
      const s = connect(rt.ports.otlpHttp, '127.0.0.1');
      let data = '';
      s.on('data', (d) => (data += d.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearInterval(t);
        resolve(data.split('\r\n')[0] ?? '');
      });
      s.write('POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n');
      const t = setInterval(() => s.writable && s.write('\n'), 200);
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(line === '' || /^HTTP\/1\.1 (400|408) /.test(line)).toBe(true);
  });

  test('exports what the backend holds as metrics (memory: spans, bytes, bounds)', async () => {
    const text = await rt.registry.metrics();
    if (backend === 'memory') {
      expect(sumMetric(text, 'jso_runtime_memory_spans')).toBeGreaterThan(0);
      expect(sumMetric(text, 'jso_runtime_memory_bytes')).toBeGreaterThan(0);
      expect(text).toContain('jso_runtime_memory_traces_evicted_total');
    } else expect(text).not.toContain('jso_runtime_memory_spans');
  });

  test('an idle OTLP/gRPC connection is closed by the server', async () => {
    const session = h2connect(`http://127.0.0.1:${rt.ports.otlpGrpc}`);
    session.on('error', () => undefined);
    const started = Date.now();
    await new Promise<void>((resolve) => session.once('close', () => resolve()));
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

test('stop finishes on time even while a client holds an OTLP/gRPC stream open', async () => {
  const rt = await startRuntime(loopbackRuntimeConfig({ backend: { memory: {} } }), pino({ level: 'silent' }));
  const session = h2connect(`http://127.0.0.1:${rt.ports.otlpGrpc}`);
  session.on('error', () => undefined);
  const stream = session.request({ ':method': 'POST', ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  stream.write(Buffer.from([0, 0, 0, 0, 10])); // a message header promising 10 bytes that never come
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  await rt.stop();
  expect(Date.now() - started).toBeLessThan(12_000);
  session.destroy();
});
