// The embedded store's commit queue: groups of bounded size, purges in line with commits, and a close that lets
// queued batches commit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDb } from '../../src/storage/embedded/db.js';
import { MAX_GROUP_SPANS } from '../../src/storage/embedded/group.js';
import { EmbeddedPurger } from '../../src/storage/embedded/purger.js';
import { EmbeddedTraceReader } from '../../src/storage/embedded/reader.js';
import { EmbeddedTraceWriter } from '../../src/storage/embedded/writer.js';
import { UnavailableError } from '../../src/storage/api/index.js';
import { type ResourceSpans, SpanKind, StatusCode, newSpan, serviceBatch } from '../../src/storage/api/model.js';

const tid = (i: number): string => `e1${i.toString(16).padStart(30, '0')}`;
const NOW = BigInt(Date.now()) * 1_000_000n;

function batch(i: number, n = 1): ResourceSpans[] {
  const spans = Array.from({ length: n }, (_, j) =>
    newSpan({ traceId: tid(i), spanId: (j + 1).toString(16).padStart(16, '0'), name: 'op', kind: SpanKind.Server, startTimeUnixNano: NOW + BigInt(j), endTimeUnixNano: NOW + BigInt(j) + 5n, status: { code: StatusCode.Ok, message: '' } }),
  );
  return [serviceBatch('svc', spans, { name: 'w' })];
}

/** The services of the spans of trace `i`, one entry a span. */
async function services(db: EmbeddedDb, i: number): Promise<string[]> {
  const out: string[] = [];
  for await (const b of new EmbeddedTraceReader(db).getTraces([{ traceId: tid(i) }]))
    for (const c of b) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) for (const _ of ss.spans) out.push(String(rs.resource.attributes.find((a) => a.key === 'service.name')?.value));
  return out;
}

let dir: string;
let db: EmbeddedDb;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jso-queue-'));
  db = new EmbeddedDb({ path: dir });
});
afterEach(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

it('batches queued behind a commit make groups of bounded size, each batch whole in one', async () => {
  const commit = db.commit.bind(db);
  let commits = 0;
  db.commit = (fn) => {
    commits++;
    return commit(fn);
  };
  const per = MAX_GROUP_SPANS / 10;
  const writer = new EmbeddedTraceWriter(db);
  // the first batch commits alone; the 14 queued behind it hold 1.4 groups' worth of spans
  await Promise.all(Array.from({ length: 15 }, (_, i) => writer.writeTraces(batch(i, per))));
  expect(commits).toBe(3);
  // a batch larger than a group's share is not split
  await writer.writeTraces(batch(99, MAX_GROUP_SPANS + 10));
  expect(commits).toBe(4);
  for (const i of [0, 7, 14]) expect((await services(db, i)).length).toBe(per);
  expect((await services(db, 99)).length).toBe(MAX_GROUP_SPANS + 10);
});

it('close lets batches already queued commit and refuses later ones as the store closing', async () => {
  const writer = new EmbeddedTraceWriter(db);
  const acks = Array.from({ length: 5 }, (_, i) => writer.writeTraces(batch(i)));
  await db.close();
  await expect(Promise.all(acks)).resolves.toBeDefined();
  const late = writer.writeTraces(batch(9));
  await expect(late).rejects.toBeInstanceOf(UnavailableError);
  await expect(late).rejects.toThrow(/closing/);
  db = new EmbeddedDb({ path: dir });
  for (let i = 0; i < 5; i++) expect(await services(db, i)).toEqual(['svc']);
});

it('a purge waits for the batch committing before it, and batches after it name what they store', async () => {
  const writer = new EmbeddedTraceWriter(db);
  await writer.writeTraces(batch(1));
  // hold the next commit until the purge has been asked for
  const commit = db.commit.bind(db);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  db.commit = async (fn) => {
    await held;
    return commit(fn);
  };
  const before = writer.writeTraces(batch(2));
  const purged = new EmbeddedPurger(db).purge();
  const after = writer.writeTraces(batch(3));
  await new Promise((r) => setTimeout(r, 50));
  release();
  await Promise.all([before, purged, after]);
  db.commit = commit;
  expect(await services(db, 1)).toEqual([]);
  expect(await services(db, 2)).toEqual([]);
  expect(await services(db, 3)).toEqual(['svc']);
  await writer.writeTraces(batch(4));
  expect(await services(db, 4)).toEqual(['svc']);
  const found: string[] = [];
  for await (const b of new EmbeddedTraceReader(db).findTraceIds({ serviceName: 'svc', searchDepth: 10 })) found.push(...b.map((x) => x.traceId));
  expect(found.sort()).toEqual([tid(3), tid(4)]);
});
