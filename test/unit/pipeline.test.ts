// The ingest pipeline's acknowledgement contract, against scripted backends: an answer only after the commit, a
// bad span isolated without costing other requests' spans, bounded retries with a dead-letter count, and a full
// backend refusing new work; backpressure as the receivers answer it (429 / RESOURCE_EXHAUSTED); the stages the
// pipeline is built with; and the runtime as a whole refusing to half-start.
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { IngestPipeline, type PipelineOptions, type Submission, type WriteOutcome, splitBatch } from '../../src/runtime/pipeline.js';
import { InvalidArgumentError, ResourceExhaustedError, type ResourceSpans, type Span, type StorageContext, UnavailableError, newSpan, serviceBatch, spanCount } from '../../src/storage/api/index.js';
import { listenAll, parseRuntimeConfig } from '../../src/api/runtime-config.js';
import type { IngestStage } from '../../src/runtime/consumer.js';
import { startGrpcServer } from '../../src/runtime/grpc-util.js';
import { ByteBudget } from '../../src/runtime/receivers/budget.js';
import { DecodePool } from '../../src/runtime/receivers/decode-pool.js';
import type { ReceiverDeps } from '../../src/runtime/receivers/ingest.js';
import { addOtlpTraceService } from '../../src/runtime/receivers/otlp-grpc.js';
import { startHttpReceiver } from '../../src/runtime/receivers/otlp-http.js';
import { SamplingRuntime } from '../../src/runtime/sampling/runtime.js';
import { startRuntime } from '../../src/runtime/server.js';
import { Tenancy } from '../../src/runtime/tenancy.js';
import { MemoryBackend } from '../../src/storage/memory/store.js';
import { EMPTY_SAMPLING } from '../../src/sampling/policy.js';
import { ingest } from '../../src/runtime/receivers/ingest.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';

function metrics() {
  const r = new Registry();
  const registers = [r];
  return {
    registry: r,
    m: {
      written: new Counter({ name: 'w', help: 'w', registers }),
      refused: new Counter({ name: 'r', help: 'r', labelNames: ['reason'], registers }),
      queued: new Gauge({ name: 'q', help: 'q', registers }),
      writeSeconds: new Histogram({ name: 's', help: 's', registers }),
      writeErrors: new Counter({ name: 'e', help: 'e', registers }),
      deadLettered: new Counter({ name: 'd', help: 'd', registers }),
      backendFull: new Gauge({ name: 'f', help: 'f', registers }),
    },
  };
}

let seq = 0;
const span = (name = 'op'): Span => {
  seq++;
  return newSpan({ traceId: seq.toString(16).padStart(32, '0'), spanId: seq.toString(16).padStart(16, '0'), name, startTimeUnixNano: 1n, endTimeUnixNano: 2n });
};
const batch = (...names: string[]): ResourceSpans[] => [serviceBatch('svc', names.map((n) => span(n)))];

/** A backend that stores span names and throws what `fail` says for a batch. */
class ScriptedWriter {
  stored: string[] = [];
  calls = 0;
  constructor(private readonly fail: (names: string[], call: number) => Error | undefined = () => undefined) {}
  async writeTraces(traces: ResourceSpans[]): Promise<void> {
    this.calls++;
    const names = traces.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)));
    await new Promise((r) => setTimeout(r, 1));
    const e = this.fail(names, this.calls);
    if (e) throw e;
    this.stored.push(...names);
  }
}

const opts = (o: Partial<PipelineOptions> = {}): PipelineOptions => ({ maxQueuedSpans: 1000, batchSpans: 100, batchAgeMs: 0, writers: 1, maxAttempts: 2, ...o });
const log = pino({ level: 'silent' });
const done = (s: Submission): Promise<WriteOutcome> => {
  if (!s.ok) throw new Error(`refused: ${s.message}`);
  return s.done;
};

describe('IngestPipeline', () => {
  test('answers only after the backend committed the spans', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const stored: string[] = [];
    const writer = { writeTraces: async (t: ResourceSpans[]) => { await gate; stored.push(...t.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)))); } };
    const p = new IngestPipeline(writer, opts(), metrics().m, log);
    let answered = false;
    const d = done(p.submit(batch('a', 'b'), 2)).then((o) => ((answered = true), o));
    await new Promise((r) => setTimeout(r, 30));
    expect(answered).toBe(false);
    release();
    expect(await d).toEqual({ written: 2, rejected: 0, problems: [] });
    expect(stored).toEqual(['a', 'b']);
  });

  test('a span the backend refuses as invalid costs only itself: other requests in the same batch are written', async () => {
    const writer = new ScriptedWriter((names) => (names.includes('bad') ? new InvalidArgumentError('span.name', 'bad span') : undefined));
    const { m } = metrics();
    // one writer busy with a first request, so the next three are merged into one batch
    const p = new IngestPipeline(writer, opts(), m, log);
    const first = done(p.submit(batch('first'), 1));
    const a = done(p.submit(batch('a1', 'a2', 'a3'), 3));
    const b = done(p.submit(batch('b1', 'bad', 'b3', 'b4'), 4));
    const c = done(p.submit(batch('c1'), 1));
    expect(await first).toMatchObject({ written: 1, rejected: 0 });
    expect(await a).toMatchObject({ written: 3, rejected: 0 });
    const ob = await b;
    expect(ob).toMatchObject({ written: 3, rejected: 1 });
    expect(ob.problems[0]).toContain('bad span');
    expect(await c).toMatchObject({ written: 1, rejected: 0 });
    expect(writer.stored.sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'b3', 'b4', 'c1', 'first']);
    expect((await m.refused.get()).values.find((v) => v.labels.reason === 'invalid')?.value).toBe(1);
  });

  test('an unexplained error is retried maxAttempts times, then the failing span is dead-lettered and counted', async () => {
    const writer = new ScriptedWriter((names) => (names.includes('poison') ? new Error('index key too large') : undefined));
    const { m } = metrics();
    const p = new IngestPipeline(writer, opts({ maxAttempts: 3 }), m, log);
    const o = await done(p.submit(batch('x', 'poison', 'y'), 3));
    expect(o.written).toBe(2);
    expect(o.rejected).toBe(1);
    expect(o.problems[0]).toContain('index key too large');
    expect((await m.deadLettered.get()).values[0]?.value).toBe(1);
    expect(writer.stored.sort()).toEqual(['x', 'y']);
    // the queue is empty again: later requests go through
    expect(await done(p.submit(batch('z'), 1))).toMatchObject({ written: 1 });
    expect(p.queuedSpans).toBe(0);
  });

  test('writes that narrow a failure down ask the backend to write them alone; the first write does not', async () => {
    const alone: boolean[] = [];
    const writer = new ScriptedWriter((names) => (names.includes('poison') ? new Error('index key too large') : undefined));
    const recording = { writeTraces: (t: ResourceSpans[], ctx?: StorageContext) => (alone.push(ctx?.alone === true), writer.writeTraces(t)) };
    const p = new IngestPipeline(recording, opts({ maxAttempts: 1 }), metrics().m, log);
    expect(await done(p.submit(batch('x', 'poison', 'y', 'z'), 4))).toMatchObject({ written: 3, rejected: 1 });
    expect(alone[0]).toBe(false);
    expect(alone.slice(1).length).toBeGreaterThan(0);
    expect(alone.slice(1).every((a) => a)).toBe(true);
    // a merged batch that fails: the batch is not marked, each request's rewrite and the bisection are
    alone.length = 0;
    const first = done(p.submit(batch('first'), 1)); // holds the one writer while the next three merge
    const merged = [batch('a'), batch('b', 'poison'), batch('c')].map((b) => done(p.submit(b, spanCount(b))));
    await first;
    expect((await Promise.all(merged)).map((o) => o.written)).toEqual([1, 1, 1]);
    expect(alone.slice(0, 2)).toEqual([false, false]);
    expect(alone.slice(2).length).toBeGreaterThanOrEqual(3);
    expect(alone.slice(2).every((a) => a)).toBe(true);
  });

  test("a bad request merged with good ones does not hold them up: the good ones are answered before the bad one's isolation ends", async () => {
    const writer = new ScriptedWriter((names) => (names.some((x) => x.startsWith('bad')) ? new Error('document refused') : undefined));
    const p = new IngestPipeline(writer, opts({ maxAttempts: 3 }), metrics().m, log);
    const settledAt: Record<string, number> = {};
    const first = done(p.submit(batch('first'), 1));
    const bad = done(p.submit(batch(...Array.from({ length: 16 }, (_, i) => `bad${i}`)), 16)).then((o) => ((settledAt.bad = performance.now()), o));
    const good = done(p.submit(batch('good'), 1)).then((o) => ((settledAt.good = performance.now()), o));
    await first;
    expect(await good).toMatchObject({ written: 1, rejected: 0 });
    expect(await bad).toMatchObject({ written: 0, rejected: 16 });
    expect(settledAt.good!).toBeLessThan(settledAt.bad!);
  });

  test('after an answer of "not committed in time", the request stays counted until its spans leave the queue', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const p = new IngestPipeline({ writeTraces: () => gate }, opts(), metrics().m, log);
    const body = encodeTracesProto(batch('slow'));
    const out = await ingest({ ...receiverDeps(p, new Registry()), options: { ackTimeoutMs: 30 } }, body, 'protobuf', {});
    expect(out.kind).toBe('unavailable');
    let left = false;
    void out.settled!.then(() => (left = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(left).toBe(false);
    release();
    await out.settled;
    expect(left).toBe(true);
  });

  test('an unavailable backend is retried until it comes back; nothing is dropped', async () => {
    const writer = new ScriptedWriter((_n, call) => (call <= 3 ? new UnavailableError('connection refused') : undefined));
    const p = new IngestPipeline(writer, opts(), metrics().m, log);
    expect(await done(p.submit(batch('a', 'b'), 2))).toEqual({ written: 2, rejected: 0, problems: [] });
    expect(writer.calls).toBe(4);
  });

  test('a full backend refuses new work at once until a write succeeds again', async () => {
    let full = true;
    const writer = new ScriptedWriter(() => (full ? new ResourceExhaustedError('disk full') : undefined));
    const { m } = metrics();
    const p = new IngestPipeline(writer, opts(), m, log);
    const held = done(p.submit(batch('a'), 1));
    await new Promise((r) => setTimeout(r, 50));
    expect(p.backendFull).toContain('disk full');
    const refused = p.submit(batch('b'), 1);
    expect(refused).toMatchObject({ ok: false, reason: 'backend_full' });
    expect((await m.backendFull.get()).values[0]?.value).toBe(1);
    full = false;
    expect(await held).toMatchObject({ written: 1 });
    expect(p.backendFull).toBeUndefined();
    expect(await done(p.submit(batch('c'), 1))).toMatchObject({ written: 1 });
    expect(writer.stored).toEqual(['a', 'c']);
  });

  test('a full queue refuses; an empty queue takes even a batch larger than the bound', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const p = new IngestPipeline({ writeTraces: () => gate }, opts({ maxQueuedSpans: 100, batchSpans: 10 }), metrics().m, log);
    const big = p.submit(batch(...Array.from({ length: 150 }, () => 'x')), 150);
    expect(big.ok).toBe(true);
    expect(p.submit(batch('y'), 1)).toMatchObject({ ok: false, reason: 'queue_full' });
    release();
    await done(big);
  });

  test('group commit: requests arriving while a write runs go out together in the next one', async () => {
    const writer = new ScriptedWriter();
    const p = new IngestPipeline(writer, opts({ writers: 1 }), metrics().m, log);
    const all = [done(p.submit(batch('a'), 1)), ...Array.from({ length: 20 }, (_, i) => done(p.submit(batch(`r${i}`), 1)))];
    await Promise.all(all);
    expect(writer.stored).toHaveLength(21);
    expect(writer.calls).toBe(2);
  });

  test('requests of two tenants pending in one flush are written in batches of one tenant, each with its own ctx', async () => {
    const writes: { names: string[]; tenant: string | undefined }[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const writer = {
      writeTraces: async (t: ResourceSpans[], ctx?: StorageContext) => {
        await gate;
        writes.push({ names: t.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name))), tenant: ctx?.tenant });
      },
    };
    const p = new IngestPipeline(writer, opts(), metrics().m, log);
    // the one writer is held by a first request: the next four are pending together, tenants interleaved
    const first = done(p.submit(batch('first'), 1));
    const rest = [done(p.submit(batch('a1'), 1, { tenant: 'a' })), done(p.submit(batch('b1'), 1, { tenant: 'b' })), done(p.submit(batch('a2'), 1, { tenant: 'a' })), done(p.submit(batch('b2', 'b3'), 2, { tenant: 'b' }))];
    release();
    expect(await first).toEqual({ written: 1, rejected: 0, problems: [] });
    expect(await Promise.all(rest)).toEqual([1, 1, 1, 2].map((written) => ({ written, rejected: 0, problems: [] })));
    expect(writes).toEqual([
      { names: ['first'], tenant: undefined },
      { names: ['a1', 'a2'], tenant: 'a' },
      { names: ['b1', 'b2', 'b3'], tenant: 'b' },
    ]);
  });

  test('a refused merged batch is isolated as its own tenant', async () => {
    const tenants: (string | undefined)[] = [];
    const writer = new ScriptedWriter((names) => (names.includes('bad') ? new InvalidArgumentError('span.name', 'bad span') : undefined));
    const spy = { writeTraces: (t: ResourceSpans[], ctx?: StorageContext) => (tenants.push(ctx?.tenant), writer.writeTraces(t)) };
    const p = new IngestPipeline(spy, opts(), metrics().m, log);
    const first = done(p.submit(batch('first'), 1, { tenant: 'b' }));
    const a = done(p.submit(batch('a1', 'bad'), 2, { tenant: 'a' }));
    const a2 = done(p.submit(batch('a2'), 1, { tenant: 'a' }));
    expect(await first).toMatchObject({ written: 1 });
    expect(await a).toMatchObject({ written: 1, rejected: 1 });
    expect(await a2).toMatchObject({ written: 1, rejected: 0 });
    expect(tenants[0]).toBe('b');
    expect(tenants.slice(1).every((t) => t === 'a')).toBe(true);
    expect(tenants.length).toBeGreaterThan(2);
  });

  test('drain waits for everything accepted and then refuses', async () => {
    const writer = new ScriptedWriter();
    const p = new IngestPipeline(writer, opts(), metrics().m, log);
    const d = done(p.submit(batch('a', 'b'), 2));
    await p.drain();
    expect(writer.stored).toEqual(['a', 'b']);
    await d;
    expect(p.submit(batch('c'), 1)).toMatchObject({ ok: false, reason: 'closed' });
  });

  test('splitBatch halves by span and keeps resource and scope with each half', () => {
    const t = [serviceBatch('a', [span(), span(), span()]), serviceBatch('b', [span(), span()])];
    const [x, y] = splitBatch(t);
    expect(spanCount(x)).toBe(3);
    expect(spanCount(y)).toBe(2);
    expect(x[0]!.resource).toBe(t[0]!.resource);
    expect(y[0]!.resource).toBe(t[1]!.resource);
  });

  test('a queue smaller than one batch is refused as configuration', () => {
    expect(() => new IngestPipeline(new ScriptedWriter(), opts({ maxQueuedSpans: 10, batchSpans: 100 }), metrics().m, log)).toThrow(/maxQueuedSpans/);
    expect(() => parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', backend: { memory: {} }, ingest: { maxQueuedSpans: 10, batchSpans: 100 } })).toThrow(
      /config\.ingest\.maxQueuedSpans: 10 is less than ingest\.batchSpans/,
    );
  });
});

const names = (t: ResourceSpans[]) => t.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)));
/** A writer that holds every write until released. */
function gatedWriter() {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const stored: string[] = [];
  return { stored, release, writer: { writeTraces: async (t: ResourceSpans[]) => (await gate, void stored.push(...names(t))) } };
}
const receiverDeps = (p: IngestPipeline, registry: Registry): ReceiverDeps => ({
  consumer: p,
  received: new Counter({ name: 'req', help: 'req', labelNames: ['transport', 'outcome'], registers: [registry] }),
  budget: new ByteBudget(64 * 1024 * 1024),
  tenancy: new Tenancy(),
  options: { ackTimeoutMs: 5_000 },
  log,
  decoder: new DecodePool(0, log),
});

describe('backpressure at the receivers', () => {
  test('OTLP/HTTP: a full queue answers 429 with Retry-After; the spans accepted before are all written and acknowledged', async () => {
    const g = gatedWriter();
    const { registry, m } = metrics();
    const p = new IngestPipeline(g.writer, opts({ maxQueuedSpans: 3, batchSpans: 3 }), m, log);
    const server = await startHttpReceiver(receiverDeps(p, registry), { host: '127.0.0.1', port: 0, maxBodyBytes: 1 << 20, requestTimeoutMs: 5_000, idleTimeoutMs: 5_000 });
    const post = (...n: string[]) => fetch(`http://127.0.0.1:${server.port}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Uint8Array(encodeTracesProto(batch(...n))) });
    try {
      const accepted = post('a1', 'a2', 'a3');
      // wait (bounded) until the request is queued: a fixed sleep failed on a loaded machine
      for (let i = 0; i < 500 && p.queuedSpans < 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(p.queuedSpans).toBe(3);
      const refused = await post('b1');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      await refused.arrayBuffer();
      g.release();
      expect((await accepted).status).toBe(200);
      expect(g.stored).toEqual(['a1', 'a2', 'a3']);
      expect((await m.refused.get()).values.find((v) => v.labels.reason === 'queue_full')?.value).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('OTLP/gRPC: a full queue answers RESOURCE_EXHAUSTED; the spans accepted before are all written and acknowledged', async () => {
    const g = gatedWriter();
    const { registry, m } = metrics();
    const p = new IngestPipeline(g.writer, opts({ maxQueuedSpans: 2, batchSpans: 2 }), m, log);
    const { server, port } = await startGrpcServer('127.0.0.1', 0, 1 << 20, (s) => addOtlpTraceService(s, receiverDeps(p, registry)), log, 'otlp');
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const raw = (b: Buffer) => b;
    const exportSpans = (...n: string[]) =>
      new Promise<grpc.StatusObject | undefined>((resolve) =>
        client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', raw, raw, encodeTracesProto(batch(...n)), (e) => resolve(e ?? undefined)),
      );
    try {
      const accepted = exportSpans('a1', 'a2');
      while (p.queuedSpans < 2) await new Promise((r) => setTimeout(r, 5));
      expect(await exportSpans('b1')).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
      g.release();
      expect(await accepted).toBeUndefined();
      expect(g.stored).toEqual(['a1', 'a2']);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

describe('pipeline stages', () => {
  /** Drops the spans whose name starts with "drop", recording what it saw. */
  const dropper = (seen: string[]): IngestStage => ({
    name: 'dropper',
    process(traces, spans, ctx) {
      seen.push(`${ctx.tenant ?? '-'}:${spans}`);
      const out = traces
        .map((rs) => ({ ...rs, scopeSpans: rs.scopeSpans.map((ss) => ({ ...ss, spans: ss.spans.filter((s) => !s.name.startsWith('drop')) })).filter((ss) => ss.spans.length) }))
        .filter((rs) => rs.scopeSpans.length);
      return { traces: out, kept: spanCount(out) };
    },
  });

  test('a stage that drops spans: only the kept ones are queued, written and acknowledged', async () => {
    const writer = new ScriptedWriter();
    const seen: string[] = [];
    const { m } = metrics();
    const p = new IngestPipeline(writer, opts(), m, log, { stages: [dropper(seen)] });
    expect(await done(p.consume(batch('keep1', 'drop1', 'keep2', 'drop2'), { tenant: 't' }))).toEqual({ written: 2, rejected: 0, problems: [] });
    expect(writer.stored).toEqual(['keep1', 'keep2']);
    expect(seen).toEqual(['t:4']);
    expect((await m.written.get()).values[0]?.value).toBe(2);
    // everything dropped: answered at once, nothing written
    expect(await done(p.consume(batch('drop3'), {}))).toEqual({ written: 0, rejected: 0, problems: [] });
    expect(writer.calls).toBe(1);
  });

  test('stages run in the order given, each on what the one before kept', async () => {
    const writer = new ScriptedWriter();
    const order: string[] = [];
    const renamer: IngestStage = {
      name: 'renamer',
      process(traces, spans) {
        order.push(`renamer:${spans}`);
        for (const rs of traces) for (const ss of rs.scopeSpans) for (const s of ss.spans) s.name = `drop-${s.name}`;
        return { traces, kept: spans };
      },
    };
    const seen: string[] = [];
    const p = new IngestPipeline(writer, opts(), metrics().m, log, { stages: [dropper(seen), renamer, dropper(seen)] });
    expect(await done(p.consume(batch('a', 'drop-b'), {}))).toMatchObject({ written: 0 });
    expect(seen).toEqual(['-:2', '-:1']);
    expect(order).toEqual(['renamer:1']);
    expect(writer.calls).toBe(0);
  });

  test("the sampling runtime's stage: rules swapped in place apply to the next request", async () => {
    const cfg = parseRuntimeConfig({
      apiVersion: 'storage.jaegertracing.io/v1alpha1',
      kind: 'RuntimeConfig',
      backend: { memory: {} },
      sampling: { policies: [{ name: 'quiet', rules: { blocklist: { services: ['svc'] } } }] },
    });
    const registry = new Registry();
    const sampling = new SamplingRuntime(cfg, new MemoryBackend({ maxTraces: 10 }), registry, log);
    const writer = new ScriptedWriter();
    const p = new IngestPipeline(writer, opts(), metrics().m, log, { stages: [sampling.stage] });
    expect(await done(p.consume(batch('blocked'), {}))).toMatchObject({ written: 0 });
    expect((await registry.getSingleMetric('jso_runtime_spans_dropped_total')!.get()).values[0]).toMatchObject({ labels: { reason: 'blocklist' }, value: 1 });
    sampling.stage.rules = EMPTY_SAMPLING;
    expect(await done(p.consume(batch('allowed'), {}))).toMatchObject({ written: 1 });
    expect(writer.stored).toEqual(['allowed']);
  });
});

describe('runtime start', () => {
  test('a listener that cannot bind fails the start and the listeners started before it are closed', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const taken = (busy.address() as { port: number }).port;
    // a free port for the OTLP/gRPC receiver, started before the query listener that collides
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const otlpGrpc = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    try {
      const cfg = parseRuntimeConfig({
        apiVersion: 'storage.jaegertracing.io/v1alpha1',
        kind: 'RuntimeConfig',
        backend: { memory: {} },
        listen: { ...listenAll('127.0.0.1:0'), otlpGrpc: `127.0.0.1:${otlpGrpc}`, queryHttp: `127.0.0.1:${taken}` },
      });
      await expect(startRuntime(cfg, log)).rejects.toThrow(/EADDRINUSE/);
      // the OTLP/gRPC port was released
      const again = createServer();
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.listen(otlpGrpc, '127.0.0.1', () => resolve());
      });
      await new Promise((r) => again.close(r));
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });
});
