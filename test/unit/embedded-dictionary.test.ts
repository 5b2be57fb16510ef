// The embedded store's string dictionary (attribute keys and service names by number): a name is indexed one way,
// by number or by string, in this process and after a restart, whatever batches failed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDb } from '../../src/storage/embedded/db.js';
import { EmbeddedTraceReader } from '../../src/storage/embedded/reader.js';
import { EmbeddedTraceWriter } from '../../src/storage/embedded/writer.js';
import { type KeyValue, type ResourceSpans, SpanKind, StatusCode, newSpan, serviceBatch } from '../../src/storage/api/model.js';

const tid = (i: number): string => `d1${i.toString(16).padStart(30, '0')}`;
const NOW = BigInt(Date.now()) * 1_000_000n;

function batch(i: number, svc: string, attributes: KeyValue[] = []): ResourceSpans[] {
  const span = newSpan({ traceId: tid(i), spanId: '0000000000000001', name: 'op', kind: SpanKind.Server, startTimeUnixNano: NOW + BigInt(i), endTimeUnixNano: NOW + BigInt(i) + 5n, attributes, status: { code: StatusCode.Ok, message: '' } });
  return [serviceBatch(svc, [span], { name: 'w' })];
}

const search = async (db: EmbeddedDb, serviceName: string, attributes: Record<string, string> = {}): Promise<string[]> => {
  const out: string[] = [];
  for await (const b of new EmbeddedTraceReader(db).findTraceIds({ serviceName, attributes, searchDepth: 100 })) out.push(...b.map((x) => x.traceId));
  return out.sort();
};

/** Fails every commit as a full disk would, until the returned function is called. */
function failCommits(db: EmbeddedDb): () => void {
  const commit = db.commit.bind(db);
  db.commit = (fn) =>
    commit(() => {
      fn();
      throw new Error('No space left on device (injected)');
    });
  return () => {
    db.commit = commit;
  };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jso-dict-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const many = (n: number, prefix: string): KeyValue[] => Array.from({ length: n }, (_, i) => ({ key: `${prefix}.${i}`, value: 'x' }));

it('a failed batch gives back the numbers it took: a name written afterwards is found before and after a restart', async () => {
  let db = new EmbeddedDb({ path: dir, maxDictionaryKeys: 10 });
  const restore = failCommits(db);
  await expect(new EmbeddedTraceWriter(db).writeTraces(batch(1, 'svc', many(20, 'tag')))).rejects.toThrow(/full/);
  restore();
  await new EmbeddedTraceWriter(db).writeTraces(batch(2, 'checkout', [{ key: 'http.method', value: 'GET' }]));
  expect(await search(db, 'checkout', { 'http.method': 'GET' })).toEqual([tid(2)]);
  await db.close();
  db = new EmbeddedDb({ path: dir, maxDictionaryKeys: 10 });
  try {
    expect(await search(db, 'checkout', { 'http.method': 'GET' })).toEqual([tid(2)]);
    await new EmbeddedTraceWriter(db).writeTraces(batch(3, 'checkout', [{ key: 'http.method', value: 'GET' }]));
    expect(await search(db, 'checkout', { 'http.method': 'GET' })).toEqual([tid(2), tid(3)]);
  } finally {
    await db.close();
  }
});

it('a name new once the dictionary is full is indexed by string for good, also after a restart', async () => {
  let db = new EmbeddedDb({ path: dir, maxDictionaryKeys: 10 });
  await new EmbeddedTraceWriter(db).writeTraces(batch(1, 'svc', many(12, 'tag')));
  await new EmbeddedTraceWriter(db).writeTraces(batch(2, 'late', [{ key: 'late.key', value: 'v' }]));
  expect(await search(db, 'late', { 'late.key': 'v' })).toEqual([tid(2)]);
  await db.close();
  db = new EmbeddedDb({ path: dir, maxDictionaryKeys: 10 });
  try {
    await new EmbeddedTraceWriter(db).writeTraces(batch(3, 'late', [{ key: 'late.key', value: 'v' }]));
    expect(await search(db, 'late', { 'late.key': 'v' })).toEqual([tid(2), tid(3)]);
    expect(await search(db, 'svc', { 'tag.11': 'x' })).toEqual([tid(1)]);
  } finally {
    await db.close();
  }
});
