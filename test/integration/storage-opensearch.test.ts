// The storage contract suite against a real OpenSearch node (Maven Central jars on the JVM, loopback), once per
// index layout: daily indices, rollover aliases, and a data stream.
import { SearchBackend } from '../../src/storage/elasticsearch/store.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';
import { type RunningOpenSearch, startOpenSearch } from '../env/opensearch.js';

let server: RunningOpenSearch | undefined;
let users = 0;
async function shared(): Promise<RunningOpenSearch> {
  users++;
  server ??= await startOpenSearch();
  return server;
}
async function release(): Promise<void> {
  if (--users === 0) {
    await server?.stop();
    server = undefined;
  }
}

for (const layout of ['daily', 'rollover', 'dataStream'] as const) {
  runStorageContract(`opensearch (${layout})`, async () => {
    const os = await shared();
    const backend = new SearchBackend('opensearch', { endpoints: [os.url], indexPrefix: `contract-${layout.toLowerCase()}`, layout, shards: 1, replicas: 0, pageSize: 10_000 });
    return {
      backend,
      refresh: () => backend.store.refresh(),
      capabilities: { findWithoutServiceName: true },
      close: release,
    };
  });
}
