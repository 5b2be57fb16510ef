// The Elasticsearch / OpenSearch dependency store: links derived from the traces with a span in the window (their
// identity fields only), plus links the dependencies job wrote into the daily dependencies indices.
import { type DependencyLink, type DependencyReader, type DependencyWriter, type StorageContext, type TimeRange, checkTimeRange } from '../api/index.js';
import { DependencyTotals, checkDependencyLinks, forEachDependency } from '../api/semantics.js';
import type { SearchConnection } from './connection.js';
import { DEPENDENCY_FIELDS, dependenciesDoc, storedDependenciesRequest, windowTraceIdsRequest } from './queries.js';
import { traceSpanPages } from './reader.js';

/** the most pages of trace IDs one window is read in */
const MAX_WINDOW_PAGES = 10_000;

export class SearchDependencyStore implements DependencyReader, DependencyWriter {
  constructor(private readonly conn: SearchConnection) {}

  async getDependencies(r: TimeRange, ctx?: StorageContext): Promise<DependencyLink[]> {
    checkTimeRange(r);
    const conn = this.conn;
    const signal = ctx?.signal;
    const totals = new DependencyTotals();
    // traces with a span in the window, then every span of those traces (identity fields only)
    const traces = new Set<string>();
    let after: unknown[] | undefined;
    for (let page = 0; page < MAX_WINDOW_PAGES; page++) {
      const resp = await conn.search<{ traceId: string }>(windowTraceIdsRequest(conn.names, r, conn.pageSize, after), signal);
      for (const h of resp.hits.hits) traces.add(h._source.traceId);
      if (resp.hits.hits.length < conn.pageSize) break;
      after = resp.hits.hits[resp.hits.hits.length - 1]!.sort;
    }
    for (const traceId of traces) {
      const views: { span: { spanId: string; parentSpanId: string }; service: string }[] = [];
      for await (const page of traceSpanPages<{ spanId: string; parentSpanId: string; service: string }>(conn, traceId, DEPENDENCY_FIELDS, signal)) {
        for (const d of page) views.push({ span: d, service: d.service });
      }
      forEachDependency(views, (p, c) => totals.add(p, c, 1));
    }
    const stored = await conn.search<{ dependencies: DependencyLink[] }>(storedDependenciesRequest(conn.names, r), signal);
    for (const h of stored.hits.hits) for (const l of h._source.dependencies) totals.add(l.parent, l.child, l.callCount, l.source);
    return totals.list();
  }

  async writeDependencies(at: bigint, links: DependencyLink[], ctx?: StorageContext): Promise<void> {
    checkDependencyLinks(links);
    const d = dependenciesDoc(this.conn.names, at, links);
    await this.conn.client.request('POST', `/${d.index}/_doc`, { body: d.doc, query: { refresh: true }, ...(ctx?.signal ? { signal: ctx.signal } : {}) });
  }
}
