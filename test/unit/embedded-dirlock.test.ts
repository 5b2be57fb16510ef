// One process at a time opens an embedded store's directory; a holder killed with kill -9 does not block the next.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { EmbeddedDb } from '../../src/storage/embedded/db.js';
import { LOCK_FILE, StoreLockedError } from '../../src/storage/embedded/dirlock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jso-dirlock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const openError = (): unknown => {
  try {
    new EmbeddedDb({ path: dir }).close().catch(() => undefined);
    return undefined;
  } catch (e) {
    return e;
  }
};

it('a second open of a directory in the same process is refused until the first closes', async () => {
  const db = new EmbeddedDb({ path: dir });
  const e = openError();
  expect(e).toBeInstanceOf(StoreLockedError);
  expect((e as StoreLockedError).code).toBe('Unavailable');
  expect((e as Error).message).toContain(dir);
  expect((e as Error).message).toContain(`pid ${process.pid}`);
  await db.close();
  await new EmbeddedDb({ path: dir }).close();
});

it('another living process holding the directory is named; once it is killed with SIGKILL the store opens', async () => {
  const dbModule = new URL('../../src/storage/embedded/db.js', import.meta.url).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', `const { EmbeddedDb } = await import(${JSON.stringify(dbModule)}); new EmbeddedDb({ path: ${JSON.stringify(dir)} }); console.log('open'); setTimeout(() => {}, 60000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await Promise.race([once(child.stdout, 'data'), new Promise((_, rej) => setTimeout(() => rej(new Error('the child did not open the store')), 30000))])) as [Buffer];
    expect(line.toString()).toContain('open');
    const e = openError();
    expect(e).toBeInstanceOf(StoreLockedError);
    expect((e as StoreLockedError).holder).toContain(`pid ${child.pid}`);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(openError()).toBeUndefined();
  } finally {
    child.kill('SIGKILL');
  }
});

it('a lock file naming this pid but not held by this process is stale (a restarted container reuses pids)', async () => {
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ host: hostname(), pid: process.pid, started: '1' }));
  const db = new EmbeddedDb({ path: dir });
  await db.close();
  writeFileSync(join(dir, LOCK_FILE), 'half-writ');
  await new EmbeddedDb({ path: dir }).close();
});
