// The Elasticsearch / OpenSearch trace reader (request bodies: ./queries.ts). Get-trace reads up to
// TRACES_PER_SEARCH traces per search (as Jaeger's _msearch does) and pages a trace larger than one page with
// search_after. The StorageContext signal goes with every request and is checked between chunks.
import { StorageError } from '../api/errors.js';
import {
  type FoundTraceId,
  type GetTraceParams,
  type Operation,
  type OperationQuery,
  type StorageContext,
  type TraceChunk,
  type TraceQuery,
  type TraceReader,
  checkGetTraceParams,
  checkTraceQuery,
  type SearchCapabilities,
  StatusCode,
  TraceSummarizer,
  type TraceSummary,
} from '../api/index.js';
import { chunkTrace } from '../api/semantics.js';
import type { SearchConnection } from './connection.js';
import { RecordDecoder, type SpanDoc } from './docs.js';
import { SUMMARY_FIELDS, findTraceIdsRequest, operationsRequest, servicesRequest, spanInRangeRequest, traceSpansRequest, tracesRequest } from './queries.js';

/** A span document as a summary reads it (SUMMARY_FIELDS) */
type SummaryDoc = Pick<SpanDoc, 'traceId' | 'spanId' | 'parentSpanId' | 'service' | 'name' | 'startTimeNanos' | 'durationNanos'> & { record?: { span?: { status?: { code?: number } } } };

/** trace IDs fetched by one search in getTraces */
const TRACES_PER_SEARCH = 100;

/** Spans of one trace, in start order, page by page (search_after over start time and document ID). */
export async function* traceSpanPages<T = SpanDoc>(conn: SearchConnection, traceId: string, fields?: string[], signal?: AbortSignal): AsyncGenerator<T[]> {
  let after: unknown[] | undefined;
  for (;;) {
    const r = await conn.search<T>(traceSpansRequest(conn.names, traceId, conn.pageSize, fields, after), signal);
    const hits = r.hits.hits;
    if (hits.length) yield hits.map((h) => h._source);
    if (hits.length < conn.pageSize) return;
    after = hits[hits.length - 1]!.sort;
  }
}

export class SearchTraceReader implements TraceReader {
  constructor(private readonly conn: SearchConnection) {}

  /** any service when none is named; every filter on one span */
  searchCapabilities(): Promise<SearchCapabilities> {
    return Promise.resolve({ withoutServiceName: true, sameSpanConjunction: true });
  }

  private async hasSpanIn(traceId: string, start: bigint | undefined, end: bigint | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    const r = await this.conn.search<unknown>(spanInRangeRequest(this.conn.names, traceId, start, end), signal);
    return r.hits.hits.length > 0;
  }

  /**
   * The span documents (`fields` of each) of traces `ids`, TRACES_PER_SEARCH traces per search: per batch, each trace
   * with its pages; a batch that fills a page is read trace by trace.
   */
  private async *docBatches<T extends Pick<SpanDoc, 'traceId'>>(ids: string[], signal: AbortSignal | undefined, fields?: string[]): AsyncGenerator<[string, AsyncIterable<T[]> | T[][]][]> {
    for (let i = 0; i < ids.length; i += TRACES_PER_SEARCH) {
      const batch = ids.slice(i, i + TRACES_PER_SEARCH);
      const byTrace = batch.length > 1 ? await this.smallTraces<T>(batch, signal, fields) : undefined;
      yield batch.map((traceId) => [traceId, byTrace ? (byTrace.has(traceId) ? [byTrace.get(traceId)!] : []) : traceSpanPages<T>(this.conn, traceId, fields, signal)]);
    }
  }

  /** The spans of several traces in one search (`fields` of each), or undefined when they do not fit one page. */
  private async smallTraces<T extends Pick<SpanDoc, 'traceId'> = SpanDoc>(traceIds: string[], signal: AbortSignal | undefined, fields?: string[]): Promise<Map<string, T[]> | undefined> {
    const r = await this.conn.search<T>(tracesRequest(this.conn.names, traceIds, this.conn.pageSize, fields), signal);
    if (r.hits.hits.length >= this.conn.pageSize) return undefined;
    const out = new Map<string, T[]>();
    for (const h of r.hits.hits) {
      let list = out.get(h._source.traceId);
      if (!list) out.set(h._source.traceId, (list = []));
      list.push(h._source);
    }
    return out;
  }

  async *getTraces(params: GetTraceParams[], ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const signal = ctx?.signal;
    const seen = new Set<string>();
    const ids: string[] = [];
    for (const p of checkGetTraceParams(params)) {
      if (seen.has(p.traceId)) continue;
      seen.add(p.traceId);
      if ((p.start !== undefined || p.end !== undefined) && !(await this.hasSpanIn(p.traceId, p.start, p.end, signal))) continue;
      ids.push(p.traceId);
    }
    for await (const batch of this.docBatches<SpanDoc>(ids, signal)) {
      for (const [traceId, pages] of batch) {
        const decoder = new RecordDecoder();
        for await (const page of pages) {
          const views = page.map((d) => decoder.decode(d));
          for (const c of chunkTrace(traceId, views, this.conn.chunkSpans)) {
            signal?.throwIfAborted();
            yield [c];
          }
        }
      }
    }
  }

  async getServices(ctx?: StorageContext): Promise<string[]> {
    const r = await this.conn.search<unknown>(servicesRequest(this.conn.names), ctx?.signal);
    const b = (r.aggregations?.s as { buckets: { key: string }[] } | undefined)?.buckets ?? [];
    return b.map((x) => x.key).filter(Boolean).sort();
  }

  async getOperations(q: OperationQuery, ctx?: StorageContext): Promise<Operation[]> {
    if (typeof q.service !== 'string') throw new StorageError('InvalidArgument', 'service: is required');
    const r = await this.conn.search<unknown>(operationsRequest(this.conn.names, q), ctx?.signal);
    const out: Operation[] = [];
    for (const n of (r.aggregations?.n as { buckets: { key: string; k: { buckets: { key: string }[] } }[] } | undefined)?.buckets ?? []) {
      for (const k of n.k.buckets) out.push({ name: n.key, spanKind: k.key });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
  }

  private async matchingTraceIds(q: TraceQuery, signal: AbortSignal | undefined): Promise<FoundTraceId[]> {
    const req = findTraceIdsRequest(this.conn.names, checkTraceQuery(q));
    if (!req) return [];
    const r = await this.conn.search<unknown>(req, signal);
    const buckets = (r.aggregations?.t as { buckets: { key: string }[] } | undefined)?.buckets ?? [];
    return buckets.map((b) => ({ traceId: b.key }));
  }

  async *findTraceIds(q: TraceQuery, ctx?: StorageContext): AsyncIterable<FoundTraceId[]> {
    const ids = await this.matchingTraceIds(q, ctx?.signal);
    if (ids.length) yield ids;
  }

  /**
   * Summaries from eight fields of each span document (SUMMARY_FIELDS) rather than whole records, by the shared rules
   * (TraceSummarizer), in the order of the search; several traces per search as getTraces reads them.
   */
  async *findTraceSummaries(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceSummary[]> {
    const signal = ctx?.signal;
    const ids = (await this.matchingTraceIds(q, signal)).map((x) => x.traceId);
    for await (const batch of this.docBatches<SummaryDoc>(ids, signal, SUMMARY_FIELDS)) {
      const out: TraceSummary[] = [];
      for (const [traceId, pages] of batch) {
        const sum = new TraceSummarizer(traceId);
        let any = false;
        for await (const page of pages) {
          for (const d of page) {
            const start = BigInt(d.startTimeNanos);
            sum.span({ spanId: d.spanId, parentSpanId: d.parentSpanId, name: d.name, startTimeUnixNano: start, endTimeUnixNano: start + BigInt(d.durationNanos), status: { code: d.record?.span?.status?.code ?? StatusCode.Unset } }, d.service);
            any = true;
          }
        }
        if (any) out.push(sum.summary());
      }
      signal?.throwIfAborted();
      if (out.length) yield out;
    }
  }

  async *findTraces(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const ids = await this.matchingTraceIds(q, ctx?.signal);
    yield* this.getTraces(
      ids.map((x) => ({ traceId: x.traceId })),
      ctx,
    );
  }
}
