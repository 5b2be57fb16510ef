// A query whose client goes away stops pulling from the storage iterables: the runtime's query listeners over a
// memory store with many chunks, read through a reader that counts the chunks pulled and takes a moment for each
// (as a remote backend would). The client disconnects early; the pulls stop and the storage iteration is closed.
import { request } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { type DependencyReader, type GetTraceParams, type StorageContext, type TraceChunk, type TraceQuery, type TraceReader, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { MemoryBackend } from '../../src/storage/memory/store.js';
import { startQueryHttp } from '../../src/runtime/query/http.js';
import { addApiV3GrpcServices } from '../../src/runtime/query/api-v3-grpc.js';
import { addRemoteStorageServices } from '../../src/runtime/remote-storage/service.js';
import { startGrpcServer } from '../../src/runtime/grpc-util.js';
import { Tenancy } from '../../src/runtime/tenancy.js';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TRACE = 'ab'.repeat(16);
const BASE = BigInt(Date.now() - 60_000) * 1_000_000n;
const SPANS = 4_000;

/** Counts the chunks pulled from the store; each pull takes 2 ms. */
class CountingReader implements TraceReader {
  pulled = 0;
  open = 0;
  closed = 0;
  contexts: StorageContext[] = [];
  constructor(private readonly inner: TraceReader) {}
  private async *count(ctx: StorageContext | undefined, it: AsyncIterable<TraceChunk[]>): AsyncIterable<TraceChunk[]> {
    this.contexts.push(ctx ?? {});
    this.open++;
    try {
      for await (const b of it) {
        await sleep(2);
        this.pulled++;
        yield b;
      }
    } finally {
      this.open--;
      this.closed++;
    }
  }
  getTraces(p: GetTraceParams[], ctx?: StorageContext) {
    return this.count(ctx, this.inner.getTraces(p, ctx));
  }
  findTraces(q: TraceQuery, ctx?: StorageContext) {
    return this.count(ctx, this.inner.findTraces(q, ctx));
  }
  findTraceIds(q: TraceQuery, ctx?: StorageContext) {
    return this.inner.findTraceIds(q, ctx);
  }
  getServices(ctx?: StorageContext) {
    return this.inner.getServices(ctx);
  }
  getOperations(q: Parameters<TraceReader['getOperations']>[0], ctx?: StorageContext) {
    return this.inner.getOperations(q, ctx);
  }
}

let backend: MemoryBackend;
beforeAll(async () => {
  // one trace of SPANS spans in chunks of 5, plus SPANS one-span traces for searches
  backend = new MemoryBackend({ maxTraces: 100_000, maxSpansPerTrace: 100_000, maxSpansPerChunk: 5 });
  const span = (traceId: string, i: number) => newSpan({ traceId, spanId: (i + 1).toString(16).padStart(16, '0'), name: 'op', startTimeUnixNano: BASE + BigInt(i), endTimeUnixNano: BASE + BigInt(i) + 1000n });
  await backend.traceWriter().writeTraces([serviceBatch('big', Array.from({ length: SPANS }, (_, i) => span(TRACE, i)))], { tenant: 'a' });
  await backend.traceWriter().writeTraces([serviceBatch('many', Array.from({ length: SPANS }, (_, i) => span((i + 1).toString(16).padStart(32, '0'), i)))], { tenant: 'a' });
});

/** Waits until `cond` holds, for at most `ms`. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
  return cond();
}

/** Sends a GET and destroys the connection after `afterMs`, before the answer can be complete. */
function abandon(port: number, path: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { 'x-tenant': 'a' } });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.end();
    setTimeout(() => req.destroy(), afterMs);
  });
}

describe('a query whose client goes away', () => {
  const tenancy = new Tenancy({ enabled: true });
  const deps: DependencyReader = { getDependencies: () => Promise.resolve([]) };

  test.each([
    ['api_v3 get-trace', `/api/v3/traces/${TRACE}`],
    ['api_v3 find-traces', `/api/v3/traces?query.service_name=many&query.start_time_min=${new Date(Date.now() - 3_600_000).toISOString()}&query.start_time_max=${new Date().toISOString()}&query.search_depth=${SPANS}`],
    ['classic get-trace', `/api/traces/${TRACE}`],
    ['classic search', `/api/traces?service=many&limit=${SPANS}&lookback=2h`],
  ])('over HTTP (%s) stops pulling from the store', async (_name, path) => {
    const reader = new CountingReader(backend.traceReader());
    const server = await startQueryHttp('127.0.0.1', 0, { reader, deps, tenancy, log });
    try {
      await abandon(server.port, path, 150);
      // without cancellation the handler would go on pulling every chunk (well over 2 s at 2 ms each)
      expect(await until(() => reader.closed === 1, 1_000)).toBe(true);
      const pulled = reader.pulled;
      await sleep(100);
      expect(reader.pulled).toBe(pulled);
      expect(pulled).toBeLessThan(SPANS / 5);
      expect(pulled).toBeGreaterThan(0);
      expect(reader.contexts[0]).toMatchObject({ tenant: 'a' });
      expect(reader.contexts[0]!.signal?.aborted).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('over HTTP, a request that completes keeps its signal unaborted', async () => {
    const reader = new CountingReader(backend.traceReader());
    const server = await startQueryHttp('127.0.0.1', 0, { reader, deps, tenancy, log });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/api/v3/traces/${'cd'.repeat(16)}`, { headers: { 'x-tenant': 'a' } });
      expect(res.status).toBe(404);
      await res.arrayBuffer();
      await sleep(20);
      expect(reader.contexts[0]!.signal?.aborted).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  // GetTraceRequest { string trace_id = 1 }
  const apiV3Req = Buffer.concat([Buffer.from([0x0a, TRACE.length]), Buffer.from(TRACE)]);
  // GetTracesRequest { repeated GetTraceParams query = 1 }, GetTraceParams { bytes trace_id = 1 }
  const params = Buffer.concat([Buffer.from([0x0a, 16]), Buffer.from(TRACE, 'hex')]);
  const storageReq = Buffer.concat([Buffer.from([0x0a, params.length]), params]);
  const grpcCases: [string, string, Buffer, (s: grpc.Server, reader: TraceReader) => void][] = [
    ['api_v3 GetTrace', '/jaeger.api_v3.QueryService/GetTrace', apiV3Req, (s, reader) => addApiV3GrpcServices(s, reader, deps, tenancy, log, () => true)],
    ['remote storage GetTraces', '/jaeger.storage.v2.TraceReader/GetTraces', storageReq, (s, reader) => addRemoteStorageServices(s, reader, deps, tenancy, log, () => true)],
  ];

  test.each(grpcCases)('over gRPC (%s) stops pulling when the call is cancelled', async (_name, path, req, setup) => {
    const reader = new CountingReader(backend.traceReader());
    const { server, port } = await startGrpcServer('127.0.0.1', 0, 1024 * 1024, (s) => setup(s, reader), log, 'query');
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const raw = (b: Buffer) => b;
      const md = new grpc.Metadata();
      md.set('x-tenant', 'a');
      const call = client.makeServerStreamRequest(path, raw, raw, req, md);
      let messages = 0;
      call.on('data', () => {
        if (++messages === 3) call.cancel();
      });
      call.on('error', () => undefined);
      expect(await until(() => reader.closed === 1, 2_000)).toBe(true);
      const pulled = reader.pulled;
      await sleep(100);
      expect(reader.pulled).toBe(pulled);
      expect(pulled).toBeLessThan(SPANS / 5);
      expect(reader.contexts[0]).toMatchObject({ tenant: 'a' });
      expect(reader.contexts[0]!.signal?.aborted).toBe(true);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
