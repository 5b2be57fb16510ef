// The Cassandra store's span index terms and duration classes, and the paging of a trace by bytes, without a node.
import { SpanKind, StatusCode, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import type { CassandraConnection, Params } from '../../src/storage/cassandra/connection.js';
import { CHUNK_BYTES, CassandraTraceReader, FIRST_PAGE } from '../../src/storage/cassandra/reader.js';
import { durationClass, durationClasses, specialKey, specialQueryTerm, specialTerms, spanIndexRows } from '../../src/storage/cassandra/span-index.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';

const scope = { name: 'lib', version: '1.2', attributes: [], droppedAttributesCount: 0 };

describe('cassandra special index terms', () => {
  it('indexes the kind, a set status and the scope of a span under keys no attribute term has', () => {
    const span = newSpan({ traceId: 'ab'.repeat(16), spanId: '01'.repeat(8), kind: SpanKind.Client, status: { code: StatusCode.Error, message: 'x' } });
    expect(specialTerms(span, scope)).toEqual([
      ['\u0000span.kind', 'client'],
      ['\u0000span.status', 'error'],
      ['\u0000scope.name', 'lib'],
      ['\u0000scope.version', '1.2'],
    ]);
    expect(specialTerms(newSpan({ traceId: 'ab'.repeat(16), spanId: '01'.repeat(8) }), { ...scope, name: '', version: '' })).toEqual([]);
  });

  it('answers the special query keys from those terms, in the spellings Jaeger accepts', () => {
    expect(specialQueryTerm('error', 'true')).toEqual([specialKey('span.status'), 'error']);
    expect(specialQueryTerm('span.status', 'STATUS_CODE_ERROR')).toEqual([specialKey('span.status'), 'error']);
    expect(specialQueryTerm('span.status', 'Ok')).toEqual([specialKey('span.status'), 'ok']);
    expect(specialQueryTerm('span.kind', 'SPAN_KIND_SERVER')).toEqual([specialKey('span.kind'), 'server']);
    expect(specialQueryTerm('scope.version', '1.2')).toEqual([specialKey('scope.version'), '1.2']);
    // no term: found through another index and checked
    for (const [k, v] of [['error', 'false'], ['span.status', 'unset'], ['span.kind', 'unspecified'], ['span.kind', 'sideways'], ['scope.name', ''], ['http.method', 'GET']] as const) {
      expect({ k, v, term: specialQueryTerm(k, v) }).toEqual({ k, v, term: undefined });
    }
  });

  it('writes duration rows per service and per operation, and the special terms', () => {
    const span = newSpan({ traceId: 'ab'.repeat(16), spanId: '01'.repeat(8), name: 'op', kind: SpanKind.Server, startTimeUnixNano: 10n, endTimeUnixNano: 2_000_010n });
    const rows = spanIndexRows('', 'svc', span, scope, 7, { traceId: Buffer.alloc(16), spanId: Buffer.alloc(8) });
    expect(rows.map(([cql]) => cql.split(' (')[0])).toEqual([
      'INSERT INTO ks.span_by_duration_class',
      'INSERT INTO ks.span_by_duration_class',
      'INSERT INTO ks.span_by_attribute',
      'INSERT INTO ks.span_by_attribute',
      'INSERT INTO ks.span_by_attribute',
    ]);
    expect(rows[1]![1].slice(0, 6)).toEqual(['', 'svc', 'op', 7, 4, 10n]);
  });
});

describe('cassandra duration classes', () => {
  it('puts durations in decimal classes from 1 µs to 1,000 s', () => {
    expect([0n, 999n, 1000n, 9999n, 10_000n, 1_000_000n, 999_999_999_999n, 1_000_000_000_000n, 9_223_372_036_854_775_807n].map(durationClass)).toEqual([0, 0, 1, 1, 2, 4, 9, 10, 10]);
  });

  it('reads the classes a range covers', () => {
    expect(durationClasses(0n, 9_223_372_036_854_775_807n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(durationClasses(200_000_000n, 300_000_000n)).toEqual([6]);
    expect(durationClasses(5_000_000n, 20_000_000n)).toEqual([4, 5]);
  });
});

describe('cassandra trace pages', () => {
  /** a connection holding one trace of `n` spans of `bytes` bytes of attributes each, recording the page sizes asked for */
  function fakeTrace(n: number, bytes: number, chunkSpans = 1000): { conn: CassandraConnection; fetchSizes: number[] } {
    const traceId = 'cd'.repeat(16);
    const blobs = Array.from({ length: n }, (_, i) =>
      encodeTracesProto([serviceBatch('svc', [newSpan({ traceId, spanId: (i + 1).toString(16).padStart(16, '0'), name: 'op', attributes: [{ key: 'payload', value: 'x'.repeat(bytes) }] })])]),
    );
    const fetchSizes: number[] = [];
    const exec = async (_cql: string, _params: Params, o: { fetchSize?: number; pageState?: string }): Promise<unknown> => {
      const from = o.pageState ? Number(o.pageState) : 0;
      const size = o.fetchSize ?? 5000;
      fetchSizes.push(size);
      const to = Math.min(n, from + size);
      return { rows: blobs.slice(from, to).map((b) => ({ get: () => b })), pageState: to < n ? String(to) : null };
    };
    return { conn: { chunkSpans, exec } as unknown as CassandraConnection, fetchSizes };
  }

  const read = async (conn: CassandraConnection): Promise<number[]> => {
    const sizes: number[] = [];
    for await (const b of new CassandraTraceReader(conn).getTraces([{ traceId: 'cd'.repeat(16) }])) for (const c of b) sizes.push(c.resourceSpans.reduce((k, rs) => k + rs.scopeSpans.reduce((m, ss) => m + ss.spans.length, 0), 0));
    return sizes;
  };

  it('bounds the pages of a trace of big spans by bytes', async () => {
    const { conn } = fakeTrace(1000, 100 * 1024);
    const sizes = await read(conn);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Math.max(...sizes) * 100 * 1024).toBeLessThanOrEqual(CHUNK_BYTES + 100 * 1024);
  });

  it('reads a trace of small spans in pages of chunkSpans after the first', async () => {
    const { conn, fetchSizes } = fakeTrace(2500, 100);
    expect(await read(conn)).toEqual([FIRST_PAGE, 1000, 1000, 2500 - FIRST_PAGE - 2000]);
    expect(fetchSizes).toEqual([FIRST_PAGE, 1000, 1000, 1000]);
  });

  it('reads one span a page when a span alone is larger than a chunk', async () => {
    const { conn } = fakeTrace(3, CHUNK_BYTES + 1, 2);
    expect(await read(conn)).toEqual([2, 1]);
  });
});
