import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/storage/api/errors.js';
import { decodeTracesJson } from '../../src/storage/api/otlp-json.js';
import { decodeTracesProto, encodeTracesProto } from '../../src/storage/api/otlp-proto.js';
import { ROOT } from '../helpers.js';

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
