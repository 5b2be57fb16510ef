import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { StorageError, type TraceQuery, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { BUCKET_NS, nameKey, postingTail, postingsFrom, readPostingTail } from '../../src/storage/embedded/keys.js';
import { type PackedRef, decodePosting, decodeSpanTable, encodePosting, encodeSpanTable } from '../../src/storage/embedded/posting.js';
import { EmbeddedBackend } from '../../src/storage/embedded/store.js';
import { Numbering } from '../../src/storage/embedded/numbering.js';

const internal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StorageError);
    expect((e as StorageError).code).toBe('Internal');
    return;
  }
  throw new Error('expected a StorageError');
};

describe('embedded span tables', () => {
  const ids = Buffer.from('aa'.repeat(16) + 'bb'.repeat(16) + 'cc'.repeat(16), 'hex');
  const refs: PackedRef[] = [
    { start: 1_700_000_000_000_300_000n, trace: 0 },
    { start: 1_700_000_000_000_300_000n, trace: 2 },
    { start: 1_700_000_000_000_299_000n, trace: 1 },
    { start: 1_700_000_000_000_000_000n, trace: 0 },
  ];

  test('round trip', () => {
    const t = decodeSpanTable(encodeSpanTable(ids, refs));
    expect(t.ids).toEqual(ids);
    expect([...t.starts]).toEqual(refs.map((r) => r.start));
    expect([...t.traces]).toEqual(refs.map((r) => r.trace));
    expect([...decodeSpanTable(encodeSpanTable(Buffer.alloc(0), [])).starts]).toEqual([]);
  });

  test('damaged tables fail with a typed error, never with refs that were not written', () => {
    const good = encodeSpanTable(ids, refs);
    // every truncation either fails typed or yields a prefix of the refs
    for (let n = 0; n < good.length; n++) {
      let t: ReturnType<typeof decodeSpanTable> | undefined;
      try {
        t = decodeSpanTable(good.subarray(0, n));
      } catch (e) {
        expect(e).toBeInstanceOf(StorageError);
        continue;
      }
      expect([...t.starts]).toEqual(refs.slice(0, t.starts.length).map((r) => r.start));
    }
    // a trace index past the table
    internal(() => decodeSpanTable(encodeSpanTable(ids, [{ start: 5n, trace: 3 }])));
    // more traces than bytes
    internal(() => decodeSpanTable(Buffer.from([0x7f, 1, 2, 3])));
    // a gap past 0
    internal(() => decodeSpanTable(Buffer.concat([Buffer.from([1]), ids.subarray(0, 16), Buffer.from([0, 0, 0, 0, 0, 0, 0, 5, 0, 6])])));
    // an overlong varint
    internal(() => decodeSpanTable(Buffer.alloc(12, 0xff)));
  });
});

describe('embedded postings (places)', () => {
  test('round trip', () => {
    for (const places of [[], [0], [0, 1, 2, 3], [5, 130, 20_000, 3_000_000]]) expect(decodePosting(encodePosting(places))).toEqual(places);
  });

  test('damaged postings fail with a typed error', () => {
    internal(() => decodePosting(Buffer.from([0x80])));
    internal(() => decodePosting(Buffer.alloc(10, 0xff)));
  });
});

describe('embedded index keys', () => {
  test('a name is its dictionary number or itself, and the two never read as each other', () => {
    const byId = [0, 1, 127, 128, 100_000].map((id) => nameKey('svc', id));
    expect(byId.map((b) => b[0])).toEqual([1, 1, 1, 1, 1]);
    expect(byId.map((b) => b.length)).toEqual([2, 2, 2, 3, 4]);
    expect(new Set(byId.map((b) => b.toString('hex'))).size).toBe(5);
    expect(nameKey('svc', undefined)).toEqual(Buffer.from([0, 0, 3, ...Buffer.from('svc')]));
  });

  test('a posting tail keeps the newest start (clamped to its hour) and the group, and orders by start', () => {
    const b = 472_222;
    const base = BigInt(b) * BUCKET_NS;
    for (const [newest, group] of [
      [base, 1n],
      [base + 123_456_789n, 2n ** 40n],
      [base + BUCKET_NS - 1n, 7n],
    ] as const)
      expect(readPostingTail(postingTail(b, newest, group), 0, b)).toEqual({ newest, group });
    expect(readPostingTail(postingTail(b, base - 5n, 1n), 0, b).newest).toBe(base);
    expect(readPostingTail(postingTail(b, base + BUCKET_NS, 1n), 0, b).newest).toBe(base + BUCKET_NS - 1n);
    expect(Buffer.compare(postingTail(b, base + 10n, 9n), postingTail(b, base + 11n, 1n))).toBeLessThan(0);
    const p = Buffer.from('S');
    expect(postingsFrom(p, b, base - 1n)).toEqual(p);
    expect(Buffer.compare(postingsFrom(p, b, base + 10n), Buffer.concat([p, postingTail(b, base + 10n, 0n)]))).toBeLessThanOrEqual(0);
  });
});

describe('embedded group commit', () => {
  const span = (trace: number, j: number, attrs: Record<string, string>) =>
    newSpan({
      traceId: `9a${trace.toString(16).padStart(30, '0')}`,
      spanId: (j + 1).toString(16).padStart(16, '0'),
      name: `op-${j % 3}`,
      startTimeUnixNano: 1_700_000_000_000_000_000n + BigInt(trace) * 1_000_000n + BigInt(j),
      endTimeUnixNano: 1_700_000_000_000_000_000n + BigInt(trace) * 1_000_000n + BigInt(j) + 50n,
      attributes: Object.entries(attrs).map(([key, value]) => ({ key, value })),
    });
  // every batch brings a key no batch had before it, all at once: they must share its number
  const batch = (i: number) => [serviceBatch(`svc-${i % 3}`, [0, 1, 2].map((j) => span(i, j, { [`k-${i % 4}`]: `v-${j}`, shared: `s-${i % 2}` })))];
  const queries: TraceQuery[] = [
    { searchDepth: 100 },
    { serviceName: 'svc-1', searchDepth: 100 },
    { serviceName: 'svc-2', operationName: 'op-1', searchDepth: 100 },
    { serviceName: 'svc-0', attributes: { shared: 's-1' }, searchDepth: 100 },
    { serviceName: 'svc-0', attributes: { 'k-2': 'v-0' }, searchDepth: 100 },
    { serviceName: 'svc-0', attributes: { 'k-0': 'v-0' }, searchDepth: 100 },
    { serviceName: 'svc-1', attributes: { 'k-1': 'v-2', shared: 's-1' }, searchDepth: 3 },
  ];
  const found = async (store: EmbeddedBackend, q: TraceQuery) => {
    const ids: string[] = [];
    for await (const b of store.traceReader().findTraceIds(q)) ids.push(...b.map((x) => x.traceId));
    return ids;
  };
  const indexEntries = async (dir: string) => {
    const root = open({ path: dir, maxDbs: 4, readOnly: true });
    let n = 0;
    for (const _ of root.openDB<Buffer, Buffer>({ name: 'index', keyEncoding: 'binary', encoding: 'binary' }).getKeys()) n++;
    await root.close();
    return n;
  };

  test('concurrent batches commit together, and every search answers as if each had been written alone', async () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'jso-embedded-')), mkdtempSync(join(tmpdir(), 'jso-embedded-'))];
    try {
      const alone = new EmbeddedBackend({ path: dirs[0]! });
      for (let i = 0; i < 24; i++) await alone.traceWriter().writeTraces(batch(i));
      const together = new EmbeddedBackend({ path: dirs[1]! });
      await Promise.all(Array.from({ length: 24 }, (_, i) => together.traceWriter().writeTraces(batch(i))));
      for (const q of queries) {
        const want = await found(alone, q);
        expect(want.length).toBeGreaterThan(0);
        expect(await found(together, q)).toEqual(want);
      }
      await alone.close();
      await together.close();
      // folded: fewer postings than batches written one by one add
      expect(await indexEntries(dirs[1]!)).toBeLessThan((await indexEntries(dirs[0]!)) / 2);
      // and the dictionary numbers the batches shared hold across a reopen
      const again = new EmbeddedBackend({ path: dirs[1]! });
      try {
        for (const q of queries.slice(3)) expect((await found(again, q)).length).toBeGreaterThan(0);
      } finally {
        await again.close();
      }
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });

  test('a bad batch among concurrent ones fails alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
    const store = new EmbeddedBackend({ path: dir, maxIndexedValueBytes: 5_000 });
    try {
      const bad = batch(100);
      bad[0]!.scopeSpans[0]!.spans[0]!.attributes.push({ key: 'big', value: 'v'.repeat(3_000) });
      const results = await Promise.allSettled([batch(1), bad, batch(2)].map((b) => store.traceWriter().writeTraces(b)));
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(await found(store, { searchDepth: 10 })).toEqual([span(2, 0, {}).traceId, span(1, 0, {}).traceId]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded damaged index', () => {
  const s = newSpan({ traceId: 'ab'.repeat(16), spanId: '00000000000000ab', name: 'op', startTimeUnixNano: 1_700_000_000_000_000_000n, endTimeUnixNano: 1_700_000_000_000_000_100n });

  /** Writes one span, then rewrites (or deletes) the store's span tables ('G' entries) as `damage` says. */
  async function damaged(dir: string, damage: (v: Buffer) => Buffer | undefined): Promise<void> {
    const store = new EmbeddedBackend({ path: dir });
    await store.traceWriter().writeTraces([serviceBatch('dmg', [s])]);
    await store.close();
    const root = open({ path: dir, maxDbs: 4 });
    const index = root.openDB<Buffer, Buffer>({ name: 'index', keyEncoding: 'binary', encoding: 'binary' });
    for (const { key, value } of index.getRange({ start: Buffer.from('G'), end: Buffer.from('H') })) {
      const v = damage(Buffer.from(value));
      await (v ? index.put(key, v) : index.remove(key));
    }
    await root.close();
  }

  test.each([
    ['missing', () => undefined],
    ['truncated', (v: Buffer) => v.subarray(0, 5)],
    ['naming a trace it lacks', (v: Buffer) => Buffer.concat([v.subarray(0, v.length - 2), Buffer.from([9, 0])])],
  ])('a span table %s fails searches with a typed error, and the process goes on', async (_what, damage) => {
    const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
    try {
      await damaged(dir, damage);
      const store = new EmbeddedBackend({ path: dir });
      try {
        for (const q of [{ searchDepth: 5 }, { serviceName: 'dmg', searchDepth: 5 }]) {
          const run = async () => {
            for await (const _ of store.traceReader().findTraceIds(q));
          };
          await expect(run()).rejects.toBeInstanceOf(StorageError);
        }
        await expect(store.sweep(1_800_000_000_000_000_000n)).rejects.toBeInstanceOf(StorageError);
        // the trace itself stays readable
        let n = 0;
        for await (const b of store.traceReader().getTraces([{ traceId: s.traceId }])) n += b.length;
        expect(n).toBe(1);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('embedded numbering', () => {
  test('a pending number is shared until committed, never handed out twice, and kept pending across a forget', () => {
    const n = new Numbering();
    expect(n.take('a')).toBe(0);
    expect(n.take('a')).toBe(0);
    expect(n.isCommitted('a')).toBe(false);
    expect(n.take('b')).toBe(1);
    n.learn('a', 0);
    expect(n.isCommitted('a')).toBe(true);
    n.reserve(9);
    expect(n.take('c')).toBe(10);
    n.forget();
    expect(n.get('a')).toBeUndefined();
    expect(n.get('b')).toBe(1);
    expect(n.take('a')).toBe(11);
  });

  test('a bounded numbering forgets stored numbers past its bound, never pending ones, and never hands one out twice', () => {
    const n = new Numbering(3);
    for (const s of ['a', 'b', 'c']) n.learn(s, n.take(s));
    expect(n.take('p')).toBe(3);
    n.learn('d', 4);
    expect(n.committedSize).toBe(1);
    expect(n.get('a')).toBeUndefined();
    expect(n.get('p')).toBe(3);
    expect(n.take('e')).toBe(5);
  });

  test('a pending number is released once every batch that used it failed, and never once it is stored', () => {
    const n = new Numbering();
    expect(n.take('a')).toBe(0);
    n.use('a');
    n.use('a');
    n.release('a', 0);
    expect(n.get('a')).toBe(0);
    n.release('a', 0);
    expect(n.get('a')).toBeUndefined();
    expect(n.size).toBe(0);
    expect(n.take('a')).toBe(1);
    n.use('a');
    n.learn('a', 1);
    n.release('a', 1);
    expect(n.get('a')).toBe(1);
    expect(n.committedSize).toBe(1);
  });

  test('resources and scopes keep their numbers across a reopen, and new ones get numbers of their own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jso-embedded-'));
    const sp = (i: number) => newSpan({ traceId: `c${i}`.padEnd(32, '0'), spanId: '00000000000000c1', name: 'op', startTimeUnixNano: 1_700_000_000_000_000_000n + BigInt(i), endTimeUnixNano: 1_700_000_000_000_000_100n + BigInt(i) });
    const services = async (store: EmbeddedBackend) => {
      const out: string[] = [];
      for (let i = 1; i <= 3; i++)
        for await (const b of store.traceReader().getTraces([{ traceId: sp(i).traceId }])) for (const c of b) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) out.push(`${String(rs.resource.attributes[0]?.value)}/${ss.scope.name}`);
      return out;
    };
    try {
      const a = new EmbeddedBackend({ path: dir });
      await a.traceWriter().writeTraces([serviceBatch('first', [sp(1)], { name: 'lib-1' })]);
      await a.close();
      const b = new EmbeddedBackend({ path: dir });
      try {
        await b.traceWriter().writeTraces([serviceBatch('second', [sp(2)], { name: 'lib-2' }), serviceBatch('first', [sp(3)], { name: 'lib-1' })]);
        expect(await services(b)).toEqual(['first/lib-1', 'second/lib-2', 'first/lib-1']);
      } finally {
        await b.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
