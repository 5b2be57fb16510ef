// What the embedded store says of a data dir in another format.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { EmbeddedDb } from '../../src/storage/embedded/db.js';
import { FORMAT_VERSION } from '../../src/storage/embedded/keys.js';

/** A data dir marked with format `version`, holding a span record too if `used`. */
async function store(dir: string, version: number, used: boolean): Promise<void> {
  const root = open({ path: dir, maxDbs: 4 });
  const spans = root.openDB<Buffer, Buffer>({ name: 'spans', keyEncoding: 'binary', encoding: 'binary' });
  const meta = root.openDB<Buffer, Buffer>({ name: 'meta', keyEncoding: 'binary', encoding: 'binary' });
  if (used) await spans.put(Buffer.alloc(40, 1), Buffer.from([0]));
  const v = Buffer.alloc(4);
  v.writeUInt32BE(version);
  await meta.put(Buffer.from('V'), v);
  await root.close();
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jso-format-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('a store of a newer format asks for a newer runtime rather than for its data to be deleted', async () => {
  await store(dir, FORMAT_VERSION + 1, true);
  for (let i = 0; i < 2; i++) {
    let err: unknown;
    try {
      new EmbeddedDb({ path: dir });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain(dir);
    expect(msg).toContain(`runtime is older than the store: run a runtime that reads format ${FORMAT_VERSION + 1}`);
    expect(msg).not.toMatch(/delete/);
  }
});

it.each([[1], [FORMAT_VERSION + 1]])('a store holding only the mark of format %i is marked again and opens', async (version) => {
  await store(dir, version, false);
  const db = new EmbeddedDb({ path: dir });
  try {
    expect(db.meta.get(Buffer.from('V'))?.readUInt32BE(0)).toBe(FORMAT_VERSION);
  } finally {
    await db.close();
  }
});
