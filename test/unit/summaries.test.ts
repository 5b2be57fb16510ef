// The shared rules of trace summaries (src/storage/api/summaries.ts), on the edges the fixtures of the contract
// suite do not reach: ties in the root choice, spans without an end, spans without a service, a span ID seen twice,
// the cap on the services listed, and a trace split over chunks.
import { type ResourceSpans, type Span, SpanKind, StatusCode, type TraceChunk, MAX_SUMMARY_SERVICES, TraceSummarizer, newSpan, serviceBatch, summarizeTraces } from '../../src/storage/api/index.js';

const T = '5a11a11a0000000000000000000000aa';
const span = (spanId: string, parent: string, start: bigint, end: bigint, o: Partial<Span> = {}): Span =>
  newSpan({ traceId: T, spanId, parentSpanId: parent, name: `op-${spanId.slice(-2)}`, kind: SpanKind.Internal, startTimeUnixNano: start, endTimeUnixNano: end, ...o });
const summarize = (batches: ResourceSpans[]) => {
  const s = new TraceSummarizer(T);
  s.add(batches);
  return s.summary();
};

describe('trace summaries', () => {
  it('break a tie between roots by the lowest span ID, and prefer any parentless span to an earlier orphan', () => {
    const got = summarize([serviceBatch('a', [span('00000000000000b2', '', 10n, 20n), span('00000000000000b1', '', 10n, 30n), span('00000000000000c1', 'ffffffffffffffff', 1n, 2n)])]);
    expect([got.rootOperationName, got.orphanSpanCount, got.minStartTimeUnixNano, got.maxEndTimeUnixNano]).toEqual(['op-b1', 1, 1n, 30n]);
  });

  it('end a span without an end time (0) at its start, and list spans without service.name under ""', () => {
    const noService: ResourceSpans = { resource: { attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: [span('00000000000000d1', '', 50n, 0n, { status: { code: StatusCode.Error, message: '' } })] }] };
    const got = summarize([noService]);
    expect(got).toMatchObject({ minStartTimeUnixNano: 50n, maxEndTimeUnixNano: 50n, rootServiceName: '', errorSpanCount: 1, services: [{ name: '', spanCount: 1, errorSpanCount: 1 }] });
  });

  it('count a span ID once, and list at most MAX_SUMMARY_SERVICES services (the first by name) while counting every span', () => {
    const twice = summarize([serviceBatch('a', [span('00000000000000e1', '', 1n, 2n)]), serviceBatch('a', [span('00000000000000e1', '', 1n, 2n)])]);
    expect([twice.spanCount, twice.services]).toEqual([1, [{ name: 'a', spanCount: 1, errorSpanCount: 0 }]]);
    const n = MAX_SUMMARY_SERVICES + 5;
    const many = summarize(Array.from({ length: n }, (_, i) => serviceBatch(`svc-${String(n - i).padStart(5, '0')}`, [span((i + 1).toString(16).padStart(16, '0'), '', 1n, 2n)])));
    expect([many.spanCount, many.services.length, many.services[0]!.name]).toEqual([n, MAX_SUMMARY_SERVICES, 'svc-00001']);
  });

  it('summarise a trace split over several chunks once, and each trace of a stream in its turn', async () => {
    const U = '5a11a11a0000000000000000000000bb';
    async function* chunks(): AsyncGenerator<TraceChunk[]> {
      yield [{ traceId: T, resourceSpans: [serviceBatch('a', [span('00000000000000f1', '', 1n, 5n)])] }];
      yield [
        { traceId: T, resourceSpans: [serviceBatch('b', [span('00000000000000f2', '00000000000000f1', 2n, 3n)])] },
        { traceId: U, resourceSpans: [serviceBatch('c', [newSpan({ traceId: U, spanId: '00000000000000f3', name: 'u', kind: SpanKind.Server, startTimeUnixNano: 7n, endTimeUnixNano: 9n })])] },
      ];
    }
    const out = [];
    for await (const b of summarizeTraces(chunks())) out.push(...b);
    expect(out.map((s) => [s.traceId, s.spanCount, s.orphanSpanCount, s.services.map((x) => x.name)])).toEqual([
      [T, 2, 0, ['a', 'b']],
      [U, 1, 0, ['c']],
    ]);
  });
});
