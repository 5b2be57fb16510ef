// The span all benchmark loads are made of: span j of trace i, with 10 attributes of mixed types and the
// cardinalities of a web service (1,000 paths, 5,000 users, 20 tenants) and an error on every tenth trace. The
// loads differ only in times, names, services and the `ratio` values, passed in by each.
import { type Span, SpanKind, StatusCode, newSpan } from '../src/storage/api/index.js';

export interface SpanPlace {
  i: number;
  j: number;
  traceId: string;
  spanId: string;
  /** '' for the root */
  parentSpanId: string;
  name: string;
  start: bigint;
  end: bigint;
  /** added to the `ratio` attribute (j % 10) / 10 */
  ratioOffset: number;
}

export function benchSpan(p: SpanPlace): Span {
  const { i, j } = p;
  return newSpan({
    traceId: p.traceId,
    spanId: p.spanId,
    parentSpanId: p.parentSpanId,
    flags: 1,
    name: p.name,
    kind: j ? SpanKind.Client : SpanKind.Server,
    startTimeUnixNano: p.start,
    endTimeUnixNano: p.end,
    attributes: [
      { key: 'http.request.method', value: j % 2 ? 'GET' : 'POST' },
      { key: 'http.response.status_code', value: BigInt(200 + (j % 3) * 100) },
      { key: 'url.path', value: `/api/v1/items/${i % 1000}` },
      { key: 'user.id', value: `user-${i % 5000}` },
      { key: 'tenant', value: `tenant-${i % 20}` },
      { key: 'retry', value: j % 7 === 0 },
      { key: 'ratio', value: (j % 10) / 10 + p.ratioOffset },
      { key: 'region', value: 'eu-west-1' },
      { key: 'component', value: 'bench' },
      { key: 'seq', value: BigInt(j) },
    ],
    status: { code: j === 3 && i % 10 === 0 ? StatusCode.Error : StatusCode.Unset, message: '' },
  });
}
