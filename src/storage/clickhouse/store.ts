// The ClickHouse backend: one ClickHouseConnection (HTTP clients, in-flight bounds, retries) and the objects over it
// that serve the storage API. Schema: ./schema.ts (versioned migrations, each table shaped by its queries).
import type { BackendFactory } from '../api/index.js';
import { schemaParams } from './config.js';
import { type ClickHouseBackendConfig, ClickHouseConnection } from './connection.js';
import { type Provisioned, claim, dropOwnDatabase, provision } from './provision.js';
import { ClickHouseTraceReader } from './reader.js';
import type { SchemaParams } from './schema.js';
import { ClickHouseDependencyStore, ClickHouseLock, ClickHousePurger, ClickHouseSamplingStore } from './stores.js';
import { ClickHouseTraceWriter } from './writer.js';

export type { ClickHouseBackendConfig } from './connection.js';

export class ClickHouseBackend implements BackendFactory {
  readonly type = 'clickhouse';
  /** what provision() did */
  provisioned?: Provisioned;
  readonly schema: SchemaParams;
  private readonly conn: ClickHouseConnection;
  private readonly writer: ClickHouseTraceWriter;
  private readonly reader: ClickHouseTraceReader;
  private readonly dependencies: ClickHouseDependencyStore;
  private readonly sampling: ClickHouseSamplingStore;
  private readonly leases: ClickHouseLock;
  private readonly purge: ClickHousePurger;

  /**
   * eight batches written at once: while one insert runs the others queue and go as the next one, so inserts hold
   * tens of thousands of rows (the engine's cost is per insert and per part far more than per row)
   */
  readonly ingestWriters = 8;

  constructor(cfg: ClickHouseBackendConfig) {
    this.schema = schemaParams(cfg);
    this.conn = new ClickHouseConnection(cfg);
    this.writer = new ClickHouseTraceWriter(this.conn, `${this.schema.database}.spans`, cfg.maxBatchRows ?? 50_000, cfg.maxInFlightInserts ?? 2);
    this.reader = new ClickHouseTraceReader(this.conn, cfg.chunkSpans ?? 1000);
    this.dependencies = new ClickHouseDependencyStore(this.conn);
    this.sampling = new ClickHouseSamplingStore(this.conn);
    this.leases = new ClickHouseLock(this.conn);
    this.purge = new ClickHousePurger(this.conn);
  }

  /** creates or migrates the schema (up to `version`, default the latest) and sets the retention */
  async provision(version?: number): Promise<void> {
    this.provisioned = await provision(this.conn, this.schema, version);
  }
  /** claims the database for a TraceStore ("<namespace>/<name>"); returns the one that holds it */
  claim(owner: string): Promise<string> {
    return claim(this.conn, this.schema.database, owner);
  }
  /** deletionPolicy Delete: drops the database if it is ours (and `owner`'s); returns why it kept it otherwise */
  dropDatabase(owner?: string): Promise<string | undefined> {
    return dropOwnDatabase(this.conn, this.schema, owner);
  }
  traceWriter(): ClickHouseTraceWriter {
    return this.writer;
  }
  traceReader(): ClickHouseTraceReader {
    return this.reader;
  }
  dependencyReader(): ClickHouseDependencyStore {
    return this.dependencies;
  }
  dependencyWriter(): ClickHouseDependencyStore {
    return this.dependencies;
  }
  samplingStore(): ClickHouseSamplingStore {
    return this.sampling;
  }
  lock(): ClickHouseLock {
    return this.leases;
  }
  purger(): ClickHousePurger {
    return this.purge;
  }
  /** the provisioning a readiness ping started, while it runs */
  private pinged: Promise<void> | undefined;
  /**
   * Readiness: the server answers and the schema is in place. A runtime started while ClickHouse was unreachable
   * provisions here, on the first ping the server answers, so it turns ready only once it can write.
   */
  async ping(): Promise<void> {
    // one provisioning at a time: a slow one is joined by the next ping, not run twice
    if (!this.provisioned) await (this.pinged ??= this.provision().finally(() => (this.pinged = undefined)));
    await this.conn.version();
  }
  /** the server version (remote text) */
  serverVersion(): Promise<string> {
    return this.conn.version();
  }
  async close(): Promise<void> {
    await this.conn.close();
  }
}
