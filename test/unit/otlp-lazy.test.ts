// Lazily decoded spans (what the OTLP/protobuf receivers hand to the stores) must be indistinguishable from fully
// decoded ones: the same spans accepted and rejected with the same reasons, the same values when read, and in the
// memory store a smaller footprint that does not grow when stored spans are read.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeTracesJson } from '../../src/otlp/otlp-json.js';
import { type DecodedTraces, decodeTracesProto, encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { Writer } from '../../src/otlp/proto-wire.js';
import { type ResourceSpans, type Span, addAttribute, isLazySpan } from '../../src/storage/api/index.js';
import { validateBatch } from '../../src/storage/api/semantics.js';
import { MemoryBackend } from '../../src/storage/memory/store.js';
import { ROOT } from '../root.js';

const fixture = (f: string) => decodeTracesJson(JSON.parse(readFileSync(join(ROOT, 'src/storage/testing/fixtures', f), 'utf8')));

/** every field of a span read through its accessors, as a plain object */
const plain = (s: Span): Span => ({
  traceId: s.traceId,
  spanId: s.spanId,
  traceState: s.traceState,
  parentSpanId: s.parentSpanId,
  flags: s.flags,
  name: s.name,
  kind: s.kind,
  startTimeUnixNano: s.startTimeUnixNano,
  endTimeUnixNano: s.endTimeUnixNano,
  attributes: s.attributes,
  droppedAttributesCount: s.droppedAttributesCount,
  events: s.events,
  droppedEventsCount: s.droppedEventsCount,
  links: s.links,
  droppedLinksCount: s.droppedLinksCount,
  status: { ...s.status },
});
const plainTraces = (traces: ResourceSpans[]) => traces.map((rs) => ({ ...rs, scopeSpans: rs.scopeSpans.map((ss) => ({ ...ss, spans: ss.spans.map(plain) })) }));

type Outcome = { error: string } | { decoded: Omit<DecodedTraces, 'traces'>; traces: ResourceSpans[] };
function outcome(body: Buffer, lazy: boolean): Outcome {
  try {
    const d = decodeTracesProto(body, { lazy });
    return { decoded: { spans: d.spans, rejected: d.rejected, problems: d.problems }, traces: plainTraces(d.traces) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/** a span with everything set: nested values, bytes, events with attributes, links, status, flags, dropped counts */
function richBody(): Buffer {
  const kv = (w: Writer, field: number, key: string, value: (v: Writer) => void) => w.message(field, (m) => m.string(1, key).message(2, value));
  const span = new Writer().bytes(1, Buffer.alloc(16, 0xab)).bytes(2, Buffer.alloc(8, 0xcd)).string(3, 'k=v').bytes(4, Buffer.alloc(8, 0x11)).string(5, 'op').uint(6, 3).fixed64(7, 10n).fixed64(8, 20n);
  kv(span, 9, 's', (v) => v.string(1, 'text'));
  kv(span, 9, 'i', (v) => v.tag(3, 0).varint(-5n));
  kv(span, 9, 'd', (v) => v.double(4, 1.5));
  kv(span, 9, 'b', (v) => v.tag(2, 0).varint(1));
  kv(span, 9, 'raw', (v) => v.bytes(7, Buffer.from([0, 1, 2])));
  kv(span, 9, 'arr', (v) => v.message(5, (a) => a.message(1, (x) => x.string(1, 'a')).message(1, (x) => x.tag(3, 0).varint(2))));
  kv(span, 9, 'map', (v) => v.message(6, (l) => kv(l, 1, 'inner', (x) => x.string(1, 'deep'))));
  span.uint(10, 2);
  span.message(11, (e) => {
    e.fixed64(1, 15n).string(2, 'exception');
    kv(e, 3, 'exception.message', (v) => v.string(1, 'boom'));
    e.uint(4, 1);
  });
  span.message(11, (e) => e.fixed64(1, 16n).string(2, 'second'));
  span.uint(12, 4);
  span.message(13, (l) => l.bytes(1, Buffer.alloc(16, 0x22)).bytes(2, Buffer.alloc(8, 0x33)).string(3, 'ts').fixed32(6, 1));
  span.message(13, (l) => l.bytes(1, Buffer.alloc(16, 0))); // unusable: counted as dropped
  span.uint(14, 1);
  span.message(15, (s) => s.string(2, 'failed').uint(3, 2));
  span.fixed32(16, 0x301);
  const bare = new Writer().bytes(1, Buffer.alloc(16, 0xab)).bytes(2, Buffer.alloc(8, 0xce)).fixed64(7, 11n).fixed64(8, 12n);
  return new Writer()
    .message(1, (rs) => {
      rs.message(1, (r) => kv(r, 1, 'service.name', (v) => v.string(1, 'svc')));
      rs.message(2, (ss) => ss.message(1, (sc) => sc.string(1, 'lib').string(2, '1.0')).bytes(2, span.finish()).bytes(2, bare.finish()));
    })
    .finish();
}

describe('lazily decoded OTLP spans', () => {
  const bodies: [string, Buffer][] = [
    ['shop.json', encodeTracesProto(fixture('shop.json'))],
    ['queue.json', encodeTracesProto(fixture('queue.json'))],
    ['every field', richBody()],
  ];

  it.each(bodies)('read the same values as a full decode (%s)', (_, body) => {
    const lazy = decodeTracesProto(body, { lazy: true });
    expect(lazy.traces.every((rs) => rs.scopeSpans.every((ss) => ss.spans.every(isLazySpan)))).toBe(true);
    expect(outcome(body, true)).toEqual(outcome(body, false));
    expect(lazy.rejected).toBe(0);
  });

  it.each([
    // [start, end]: the words of a 64-bit time compared in the right order; an unset (zero) end is no end
    [5n, 3n],
    [(1n << 32n) + 5n, (1n << 32n) + 3n],
    [(1n << 32n) + 5n, 6n],
    [6n, 1n << 32n],
    [(1n << 63n) + 1n, 1n << 63n],
    [1n << 63n, (1n << 63n) + 1n],
    [7n, 7n],
    [7n, 0n],
    [0n, 0n],
  ])('judge an end before the start as a full decode does (start %s, end %s)', (start, end) => {
    const span = new Writer().bytes(1, Buffer.alloc(16, 0xab)).bytes(2, Buffer.alloc(8, 0xcd)).fixed64(7, start).fixed64(8, end);
    const body = new Writer().message(1, (rs) => rs.message(2, (ss) => ss.bytes(2, span.finish()))).finish();
    const lazy = outcome(body, true);
    expect(lazy).toEqual(outcome(body, false));
    expect('decoded' in lazy && lazy.decoded.rejected).toBe(end !== 0n && end < start ? 1 : 0);
  });

  it('accept and reject exactly what a full decode does, on damaged input', () => {
    // seeded, so a failure reproduces; every damage kind a client or a network can produce
    let seed = 0x2545f491;
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let compared = 0;
    let rejected = 0;
    for (const [, body] of bodies) {
      for (let i = 0; i < 400; i++) {
        const b = Buffer.from(body);
        const kind = rnd(3);
        if (kind === 0) for (let k = 0; k <= rnd(4); k++) b[rnd(b.length)] = rnd(256);
        else if (kind === 1) {
          const at = rnd(b.length);
          b[at] = b[at]! ^ (1 << rnd(8));
        }
        const damaged = kind === 2 ? b.subarray(0, rnd(b.length)) : b;
        const eager = outcome(damaged, false);
        expect(outcome(damaged, true)).toEqual(eager);
        compared++;
        if ('error' in eager || eager.decoded.rejected) rejected++;
      }
    }
    expect(compared).toBe(1200);
    expect(rejected).toBeGreaterThan(100); // the damage did reach the checks
  });

  it('reject a span whose attribute or event value nests too deep, as a full decode does', () => {
    const deep = (depth: number): ((w: Writer) => void) => (w) => (depth ? w.message(5, (a) => a.message(1, deep(depth - 1))) : w.string(1, 'bottom'));
    for (const field of ['attribute', 'event']) {
      const span = new Writer().bytes(1, Buffer.alloc(16, 1)).bytes(2, Buffer.alloc(8, 1)).fixed64(7, 1n).fixed64(8, 2n);
      const attr = (w: Writer, f: number) => w.message(f, (m) => m.string(1, 'k').message(2, deep(40)));
      if (field === 'attribute') attr(span, 9);
      else span.message(11, (e) => attr(e.fixed64(1, 1n), 3));
      const body = new Writer().message(1, (rs) => rs.message(2, (ss) => ss.bytes(2, span.finish()))).finish();
      const lazy = decodeTracesProto(body, { lazy: true });
      expect(lazy.rejected).toBe(1);
      expect(lazy.problems[0]).toMatch(/nested deeper than 32/);
      expect(outcome(body, true)).toEqual(outcome(body, false));
    }
  });

  it('keep what is read or changed until released, and afterwards decode each read afresh', () => {
    const s = decodeTracesProto(richBody(), { lazy: true }).traces[0]!.scopeSpans[0]!.spans[0]!;
    if (!isLazySpan(s)) throw new Error('not a lazy span');
    expect(s.held()).toEqual({});
    s.attributes.push({ key: 'added', value: 1 }); // as the ingest rules tag a kept span
    expect(s.attributes.at(-1)).toEqual({ key: 'added', value: 1 });
    expect(s.held().attributes).toHaveLength(8);
    expect(s.held().events).toBeUndefined();
    s.release();
    const first = s.events;
    expect(first).toHaveLength(2);
    expect(s.events).not.toBe(first); // nothing kept: a stored span costs its bytes only
    expect(s.events).toEqual(first);
    expect(s.held().events).toBeUndefined();
    expect(s.attributes.at(-1)).toEqual({ key: 'added', value: 1 }); // what was changed stays
    s.events = [];
    expect(s.events).toEqual([]);
  });

  it('take an added attribute without decoding the others, and show it after them on every read', () => {
    const s = decodeTracesProto(richBody(), { lazy: true }).traces[0]!.scopeSpans[0]!.spans[0]!;
    if (!isLazySpan(s)) throw new Error('not a lazy span');
    addAttribute(s, { key: 'sampling.ratio', value: 0.5 }); // as the ingest rules tag a kept span
    expect(s.held()).toEqual({ added: [{ key: 'sampling.ratio', value: 0.5 }] }); // nothing decoded
    s.release();
    for (let i = 0; i < 2; i++) {
      expect(s.attributes).toHaveLength(8);
      expect(s.attributes.at(-1)).toEqual({ key: 'sampling.ratio', value: 0.5 });
    }
    expect(s.held().attributes).toBeUndefined();
    const plainSpan = decodeTracesProto(richBody()).traces[0]!.scopeSpans[0]!.spans[0]!;
    addAttribute(plainSpan, { key: 'sampling.ratio', value: 0.5 });
    expect(plain(s)).toEqual(plain(plainSpan));
  });

  it('are checked again by a store once their IDs or times were changed', () => {
    const decoded = decodeTracesProto(richBody(), { lazy: true }).traces;
    const s = decoded[0]!.scopeSpans[0]!.spans[0]!;
    if (!isLazySpan(s)) throw new Error('not a lazy span');
    expect(s.verified).toBe(true);
    expect(() => validateBatch(decoded)).not.toThrow();
    s.spanId = 'not hex';
    expect(s.verified).toBe(false);
    expect(s.spanId).toBe('not hex');
    expect(() => validateBatch(decoded)).toThrow(/spans\[0\]\.spanId/);
    const t = decodeTracesProto(richBody(), { lazy: true }).traces;
    const u = t[0]!.scopeSpans[0]!.spans[0]!;
    u.endTimeUnixNano = 1n;
    expect(u.endTimeUnixNano).toBe(1n);
    expect(() => validateBatch(t)).toThrow(/endTimeUnixNano/);
    const v = decodeTracesProto(richBody(), { lazy: true }).traces;
    v[0]!.scopeSpans[0]!.spans[0]!.traceId = '00000000000000000000000000000000';
    expect(() => validateBatch(v)).toThrow(/traceId/);
  });

  describe('keep alive only the bytes a store counts', () => {
    const firstSpan = (traces: ResourceSpans[]) => traces[0]!.scopeSpans[0]!.spans[0]!;
    const expected = plain(firstSpan(decodeTracesProto(richBody()).traces));
    /** whether the decoded spans still read from `body` (zeroing it changes what they read) */
    const readsFrom = (body: Buffer, traces: ResourceSpans[]): boolean => {
      body.fill(0);
      return JSON.stringify(plain(firstSpan(traces)), (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) !== JSON.stringify(expected, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    };
    it('a request made of the spans it carries is kept as it is (no copy)', () => {
      const rich = richBody();
      const body = Buffer.allocUnsafeSlow(rich.length); // a buffer of its own, as transports hand over large requests
      rich.copy(body);
      const traces = decodeTracesProto(body, { lazy: true }).traces;
      expect(plain(firstSpan(traces))).toEqual(expected);
      expect(readsFrom(body, traces)).toBe(true);
    });
    it('a request cut from a larger buffer is copied', () => {
      const body = richBody();
      const big = Buffer.alloc(1 << 20);
      body.copy(big, 1000);
      const traces = decodeTracesProto(big.subarray(1000, 1000 + body.length), { lazy: true }).traces;
      expect(readsFrom(big, traces)).toBe(false);
    });
    it('a request padded with unknown fields or rejected spans keeps only the accepted spans alive', () => {
      const pad = Buffer.alloc(256 * 1024, 0x61);
      const unknown = Buffer.concat([richBody(), new Writer().bytes(7, pad).finish()]); // unknown field 7 of the request
      const rejected = Buffer.concat([richBody(), new Writer().message(1, (rs) => rs.message(2, (ss) => ss.message(2, (sp) => sp.bytes(1, Buffer.alloc(16)).bytes(2, Buffer.alloc(8, 1)).bytes(5, pad)))).finish()]);
      for (const [body, rejectedSpans] of [[unknown, 0], [rejected, 1]] as const) {
        const d = decodeTracesProto(body, { lazy: true });
        expect(d.rejected).toBe(rejectedSpans);
        expect(plain(firstSpan(d.traces))).toEqual(expected);
        expect(readsFrom(body, d.traces)).toBe(false);
      }
    });
  });
});

describe('the memory store with lazily decoded spans', () => {
  const body = encodeTracesProto(fixture('shop.json'));
  const read = async (store: MemoryBackend, traceId: string) => {
    const out: Span[] = [];
    for await (const chunks of store.traceReader().getTraces([{ traceId }])) for (const c of chunks) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) out.push(...ss.spans.map(plain));
    return out;
  };

  it('answers the same, costs fewer bytes, and does not grow when read', async () => {
    const eager = new MemoryBackend({ maxTraces: 10 });
    const lazy = new MemoryBackend({ maxTraces: 10 });
    await eager.traceWriter().writeTraces(decodeTracesProto(body).traces);
    await lazy.traceWriter().writeTraces(decodeTracesProto(body, { lazy: true }).traces);
    const id = fixture('shop.json')[0]!.scopeSpans[0]!.spans[0]!.traceId;
    const before = lazy.stats().bytes;
    expect(before).toBeLessThan(eager.stats().bytes);
    expect(await read(lazy, id)).toEqual(await read(eager, id));
    expect((await read(lazy, id)).length).toBeGreaterThan(0);
    expect(lazy.stats().bytes).toBe(before);
    // nothing decoded by the reads stays with the stored spans
    let held = 0;
    for await (const chunks of lazy.traceReader().getTraces([{ traceId: id }]))
      for (const c of chunks) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) if (isLazySpan(s) && (s.held().attributes || s.held().events)) held++;
    expect(held).toBe(0);
  });
});
