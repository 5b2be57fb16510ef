// The embedded backend: one persistent, crash-safe LMDB environment on local disk (./db.ts), and the small
// objects over it that serve the storage API: trace writer and reader, dependency store, sampling store, lock,
// and purger (with the retention sweep).
import type { BackendFactory } from '../api/index.js';
import { type EmbeddedConfig, EmbeddedDb } from './db.js';
import { EmbeddedDependencyStore } from './dependencies.js';
import { EmbeddedLock } from './lock.js';
import { EmbeddedPurger } from './purger.js';
import { EmbeddedTraceReader } from './reader.js';
import { EmbeddedSamplingStore } from './sampling.js';
import { EmbeddedTraceWriter } from './writer.js';

export type { EmbeddedConfig } from './db.js';

export class EmbeddedBackend implements BackendFactory {
  readonly type = 'embedded';
  private readonly db: EmbeddedDb;
  private readonly writer: EmbeddedTraceWriter;
  private readonly reader: EmbeddedTraceReader;
  private readonly dependencies: EmbeddedDependencyStore;
  private readonly sampling: EmbeddedSamplingStore;
  private readonly leases: EmbeddedLock;
  private readonly purge: EmbeddedPurger;

  constructor(config: EmbeddedConfig) {
    this.db = new EmbeddedDb(config);
    this.writer = new EmbeddedTraceWriter(this.db);
    this.reader = new EmbeddedTraceReader(this.db);
    this.dependencies = new EmbeddedDependencyStore(this.db);
    this.sampling = new EmbeddedSamplingStore(this.db);
    this.leases = new EmbeddedLock(this.db);
    this.purge = new EmbeddedPurger(this.db);
  }

  get config(): EmbeddedConfig {
    return this.db.config;
  }

  async provision(): Promise<void> {
    /* the database creates itself on open */
  }
  traceWriter(): EmbeddedTraceWriter {
    return this.writer;
  }
  traceReader(): EmbeddedTraceReader {
    return this.reader;
  }
  dependencyReader(): EmbeddedDependencyStore {
    return this.dependencies;
  }
  dependencyWriter(): EmbeddedDependencyStore {
    return this.dependencies;
  }
  samplingStore(): EmbeddedSamplingStore {
    return this.sampling;
  }
  lock(): EmbeddedLock {
    return this.leases;
  }
  purger(): EmbeddedPurger {
    return this.purge;
  }

  /** Deletes spans that started before `cutoff` (ns) with their index entries; see EmbeddedPurger.sweep. */
  sweep(cutoff: bigint, batch?: number): Promise<number> {
    return this.purge.sweep(cutoff, batch);
  }

  /**
   * The runtime's periodic housekeeping: with a retention, deletes the spans that started before it (in hourly
   * postings, so a span outlives the retention by at most about an hour).
   */
  async maintain(): Promise<string[]> {
    const keep = this.db.config.retentionMs;
    if (keep === undefined) return [];
    const cutoff = BigInt(Date.now() - keep) * 1_000_000n;
    const n = await this.sweep(cutoff);
    return n ? [`deleted ${n} span(s) that started before ${new Date(Number(cutoff / 1_000_000n)).toISOString()} (retention)`] : [];
  }

  /** bytes used by the database files */
  diskBytes(): number {
    return this.db.diskBytes();
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
