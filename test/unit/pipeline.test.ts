// The ingest pipeline's acknowledgement contract, against scripted backends: an answer only after the commit, a
// bad span isolated without costing other requests' spans, bounded retries with a dead-letter count, and a full
// backend refusing new work.
import { pino } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { IngestPipeline, type PipelineOptions, type Submission, type WriteOutcome, splitBatch } from '../../src/runtime/pipeline.js';
import { InvalidArgumentError, ResourceExhaustedError, type ResourceSpans, type Span, type StorageContext, UnavailableError, newSpan, serviceBatch, spanCount } from '../../src/storage/api/index.js';
import { parseRuntimeConfig } from '../../src/api/runtime-config.js';
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
    const out = await ingest(p, body, 'protobuf', { ackTimeoutMs: 30 }, {});
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
