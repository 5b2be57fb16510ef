// The Elasticsearch / OpenSearch backend: one SearchConnection (client, index names of the layout, settings) and
// the small objects over it that serve the storage API: trace writer (./writer.ts) and reader (./reader.ts),
// dependency store, sampling store, lock, and purger. Request bodies: ./queries.ts. Provisioning: ./provision.ts.
import type { Logger } from 'pino';
import type { BackendFactory } from '../api/index.js';
import type { SearchClient } from './client.js';
import { type SearchBackendConfig, SearchConnection } from './connection.js';
import { SearchDependencyStore } from './dependencies.js';
import type { Names } from './layout.js';
import { SearchLock } from './lock.js';
import { SearchPurger, maintainIndices, refreshIndices } from './maintenance.js';
import { type ProvisionResult, provision } from './provision.js';
import { SearchTraceReader } from './reader.js';
import { SearchSamplingStore } from './sampling.js';
import { SearchTraceWriter } from './writer.js';

export type { SearchBackendConfig } from './connection.js';

export class SearchBackend implements BackendFactory {
  provisioned?: ProvisionResult;
  private readonly conn: SearchConnection;
  private readonly writer: SearchTraceWriter;
  private readonly reader: SearchTraceReader;
  private readonly dependencies: SearchDependencyStore;
  private readonly sampling: SearchSamplingStore;
  private readonly leases: SearchLock;
  private readonly purge: SearchPurger;

  constructor(
    readonly type: 'elasticsearch' | 'opensearch',
    cfg: SearchBackendConfig,
    log?: Logger,
  ) {
    this.conn = new SearchConnection(cfg, log);
    this.writer = new SearchTraceWriter(this.conn);
    this.reader = new SearchTraceReader(this.conn);
    this.dependencies = new SearchDependencyStore(this.conn);
    this.sampling = new SearchSamplingStore(this.conn);
    this.leases = new SearchLock(this.conn);
    this.purge = new SearchPurger(this.conn, () => this.writer.forget());
  }

  /** the client every object of this backend shares (the operator's check connects with it) */
  get client(): SearchClient {
    return this.conn.client;
  }
  get names(): Names {
    return this.conn.names;
  }
  get cfg(): SearchBackendConfig {
    return this.conn.cfg;
  }
  /** bulk requests and items sent again after a failure (observability and tests) */
  get retries(): number {
    return this.writer.retries;
  }

  async provision(): Promise<void> {
    this.provisioned = await provision(this.conn.client, this.conn.names, this.conn.cfg);
  }

  traceWriter(): SearchTraceWriter {
    return this.writer;
  }
  traceReader(): SearchTraceReader {
    return this.reader;
  }
  dependencyReader(): SearchDependencyStore {
    return this.dependencies;
  }
  dependencyWriter(): SearchDependencyStore {
    return this.dependencies;
  }
  samplingStore(): SearchSamplingStore {
    return this.sampling;
  }
  lock(): SearchLock {
    return this.leases;
  }
  purger(): SearchPurger {
    return this.purge;
  }

  async maintain(): Promise<string[]> {
    if (!this.provisioned) await this.provision();
    return maintainIndices(this.conn, this.provisioned!.lifecycle);
  }

  /** Any answer is a server that is up: Elasticsearch without its rest-root module refuses GET / with 405. */
  async ping(): Promise<void> {
    await this.conn.client.request('GET', '/', { ignore: [400, 404, 405] });
  }

  /** Makes everything written so far searchable (tests). */
  async refresh(): Promise<void> {
    await refreshIndices(this.conn);
  }

  async close(): Promise<void> {
    await this.conn.close();
  }
}
