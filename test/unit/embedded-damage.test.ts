// Damaged span records fail reads with a typed Internal error naming the record, not a RangeError or a guess.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDb } from '../../src/storage/embedded/db.js';
import { EmbeddedTraceReader } from '../../src/storage/embedded/reader.js';
import { EmbeddedTraceWriter } from '../../src/storage/embedded/writer.js';
import { StorageError } from '../../src/storage/api/index.js';
import { SpanKind, StatusCode, newSpan, serviceBatch } from '../../src/storage/api/model.js';

const TRACE = 'da'.repeat(16);

let dir: string;
let db: EmbeddedDb;
let key: Buffer;
let value: Buffer;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jso-damage-'));
  db = new EmbeddedDb({ path: dir });
  const span = newSpan({ traceId: TRACE, spanId: '00000000000000a1', name: 'op', kind: SpanKind.Server, startTimeUnixNano: 1_700_000_000_000_000_000n, endTimeUnixNano: 1_700_000_000_000_000_500n, attributes: [{ key: 'http.method', value: 'GET' }, { key: 'n', value: 1.5 }], status: { code: StatusCode.Ok, message: '' } });
  await new EmbeddedTraceWriter(db).writeTraces([serviceBatch('svc', [span], { name: 'w' })]);
  for (const e of db.spans.getRange({})) {
    key = e.key;
    value = Buffer.from(e.value);
  }
});
afterEach(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

async function readError(): Promise<unknown> {
  try {
    for await (const _ of new EmbeddedTraceReader(db).getTraces([{ traceId: TRACE }]));
    return undefined;
  } catch (e) {
    return e;
  }
}

it.each([
  ['truncated', () => value.subarray(0, 5)],
  ['cut inside a double', () => value.subarray(0, value.length - 12)],
  ['all 0xff', () => Buffer.alloc(64, 0xff)],
  ['an unknown value type', () => Buffer.concat([value.subarray(0, value.indexOf(Buffer.from('GET')) - 2), Buffer.from([0x7e])])],
])('a record %s fails reads as Internal, naming its key', async (_what, damaged) => {
  db.spans.putSync(key, damaged());
  const e = await readError();
  expect(e).toBeInstanceOf(StorageError);
  expect((e as StorageError).code).toBe('Internal');
  expect((e as Error).message).toContain(key.toString('hex'));
});

it('a record naming a dictionary entry the store lacks is damage (Internal), not unavailability', async () => {
  const reopen = async () => {
    await db.close();
    db = new EmbeddedDb({ path: dir });
  };
  for (const k of [...db.meta.getKeys({ start: Buffer.from('k'), end: Buffer.from('l') })]) db.meta.removeSync(k);
  await reopen();
  const e = await readError();
  expect(e).toBeInstanceOf(StorageError);
  expect((e as StorageError).code).toBe('Internal');
  expect((e as Error).message).toContain(key.toString('hex'));
});
