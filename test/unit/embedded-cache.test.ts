// What the embedded store keeps in memory for reads: span tables are cached within a bound on their bytes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDb } from '../../src/storage/embedded/db.js';
import { EmbeddedTraceReader } from '../../src/storage/embedded/reader.js';
import { EmbeddedTraceWriter } from '../../src/storage/embedded/writer.js';
import { SpanKind, StatusCode, newSpan, serviceBatch } from '../../src/storage/api/model.js';

it('bounds the span tables it caches by their bytes, however few refs each holds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-cache-'));
  const db = new EmbeddedDb({ path: dir, maxCachedTableBytes: 100_000 });
  try {
    const writer = new EmbeddedTraceWriter(db);
    const now = BigInt(Date.now()) * 1_000_000n;
    // one span a commit: 400 groups, each with a span table of one ref
    for (let i = 0; i < 400; i++) {
      const span = newSpan({ traceId: `cd${i.toString(16).padStart(30, '0')}`, spanId: '0000000000000001', name: 'op', kind: SpanKind.Server, startTimeUnixNano: now - BigInt(i) * 1000n, endTimeUnixNano: now - BigInt(i) * 1000n + 5n, status: { code: StatusCode.Ok, message: '' } });
      await writer.writeTraces([serviceBatch('svc', [span], { name: 'w' })]);
    }
    let found = 0;
    for await (const b of new EmbeddedTraceReader(db).findTraceIds({ serviceName: 'svc', searchDepth: 1000 })) found += b.length;
    expect(found).toBe(400);
    expect(db.cachedTableBytes).toBeGreaterThan(0);
    expect(db.cachedTableBytes).toBeLessThanOrEqual(100_000);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
