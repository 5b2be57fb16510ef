import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/storage/api/errors.js';
import { decodeTracesJson } from '../../src/otlp/otlp-json.js';
import { decodeSpan, encodeSpan } from '../../src/otlp/otlp-json.js';
import { decodeTracesProto, encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { Writer } from '../../src/otlp/proto-wire.js';
import { ROOT } from '../root.js';

const fixture = (f: string) => decodeTracesJson(JSON.parse(readFileSync(join(ROOT, 'src/storage/testing/fixtures', f), 'utf8')));

describe('OTLP protobuf', () => {
  it.each(['shop.json', 'queue.json'])('round-trips %s without loss', (f) => {
    const traces = fixture(f);
    const back = decodeTracesProto(encodeTracesProto(traces));
    expect(back.rejected).toBe(0);
    expect(back.traces).toEqual(traces);
  });
  it('rejects truncated input as a whole, naming the place', () => {
    const bytes = encodeTracesProto(fixture('shop.json'));
    for (const cut of [1, 7, 100, bytes.length - 1]) {
      expect(() => decodeTracesProto(bytes.subarray(0, cut))).toThrow(InvalidArgumentError);
    }
    expect(() => decodeTracesProto(Buffer.from('this is not protobuf at all'))).toThrow(/malformed protobuf/);
  });
  it('skips unknown fields', () => {
    const bytes = encodeTracesProto(fixture('queue.json'));
    // append field 99 (varint) at the top level: must be ignored
    const extra = Buffer.concat([bytes, Buffer.from([(99 << 3) & 0xff | 0x80, 99 >> 4, 0x2a])]);
    expect(decodeTracesProto(extra).traces).toEqual(fixture('queue.json'));
  });
  it('drops spans with unusable IDs and counts them', () => {
    const traces = fixture('queue.json');
    traces[0]!.scopeSpans[0]!.spans[1]!.traceId = '00000000000000000000000000000000';
    const decoded = decodeTracesProto(encodeTracesProto(traces));
    expect(decoded.rejected).toBe(1);
    expect(decoded.spans).toBe(3);
    expect(decoded.problems[0]).toContain('resourceSpans[0].scopeSpans[0].spans[1]: trace_id');
    expect(decoded.traces[0]!.scopeSpans[0]!.spans).toHaveLength(2);
  });
});

describe('OTLP protobuf values a strict reader must accept back', () => {
  // found by test/integration/ingest-fuzz: a dropped count past 2^32 (a varint up to 2^70) or an all-zero parent
  // span ID was stored as is, and the embedded store's strict read of the span (decodeSpan) then failed for the
  // whole trace, so a span answered 200 made its trace unreadable
  const oneSpan = (fields: (w: Writer) => void): Buffer => {
    const span = new Writer().bytes(1, Buffer.alloc(16, 0xab)).bytes(2, Buffer.alloc(8, 0xcd)).fixed64(7, 1n).fixed64(8, 2n);
    fields(span);
    return new Writer().message(1, (rs) => rs.message(2, (ss) => ss.bytes(2, span.finish()))).finish();
  };
  it('reads dropped counts as uint32 (the low 32 bits, as protobuf parsers do) and an all-zero parent as none', () => {
    const body = oneSpan((w) => {
      w.bytes(4, Buffer.alloc(8, 0)); // parent_span_id: all zero
      w.tag(10, 0).varint(2n ** 32n + 7n); // dropped_attributes_count
      w.tag(12, 0).varint(2n ** 64n - 1n); // dropped_events_count: a negative int written as a 10-byte varint
      w.message(11, (e) => e.fixed64(1, 1n).tag(4, 0).varint(2n ** 53n + 3n)); // event dropped_attributes_count
      w.message(13, (l) => l.bytes(1, Buffer.alloc(16, 1)).bytes(2, Buffer.alloc(8, 1)).tag(5, 0).varint(2n ** 40n)); // link
      w.message(13, (l) => l.bytes(1, Buffer.alloc(16, 0))); // an unusable link: counted as dropped
      w.tag(14, 0).varint(0xffffffffn); // dropped_links_count: with the dropped link, past 2^32
    });
    const decoded = decodeTracesProto(body);
    expect(decoded.rejected).toBe(0);
    const s = decoded.traces[0]!.scopeSpans[0]!.spans[0]!;
    expect(s).toMatchObject({ parentSpanId: '', droppedAttributesCount: 7, droppedEventsCount: 0xffffffff, droppedLinksCount: 0xffffffff });
    expect(s.events[0]!.droppedAttributesCount).toBe(3);
    expect(s.links[0]!.droppedAttributesCount).toBe(0);
    // what is stored reads back through the strict decoder
    expect(decodeSpan(JSON.parse(JSON.stringify(encodeSpan(s))), 'span')).toEqual(s);
  });
});

describe('gRPC trace replies', () => {
  it('split a chunk above the message limit into consecutive messages that keep every span', async () => {
    const { encodeChunk } = await import('../../src/runtime/grpc-util.js');
    const traces = fixture('shop.json');
    const whole = encodeTracesProto(traces);
    const parts = encodeChunk(traces, 600);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(Math.max(600, ...parts.map((x) => x.length)));
    const spans = parts.flatMap((p) => decodeTracesProto(p).traces.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.spanId))));
    expect(spans.sort()).toEqual(decodeTracesProto(whole).traces.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.spanId))).sort());
    expect(encodeChunk(traces)).toEqual([whole]);
  });
});

describe('short string cache of the decoder', () => {
  it('returns every short string exactly, whatever collides in the cache, ASCII or not', async () => {
    const { newSpan, serviceBatch } = await import('../../src/storage/api/index.js');
    const values = [
      ...Array.from({ length: 20_000 }, (_, i) => `k${(i * 7919) % 100_003}`),
      'é',
      'naïve',
      '日本語',
      'a'.repeat(32),
      'b'.repeat(33),
      '',
      'k1',
      'k1 ',
      'K1',
    ];
    const spans = values.map((v, i) =>
      newSpan({ traceId: '0123456789abcdef0123456789abcdef', spanId: (i + 1).toString(16).padStart(16, '0'), name: v, attributes: [{ key: v, value: `${v}!` }] }),
    );
    const back = decodeTracesProto(encodeTracesProto([serviceBatch('cache', spans)])).traces[0]!.scopeSpans[0]!.spans;
    expect(back.map((s) => [s.name, s.attributes[0]?.key, s.attributes[0]?.value])).toEqual(values.map((v) => [v, v, `${v}!`]));
  });
});
