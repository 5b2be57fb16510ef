// The Cassandra backend: one CassandraConnection (driver client, keyspace, consistency, in-flight bound) and the
// small objects over it that serve the storage API. Schema: ./schema.ts (versioned migrations, one table per query).
import type { BackendFactory } from '../api/index.js';
import { type CassandraBackendConfig, CassandraConnection } from './connection.js';
import { CassandraTraceReader } from './reader.js';
import { CassandraDependencyStore, CassandraLock, CassandraPurger, CassandraSamplingStore } from './stores.js';
import { CassandraTraceWriter } from './writer.js';

export type { CassandraBackendConfig } from './connection.js';

export class CassandraBackend implements BackendFactory {
  readonly type = 'cassandra';
  /** the schema version after provision() */
  schemaVersion?: number;
  /** the keyspace's replication as Cassandra has it, after provision() */
  replication?: Record<string, string>;
  private readonly conn: CassandraConnection;
  private readonly writer: CassandraTraceWriter;
  private readonly reader: CassandraTraceReader;
  private readonly dependencies: CassandraDependencyStore;
  private readonly sampling: CassandraSamplingStore;
  private readonly leases: CassandraLock;
  private readonly purge: CassandraPurger;

  constructor(cfg: CassandraBackendConfig) {
    this.conn = new CassandraConnection(cfg);
    this.writer = new CassandraTraceWriter(this.conn);
    this.reader = new CassandraTraceReader(this.conn);
    this.dependencies = new CassandraDependencyStore(this.conn);
    this.sampling = new CassandraSamplingStore(this.conn);
    this.leases = new CassandraLock(this.conn);
    this.purge = new CassandraPurger(this.conn, () => this.writer.forget());
  }

  async provision(): Promise<void> {
    const p = await this.conn.provision();
    this.schemaVersion = p.version;
    this.replication = p.replication;
  }
  /** claims the keyspace for a TraceStore ("<namespace>/<name>"); returns the one that holds it */
  claim(owner: string): Promise<string> {
    return this.conn.claim(owner);
  }
  traceWriter(): CassandraTraceWriter {
    return this.writer;
  }
  traceReader(): CassandraTraceReader {
    return this.reader;
  }
  dependencyReader(): CassandraDependencyStore {
    return this.dependencies;
  }
  dependencyWriter(): CassandraDependencyStore {
    return this.dependencies;
  }
  samplingStore(): CassandraSamplingStore {
    return this.sampling;
  }
  lock(): CassandraLock {
    return this.leases;
  }
  purger(): CassandraPurger {
    return this.purge;
  }
  /** the provisioning a readiness ping started, while it runs */
  private pinged: Promise<void> | undefined;
  /**
   * Readiness: a node answers and the keyspace is in place. A runtime started while Cassandra was unreachable
   * provisions here, on the first ping a node answers, so it turns ready only once it can write.
   */
  async ping(): Promise<void> {
    // one provisioning at a time: a slow one is joined by the next ping, not run twice
    if (this.schemaVersion === undefined) await (this.pinged ??= this.provision().finally(() => (this.pinged = undefined)));
    await this.conn.serverVersion();
  }
  /** the default TTL (seconds, 0: none) and compaction window (hours) provision() sets */
  retention(): { ttlSeconds: number; windowHours: number } {
    return { ttlSeconds: this.conn.ttlSeconds, windowHours: this.conn.windowHours };
  }
  /** the release version of a node (remote text) */
  serverVersion(): Promise<string> {
    return this.conn.serverVersion();
  }
  /** deletionPolicy Delete: drops the keyspace if it is ours (and `owner`'s); returns why it kept it otherwise */
  dropKeyspace(owner?: string): Promise<string | undefined> {
    return this.conn.dropKeyspace(owner);
  }
  async close(): Promise<void> {
    await this.conn.close();
  }
}
