import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../../src/storage/embedded/store.js';
import { embeddedPlugin } from '../../src/storage/embedded/plugin.js';
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

it('sweeps the older spans of a batch whose spans straddle the cutoff and keeps the newer ones findable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-retention-'));
  const store = new EmbeddedBackend({ path: dir });
  try {
    const hour = 3_600_000_000_000n;
    const base = (BigInt(Date.now()) * 1_000_000n / hour) * hour - 5n * hour + 600_000_000_000n; // 10 min into an hour
    const spans = crashBatch(0, base)[0]!.scopeSpans[0]!.spans.slice(0, 2);
    spans[1]!.startTimeUnixNano = base + 1_200_000_000_000n; // 20 min later, same hour
    spans[1]!.endTimeUnixNano = spans[1]!.startTimeUnixNano + 500n;
    await store.traceWriter().writeTraces([{ ...crashBatch(0, base)[0]!, scopeSpans: [{ ...crashBatch(0, base)[0]!.scopeSpans[0]!, spans }] }]);
    expect(await store.sweep(base + 600_000_000_000n)).toBe(1);
    let n = 0;
    for await (const b of store.traceReader().getTraces([{ traceId: crashTraceId(0) }])) for (const c of b) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
    expect(n).toBe(1);
    expect(await count(store.traceReader().findTraceIds({ serviceName: 'crash-writer', searchDepth: 10 }))).toBe(1);
    expect(await count(store.traceReader().findTraceIds({ serviceName: 'crash-writer', startTimeMin: base - 1n, startTimeMax: base + 1n, searchDepth: 10 }))).toBe(0);
    expect(await store.sweep(base + 600_000_000_000n)).toBe(0);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it("enforces the store's retention in the runtime's housekeeping (maintain), opened through its plug-in", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-retention-'));
  const store = (await embeddedPlugin.open({}, { dataDir: dir, retention: '7d', env: {} })) as EmbeddedBackend;
  try {
    const day = 86_400_000_000_000n;
    const now = BigInt(Date.now()) * 1_000_000n;
    for (let i = 0; i < 4; i++) await store.traceWriter().writeTraces(crashBatch(i, i < 2 ? now - 8n * day : now - 6n * day));
    const done = await store.maintain();
    expect(done).toHaveLength(1);
    expect(done[0]).toMatch(/^deleted 100 span\(s\) that started before .* \(retention\)$/);
    for (let i = 0; i < 4; i++) expect(await count(store.traceReader().getTraces([{ traceId: crashTraceId(i) }]))).toBe(i < 2 ? 0 : 1);
    expect(await store.maintain()).toEqual([]);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('keeps everything without a retention', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-retention-'));
  const store = (await embeddedPlugin.open({}, { dataDir: dir, env: {} })) as EmbeddedBackend;
  try {
    await store.traceWriter().writeTraces(crashBatch(0, BigInt(Date.now() - 400 * 86_400_000) * 1_000_000n));
    expect(await store.maintain()).toEqual([]);
    expect(await count(store.traceReader().getTraces([{ traceId: crashTraceId(0) }]))).toBe(1);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
