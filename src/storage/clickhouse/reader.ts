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
  type TraceSummary,
  MAX_SUMMARY_SERVICES,
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

/**
 * The summaries of traces `ids` in one statement, by the shared rules of ../api/summaries.ts, reading eight narrow
 * columns instead of whole spans: each span ID once (a retried batch stores it twice; one whole row of it), joined to
 * the span IDs of its trace to tell orphans; the root is the earliest parentless span, else the earliest orphan
 * (ties: lowest span ID); times compared as the unsigned 64-bit numbers OTLP sends (stored as Int64); per-service
 * counts as sorted maps (the first MAX_SUMMARY_SERVICES are kept).
 */
export const traceSummariesSql = (db: string): string =>
  `WITH (SELECT (min(start_ns), max(end_ns)) FROM ${db}.trace_times WHERE trace_id IN {ids:Array(String)}) AS w
   SELECT a.trace_id,
     argMinIf((a.svc, a.op), (a.t0, a.span_id), a.parent = '') AS root,
     argMinIf((a.svc, a.op), (a.t0, a.span_id), a.parent != '' AND b.span_id = '') AS orphan_root,
     countIf(a.parent = '') AS roots,
     toString(min(a.t0)), toString(max(a.t1)), count(), countIf(a.status = 2),
     countIf(a.parent != '' AND b.span_id = ''),
     sumMap([a.svc], [toUInt64(1)]), sumMap([a.svc], [toUInt64(a.status = 2)])
   FROM (SELECT trace_id, span_id, r.1 AS parent, r.2 AS svc, r.3 AS op, r.4 AS t0, greatest(r.5, r.4) AS t1, r.6 AS status
         FROM (SELECT trace_id, span_id, any((parent_span_id, service, name, reinterpretAsUInt64(start_ns), reinterpretAsUInt64(end_ns), status_code)) AS r
               FROM ${db}.spans WHERE trace_id IN {ids:Array(String)} AND start_ns >= w.1 AND start_ns <= w.2 GROUP BY trace_id, span_id)) AS a
   LEFT JOIN (SELECT DISTINCT trace_id, span_id FROM ${db}.spans WHERE trace_id IN {ids:Array(String)} AND start_ns >= w.1 AND start_ns <= w.2) AS b
     ON a.trace_id = b.trace_id AND a.parent = b.span_id
   GROUP BY a.trace_id
   SETTINGS join_use_nulls = 0`;

type SummaryRow = [string, [string, string], [string, string], number | string, string, string, number | string, number | string, number | string, [string[], (number | string)[]], [string[], (number | string)[]]];

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

  /** computed by the engine (traceSummariesSql), in the order of the search */
  async *findTraceSummaries(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceSummary[]> {
    const ids = await this.found(q, ctx?.signal);
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      const part = ids.slice(i, i + IDS_PER_QUERY);
      const rows = await this.conn.rows<SummaryRow>(traceSummariesSql(this.db), { ids: part }, ctx?.signal);
      const byId = new Map(rows.map((r) => [r[0], summaryOf(r)]));
      const out = part.map((id) => byId.get(id)).filter((x): x is TraceSummary => x !== undefined);
      if (out.length) yield out;
    }
  }

  async *findTraces(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const ids = await this.found(q, ctx?.signal);
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) yield* this.traces(ids.slice(i, i + IDS_PER_QUERY), ctx?.signal);
  }
}

function summaryOf(r: SummaryRow): TraceSummary {
  const [traceId, root, orphanRoot, roots, min, max, spans, errors, orphans, perService, perServiceErrors] = r;
  const [service, name] = Number(roots) > 0 ? root : orphanRoot;
  const errorsOf = new Map(perServiceErrors[0].map((k, i) => [k, Number(perServiceErrors[1][i])]));
  return {
    traceId,
    rootServiceName: service,
    rootOperationName: name,
    minStartTimeUnixNano: BigInt(min),
    maxEndTimeUnixNano: BigInt(max),
    spanCount: Number(spans),
    errorSpanCount: Number(errors),
    orphanSpanCount: Number(orphans),
    services: perService[0].slice(0, MAX_SUMMARY_SERVICES).map((name, i) => ({ name, spanCount: Number(perService[1][i]), errorSpanCount: errorsOf.get(name) ?? 0 })),
  };
}
