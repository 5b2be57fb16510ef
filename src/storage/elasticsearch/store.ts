// The Elasticsearch / OpenSearch backend: every storage interface over one SearchClient and one layout.
//  - Writes: _bulk requests of at most maxBulkBytes; whole requests that fail with 429/5xx or a lost connection
//    are retried with backoff; per item, 409 on create (data streams) counts as written, 429/5xx items are
//    retried, and items the server rejects for good are reported in the error, never dropped silently.
//    Service/operation documents are written once per day and kind (remembered after a successful flush).
//  - Reads as in Jaeger's reader: find = a size-0 search with a terms aggregation on traceId ordered by the latest
//    span start; get-trace = a term query on traceId sorted by start time, paged with search_after.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ResourceExhaustedError, StorageError, UnavailableError } from '../api/errors.js';
import {
  type DependencyLink,
  type DependencyReader,
  type DependencyWriter,
  type FoundTraceId,
  type GetTraceParams,
  type Lock,
  type Operation,
  type OperationQuery,
  type Purger,
  type ResourceSpans,
  type SamplingStore,
  type ServiceOperationValues,
  type Throughput,
  type TimeRange,
  type TraceChunk,
  type TraceQuery,
  type TraceReader,
  type TraceWriter,
  checkGetTraceParams,
  checkTimeRange,
  checkTraceQuery,
} from '../api/index.js';
import { DependencyTotals, SingleStoreBackend, checkDependencyLinks, chunkTrace, forEachDependency, validateBatch } from '../api/semantics.js';
import { type ConnectionConfig, SearchClient } from './client.js';
import { RecordDecoder, type SpanDoc, queryTerm, spanViews, toDoc } from './docs.js';
import { type Layout, Names, day, parseDurationMs } from './layout.js';
import { type ProvisionOptions, type ProvisionResult, provision } from './provision.js';

export interface SearchBackendConfig extends ConnectionConfig, ProvisionOptions {
  indexPrefix: string;
  layout: Layout;
  /** the largest _bulk body */
  maxBulkBytes?: number;
  /** spans per get-trace page (the server's max_result_window is 10,000 by default) */
  pageSize?: number;
  /** spans per chunk handed to readers */
  chunkSpans?: number;
  /** retries of a failed bulk request or item before the write fails */
  maxRetries?: number;
}

interface SearchHit<T> {
  _id: string;
  _source: T;
  sort?: unknown[];
}
interface SearchResponse<T> {
  hits: { hits: SearchHit<T>[] };
  aggregations?: Record<string, unknown>;
}
interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string };
}
/** one bulk action and its document (a string is sent as it is) */
interface BulkOp {
  action: unknown;
  doc: unknown;
}
interface BulkResponse {
  errors: boolean;
  items: Record<string, BulkItem>[];
}

const READ_OPTS = { ignore_unavailable: true, allow_no_indices: true };
/** trace IDs fetched by one search in getTraces */
const TRACES_PER_SEARCH = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A write refused because the cluster's disk passed its flood-stage watermark (index read-only-allow-delete block). */
const isDiskBlock = (e: { type?: string; reason?: string } | undefined): boolean =>
  e?.type === 'cluster_block_exception' && /flood[- ]stage|disk usage exceeded|read[-_]only[-_]allow[-_]delete/i.test(e.reason ?? '');
const boundedReason = (r: string): string => r.replace(/\s+/g, ' ').slice(0, 200);

const retryable = (status: number) => status === 429 || status >= 500;

export class SearchStore implements TraceWriter, TraceReader, DependencyReader, DependencyWriter, SamplingStore, Lock, Purger {
  readonly client: SearchClient;
  readonly names: Names;
  private readonly seenServices = new Set<string>();
  private readonly pageSize: number;
  private readonly chunkSpans: number;
  private readonly maxBulkBytes: number;
  private readonly maxRetries: number;
  /** bulk requests and items sent again after a failure (observability and tests) */
  retries = 0;

  constructor(
    readonly cfg: SearchBackendConfig,
    private readonly log?: Logger,
  ) {
    this.client = new SearchClient(cfg);
    this.names = new Names(cfg.indexPrefix, cfg.layout);
    this.pageSize = cfg.pageSize ?? 10_000;
    this.chunkSpans = cfg.chunkSpans ?? 1000;
    this.maxBulkBytes = cfg.maxBulkBytes ?? 5 * 1024 * 1024;
    this.maxRetries = cfg.maxRetries ?? 8;
  }

  private search<T>(index: string, body: unknown): Promise<SearchResponse<T>> {
    return this.client.request<SearchResponse<T>>('POST', `/${index}/_search`, { body, query: READ_OPTS }).then((r) => r.body);
  }

  // ---- writes ----

  async writeTraces(traces: ResourceSpans[]): Promise<void> {
    validateBatch(traces);
    const ops: BulkOp[] = [];
    const services = new Map<string, BulkOp>();
    const create = this.names.layout === 'dataStream';
    for (const st of spanViews(traces)) {
      const doc = toDoc(st);
      const index = this.names.spanWrite(st.span.startTimeUnixNano);
      ops.push({ action: { [create ? 'create' : 'index']: { _index: index, _id: doc.docId } }, doc: doc.json });
      const key = `${day(st.span.startTimeUnixNano)}\u0000${doc.service}\u0000${doc.name}\u0000${doc.kind}`;
      if (!this.seenServices.has(key) && !services.has(key)) {
        const id = createHash('sha256').update(key).digest('base64url').slice(0, 22);
        const sIndex = this.names.serviceWrite(st.span.startTimeUnixNano);
        services.set(key, { action: { index: { _index: sIndex, _id: id } }, doc: { service: doc.service, name: doc.name, kind: doc.kind, lastSeenMillis: doc.startTimeMillis } });
      }
    }
    await this.bulk([...ops, ...services.values()]);
    for (const k of services.keys()) this.seenServices.add(k);
  }

  /** Sends actions in bodies of at most maxBulkBytes; retries what can succeed; throws naming what cannot. */
  private async bulk(ops: BulkOp[]): Promise<void> {
    let batch: BulkOp[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length) await this.sendBulk(batch);
      batch = [];
      bytes = 0;
    };
    for (const op of ops) {
      const size = (typeof op.doc === 'string' ? op.doc.length : JSON.stringify(op.doc).length) + 200;
      if (bytes + size > this.maxBulkBytes) await flush();
      batch.push(op);
      bytes += size;
    }
    await flush();
  }

  private async sendBulk(ops: BulkOp[]): Promise<void> {
    let pending = ops;
    const rejected: string[] = [];
    for (let attempt = 0; pending.length; attempt++) {
      let resp: BulkResponse;
      try {
        resp = (await this.client.request<BulkResponse>('POST', '/_bulk', { lines: pending.flatMap((o) => [o.action, o.doc]) })).body;
      } catch (e) {
        const status = (e as { status?: number }).status;
        const again = e instanceof UnavailableError || (status !== undefined && retryable(status));
        if (!again || attempt >= this.maxRetries) throw e;
        this.retries++;
        await sleep(Math.min(5_000, 100 * 2 ** attempt));
        continue;
      }
      if (!resp.errors) return;
      const retry: typeof pending = [];
      let blocked: string | undefined;
      resp.items.forEach((item, i) => {
        const r = Object.values(item)[0]!;
        if (r.status < 300 || (r.status === 409 && 'create' in item)) return;
        if (isDiskBlock(r.error)) blocked ??= r.error?.reason ?? 'disk usage exceeded the flood-stage watermark';
        if (retryable(r.status)) retry.push(pending[i]!);
        else rejected.push(`${r.status} ${r.error?.type ?? ''}: ${r.error?.reason ?? ''}`.trim());
      });
      // the server's disk is past its flood-stage watermark: no retry helps until space is freed
      if (blocked) throw new ResourceExhaustedError(`${this.describeServer()} refuses writes because its disk is full (${boundedReason(blocked)}): free disk space on the cluster; writes resume by themselves once the block is lifted`);
      if (retry.length && attempt >= this.maxRetries) throw new UnavailableError(`${retry.length} document(s) still refused after ${attempt + 1} attempts (${this.describeServer()} overloaded): retry later`);
      pending = retry;
      this.retries += retry.length;
      if (retry.length) await sleep(Math.min(5_000, 100 * 2 ** attempt));
    }
    if (rejected.length) {
      this.log?.error({ rejected: rejected.length, first: rejected[0] }, 'documents rejected by the server');
      throw new StorageError('Internal', `${rejected.length} document(s) rejected by ${this.describeServer()}; first: ${rejected[0]}`);
    }
  }

  private describeServer(): string {
    const i = this.client.info;
    return i ? `${i.distribution} ${i.version}` : this.cfg.endpoints.join(', ');
  }

  // ---- reads ----

  /** Spans of one trace, in start order, page by page (search_after over start time and document ID). */
  private async *traceSpans(traceId: string, fields?: string[]): AsyncGenerator<SpanDoc[]> {
    let after: unknown[] | undefined;
    for (;;) {
      const r = await this.search<SpanDoc>(this.names.spanRead(), {
        size: this.pageSize,
        query: { term: { traceId } },
        sort: [{ startTimeNanos: 'asc' }, { docId: 'asc' }],
        ...(fields ? { _source: fields } : {}),
        ...(after ? { search_after: after } : {}),
      });
      const hits = r.hits.hits;
      if (hits.length) yield hits.map((h) => h._source);
      if (hits.length < this.pageSize) return;
      after = hits[hits.length - 1]!.sort;
    }
  }

  private async hasSpanIn(traceId: string, start?: bigint, end?: bigint): Promise<boolean> {
    const range: Record<string, string> = {};
    if (start !== undefined) range.gte = start.toString();
    if (end !== undefined) range.lte = end.toString();
    const r = await this.search<unknown>(this.names.spanRead(start, end), { size: 1, _source: false, query: { bool: { filter: [{ term: { traceId } }, { range: { startTimeNanos: range } }] } } });
    return r.hits.hits.length > 0;
  }

  async *getTraces(params: GetTraceParams[]): AsyncIterable<TraceChunk[]> {
    const seen = new Set<string>();
    const ids: string[] = [];
    for (const p of checkGetTraceParams(params)) {
      if (seen.has(p.traceId)) continue;
      seen.add(p.traceId);
      if ((p.start !== undefined || p.end !== undefined) && !(await this.hasSpanIn(p.traceId, p.start, p.end))) continue;
      ids.push(p.traceId);
    }
    // several traces per search (as _msearch does for Jaeger); a batch that fills a page is read trace by trace
    for (let i = 0; i < ids.length; i += TRACES_PER_SEARCH) {
      const batch = ids.slice(i, i + TRACES_PER_SEARCH);
      const byTrace = batch.length > 1 ? await this.smallTraces(batch) : undefined;
      for (const traceId of batch) {
        const decoder = new RecordDecoder();
        const pages = byTrace ? (byTrace.has(traceId) ? [byTrace.get(traceId)!] : []) : this.traceSpans(traceId);
        for await (const page of pages) {
          const views = page.map((d) => decoder.decode(d));
          for (const c of chunkTrace(traceId, views, this.chunkSpans)) yield [c];
        }
      }
    }
  }

  /** The spans of several traces in one search, or undefined when they do not fit one page. */
  private async smallTraces(traceIds: string[]): Promise<Map<string, SpanDoc[]> | undefined> {
    const r = await this.search<SpanDoc>(this.names.spanRead(), { size: this.pageSize, query: { terms: { traceId: traceIds } }, sort: [{ startTimeNanos: 'asc' }, { docId: 'asc' }] });
    if (r.hits.hits.length >= this.pageSize) return undefined;
    const out = new Map<string, SpanDoc[]>();
    for (const h of r.hits.hits) {
      let list = out.get(h._source.traceId);
      if (!list) out.set(h._source.traceId, (list = []));
      list.push(h._source);
    }
    return out;
  }

  async getServices(): Promise<string[]> {
    const r = await this.search<unknown>(this.names.serviceRead(), { size: 0, aggs: { s: { terms: { field: 'service', size: 10_000 } } } });
    const b = (r.aggregations?.s as { buckets: { key: string }[] } | undefined)?.buckets ?? [];
    return b.map((x) => x.key).filter(Boolean).sort();
  }

  async getOperations(q: OperationQuery): Promise<Operation[]> {
    if (typeof q.service !== 'string') throw new StorageError('InvalidArgument', 'service: is required');
    const filter: unknown[] = [{ term: { service: q.service } }];
    if (q.spanKind) filter.push({ term: { kind: q.spanKind.toLowerCase() } });
    const r = await this.search<unknown>(this.names.serviceRead(), { size: 0, query: { bool: { filter } }, aggs: { n: { terms: { field: 'name', size: 10_000 }, aggs: { k: { terms: { field: 'kind', size: 10 } } } } } });
    const out: Operation[] = [];
    for (const n of (r.aggregations?.n as { buckets: { key: string; k: { buckets: { key: string }[] } }[] } | undefined)?.buckets ?? []) {
      for (const k of n.k.buckets) out.push({ name: n.key, spanKind: k.key });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
  }

  private async matchingTraceIds(q: TraceQuery): Promise<FoundTraceId[]> {
    const cq = checkTraceQuery(q);
    const filter: unknown[] = [];
    const start: Record<string, string> = {};
    if (cq.startTimeMin !== undefined) start.gte = cq.startTimeMin.toString();
    if (cq.startTimeMax !== undefined) start.lte = cq.startTimeMax.toString();
    if (Object.keys(start).length) {
      filter.push({ range: { startTimeNanos: start } });
      const ms: Record<string, number> = {};
      if (cq.startTimeMin !== undefined) ms.gte = Number(cq.startTimeMin / 1_000_000n);
      if (cq.startTimeMax !== undefined) ms.lte = Number(cq.startTimeMax / 1_000_000n) + 1;
      filter.push({ range: { startTimeMillis: ms } }); // lets the server skip shards and indices
    }
    if (cq.serviceName) filter.push({ term: { service: cq.serviceName } });
    if (cq.operationName) filter.push({ term: { name: cq.operationName } });
    const dur: Record<string, string> = {};
    if (cq.durationMin !== undefined) dur.gte = cq.durationMin.toString();
    if (cq.durationMax !== undefined) dur.lte = cq.durationMax.toString();
    if (Object.keys(dur).length) filter.push({ range: { durationNanos: dur } });
    for (const [k, v] of cq.attributes) {
      const t = queryTerm(k, v);
      if (t === undefined) return [];
      filter.push({ term: { match: t } });
    }
    const r = await this.search<unknown>(this.names.spanRead(cq.startTimeMin, cq.startTimeMax), {
      size: 0,
      query: { bool: { filter } },
      aggs: { t: { terms: { field: 'traceId', size: cq.searchDepth, order: { latest: 'desc' } }, aggs: { latest: { max: { field: 'startTimeNanos' } } } } },
    });
    const buckets = (r.aggregations?.t as { buckets: { key: string }[] } | undefined)?.buckets ?? [];
    return buckets.map((b) => ({ traceId: b.key }));
  }

  async *findTraceIds(q: TraceQuery): AsyncIterable<FoundTraceId[]> {
    const ids = await this.matchingTraceIds(q);
    if (ids.length) yield ids;
  }

  async *findTraces(q: TraceQuery): AsyncIterable<TraceChunk[]> {
    const ids = await this.matchingTraceIds(q);
    yield* this.getTraces(ids.map((x) => ({ traceId: x.traceId })));
  }

  // ---- dependencies ----

  async getDependencies(r: TimeRange): Promise<DependencyLink[]> {
    checkTimeRange(r);
    const totals = new DependencyTotals();
    // traces with a span in the window, then every span of those traces (identity fields only)
    const traces = new Set<string>();
    let after: unknown[] | undefined;
    for (let page = 0; page < 10_000; page++) {
      const resp = await this.search<{ traceId: string }>(this.names.spanRead(r.start, r.end), {
        size: this.pageSize,
        _source: ['traceId'],
        query: { range: { startTimeNanos: { gte: r.start.toString(), lte: r.end.toString() } } },
        sort: [{ startTimeNanos: 'asc' }, { docId: 'asc' }],
        ...(after ? { search_after: after } : {}),
      });
      for (const h of resp.hits.hits) traces.add(h._source.traceId);
      if (resp.hits.hits.length < this.pageSize) break;
      after = resp.hits.hits[resp.hits.hits.length - 1]!.sort;
    }
    for (const traceId of traces) {
      const views: { span: { spanId: string; parentSpanId: string }; service: string }[] = [];
      for await (const page of this.traceSpans(traceId, ['spanId', 'parentSpanId', 'service'])) {
        for (const d of page) views.push({ span: d, service: d.service });
      }
      forEachDependency(views, (p, c) => totals.add(p, c, 1));
    }
    const stored = await this.search<{ dependencies: DependencyLink[] }>(this.names.dependenciesRead(r.start, r.end), {
      size: 10_000,
      query: { range: { timestampNanos: { gte: r.start.toString(), lte: r.end.toString() } } },
    });
    for (const h of stored.hits.hits) for (const l of h._source.dependencies) totals.add(l.parent, l.child, l.callCount, l.source);
    return totals.list();
  }

  async writeDependencies(at: bigint, links: DependencyLink[]): Promise<void> {
    checkDependencyLinks(links);
    await this.client.request('POST', `/${this.names.dependenciesWrite(at)}/_doc`, {
      body: { timestamp: Number(at / 1_000_000n), timestampNanos: at.toString(), dependencies: links },
      query: { refresh: true },
    });
  }

  // ---- sampling store and lock (documents in <p>jaeger-sampling) ----

  async insertThroughput(at: bigint, throughput: Throughput[]): Promise<void> {
    await this.client.request('POST', `/${this.names.sampling}/_doc`, { body: { kind: 'throughput', at: at.toString(), atMillis: Number(at / 1_000_000n), data: { throughput } }, query: { refresh: true } });
  }

  async getThroughput(r: TimeRange): Promise<(Throughput & { at: bigint })[]> {
    checkTimeRange(r);
    const resp = await this.search<{ at: string; data: { throughput: Throughput[] } }>(this.names.sampling, {
      size: 10_000,
      query: { bool: { filter: [{ term: { kind: 'throughput' } }, { range: { at: { gte: r.start.toString(), lte: r.end.toString() } } }] } },
      sort: [{ at: 'asc' }],
    });
    return resp.hits.hits.flatMap((h) => h._source.data.throughput.map((t) => ({ ...t, at: BigInt(h._source.at) })));
  }

  async insertProbabilitiesAndQps(hostname: string, at: bigint, probabilities: ServiceOperationValues, qps: ServiceOperationValues): Promise<void> {
    await this.client.request('POST', `/${this.names.sampling}/_doc`, { body: { kind: 'probabilities', at: at.toString(), atMillis: Number(at / 1_000_000n), hostname, data: { probabilities, qps } }, query: { refresh: true } });
  }

  async getLatestProbabilities(): Promise<ServiceOperationValues> {
    const resp = await this.search<{ data: { probabilities: ServiceOperationValues } }>(this.names.sampling, { size: 1, query: { term: { kind: 'probabilities' } }, sort: [{ at: 'desc' }] });
    return resp.hits.hits[0]?._source.data.probabilities ?? {};
  }

  async acquire(resource: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!holder) throw new StorageError('InvalidArgument', 'holder: must not be empty');
    if (!(ttlMs > 0)) throw new StorageError('InvalidArgument', `ttlMs: must be positive (got ${ttlMs})`);
    const path = `/${this.names.sampling}/_doc/lock-${encodeURIComponent(resource)}`;
    const body = { kind: 'lock', holder, expiresMillis: Date.now() + ttlMs };
    const cur = await this.client.request<{ found?: boolean; _seq_no?: number; _primary_term?: number; _source?: { holder: string; expiresMillis: number } }>('GET', path, { ignore: [404] });
    if (cur.status === 404 || !cur.body.found) {
      const r = await this.client.request('PUT', path, { body, query: { op_type: 'create' }, ignore: [409] });
      return r.status < 300;
    }
    const s = cur.body._source!;
    if (s.holder !== holder && s.expiresMillis > Date.now()) return false;
    const r = await this.client.request('PUT', path, { body, query: { if_seq_no: cur.body._seq_no!, if_primary_term: cur.body._primary_term! }, ignore: [409] });
    return r.status < 300;
  }

  async forfeit(resource: string, holder: string): Promise<boolean> {
    const path = `/${this.names.sampling}/_doc/lock-${encodeURIComponent(resource)}`;
    const cur = await this.client.request<{ found?: boolean; _seq_no?: number; _primary_term?: number; _source?: { holder: string } }>('GET', path, { ignore: [404] });
    if (cur.status === 404 || !cur.body.found || cur.body._source?.holder !== holder) return false;
    const r = await this.client.request('DELETE', path, { query: { if_seq_no: cur.body._seq_no!, if_primary_term: cur.body._primary_term! }, ignore: [404, 409] });
    return r.status < 300;
  }

  // ---- maintenance ----

  /** Deletes every index and data stream of this prefix, then provisions them again (empty). */
  async purge(): Promise<void> {
    const n = this.names;
    if (n.layout === 'dataStream') await this.client.request('DELETE', `/_data_stream/${n.stream}`, { ignore: [404] });
    // patterns only: a _cat request naming the data stream just deleted does not answer
    const rows = (await this.client.request<{ index: string }[]>('GET', `/_cat/indices/${n.p}jaeger-*`, { query: { format: 'json', h: 'index', ...READ_OPTS } })).body;
    const names = (Array.isArray(rows) ? rows : []).map((r) => r.index).filter((i) => i !== n.meta);
    // by name: Elasticsearch 8+ refuses wildcard deletes
    for (let i = 0; i < names.length; i += 50) await this.client.request('DELETE', `/${names.slice(i, i + 50).join(',')}`, { query: READ_OPTS });
    this.seenServices.clear();
    await provision(this.client, n, this.cfg);
  }

  /**
   * Rollover and retention when no server policy does them (daily layout; OpenSearch without the ISM plugin):
   * rolls the write targets over once `rolloverMaxAge` has passed, and deletes indices older than `retention`
   * (never a write index). Returns what it did. Called periodically by the runtime.
   */
  async maintain(lifecycle: ProvisionResult['lifecycle'], now = Date.now()): Promise<string[]> {
    const done: string[] = [];
    const n = this.names;
    if (lifecycle === 'runtime' && n.layout !== 'daily') {
      const conditions = { max_age: `${Math.max(1, Math.round(parseDurationMs(this.cfg.rolloverMaxAge ?? '1d') / 1000))}s` };
      const targets = n.layout === 'dataStream' ? [n.stream] : [`${n.spanBase}-write`, `${n.serviceBase}-write`];
      for (const t of targets) {
        const r = await this.client.request<{ rolled_over?: boolean; new_index?: string }>('POST', `/${t}/_rollover`, { body: { conditions } });
        if (r.body.rolled_over && r.body.new_index) {
          done.push(`rolled ${t} over to ${r.body.new_index}`);
          if (n.layout === 'rollover') await this.client.request('POST', '/_aliases', { body: { actions: [{ add: { index: r.body.new_index, alias: t.replace(/-write$/, '-read') } }] } });
        }
      }
    }
    const retention = this.cfg.retention ? parseDurationMs(this.cfg.retention) : undefined;
    if (retention === undefined || (lifecycle !== 'runtime' && lifecycle !== 'none')) return done;
    const cutoff = now - retention;
    const rows = (await this.client.request<{ index: string; 'creation.date': string }[]>('GET', `/_cat/indices/${n.p}jaeger-*,.ds-${n.stream}-*`, { query: { format: 'json', h: 'index,creation.date', expand_wildcards: 'all' }, ignore: [404] })).body;
    const writeIndices = new Set<string>();
    if (n.layout === 'dataStream') {
      const ds = await this.client.request<{ data_streams?: { indices: { index_name: string }[] }[] }>('GET', `/_data_stream/${n.stream}`, { ignore: [404] });
      const list = ds.body.data_streams?.[0]?.indices ?? [];
      if (list.length) writeIndices.add(list[list.length - 1]!.index_name);
    }
    if (n.layout === 'rollover') {
      const aliases = await this.client.request<Record<string, { aliases: Record<string, { is_write_index?: boolean }> }>>('GET', `/_alias/${n.spanBase}-write,${n.serviceBase}-write`, { ignore: [404] });
      for (const [index, a] of Object.entries(aliases.body ?? {})) if (Object.values(a.aliases ?? {}).some((x) => x.is_write_index !== false)) writeIndices.add(index);
    }
    const cutoffDay = new Date(cutoff).toISOString().slice(0, 10);
    for (const row of Array.isArray(rows) ? rows : []) {
      const index = row.index;
      if (index === n.sampling || index === n.meta || writeIndices.has(index)) continue;
      const expired = n.isExpiredDaily(index, cutoffDay) || (n.layout !== 'daily' && !/\d{4}-\d{2}-\d{2}$/.test(index) && Number(row['creation.date']) < cutoff);
      if (!expired) continue;
      await this.client.request('DELETE', `/${index}`, { ignore: [404] });
      done.push(`deleted ${index}`);
    }
    if (done.length) this.log?.info({ actions: done }, 'index maintenance');
    return done;
  }

  /** Makes everything written so far searchable (tests). */
  async refresh(): Promise<void> {
    await this.client.request('POST', `/${this.names.allData()}/_refresh`, { query: READ_OPTS });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export class SearchBackend extends SingleStoreBackend<SearchStore> {
  provisioned?: ProvisionResult;

  constructor(type: 'elasticsearch' | 'opensearch', cfg: SearchBackendConfig, log?: Logger) {
    super(type, new SearchStore(cfg, log));
  }

  override async provision(): Promise<void> {
    this.provisioned = await provision(this.store.client, this.store.names, this.store.cfg);
  }
  async maintain(): Promise<string[]> {
    if (!this.provisioned) await this.provision();
    return this.store.maintain(this.provisioned!.lifecycle);
  }
  async ping(): Promise<void> {
    await this.store.client.request('GET', '/');
  }
}
