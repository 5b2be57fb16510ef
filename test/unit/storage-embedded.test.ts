import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../../src/storage/embedded/store.js';
import { type TraceQuery, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { ABORT_CHUNK_SPANS, runAbortCases } from '../../src/storage/testing/abort.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';
import { open } from 'lmdb';

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

describe('embedded format version', () => {
  const span = newSpan({ traceId: 'f0'.repeat(16), spanId: '00000000000000f1', name: 'op', startTimeUnixNano: 10n, endTimeUnixNano: 20n, attributes: [{ key: 'k', value: 7n }] });

  /** A data dir as an older runtime left it: the same databases, no version (or another one). */
  async function oldStore(dir: string, version?: number): Promise<void> {
    const root = open({ path: dir, maxDbs: 4 });
    const spans = root.openDB<Buffer, Buffer>({ name: 'spans', keyEncoding: 'binary', encoding: 'binary' });
    const meta = root.openDB<Buffer, Buffer>({ name: 'meta', keyEncoding: 'binary', encoding: 'binary' });
    await spans.put(Buffer.from('f0'.repeat(20), 'hex'), Buffer.from('{"r":"","c":"","s":"old","span":{}}'));
    if (version !== undefined) {
      const v = Buffer.alloc(4);
      v.writeUInt32BE(version);
      await meta.put(Buffer.from('V'), v);
    }
    await root.close();
  }

  test.each([['without a version', undefined], ['of another version', 1]])('a data dir written in an older format (%s) is refused, naming the directory and the fix', async (_what, version) => {
    const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
    try {
      await oldStore(dir, version);
      expect(() => new EmbeddedBackend({ path: dir })).toThrow(new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*format.*move or delete`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a store of this format reopens with its spans, attribute keys included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
    try {
      const a = new EmbeddedBackend({ path: dir });
      await a.traceWriter().writeTraces([serviceBatch('v', [span])]);
      await a.purger().purge(); // a purge keeps the version
      await a.traceWriter().writeTraces([serviceBatch('v', [span])]);
      await a.close();
      const b = new EmbeddedBackend({ path: dir });
      try {
        const got: unknown[] = [];
        for await (const batch of b.traceReader().getTraces([{ traceId: span.traceId }])) for (const c of batch) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) got.push(...ss.spans);
        expect(got).toEqual([span]);
      } finally {
        await b.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded postings', () => {
  const at = (trace: number, start: bigint) => newSpan({ traceId: `d1${trace.toString(16).padStart(30, '0')}`, spanId: '00000000000000d1', name: 'op', startTimeUnixNano: start, endTimeUnixNano: start + 5n, attributes: [{ key: 'tier', value: 'gold' }] });
  const found = async (store: EmbeddedBackend, q: TraceQuery) => {
    const ids: string[] = [];
    for await (const b of store.traceReader().findTraceIds(q)) ids.push(...b.map((x) => x.traceId));
    return ids;
  };

  test('searches return the newest traces first when an earlier batch holds both older and newer spans than a later one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
    const store = new EmbeddedBackend({ path: dir });
    try {
      const base = 1_700_000_000_000_000_000n;
      await store.traceWriter().writeTraces([serviceBatch('mix', [at(1, base + 100n), at(3, base + 300n)])]);
      await store.traceWriter().writeTraces([serviceBatch('mix', [at(2, base + 200n)])]);
      expect(await found(store, { serviceName: 'mix', searchDepth: 2 })).toEqual([at(3, 0n).traceId, at(2, 0n).traceId]);
      expect(await found(store, { serviceName: 'mix', attributes: { tier: 'gold' }, searchDepth: 2 })).toEqual([at(3, 0n).traceId, at(2, 0n).traceId]);
      expect(await found(store, { searchDepth: 3 })).toEqual([3, 2, 1].map((i) => at(i, 0n).traceId));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
