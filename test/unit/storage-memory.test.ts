import { MemoryBackend } from '../../src/storage/memory/store.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';

runStorageContract('memory', async () => ({
  backend: new MemoryBackend({ maxTraces: 100_000 }),
  capabilities: { findWithoutServiceName: true, tenancy: true },
}));
