import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../../src/storage/embedded/store.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';

runStorageContract('embedded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
  return {
    backend: new EmbeddedBackend({ path: dir }),
    capabilities: { findWithoutServiceName: true, tenancy: false },
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
