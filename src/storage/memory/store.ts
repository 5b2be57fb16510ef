// The memory backend: per tenant, at most maxTraces traces with FIFO eviction (by first write); across tenants, at
// most maxBytes (an estimate of the heap the stored spans hold), again evicting the oldest trace first; at most
// maxSpansPerTrace spans per trace (later ones are refused and counted); a services/operations index that is never
// evicted but bounded (maxServices, maxOperationsPerService, maxOperations: names past a bound are not indexed, the
// spans are still stored and searchable); search by scanning newest first; dependencies derived from parent/child
// spans across services. stats() reports the counts for the runtime's metrics.
//
// One MemoryState (./state.ts) holds the data; the writer, reader, dependency store, sampling store, lock and
// purger are small objects over it, made once by the factory.
import type { BackendFactory } from '../api/index.js';
import { MemoryDependencyStore } from './dependencies.js';
import { MemoryLock, MemoryPurger } from './lock.js';
import { MemoryTraceReader } from './reader.js';
import { MemorySamplingStore } from './sampling.js';
import { type MemoryConfig, MemoryState, type MemoryStats } from './state.js';
import { MemoryTraceWriter } from './writer.js';

export type { MemoryConfig, MemoryStats } from './state.js';

/** The memory backend's factory: every reader and writer shares one MemoryState. */
export class MemoryBackend implements BackendFactory {
  readonly type = 'memory';
  private readonly state: MemoryState;
  private readonly writer: MemoryTraceWriter;
  private readonly reader: MemoryTraceReader;
  private readonly dependencies: MemoryDependencyStore;
  private readonly sampling: MemorySamplingStore;
  private readonly leases: MemoryLock;
  private readonly purge: MemoryPurger;

  constructor(config: MemoryConfig) {
    this.state = new MemoryState(config);
    this.writer = new MemoryTraceWriter(this.state);
    this.reader = new MemoryTraceReader(this.state);
    this.dependencies = new MemoryDependencyStore(this.state);
    this.sampling = new MemorySamplingStore(this.state);
    this.leases = new MemoryLock(this.state);
    this.purge = new MemoryPurger(this.state);
  }

  async provision(): Promise<void> {
    /* nothing outside the process */
  }
  traceWriter(): MemoryTraceWriter {
    return this.writer;
  }
  traceReader(): MemoryTraceReader {
    return this.reader;
  }
  dependencyReader(): MemoryDependencyStore {
    return this.dependencies;
  }
  dependencyWriter(): MemoryDependencyStore {
    return this.dependencies;
  }
  samplingStore(): MemorySamplingStore {
    return this.sampling;
  }
  lock(): MemoryLock {
    return this.leases;
  }
  purger(): MemoryPurger {
    return this.purge;
  }
  async close(): Promise<void> {
    /* nothing to release */
  }

  /** what the store holds and what its bounds cost (for /metrics) */
  stats(): MemoryStats {
    return this.state.stats();
  }
}
