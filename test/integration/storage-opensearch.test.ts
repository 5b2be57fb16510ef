// The storage contract suite against a real OpenSearch node (Maven Central jars on the JVM, loopback), once per
// index layout: daily indices, rollover aliases, and a data stream. Then cancellation: the StorageContext signal
// stops reads between chunks and aborts requests in flight.
import { SearchBackend } from '../../src/storage/elasticsearch/store.js';
import { ABORT_CHUNK_SPANS, runAbortCases, runInFlightAbortCase } from '../../src/storage/testing/abort.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';
import { startOpenSearch } from '../env/opensearch.js';
import { sharedServer } from '../env/server-process.js';

const { shared, release } = sharedServer(() => startOpenSearch());

// one node for every suite of this file (each suite also holds it while it runs)
beforeAll(async () => {
  await shared();
}, 300_000);
afterAll(release);

for (const layout of ['daily', 'rollover', 'dataStream'] as const) {
  runStorageContract(`opensearch (${layout})`, async () => {
    const os = await shared();
    const backend = new SearchBackend('opensearch', { endpoints: [os.url], indexPrefix: `contract-${layout.toLowerCase()}`, layout, shards: 1, replicas: 0, pageSize: 10_000 });
    return {
      backend,
      refresh: () => backend.refresh(),
      capabilities: { findWithoutServiceName: true },
      close: release,
    };
  });
}

runAbortCases('opensearch', async () => {
  const os = await shared();
  const backend = new SearchBackend('opensearch', { endpoints: [os.url], indexPrefix: 'abort', layout: 'daily', shards: 1, replicas: 0, chunkSpans: ABORT_CHUNK_SPANS });
  return { backend, refresh: () => backend.refresh(), close: release };
});

runInFlightAbortCase('opensearch', async () => {
  const os = await shared();
  return { backend: new SearchBackend('opensearch', { endpoints: [os.url], indexPrefix: 'abort-flight', layout: 'daily', shards: 1, replicas: 0 }), close: release };
});
