// The decode threads of the OTLP/protobuf receivers: what a thread decodes is what the main thread decodes (the
// same spans, values, rejections and error messages); request bytes that share memory with other data are copied,
// not moved away from it; a thread that dies fails only the requests it held, with a retryable error, and the
// main thread decodes until another thread runs.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type DecodedTraces, decodeTracesProto, encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { DecodePool, DecodeUnavailableError, usableCpus } from '../../src/runtime/receivers/decode-pool.js';
import { InvalidArgumentError, type ResourceSpans, type Span, SpanKind, StatusCode, newSpan } from '../../src/storage/api/index.js';

const log = pino({ level: 'silent' });
const pools: DecodePool[] = [];
const pool = (threads: number, o: ConstructorParameters<typeof DecodePool>[2] = {}) => {
  const p = new DecodePool(threads, log, { minBytes: 0, ...o });
  pools.push(p);
  return p;
};
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');

/** 300 spans over 3 resources with every kind of field: well over the default offload size */
function batch(): ResourceSpans[] {
  return [0, 1, 2].map((r) => ({
    resource: { attributes: [{ key: 'service.name', value: `svc-${r}` }, { key: 'host.id', value: 7n }], droppedAttributesCount: r },
    schemaUrl: `https://schema/${r}`,
    scopeSpans: [
      {
        scope: { name: `scope-${r}`, version: '1.0', attributes: [{ key: 'x', value: true }], droppedAttributesCount: 0 },
        schemaUrl: '',
        spans: Array.from({ length: 100 }, (_, i): Span =>
          newSpan({
            traceId: hex(r * 1000 + Math.floor(i / 10) + 1, 32),
            spanId: hex(r * 1000 + i + 1, 16),
            parentSpanId: i % 10 ? hex(r * 1000 + i, 16) : '',
            traceState: i % 3 ? '' : 'k=v',
            flags: i % 2 ? 0xffffffff : 1,
            name: `op-${i % 7}-é`,
            kind: (i % 6) as SpanKind,
            startTimeUnixNano: 1_700_000_000_000_000_000n + BigInt(i),
            endTimeUnixNano: 1_700_000_000_000_001_000n + BigInt(i),
            attributes: [
              { key: 'http.route', value: `/r/${i}` },
              { key: 'n', value: BigInt(-i) },
              { key: 'd', value: i / 3 },
              { key: 'list', value: { array: [1n, 'two', { kvlist: [{ key: 'k', value: null }] }] } },
              { key: 'bytes', value: new Uint8Array([i, 1, 2]) },
            ],
            droppedAttributesCount: i % 4,
            events: i % 5 ? [] : [{ timeUnixNano: 5n, name: 'ev', attributes: [{ key: 'e', value: 'x' }], droppedAttributesCount: 1 }],
            droppedEventsCount: i % 3,
            links: i % 9 ? [] : [{ traceId: hex(99, 32), spanId: hex(98, 16), traceState: 'a=b', attributes: [{ key: 'l', value: 1.5 }], droppedAttributesCount: 2, flags: 256 }],
            droppedLinksCount: i % 2,
            status: i % 4 === 1 ? { code: StatusCode.Error, message: 'boom' } : { code: StatusCode.Unset, message: '' },
          }),
        ),
      },
    ],
  }));
}

/** what a decoded request holds, read through every accessor */
const view = (d: DecodedTraces) => ({
  spans: d.spans,
  rejected: d.rejected,
  problems: d.problems,
  traces: d.traces.map((rs) => ({
    ...rs,
    scopeSpans: rs.scopeSpans.map((ss) => ({
      ...ss,
      spans: ss.spans.map((s) => ({ ...Object.fromEntries(Object.keys(newSpan({ traceId: '', spanId: '' })).map((k) => [k, s[k as keyof Span]])), status: { ...s.status } })),
    })),
  })),
});

test('a thread decodes a request into the same spans the main thread does, and moves its bytes back', async () => {
  const body = encodeTracesProto(batch());
  const expected = view(decodeTracesProto(Buffer.from(body), { lazy: true }));
  const p = pool(1);
  const got = await p.decode(body);
  expect(p.running).toBe(1);
  expect(view(got)).toEqual(expected);
  expect(got.spans).toBe(300);
});

test('spans a thread rejects, and a request it cannot decode, are reported as on the main thread', async () => {
  const traces = batch();
  const spans = traces[0]!.scopeSpans[0]!.spans;
  spans[3] = { ...spans[3]!, spanId: '0000000000000000' };
  spans[4] = { ...spans[4]!, endTimeUnixNano: 1n };
  const body = encodeTracesProto(traces);
  const inline = decodeTracesProto(Buffer.from(body), { lazy: true });
  expect(inline.rejected).toBe(2);
  const got = await pool(1).decode(Buffer.from(body));
  expect(got.rejected).toBe(2);
  expect(got.problems).toEqual(inline.problems);

  const truncated = body.subarray(0, body.length - 7);
  const why = (() => {
    try {
      decodeTracesProto(truncated, { lazy: true });
    } catch (e) {
      return e;
    }
  })() as InvalidArgumentError;
  expect(why).toBeInstanceOf(InvalidArgumentError);
  await expect(pool(1).decode(Buffer.from(truncated))).rejects.toMatchObject({ name: 'InvalidArgumentError', message: why.message });
});

test('a request sharing its memory with other data is copied to the thread: the other data stays readable', async () => {
  const body = encodeTracesProto(batch());
  const slab = Buffer.alloc(body.length + 4096, 0x5a);
  body.copy(slab, 1024);
  const request = slab.subarray(1024, 1024 + body.length);
  const before = slab.subarray(0, 1024);
  const got = await pool(1).decode(request);
  expect(got.spans).toBe(300);
  expect(before.every((b) => b === 0x5a)).toBe(true);
  expect(slab.length).toBe(body.length + 4096);
});

test('small requests are decoded on the main thread and start no thread', async () => {
  const p = pool(1, { minBytes: 1 << 20 });
  const got = await p.decode(encodeTracesProto(batch()));
  expect(got.spans).toBe(300);
  expect(p.running).toBe(0);
});

test('a thread that dies fails the request it held as retryable; the main thread decodes until another thread runs', async () => {
  const p = pool(1, { workerUrl: new URL('./support/crashing-decode-worker.js', import.meta.url), respawnMs: 200 });
  await expect(p.decode(encodeTracesProto(batch()))).rejects.toBeInstanceOf(DecodeUnavailableError);
  expect(p.running).toBe(0);
  const meanwhile = await p.decode(encodeTracesProto(batch()));
  expect(meanwhile.spans).toBe(300);
  const deadline = Date.now() + 5_000;
  while (p.running === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(p.running).toBe(1);
});

test('a closed pool fails what its threads held and decodes later requests on the main thread', async () => {
  const p = pool(1);
  const held = p.decode(encodeTracesProto(batch())).catch((e: unknown) => e);
  await p.close();
  expect(await held).toBeInstanceOf(DecodeUnavailableError);
  expect((await p.decode(encodeTracesProto(batch()))).spans).toBe(300);
  expect(p.running).toBe(0);
});

test('the usable CPUs follow a cgroup v2 CPU limit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-cpu-max-'));
  const file = (text: string) => {
    const f = join(dir, String(Math.random()));
    writeFileSync(f, text);
    return f;
  };
  const all = usableCpus(join(dir, 'missing'));
  expect(all).toBeGreaterThanOrEqual(1);
  expect(usableCpus(file('max 100000\n'))).toBe(all);
  expect(usableCpus(file('150000 100000\n'))).toBe(Math.min(all, 2));
  expect(usableCpus(file('50000 100000\n'))).toBe(1);
});
