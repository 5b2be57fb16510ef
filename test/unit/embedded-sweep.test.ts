// The retention sweep of the embedded store while spans with old start times keep arriving.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDb } from '../../src/storage/embedded/db.js';
import { EmbeddedDependencyStore } from '../../src/storage/embedded/dependencies.js';
import { EmbeddedPurger } from '../../src/storage/embedded/purger.js';
import { EmbeddedTraceReader } from '../../src/storage/embedded/reader.js';
import { EmbeddedTraceWriter } from '../../src/storage/embedded/writer.js';
import { type ResourceSpans, SpanKind, StatusCode, newSpan, serviceBatch } from '../../src/storage/api/model.js';

const H = 3_600_000_000_000n;
const tid = (i: number): string => `ab${i.toString(16).padStart(30, '0')}`;

/** Three spans of trace `i` starting at `start`. */
function batch(i: number, start: bigint): ResourceSpans[] {
  const spans = [0, 1, 2].map((j) =>
    newSpan({
      traceId: tid(i),
      spanId: (j + 1).toString(16).padStart(16, '0'),
      parentSpanId: j ? '0000000000000001' : '',
      name: `op-${j % 2}`,
      kind: SpanKind.Server,
      startTimeUnixNano: start + BigInt(j) * 1000n,
      endTimeUnixNano: start + BigInt(j) * 1000n + 500n,
      attributes: [{ key: 'k', value: 'v' }],
      status: { code: StatusCode.Ok, message: '' },
    }),
  );
  return [serviceBatch('svc', spans, { name: 'w' })];
}

async function withStore(fn: (s: { db: EmbeddedDb; writer: EmbeddedTraceWriter; reader: EmbeddedTraceReader; purger: EmbeddedPurger; deps: EmbeddedDependencyStore }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'jso-sweep-'));
  const db = new EmbeddedDb({ path: dir });
  try {
    await fn({ db, writer: new EmbeddedTraceWriter(db), reader: new EmbeddedTraceReader(db), purger: new EmbeddedPurger(db), deps: new EmbeddedDependencyStore(db) });
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const found = async (reader: EmbeddedTraceReader, min: bigint, max: bigint): Promise<string[]> => {
  const out: string[] = [];
  for await (const b of reader.findTraceIds({ serviceName: 'svc', searchDepth: 1000, startTimeMin: min, startTimeMax: max })) out.push(...b.map((x) => x.traceId));
  return out.sort();
};

/** Runs `before` ahead of the commits that `during` makes (not those `before` makes itself). */
async function interleave(db: EmbeddedDb, before: (call: number) => Promise<void>, during: () => Promise<number>): Promise<number> {
  const commit = db.commit.bind(db);
  let calls = 0;
  let inside = false;
  db.commit = async (fn) => {
    if (!inside) {
      inside = true;
      try {
        await before(++calls);
      } finally {
        inside = false;
      }
    }
    return commit(fn);
  };
  try {
    return await during();
  } finally {
    db.commit = commit;
  }
}

it('a span with an old start written while a sweep runs keeps its span table, and later sweeps and reads work', async () => {
  await withStore(async ({ db, writer, reader, purger, deps }) => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const old = now - 30n * 24n * H;
    for (let i = 0; i < 20; i++) await writer.writeTraces(batch(i, old + BigInt(i) * 1_000_000n));
    // one posting a transaction: 20 for the 'T' pass, then the other passes; the write lands between two of those
    const swept = await interleave(
      db,
      async (call) => {
        if (call === 22) await writer.writeTraces(batch(999, old + 2n * H));
      },
      () => purger.sweep(now - 7n * 24n * H, 1),
    );
    expect(swept).toBe(60);
    expect(await found(reader, now - 60n * 24n * H, now)).toEqual([tid(999)]);
    await expect(deps.getDependencies({ start: now - 60n * 24n * H, end: now })).resolves.toEqual(expect.any(Array));
    expect(await purger.sweep(now - 7n * 24n * H)).toBe(3);
    expect(await found(reader, now - 60n * 24n * H, now)).toEqual([]);
    expect(await purger.sweep(now - 7n * 24n * H)).toBe(0);
  });
});

it('a sweep ends with the groups that existed when it started, however many old spans arrive meanwhile', async () => {
  await withStore(async ({ db, writer, reader, purger }) => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const old = now - 30n * 24n * H;
    for (let i = 0; i < 20; i++) await writer.writeTraces(batch(i, old + BigInt(i) * 1_000_000n));
    let written = 0;
    // before every transaction of the sweep, a client sends another old trace (at most 200)
    const swept = await interleave(
      db,
      async () => {
        if (written < 200) await writer.writeTraces(batch(1000 + written++, old + 5n * H));
      },
      () => purger.sweep(now - 7n * 24n * H, 3),
    );
    expect(swept).toBe(60);
    expect(written).toBeLessThan(200);
    expect((await found(reader, now - 60n * 24n * H, now)).length).toBe(written);
    expect(await purger.sweep(now - 7n * 24n * H)).toBe(3 * written);
    expect(await found(reader, now - 60n * 24n * H, now)).toEqual([]);
  });
});
