// The Cassandra trace reader. getTraces pages through a trace's partition (one chunk per page, bounded in spans and
// in bytes). A search picks the most selective index table the query allows (an attribute or a special key's term,
// else duration, else operation, else service), walks its hour buckets newest first within the time window (a
// duration range merges the newest-first partitions of the duration classes it covers), and checks each span it
// points at against the whole query with the shared semantics (so every predicate holds on one span); index rows
// that answer the query exactly (service, operation, duration range or one special key, with a time range) need no
// check.
import type cassandra from 'cassandra-driver';
import {
  type CheckedQuery,
  DEFAULT_TENANT,
  type FoundTraceId,
  type GetTraceParams,
  InvalidArgumentError,
  MAX_NS,
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
  type SearchCapabilities,
} from '../api/index.js';
import { type SpanView, groupSpans, spanMatches } from '../api/semantics.js';
import { decodeTracesProto } from '../../otlp/otlp-proto.js';
import { Reader } from '../../otlp/proto-wire.js';
import type { CassandraConnection } from './connection.js';
import { BUCKET_NS, bucketOf } from './schema.js';
import { SPECIAL_QUERY_KEYS, durationClasses, specialQueryTerm } from './span-index.js';
import { MAX_INDEXED, fitsKey } from './writer.js';

const SELECT_TRACE = 'SELECT span FROM ks.spans WHERE tenant = ? AND trace_id = ?';
const SELECT_SPAN = 'SELECT span FROM ks.spans WHERE tenant = ? AND trace_id = ? AND span_id = ?';
/** hour buckets whose first page is read at once */
const PREFETCH = 8;
/** bytes of spans a chunk of a trace holds at most (but one span; and the first page is FIRST_PAGE spans) */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/** spans of the first page of a trace, read before the size of its spans is known */
export const FIRST_PAGE = 40;
/** traces (at first) and spans of a trace whose spans a search checks at once */
const TRACES_AT_ONCE = 16;
const SPANS_AT_ONCE = 4;
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
  /** the parameters of each partition read for one hour bucket (one, or one per duration class) */
  partitions: (bucket: number) => unknown[][];
  /** the clustering bounds after the partition key */
  bounds: unknown[];
  /** whether an index row meets the query's duration range (rows of span_by_duration_class carry the duration) */
  keep?: (row: cassandra.types.Row) => boolean;
  /** whether the spans found must be checked against the query */
  check: boolean;
}

const RANGE = 'start_ns >= ? AND start_ns <= ?';

/** The span_by_attribute term of a query attribute, if it has one: a special term, else the attribute as indexed. */
function indexTerm(key: string, value: string): [string, string] | undefined {
  if (SPECIAL_QUERY_KEYS.has(key)) return specialQueryTerm(key, value);
  // a resource.-prefixed key is indexed without the prefix (a superset: the check decides)
  const k = key.startsWith('resource.') ? key.slice('resource.'.length) : key;
  if (k === 'service.name' || k.length === 0 || k.length > MAX_INDEXED || value.length > MAX_INDEXED) return undefined;
  return [k, value];
}

function plan(tenant: string, cq: CheckedQuery, lo: bigint, hi: bigint): IndexPlan {
  const service = cq.serviceName!;
  const hasDuration = cq.durationMin !== undefined || cq.durationMax !== undefined;
  // an attribute term drives the search, an ordinary attribute before a special one (usually more selective)
  const terms = cq.attributes.map(([k, v]) => ({ special: SPECIAL_QUERY_KEYS.has(k), term: indexTerm(k, v) })).filter((t) => t.term !== undefined);
  const driver = terms.find((t) => !t.special) ?? terms[0];
  if (driver) {
    const [key, value] = driver.term!;
    // a special term holds exactly the spans of its key and value: alone in the query, its rows are the answer
    const exact = driver.special && cq.attributes.length === 1 && !cq.operationName && !hasDuration;
    return { cql: `SELECT trace_id, span_id FROM ks.span_by_attribute WHERE tenant = ? AND service = ? AND key = ? AND value = ? AND bucket = ? AND ${RANGE}`, partitions: (b) => [[tenant, service, key, value, b]], bounds: [lo, hi], check: !exact };
  }
  if (hasDuration) {
    const min = cq.durationMin ?? 0n;
    const max = cq.durationMax ?? MAX_NS;
    const classes = durationClasses(min, max);
    return {
      cql: `SELECT trace_id, span_id, start_ns, duration_ns FROM ks.span_by_duration_class WHERE tenant = ? AND service = ? AND operation = ? AND bucket = ? AND class = ? AND ${RANGE}`,
      partitions: (b) => classes.map((c) => [tenant, service, cq.operationName ?? '', b, c]),
      bounds: [lo, hi],
      keep: (r) => {
        const d = r.get('duration_ns') as bigint;
        return d >= min && d <= max;
      },
      check: cq.attributes.length > 0,
    };
  }
  const exact = cq.attributes.length === 0;
  if (cq.operationName) return { cql: `SELECT trace_id, span_id FROM ks.span_by_operation WHERE tenant = ? AND service = ? AND operation = ? AND bucket = ? AND ${RANGE}`, partitions: (b) => [[tenant, service, cq.operationName, b]], bounds: [lo, hi], check: !exact };
  return { cql: `SELECT trace_id, span_id FROM ks.span_by_service WHERE tenant = ? AND service = ? AND bucket = ? AND ${RANGE}`, partitions: (b) => [[tenant, service, b]], bounds: [lo, hi], check: !exact };
}

/** whether index row `a` comes before `b` in a partition (start_ns DESC, trace_id ASC, span_id ASC) */
function before(a: cassandra.types.Row, b: cassandra.types.Row): boolean {
  const sa = a.get('start_ns') as bigint;
  const sb = b.get('start_ns') as bigint;
  if (sa !== sb) return sa > sb;
  const t = Buffer.compare(a.get('trace_id') as Buffer, b.get('trace_id') as Buffer);
  return t < 0 || (t === 0 && Buffer.compare(a.get('span_id') as Buffer, b.get('span_id') as Buffer) < 0);
}

/**
 * The rows of one partition read, a page at a time. The first page is asked for at once (`first`, which never
 * rejects unobserved), the next ones when the rows before them have been taken.
 */
class Cursor {
  readonly first: Promise<cassandra.types.ResultSet>;
  private rows: cassandra.types.Row[] = [];
  private i = 0;
  private next: Promise<cassandra.types.ResultSet> | undefined;
  private pageState: string | undefined;

  constructor(private readonly fetch: (pageState?: string) => Promise<cassandra.types.ResultSet>) {
    this.first = fetch();
    this.first.catch(() => undefined);
    this.next = this.first;
  }

  /** the next row, or undefined after the last */
  async head(): Promise<cassandra.types.Row | undefined> {
    while (this.i >= this.rows.length) {
      if (!this.next) {
        if (!this.pageState) return undefined;
        this.next = this.fetch(this.pageState);
      }
      const rs = await this.next;
      this.next = undefined;
      this.rows = rs.rows;
      this.i = 0;
      this.pageState = rs.pageState ?? undefined;
    }
    return this.rows[this.i];
  }

  /** the rest of the current page (after head() found a row), and moves past it */
  takePage(): cassandra.types.Row[] {
    const out = this.i === 0 ? this.rows : this.rows.slice(this.i);
    this.i = this.rows.length;
    return out;
  }

  take(): void {
    this.i++;
  }
}

/** The rows of an hour bucket's partition reads merged in partition order (newest first), `size` rows at a time. */
async function* merged(cursors: readonly Cursor[], size: number): AsyncGenerator<cassandra.types.Row[]> {
  if (cursors.length === 1) {
    const c = cursors[0]!;
    while (await c.head()) yield c.takePage();
    return;
  }
  let out: cassandra.types.Row[] = [];
  for (;;) {
    let best: Cursor | undefined;
    let bestRow: cassandra.types.Row | undefined;
    for (const c of cursors) {
      const r = await c.head();
      if (r && (!bestRow || before(r, bestRow))) {
        best = c;
        bestRow = r;
      }
    }
    if (!best) break;
    out.push(bestRow!);
    best.take();
    if (out.length >= size) {
      yield out;
      out = [];
    }
  }
  if (out.length) yield out;
}

export class CassandraTraceReader implements TraceReader {
  constructor(private readonly conn: CassandraConnection) {}

  /** a search names its service (the index is by service); every filter on one span */
  searchCapabilities(): Promise<SearchCapabilities> {
    return Promise.resolve({ withoutServiceName: false, sameSpanConjunction: true });
  }

  /**
   * The chunks of one trace: a page of its partition each, of at most chunkSpans spans and about CHUNK_BYTES. The
   * first page is small (FIRST_PAGE spans); each next one holds as many spans as fit CHUNK_BYTES at the mean size
   * of the spans of the page before (a page is a number of rows: the driver cannot bound its bytes).
   */
  private async *trace(tenant: string, traceId: string, signal?: AbortSignal, first?: Promise<cassandra.types.ResultSet>): AsyncGenerator<TraceChunk> {
    const params = [tenant, Buffer.from(traceId, 'hex')];
    const most = this.conn.chunkSpans;
    let fetchSize = Math.min(most, FIRST_PAGE);
    let pageState: string | undefined;
    let next = first;
    for (;;) {
      const rs = await (next ?? this.conn.exec(SELECT_TRACE, params, { fetchSize, ...(pageState ? { pageState } : {}), ...(signal ? { signal } : {}) }));
      next = undefined;
      const blobs = rs.rows.map((r) => r.get('span') as Buffer);
      if (blobs.length) {
        const bytes = blobs.reduce((n, b) => n + b.length, 0);
        fetchSize = Math.max(1, Math.min(most, Math.floor((CHUNK_BYTES * blobs.length) / Math.max(1, bytes))));
        yield { traceId, resourceSpans: groupSpans(rowViews(blobs)) };
      }
      pageState = rs.pageState ?? undefined;
      if (!pageState) return;
    }
  }

  /** one page of a trace's partition: the first, or the one after `pageState` */
  /** the first page of a trace, as trace() reads it */
  private firstPage(tenant: string, traceId: string, signal?: AbortSignal): Promise<cassandra.types.ResultSet> {
    return this.conn.exec(SELECT_TRACE, [tenant, Buffer.from(traceId, 'hex')], { fetchSize: Math.min(this.conn.chunkSpans, FIRST_PAGE), ...(signal ? { signal } : {}) });
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

  /** whether a span of a trace the index pointed at meets the query: a few spans at a time, up to the first that does */
  private async traceMeets(tenant: string, e: { traceId: Buffer; spans: Buffer[] }, cq: CheckedQuery, signal?: AbortSignal): Promise<boolean> {
    for (let i = 0; i < e.spans.length; i += SPANS_AT_ONCE) {
      const ok = await Promise.all(e.spans.slice(i, i + SPANS_AT_ONCE).map((s) => this.spanMeets(tenant, e.traceId, s, cq, signal)));
      if (ok.some(Boolean)) return true;
    }
    return false;
  }

  /**
   * Up to `need` traces of one page of index rows that meet the query, in the page's order, not already in `found`.
   * Traces to check are read in growing slices (`need`, at least TRACES_AT_ONCE, doubling up to 256), so that a
   * search that needs a few traces does not read every span of a page, nor one slice after another when few match.
   */
  private async accept(tenant: string, rows: cassandra.types.Row[], p: IndexPlan, cq: CheckedQuery, found: Set<string>, need: number, signal?: AbortSignal): Promise<string[]> {
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
    if (!p.check) return entries.slice(0, need).map(([hex]) => hex);
    const out: string[] = [];
    for (let i = 0, size = Math.max(TRACES_AT_ONCE, need); i < entries.length && out.length < need; size = Math.min(256, size * 2)) {
      const slice = entries.slice(i, i + size);
      i += slice.length;
      const ok = await Promise.all(slice.map(([, e]) => this.traceMeets(tenant, e, cq, signal)));
      slice.forEach(([hex], k) => {
        if (ok[k] && out.length < need) out.push(hex);
      });
    }
    return out;
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
      // the first page of every partition of the group's buckets is asked for at once
      const group = buckets.slice(i, i + PREFETCH).map((b) =>
        p.partitions(b).map((key) => new Cursor((pageState) => this.conn.exec(p.cql, [...key, ...p.bounds], { fetchSize: INDEX_PAGE, ...(pageState ? { pageState } : {}), ...(signal ? { signal } : {}) }))),
      );
      try {
        for (let j = 0; j < group.length && found.size < cq.searchDepth; j++) {
          for await (const rows of merged(group[j]!, INDEX_PAGE)) {
            signal?.throwIfAborted();
            for (const hex of await this.accept(tenant, p.keep ? rows.filter(p.keep) : rows, p, cq, found, cq.searchDepth - found.size, signal)) {
              if (found.size >= cq.searchDepth) break;
              found.add(hex);
              out.push({ traceId: hex });
            }
            if (found.size >= cq.searchDepth) break;
          }
        }
      } finally {
        // every request asked for settles before the group is left (no rejection goes unobserved)
        await Promise.allSettled(group.flat().map((c) => c.first));
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
          while (firsts.length < Math.min(batch.length, i + TRACE_PREFETCH)) firsts.push(this.firstPage(tenant, batch[firsts.length]!.traceId, signal));
          for await (const c of this.trace(tenant, batch[i]!.traceId, signal, firsts[i])) {
            signal?.throwIfAborted();
            yield [c];
          }
        }
      } finally {
        // every prefetched read settles before the search is left (no rejection goes unobserved)
        await Promise.allSettled(firsts);
      }
    }
  }
}
