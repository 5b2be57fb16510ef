// What every narrow object of the Elasticsearch / OpenSearch backend shares: the search client (one connection
// pool, the server identified once), the index names of the layout, and the settings.
import type { Logger } from 'pino';
import { type ConnectionConfig, SearchClient } from './client.js';
import { type Layout, Names } from './layout.js';
import type { ProvisionOptions } from './provision.js';
import { READ_OPTS, type SearchRequest } from './queries.js';

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

export interface SearchHit<T> {
  _id: string;
  _source: T;
  sort?: unknown[];
}

export interface SearchResponse<T> {
  hits: { hits: SearchHit<T>[] };
  aggregations?: Record<string, unknown>;
}

export class SearchConnection {
  readonly client: SearchClient;
  readonly names: Names;
  readonly pageSize: number;
  readonly chunkSpans: number;

  constructor(
    readonly cfg: SearchBackendConfig,
    readonly log?: Logger,
  ) {
    this.client = new SearchClient(cfg);
    this.names = new Names(cfg.indexPrefix, cfg.layout);
    this.pageSize = cfg.pageSize ?? 10_000;
    this.chunkSpans = cfg.chunkSpans ?? 1000;
  }

  /** Runs one search (missing daily indices are no error); `signal` aborts the request. */
  async search<T>(req: SearchRequest, signal?: AbortSignal): Promise<SearchResponse<T>> {
    const r = await this.client.request<SearchResponse<T>>('POST', `/${req.index}/_search`, { body: req.body, query: READ_OPTS, ...(signal ? { signal } : {}) });
    return r.body;
  }

  /** The server for messages: its product and version once known, else the endpoints. */
  describeServer(): string {
    const i = this.client.info;
    return i ? `${i.distribution} ${i.version}` : this.cfg.endpoints.join(', ');
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
