import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../../src/storage/embedded/store.js';
import { newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { ABORT_CHUNK_SPANS, runAbortCases } from '../../src/storage/testing/abort.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';

runStorageContract('embedded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
  return {
    backend: new EmbeddedBackend({ path: dir }),
    capabilities: { findWithoutServiceName: true, tenancy: false },
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

runAbortCases('embedded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
  return { backend: new EmbeddedBackend({ path: dir, maxSpansPerChunk: ABORT_CHUNK_SPANS }), close: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('embedded writes', () => {
  const span = (i: number, name = 'op') => newSpan({ traceId: `e1${i.toString(16).padStart(30, '0')}`, spanId: '00000000000000a1', name, startTimeUnixNano: 10n, endTimeUnixNano: 20n });
  const count = async (store: EmbeddedBackend, traceId: string) => {
    let n = 0;
    for await (const b of store.traceReader().getTraces([{ traceId }])) for (const c of b) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
    return n;
  };

  test('a span written again (a client retrying after a timeout) is stored once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
    const store = new EmbeddedBackend({ path: dir });
    try {
      for (let k = 0; k < 3; k++) await store.traceWriter().writeTraces([serviceBatch('retry', [span(1)])]);
      expect(await count(store, span(1).traceId)).toBe(1);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a batch whose key would exceed LMDB\u2019s limit is refused whole, before anything is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
    const store = new EmbeddedBackend({ path: dir, maxIndexedValueBytes: 5_000 });
    try {
      const bad = span(3);
      bad.attributes.push({ key: 'big', value: 'v'.repeat(3_000) }); // indexed whole (maxIndexedValueBytes raised): too long a key
      await expect(store.traceWriter().writeTraces([serviceBatch('atomic', [span(2), bad])])).rejects.toThrow(/index key/);
      expect(await count(store, span(2).traceId)).toBe(0);
      // and the store goes on
      await store.traceWriter().writeTraces([serviceBatch('atomic', [span(4)])]);
      expect(await count(store, span(4).traceId)).toBe(1);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
