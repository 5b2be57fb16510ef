import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../../src/storage/embedded/store.js';
import { crashBatch, crashTraceId } from '../env/embedded-writer.js';

const count = async (it: AsyncIterable<unknown[]>) => {
  let n = 0;
  for await (const b of it) n += b.length;
  return n;
};

it('sweeps spans older than the cutoff with their index entries and keeps the rest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-retention-'));
  const store = new EmbeddedBackend({ path: dir });
  try {
    const day = 86_400_000_000_000n;
    const now = BigInt(Date.now()) * 1_000_000n;
    for (let i = 0; i < 10; i++) await store.traceWriter().writeTraces(crashBatch(i, i < 5 ? now - 10n * day : now));
    const deleted = await store.sweep(now - 7n * day, 64); // small batches: several transactions
    expect(deleted).toBe(5 * 50);
    for (let i = 0; i < 10; i++) expect(await count(store.traceReader().getTraces([{ traceId: crashTraceId(i) }]))).toBe(i < 5 ? 0 : 1);
    // index entries of swept spans are gone too: searches find only the kept traces
    expect(await count(store.traceReader().findTraceIds({ serviceName: 'crash-writer', attributes: { batch: 2n }, searchDepth: 10 }))).toBe(0);
    const kept: string[] = [];
    for await (const b of store.traceReader().findTraceIds({ serviceName: 'crash-writer', searchDepth: 100 })) kept.push(...b.map((x) => x.traceId));
    expect(kept.sort()).toEqual([5, 6, 7, 8, 9].map(crashTraceId).sort());
    expect(await store.sweep(now - 7n * day)).toBe(0);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
