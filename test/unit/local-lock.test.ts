// The state file of local mode doubles as its lock: a live holder blocks a second start with one line saying where
// it is; a holder that is gone (kill -9) or a reused pid does not.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyRunning, LocalLock, procStat } from '../../src/local/lock.js';

const tmpFile = (): string => join(mkdtempSync(join(tmpdir(), 'jso-lock-')), 'local.json');

describe('local mode state file', () => {
  it('is created, updated and removed by its holder', () => {
    const f = tmpFile();
    const lock = LocalLock.acquire(f);
    lock.update({ phase: 'up', kubeconfig: '/k', addresses: { 'OTLP gRPC': '127.0.0.1:4317' } });
    expect(JSON.parse(readFileSync(f, 'utf8'))).toMatchObject({ pid: process.pid, phase: 'up', kubeconfig: '/k' });
    lock.release();
    expect(existsSync(f)).toBe(false);
  });

  it('blocks while its process lives, naming pid, addresses and kubeconfig in one line', async () => {
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => holder.once('spawn', r));
      const f = tmpFile();
      writeFileSync(f, JSON.stringify({ pid: holder.pid, startTicks: procStat(holder.pid!)?.startTicks, startedAt: 'x', phase: 'up', kubeconfig: '/tmp/kc', addresses: { 'OTLP gRPC': '127.0.0.1:4317' } }));
      let err: unknown;
      try {
        LocalLock.acquire(f);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AlreadyRunning);
      const msg = (err as Error).message;
      expect(msg).not.toContain('\n');
      expect(msg).toContain(`already running (pid ${holder.pid})`);
      expect(msg).toContain('OTLP gRPC 127.0.0.1:4317');
      expect(msg).toContain('KUBECONFIG=/tmp/kc');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('does not block when its process is gone or the pid now belongs to another process', async () => {
    const gone = spawn('true');
    await new Promise((r) => gone.on('exit', r));
    const f = tmpFile();
    writeFileSync(f, JSON.stringify({ pid: gone.pid, startedAt: 'x', phase: 'up' }));
    LocalLock.acquire(f).release();
    // a live pid with another start time: the pid was reused after the holder died
    writeFileSync(f, JSON.stringify({ pid: process.ppid, startTicks: 1, startedAt: 'x', phase: 'up' }));
    const lock = LocalLock.acquire(f);
    expect(JSON.parse(readFileSync(f, 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
    // a half-written file
    writeFileSync(f, '{"pid": 1');
    LocalLock.acquire(f).release();
  });
});
