// The Cassandra test server itself (test/env/cassandra.ts): a plain node and one with password authentication answer
// CQL as configured, a write the node acknowledged survives kill -9 of its JVM, and neither stop() nor the death of the
// process that started the node leaves a JVM behind.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import cassandra from 'cassandra-driver';
import { REPO_ROOT } from '../../src/local/controlplane.js';
import { CASSANDRA_DC, CASSANDRA_SUPERUSER, type RunningCassandra, startCassandra } from '../env/cassandra.js';
import { sleep } from '../env/server-process.js';

/** the process exists and is not a zombie */
function alive(pid: number): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const t0 = Date.now();
  while (alive(pid) && Date.now() - t0 < withinMs) await sleep(200);
  return !alive(pid);
}

/** a driver session for the duration of fn (closed before the test ends: a session left open to a node that is then
 * stopped keeps reconnecting, and its timers keep the test process alive) */
async function withClient<T>(node: RunningCassandra, credentials: { username: string; password: string } | undefined, fn: (c: cassandra.Client) => Promise<T>): Promise<T> {
  const c = new cassandra.Client({
    contactPoints: [`${node.host}:${node.port}`],
    localDataCenter: CASSANDRA_DC,
    ...(credentials ? { credentials } : {}),
    socketOptions: { connectTimeout: 5000, readTimeout: 10_000 },
  });
  try {
    return await fn(c);
  } finally {
    await c.shutdown();
  }
}

let plain: RunningCassandra | undefined;
let secure: RunningCassandra | undefined;

beforeAll(async () => {
  [plain, secure] = await Promise.all([startCassandra(), startCassandra({ auth: true })]);
}, 240_000);

afterAll(async () => {
  await Promise.all([plain?.stop(), secure?.stop()]);
}, 60_000);

describe('Cassandra test server', () => {
  it('plain: answers CQL without credentials', async () => {
    const rs = await withClient(plain!, undefined, (c) => c.execute('SELECT release_version FROM system.local'));
    expect(rs.first().get('release_version')).toMatch(/^5\.0\./);
    expect(plain!.credentials).toBeUndefined();
  });

  it('auth: refuses a wrong password and no credentials, accepts the superuser', async () => {
    expect(secure!.credentials).toEqual(CASSANDRA_SUPERUSER);
    await expect(withClient(secure!, { username: CASSANDRA_SUPERUSER.username, password: 'not-the-password' }, (c) => c.connect())).rejects.toThrow(/incorrect/);
    await expect(withClient(secure!, undefined, (c) => c.connect())).rejects.toThrow(/authentication|credentials|Authenticator/i);
    const rs = await withClient(secure!, CASSANDRA_SUPERUSER, (c) => c.execute('SELECT role, is_superuser FROM system_auth.roles WHERE role = ?', [CASSANDRA_SUPERUSER.username], { prepare: true }));
    expect(rs.first().get('is_superuser')).toBe(true);
  });

  it('a write acknowledged before kill -9 of the JVM is there after restart(true)', async () => {
    const node = plain!;
    const rows = 300;
    await withClient(node, undefined, async (c) => {
      await c.execute("CREATE KEYSPACE IF NOT EXISTS durability WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
      await c.execute('CREATE TABLE IF NOT EXISTS durability.acked (id int PRIMARY KEY, v text)');
      // every insert acknowledged (consistency LOCAL_ONE, the driver's default) before the JVM is killed
      await Promise.all(Array.from({ length: rows }, (_, i) => c.execute('INSERT INTO durability.acked (id, v) VALUES (?, ?)', [i, `v${i}`], { prepare: true })));
    });
    const pid = node.proc.pid!;
    const port = node.port;
    const dataDir = node.dataDir;

    await node.restart(true);
    expect(alive(pid)).toBe(false);
    expect(node.proc.pid).not.toBe(pid);
    expect([node.port, node.dataDir]).toEqual([port, dataDir]);
    const rs = await withClient(node, undefined, (c) => c.execute('SELECT id, v FROM durability.acked'));
    expect(rs.rows.length).toBe(rows);
    expect(rs.rows.every((r) => r.get('v') === `v${r.get('id') as number}`)).toBe(true);
  }, 180_000);

  it('stop() leaves no process', async () => {
    const pid = secure!.proc.pid!;
    await secure!.stop();
    secure = undefined;
    expect(alive(pid)).toBe(false);
  }, 60_000);

  it('the node dies with the process that started it (kill -9, no stop())', async () => {
    // a separate Node process starts a node, reports it, and is killed without cleaning up
    const script = `const { startCassandra } = await import(${JSON.stringify(join(REPO_ROOT, 'dist/test/env/cassandra.js'))});
const n = await startCassandra();
process.stdout.write(JSON.stringify({ pid: n.proc.pid, dataDir: n.dataDir }) + '\\n');
setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    parent.stdout.on('data', (c: Buffer) => (out += c.toString()));
    parent.stderr.on('data', (c: Buffer) => (err += c.toString()));
    try {
      const t0 = Date.now();
      while (!out.includes('\n') && parent.exitCode === null && Date.now() - t0 < 150_000) await sleep(200);
      if (!out.includes('\n')) throw new Error(`the parent process started no node (exit ${parent.exitCode}):\n${err}`);
      const started = JSON.parse(out.split('\n')[0]!) as { pid: number; dataDir: string };
      expect(alive(started.pid)).toBe(true);
      parent.kill('SIGKILL');
      try {
        // the launcher notices within 0.5 s; Cassandra's drain, then halt after 15 s at most
        expect(await gone(started.pid, 30_000)).toBe(true);
      } finally {
        if (alive(started.pid)) process.kill(started.pid, 'SIGKILL');
        rmSync(dirname(started.dataDir), { recursive: true, force: true });
      }
    } finally {
      if (parent.exitCode === null) parent.kill('SIGKILL');
    }
  }, 240_000);
});
