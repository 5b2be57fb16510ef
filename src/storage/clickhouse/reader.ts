// The ClickHouse trace reader. GetTrace: the time range of each trace from trace_times, then the spans of those
// traces in that range only, in one statement (partitions outside it are never read; the bloom filter on trace_id
// skips granules).
// Search: one GROUP BY over the matching spans, ordered by the latest matching start and limited in the same query
// (an ORDER BY with the LIMIT, so the most recent traces come back, not an arbitrary set), then GetTrace of the IDs.
import {
  type CheckedQuery,
  type FoundTraceId,
  type GetTraceParams,
  type Operation,
  type OperationQuery,
  SPAN_KIND_NAMES,
  type SpanKind,
  type StorageContext,
  type TraceChunk,
  type TraceQuery,
  type TraceReader,
  checkGetTraceParams,
  checkOperationQuery,
  checkTraceQuery,
  type SearchCapabilities,
} from '../api/index.js';
import { type SpanView, chunkTrace } from '../api/semantics.js';
import type { ClickHouseConnection } from './connection.js';
import { type Where, whereOf } from './query.js';
import { READ_COLUMNS, RowDecoder } from './rows.js';

/**
 * GetTrace of the IDs in {ids} as one statement: the window of the traces from trace_times (a scalar subquery,
 * computed before the spans are read, so only the partitions and parts of that window are), then their spans in it.
 * Unknown IDs widen nothing.
 */
export const getTracesSql = (db: string): string =>
  `WITH (SELECT (min(start_ns), max(end_ns)) FROM ${db}.trace_times WHERE trace_id IN {ids:Array(String)}) AS w
   SELECT ${READ_COLUMNS} FROM ${db}.spans WHERE trace_id IN {ids:Array(String)} AND start_ns >= w.1 AND start_ns <= w.2 ORDER BY trace_id, start_ns, span_id`;

/**
 * The trace IDs of a search as one statement: one GROUP BY over the matching spans, ordered by each trace's latest
 * matching start and limited in the same query. Its WHERE clause reads the stored kinds of the attribute keys it
 * compares from attribute_keys.
 */
export const findTraceIdsSql = (db: string, where: Where): string =>
  `${where.with ? `WITH ${where.with} ` : ''}SELECT trace_id FROM ${db}.spans WHERE ${where.sql} GROUP BY trace_id ORDER BY max(start_ns) DESC, trace_id LIMIT {depth:UInt32}`;

/** the search of a checked query as SQL, for the spans of database `db` */
export const searchOf = (db: string, q: CheckedQuery): Where => whereOf(q, `${db}.attribute_keys`);

/** trace IDs per GetTrace query */
const IDS_PER_QUERY = 200;

export class ClickHouseTraceReader implements TraceReader {
  constructor(
    private readonly conn: ClickHouseConnection,
    private readonly chunkSpans: number,
  ) {}

  /** any service when none is named; every filter on one span */
  searchCapabilities(): Promise<SearchCapabilities> {
    return Promise.resolve({ withoutServiceName: true, sameSpanConjunction: true });
  }

  private get db(): string {
    return this.conn.database;
  }

  async *getTraces(params: GetTraceParams[], ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const checked = checkGetTraceParams(params);
    const ids = [...new Set(checked.map((p) => p.traceId))];
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) yield* this.traces(ids.slice(i, i + IDS_PER_QUERY), ctx?.signal);
  }

  /** the whole traces of `ids` (known ones only), each in consecutive chunks, one chunk per yield */
  private async *traces(ids: readonly string[], signal?: AbortSignal): AsyncGenerator<TraceChunk[]> {
    const decoder = new RowDecoder();
    let current: string | undefined;
    let spans: SpanView[] = [];
    let seen = new Set<string>();
    const flush = (): TraceChunk[] => (current && spans.length ? [...chunkTrace(current, spans, this.chunkSpans)] : []);
    const rows = this.conn.stream<(string | number | boolean | null)[]>(getTracesSql(this.db), { ids }, signal);
    for await (const batch of rows) {
      const out: TraceChunk[] = [];
      for (const row of batch) {
        const v = decoder.view(row as never);
        if (v.span.traceId !== current) {
          out.push(...flush());
          current = v.span.traceId;
          spans = [];
          seen = new Set();
        }
        // a span written twice (a retried batch) comes back once
        const key = `${v.span.spanId}/${v.span.startTimeUnixNano}/${v.span.endTimeUnixNano}/${v.span.name}`;
        if (seen.has(key)) continue;
        seen.add(key);
        spans.push(v);
        if (spans.length === this.chunkSpans) {
          out.push(...flush());
          spans = [];
        }
      }
      for (const c of out) {
        signal?.throwIfAborted();
        yield [c];
      }
    }
    for (const c of flush()) {
      signal?.throwIfAborted();
      yield [c];
    }
  }

  async getServices(ctx?: StorageContext): Promise<string[]> {
    const rows = await this.conn.rows<[string]>(`SELECT DISTINCT service FROM ${this.db}.operations WHERE service != '' ORDER BY service`, {}, ctx?.signal);
    return rows.map((r) => r[0]);
  }

  async getOperations(q: OperationQuery, ctx?: StorageContext): Promise<Operation[]> {
    checkOperationQuery(q);
    const wanted = q.spanKind?.toLowerCase();
    let kind: number | undefined;
    if (wanted) {
      const hit = Object.entries(SPAN_KIND_NAMES).find(([, name]) => name === wanted);
      if (!hit) return [];
      kind = Number(hit[0]);
    }
    const rows = await this.conn.rows<[string, number]>(
      `SELECT DISTINCT name, kind FROM ${this.db}.operations WHERE service = {service:String}${kind === undefined ? '' : ' AND kind = {kind:UInt8}'} ORDER BY name, kind`,
      { service: q.service, ...(kind === undefined ? {} : { kind }) },
      ctx?.signal,
    );
    return rows.map(([name, k]) => ({ name, spanKind: SPAN_KIND_NAMES[Number(k) as SpanKind] ?? '' })).sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
  }

  /** the trace IDs of a search, most recent first (one GROUP BY, ordered and limited in the same query) */
  private async found(q: TraceQuery, signal?: AbortSignal): Promise<string[]> {
    const cq = checkTraceQuery(q);
    const where = searchOf(this.db, cq);
    const rows = await this.conn.rows<[string]>(findTraceIdsSql(this.db, where), { ...where.params, depth: cq.searchDepth }, signal);
    return rows.map((r) => r[0]);
  }

  /**
   * Without time hints: a trace's range is read from trace_times when it is fetched (GetTraces), so a search pays
   * for one query, not two.
   */
  async *findTraceIds(q: TraceQuery, ctx?: StorageContext): AsyncIterable<FoundTraceId[]> {
    const ids = await this.found(q, ctx?.signal);
    if (ids.length) yield ids.map((traceId) => ({ traceId }));
  }

  async *findTraces(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const ids = await this.found(q, ctx?.signal);
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) yield* this.traces(ids.slice(i, i + IDS_PER_QUERY), ctx?.signal);
  }
}
