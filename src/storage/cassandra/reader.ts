// The Cassandra trace reader. getTraces pages through a trace's partition (one chunk per page). A search picks the
// most selective index table the query allows (an attribute, else duration, else operation, else service), walks
// its hour buckets newest first within the time window, and checks each span it points at against the whole
// query with the shared semantics (so every predicate holds on one span); index rows that answer the query exactly
// (service or operation with a time range) need no check.
import type cassandra from 'cassandra-driver';
import {
  type CheckedQuery,
  DEFAULT_TENANT,
  type FoundTraceId,
  type GetTraceParams,
  InvalidArgumentError,
  type Operation,
  type OperationQuery,
  type StorageContext,
  type TraceChunk,
  type TraceQuery,
  type TraceReader,
  checkGetTraceParams,
  checkOperationQuery,
  checkTraceQuery,
  serviceOf,
} from '../api/index.js';
import { type SpanView, groupSpans, spanMatches } from '../api/semantics.js';
import { decodeTracesProto } from '../../otlp/otlp-proto.js';
import { Reader } from '../../otlp/proto-wire.js';
import type { CassandraConnection } from './connection.js';
import { BUCKET_NS, bucketOf } from './schema.js';
import { MAX_INDEXED, fitsKey } from './writer.js';

const SELECT_TRACE = 'SELECT span FROM ks.spans WHERE tenant = ? AND trace_id = ?';
const SELECT_SPAN = 'SELECT span FROM ks.spans WHERE tenant = ? AND trace_id = ? AND span_id = ?';
/** keys a search answers from span fields, not from the attribute index */
const SPECIAL = new Set(['error', 'span.kind', 'span.status', 'scope.name', 'scope.version', 'service.name', 'resource.service.name']);
/** hour buckets whose first page is read at once */
const PREFETCH = 8;
/** traces of a search whose first page is read while earlier ones are returned */
const TRACE_PREFETCH = 8;
/** rows per page of an index partition */
const INDEX_PAGE = 1000;
/** a search without bounds looks this far past the retention (spans stamped before they were written) and ahead */
const SLACK_NS = 86_400_000_000_000n;
/** hour buckets one search reads at most (about 400 days) */
export const MAX_SEARCH_BUCKETS = 9600;

/**
 * The start-time window a search reads, in nanoseconds. Bounds the caller gave are kept as given (late or
 * backfilled spans stay findable); a missing lower bound is the retention plus a day ago, or with retention 0
 * (nothing expires) as far back as MAX_SEARCH_BUCKETS reaches; a missing upper bound is a day ahead. A window
 * wider than MAX_SEARCH_BUCKETS hour buckets is refused.
 */
export function searchWindow(nowNs: bigint, retentionNs: bigint, min: bigint | undefined, max: bigint | undefined): { lo: bigint; hi: bigint } | undefined {
  const hi = max ?? nowNs + SLACK_NS;
  let lo = min;
  if (lo === undefined) {
    const widest = hi - BigInt(MAX_SEARCH_BUCKETS - 1) * BUCKET_NS;
    lo = retentionNs > 0n && nowNs - retentionNs - SLACK_NS > widest ? nowNs - retentionNs - SLACK_NS : widest;
  }
  if (lo > hi) return undefined;
  if (bucketOf(hi, BUCKET_NS) - bucketOf(lo, BUCKET_NS) >= MAX_SEARCH_BUCKETS) {
    throw new InvalidArgumentError('startTimeMin', `the window from startTimeMin to startTimeMax spans more than ${MAX_SEARCH_BUCKETS / 24} days: narrow it`);
  }
  return { lo, hi };
}

/** The span of a `spans` row with its resource and scope. */
export function spanView(blob: Buffer): SpanView {
  const rs = decodeTracesProto(blob).traces[0]!;
  const ss = rs.scopeSpans[0]!;
  return { span: ss.spans[0]!, resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, service: serviceOf(rs.resource) };
}

/**
 * The encoded resource with its schema URL, and the encoded scope with its schema URL, of a `spans` row: rows with
 * equal keys came with the same resource (scope), and share one decoded object in a chunk. The row is TracesData {
 * ResourceSpans { resource = 1, scope_spans = 2 { scope = 1, spans = 2, schema_url = 3 }, schema_url = 3 } }.
 */
export function originKeys(blob: Buffer): { resource: string; scope: string } {
  const r = new Reader(blob, { ri: 0, si: 0, ki: -1 });
  const parts: [string[], string[], string[]] = [[], [], []];
  /** keeps the length-delimited fields in `keep` (in parts[depth]), descends into field `into` */
  const fields = (depth: 0 | 1 | 2, end: number, keep: readonly number[], into?: number, inner?: (end: number) => void): void => {
    while (r.pos < end) {
      const tag = r.varint();
      const field = tag >>> 3;
      if ((tag & 7) === 2 && (keep.includes(field) || field === into)) {
        const e = r.len(end);
        if (field === into) inner?.(e);
        else parts[depth].push(`${field}:${blob.toString('latin1', r.pos, e)}`);
        r.pos = e;
      } else r.skip(tag, end);
    }
  };
  fields(0, blob.length, [], 1, (rsEnd) => fields(1, rsEnd, [1, 3], 2, (ssEnd) => fields(2, ssEnd, [1, 3])));
  return { resource: parts[1].join('\u0000'), scope: parts[2].join('\u0000') };
}

/**
 * Span views of `spans` rows: rows that came with the same resource (and scope) share one decoded object, and are
 * ordered by them, so that groupSpans makes one ResourceSpans per resource and one ScopeSpans per scope in it.
 */
export function rowViews(blobs: readonly Buffer[]): SpanView[] {
  const resources = new Map<string, { view: SpanView; scopes: Map<string, { view: SpanView; spans: SpanView[] }> }>();
  for (const b of blobs) {
    const v = spanView(b);
    const k = originKeys(b);
    let res = resources.get(k.resource);
    if (!res) resources.set(k.resource, (res = { view: v, scopes: new Map() }));
    const sc = res.scopes.get(k.scope);
    if (sc) sc.spans.push({ ...sc.view, span: v.span });
    else {
      const view: SpanView = { ...v, resource: res.view.resource, resourceSchemaUrl: res.view.resourceSchemaUrl, service: res.view.service };
      res.scopes.set(k.scope, { view, spans: [view] });
    }
  }
  const out: SpanView[] = [];
  for (const res of resources.values()) for (const sc of res.scopes.values()) out.push(...sc.spans);
  return out;
}

const tenantOf = (ctx?: StorageContext): string => ctx?.tenant ?? DEFAULT_TENANT;

interface IndexPlan {
  cql: string;
  /** the partition key values before the bucket */
  key: unknown[];
  /** clustering bounds after the bucket */
  bounds: unknown[];
  /** whether the spans found must be checked against the query */
  check: boolean;
}

function plan(tenant: string, cq: CheckedQuery, lo: bigint, hi: bigint): IndexPlan {
  const service = cq.serviceName!;
  const hasDuration = cq.durationMin !== undefined || cq.durationMax !== undefined;
  // the first attribute the index holds: its key as indexed (a resource.-prefixed key is indexed without the prefix)
  const attr = cq.attributes.map(([k, v]) => [k.startsWith('resource.') ? k.slice('resource.'.length) : k, v] as const).find(([k, v], i) => !SPECIAL.has(cq.attributes[i]![0]) && k !== 'service.name' && k.length > 0 && k.length <= MAX_INDEXED && v.length <= MAX_INDEXED);
  const range = 'start_ns >= ? AND start_ns <= ?';
  if (attr) {
    return { cql: `SELECT trace_id, span_id FROM ks.span_by_attribute WHERE tenant = ? AND service = ? AND key = ? AND value = ? AND bucket = ? AND ${range}`, key: [tenant, service, attr[0], attr[1]], bounds: [lo, hi], check: true };
  }
  if (hasDuration) {
    return {
      cql: 'SELECT trace_id, span_id FROM ks.span_by_duration WHERE tenant = ? AND service = ? AND operation = ? AND bucket = ? AND duration_ns >= ? AND duration_ns <= ?',
      key: [tenant, service, cq.operationName ?? ''],
      bounds: [cq.durationMin ?? 0n, cq.durationMax ?? 9_223_372_036_854_775_807n],
      check: true,
    };
  }
  const exact = cq.attributes.length === 0;
  if (cq.operationName) return { cql: `SELECT trace_id, span_id FROM ks.span_by_operation WHERE tenant = ? AND service = ? AND operation = ? AND bucket = ? AND ${range}`, key: [tenant, service, cq.operationName], bounds: [lo, hi], check: !exact };
  return { cql: `SELECT trace_id, span_id FROM ks.span_by_service WHERE tenant = ? AND service = ? AND bucket = ? AND ${range}`, key: [tenant, service], bounds: [lo, hi], check: !exact };
}

export class CassandraTraceReader implements TraceReader {
  constructor(private readonly conn: CassandraConnection) {}

  /** the chunks of one trace: a page of its partition each */
  private async *trace(tenant: string, traceId: string, signal?: AbortSignal): AsyncGenerator<TraceChunk> {
    for await (const rows of this.conn.pages(SELECT_TRACE, [tenant, Buffer.from(traceId, 'hex')], this.conn.chunkSpans, signal)) {
      yield { traceId, resourceSpans: groupSpans(rowViews(rows.map((r) => r.get('span') as Buffer))) };
    }
  }

  /** one page of a trace's partition: the first, or the one after `pageState` */
  private tracePage(tenant: string, traceId: string, pageState: string | undefined, signal?: AbortSignal): Promise<cassandra.types.ResultSet> {
    return this.conn.exec(SELECT_TRACE, [tenant, Buffer.from(traceId, 'hex')], { fetchSize: this.conn.chunkSpans, ...(pageState ? { pageState } : {}), ...(signal ? { signal } : {}) });
  }

  async *getTraces(params: GetTraceParams[], ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const checked = checkGetTraceParams(params);
    const seen = new Set<string>();
    // a trace is returned whole whatever its time bounds (they are hints; the partition holds the whole trace)
    for (const p of checked) {
      if (seen.has(p.traceId)) continue;
      seen.add(p.traceId);
      for await (const c of this.trace(tenantOf(ctx), p.traceId, ctx?.signal)) {
        ctx?.signal?.throwIfAborted();
        yield [c];
      }
    }
  }

  async getServices(ctx?: StorageContext): Promise<string[]> {
    const out: string[] = [];
    for await (const rows of this.conn.pages('SELECT service FROM ks.services WHERE tenant = ? AND shard = 0', [tenantOf(ctx)], 10_000, ctx?.signal)) for (const r of rows) out.push(r.get('service') as string);
    return out.sort();
  }

  async getOperations(q: OperationQuery, ctx?: StorageContext): Promise<Operation[]> {
    checkOperationQuery(q);
    // a name too long to be a key was never stored (the writer refuses it)
    if (!fitsKey(q.service) || !fitsKey(tenantOf(ctx))) return [];
    const kind = q.spanKind?.toLowerCase().replace(/^span_kind_/, '');
    const out: Operation[] = [];
    const cql = kind ? 'SELECT span_kind, operation FROM ks.operations WHERE tenant = ? AND service = ? AND span_kind = ?' : 'SELECT span_kind, operation FROM ks.operations WHERE tenant = ? AND service = ?';
    for await (const rows of this.conn.pages(cql, kind ? [tenantOf(ctx), q.service, kind] : [tenantOf(ctx), q.service], 10_000, ctx?.signal)) {
      for (const r of rows) out.push({ name: r.get('operation') as string, spanKind: r.get('span_kind') as string });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
  }

  /** whether a span the index pointed at (any stored version of it) meets the query */
  private async spanMeets(tenant: string, traceId: Buffer, spanId: Buffer, cq: CheckedQuery, signal?: AbortSignal): Promise<boolean> {
    const rs = await this.conn.exec(SELECT_SPAN, [tenant, traceId, spanId], signal ? { signal } : {});
    return rs.rows.some((r) => spanMatches(spanView(r.get('span') as Buffer), cq));
  }

  /** the traces of one page of index rows that meet the query, in the page's order, not already in `found` */
  private async accept(tenant: string, rows: cassandra.types.Row[], p: IndexPlan, cq: CheckedQuery, found: Set<string>, signal?: AbortSignal): Promise<string[]> {
    const byTrace = new Map<string, { traceId: Buffer; spans: Buffer[] }>();
    for (const r of rows) {
      const tid = r.get('trace_id') as Buffer;
      const hex = tid.toString('hex');
      if (found.has(hex)) continue;
      let e = byTrace.get(hex);
      if (!e) byTrace.set(hex, (e = { traceId: tid, spans: [] }));
      e.spans.push(r.get('span_id') as Buffer);
    }
    const entries = [...byTrace];
    if (!p.check) return entries.map(([hex]) => hex);
    const ok = await Promise.all(entries.map(async ([, e]) => (await Promise.all(e.spans.map((s) => this.spanMeets(tenant, e.traceId, s, cq, signal)))).some(Boolean)));
    return entries.filter((_, i) => ok[i]).map(([hex]) => hex);
  }

  async *findTraceIds(q: TraceQuery, ctx?: StorageContext): AsyncIterable<FoundTraceId[]> {
    const cq = checkTraceQuery(q);
    if (!cq.serviceName) throw new InvalidArgumentError('serviceName', 'is required: the Cassandra store searches the spans of one service');
    const signal = ctx?.signal;
    const tenant = tenantOf(ctx);
    // a name too long to be a key was never stored (the writer refuses it)
    if (![tenant, cq.serviceName, cq.operationName ?? ''].every(fitsKey)) return;
    const window = searchWindow(BigInt(Date.now()) * 1_000_000n, this.conn.retentionNs, cq.startTimeMin, cq.startTimeMax);
    if (!window) return;
    const { lo, hi } = window;
    const p = plan(tenant, cq, lo, hi);
    const buckets: number[] = [];
    for (let b = bucketOf(hi, BUCKET_NS); b >= bucketOf(lo, BUCKET_NS); b--) buckets.push(b);
    const found = new Set<string>();
    const out: FoundTraceId[] = [];
    for (let i = 0; i < buckets.length && found.size < cq.searchDepth; i += PREFETCH) {
      const group = buckets.slice(i, i + PREFETCH);
      const firsts = group.map((b) => this.conn.exec(p.cql, [...p.key, b, ...p.bounds], { fetchSize: INDEX_PAGE, ...(signal ? { signal } : {}) }));
      // every prefetched request settles before this group is left (no rejection goes unobserved)
      const settled = Promise.allSettled(firsts);
      try {
        for (let j = 0; j < group.length && found.size < cq.searchDepth; j++) {
          let page = await firsts[j]!;
          for (;;) {
            signal?.throwIfAborted();
            for (const hex of await this.accept(tenant, page.rows, p, cq, found, signal)) {
              if (found.size >= cq.searchDepth) break;
              found.add(hex);
              out.push({ traceId: hex });
            }
            if (!page.pageState || found.size >= cq.searchDepth) break;
            page = await this.conn.exec(p.cql, [...p.key, group[j], ...p.bounds], { fetchSize: INDEX_PAGE, pageState: page.pageState, ...(signal ? { signal } : {}) });
          }
        }
      } finally {
        await settled;
      }
    }
    if (out.length) yield out;
  }

  /**
   * The traces found, in the order found, each as its partition's pages. The first pages of the next TRACE_PREFETCH
   * traces are read while a trace is returned, so a search costs about one round trip per TRACE_PREFETCH traces
   * instead of one per trace; a trace's further pages are read as it is consumed.
   */
  async *findTraces(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const tenant = tenantOf(ctx);
    const signal = ctx?.signal;
    for await (const batch of this.findTraceIds(q, ctx)) {
      const firsts: Promise<cassandra.types.ResultSet>[] = [];
      try {
        for (let i = 0; i < batch.length; i++) {
          while (firsts.length < Math.min(batch.length, i + TRACE_PREFETCH)) firsts.push(this.tracePage(tenant, batch[firsts.length]!.traceId, undefined, signal));
          const traceId = batch[i]!.traceId;
          for (let page = await firsts[i]!; ; page = await this.tracePage(tenant, traceId, page.pageState, signal)) {
            signal?.throwIfAborted();
            if (page.rows.length) yield [{ traceId, resourceSpans: groupSpans(rowViews(page.rows.map((r) => r.get('span') as Buffer))) }];
            if (!page.pageState) break;
          }
        }
      } finally {
        // every prefetched read settles before the search is left (no rejection goes unobserved)
        await Promise.allSettled(firsts);
      }
    }
  }
}
