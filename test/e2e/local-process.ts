// Local mode as a user runs it, for the e2e tests: started by `node cli.js local` or `npm start` with its own
// state file, watched through its output and the process tree in /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, waitFor } from '../helpers.js';

/** GET on a pod address of local mode (127.1.x.y: loopback, which the shared fetchText does not know). */
export async function fetchText(url: string): Promise<{ code: number; body: string }> {
  if (!/^http:\/\/127\./.test(url)) throw new Error(`refusing to dial non-loopback ${url}`);
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { code: r.status, body: await r.text() };
}

/** pid -> [parent pid, state] of every process, from /proc */
export function processTable(): Map<number, [number, string]> {
  const out = new Map<number, [number, string]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(Number(d), [Number(f[1]), f[0]!]);
    } catch {
      /* exited while listing */
    }
  }
  return out;
}

/** The live (non-zombie) processes below pid, pid included. */
export function tree(pid: number): number[] {
  const table = processTable();
  const found = [pid];
  for (let i = 0; i < found.length; i++) for (const [p, [pp]] of table) if (pp === found[i] && !found.includes(p)) found.push(p);
  return found.filter((p) => table.has(p) && table.get(p)![1] !== 'Z');
}

export const living = (pids: number[]): number[] => {
  const table = processTable();
  return pids.filter((p) => table.has(p) && table.get(p)![1] !== 'Z');
};

export const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '(gone)';
  }
};

export interface Started {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
  stateFile: string;
}

export function startLocal(how: 'node' | 'npm', env: Record<string, string> = {}, stateFile = join(mkdtempSync(join(tmpdir(), 'jso-local-')), 'local.json'), ownGroup = false): Started {
  const [cmd, args] = how === 'npm' ? ['npm', ['start', '--silent', '--', '--control-plane']] : [process.execPath, [join(ROOT, 'dist/src/cli.js'), 'local', '--control-plane']];
  const proc = spawn(cmd, args as string[], {
    cwd: ROOT,
    env: { ...process.env, KUBECONFIG: '', JSO_LOCAL_STATE: stateFile, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: ownGroup,
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  return { proc, out: () => out, exited, stateFile };
}

/** The exit code, or 'still running' after ms (the timer does not outlive the answer). */
export async function exitWithin(s: Started, ms: number): Promise<number | null | 'still running'> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([s.exited, new Promise<'still running'>((r) => (t = setTimeout(() => r('still running'), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

export async function waitUp(s: Started): Promise<void> {
  await waitFor('local mode up', async () => s.out().includes('Local mode is up') || (s.proc.exitCode !== null && Promise.reject(new Error(s.out()))), 150_000, 200);
}

/** After `act`, every process of the tree taken while up is gone (bounded wait). */
export async function expectTreeGone(pids: number[], timeoutMs = 25_000): Promise<void> {
  try {
    await waitFor('every process local mode started gone', async () => living(pids).length === 0, timeoutMs, 200);
  } catch (e) {
    throw new Error(`${(e as Error).message}; left: ${living(pids).map((p) => `${p} ${cmdline(p)}`).join('; ')}`);
  }
}

export const components = /etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok|cli\.js runtime/;
export const runtimes = (pid: number): number[] => tree(pid).filter((p) => /^\S*node\S* \S*cli\.js runtime/.test(cmdline(p)));
export const IP = '127\\.1\\.\\d+\\.\\d+';

