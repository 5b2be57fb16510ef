// `npm start` on a machine without a cluster: a control plane of its own, the CRDs, the operator, the memory
// sample Ready, the runtime answering on loopback. Ctrl-C, SIGTERM or SIGHUP (to npm or to its node process) and
// the death of the parent stop every process it started, judged by the process tree in /proc; a second start and a
// taken port end in one line without starting anything.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PORTS } from '../../src/api/runtime-config.js';
import { ROOT, fetchText, waitFor } from '../helpers.js';

/** pid -> [parent pid, state] of every process, from /proc */
function processTable(): Map<number, [number, string]> {
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
function tree(pid: number): number[] {
  const table = processTable();
  const found = [pid];
  for (let i = 0; i < found.length; i++) for (const [p, [pp]] of table) if (pp === found[i] && !found.includes(p)) found.push(p);
  return found.filter((p) => table.has(p) && table.get(p)![1] !== 'Z');
}

const living = (pids: number[]): number[] => {
  const table = processTable();
  return pids.filter((p) => table.has(p) && table.get(p)![1] !== 'Z');
};

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '(gone)';
  }
};

/** Every runtime listener on a free loopback port: nothing here depends on 4317, 5778, ... being free. */
const freeListenEnv = (): Record<string, string> =>
  Object.fromEntries(Object.keys(DEFAULT_PORTS).map((k) => [`JSO_LISTEN_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`, '127.0.0.1:0']));

interface Started {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
  stateFile: string;
}

function startLocal(how: 'node' | 'npm', env: Record<string, string> = {}, stateFile = join(mkdtempSync(join(tmpdir(), 'jso-local-')), 'local.json'), ownGroup = false): Started {
  const [cmd, args] = how === 'npm' ? ['npm', ['start', '--silent', '--', '--control-plane']] : [process.execPath, [join(ROOT, 'dist/src/cli.js'), 'local', '--control-plane']];
  const proc = spawn(cmd, args as string[], {
    cwd: ROOT,
    env: { ...process.env, KUBECONFIG: '', JSO_LOCAL_STATE: stateFile, ...freeListenEnv(), ...env },
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
async function exitWithin(s: Started, ms: number): Promise<number | null | 'still running'> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([s.exited, new Promise<'still running'>((r) => (t = setTimeout(() => r('still running'), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

async function waitUp(s: Started): Promise<void> {
  await waitFor('local mode up', async () => s.out().includes('Local mode is up') || (s.proc.exitCode !== null && Promise.reject(new Error(s.out()))), 150_000, 200);
}

/** After `act`, every process of the tree taken while up is gone (bounded wait). */
async function expectTreeGone(pids: number[], timeoutMs = 25_000): Promise<void> {
  try {
    await waitFor('every process local mode started gone', async () => living(pids).length === 0, timeoutMs, 200);
  } catch (e) {
    throw new Error(`${(e as Error).message}; left: ${living(pids).map((p) => `${p} ${cmdline(p)}`).join('; ')}`);
  }
}

const components = /etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok/;

it('starts everything, serves, refuses a second start in one line, and stops everything on Ctrl-C', async () => {
  const s = startLocal('node');
  try {
    await waitUp(s);
    const out = s.out();
    expect(out).toMatch(/TraceStore Ready=True \(Ready\)/);
    const admin = /runtime health\/metrics\s+http:\/\/(127\.0\.0\.1:\d+)\/readyz/.exec(out)?.[1];
    expect(admin).toBeDefined();
    expect(admin).not.toBe(`127.0.0.1:${DEFAULT_PORTS.admin}`);
    expect((await fetchText(`http://${admin}/readyz`)).code).toBe(200);
    expect((await fetchText(`http://${admin}/metrics`)).body).toContain('jso_runtime_info{backend="memory"} 1');
    // a span sent to the printed OTLP address comes back from the printed query address
    const otlp = /OTLP HTTP\s+(http:\/\/127\.0\.0\.1:\d+\/v1\/traces)/.exec(out)?.[1];
    const query = /Jaeger query \(api_v3\)\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v3\/services/.exec(out)?.[1];
    expect(otlp && query).toBeTruthy();
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'local-check' } }] }, scopeSpans: [{ spans: [{ traceId: '10ca1000000000000000000000000001', spanId: '10ca100000000001', name: 'hello', startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1000n) }] }] }] };
    const sent = await fetch(otlp!, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect(sent.status).toBe(200);
    await waitFor('span readable', async () => (await fetchText(`${query}/api/v3/traces/10ca1000000000000000000000000001`)).code === 200, 10_000);
    const kubeconfig = /export KUBECONFIG=(\S+);/.exec(out)?.[1];
    expect(kubeconfig).toBeDefined();
    const pids = tree(s.proc.pid!);
    expect(pids.filter((p) => components.test(cmdline(p))).length).toBeGreaterThanOrEqual(5);

    // a second start: one line saying where the first one is, non-zero, nothing started
    const second = startLocal('node', {}, s.stateFile);
    const code = await exitWithin(second, 20_000);
    if (code === 'still running') second.proc.kill('SIGKILL');
    expect(code).toBe(1);
    const lines = second.out().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`already running (pid ${s.proc.pid})`);
    expect(lines[0]).toContain(kubeconfig);
    expect(lines[0]).toContain(otlp!.replace(/^http:\/\/|\/v1\/traces$/g, ''));

    s.proc.kill('SIGINT');
    expect(await s.exited).toBe(0);
    await expectTreeGone(pids);
    await expect(fetchText(`http://${admin}/readyz`)).rejects.toThrow();
    expect(existsSync(s.stateFile)).toBe(false);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}, 240_000);

it('SIGTERM to `npm start` stops every process it started', async () => {
  const s = startLocal('npm');
  try {
    await waitUp(s);
    const pids = tree(s.proc.pid!);
    expect(pids.filter((p) => components.test(cmdline(p))).length).toBeGreaterThanOrEqual(5);
    s.proc.kill('SIGTERM');
    await s.exited;
    await expectTreeGone(pids);
    expect(existsSync(s.stateFile)).toBe(false);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}, 240_000);

it('Ctrl-C in a terminal (SIGINT to the whole foreground process group of `npm start`) stops everything in order', async () => {
  const s = startLocal('npm', {}, undefined, true);
  try {
    await waitUp(s);
    const pids = tree(s.proc.pid!);
    expect(pids.filter((p) => components.test(cmdline(p))).length).toBeGreaterThanOrEqual(5);
    // npm forwards the SIGINT its node process already got from the terminal: that second one must not cut the
    // orderly stop short
    process.kill(-s.proc.pid!, 'SIGINT');
    expect(await s.exited).toBe(0);
    expect(s.out()).not.toContain('stopping now');
    await expectTreeGone(pids);
  } finally {
    if (s.proc.exitCode === null) process.kill(-s.proc.pid!, 'SIGKILL');
  }
}, 240_000);

it('SIGHUP to the node process of `npm start` stops every process it started', async () => {
  const s = startLocal('npm');
  try {
    await waitUp(s);
    const pids = tree(s.proc.pid!);
    const node = pids.find((p) => /cli\.js local/.test(cmdline(p)));
    expect(node).toBeDefined();
    process.kill(node!, 'SIGHUP');
    await s.exited;
    await expectTreeGone(pids);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}, 240_000);

it('the death of the parent (kill -9 of npm) stops every process local mode started', async () => {
  const s = startLocal('npm');
  try {
    await waitUp(s);
    const pids = tree(s.proc.pid!);
    expect(pids.filter((p) => components.test(cmdline(p))).length).toBeGreaterThanOrEqual(5);
    s.proc.kill('SIGKILL');
    await s.exited;
    await expectTreeGone(pids);
    expect(existsSync(s.stateFile)).toBe(false);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}, 240_000);

it('a taken port is reported in one line before anything starts; a stale state file does not block', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const addr = `127.0.0.1:${(taken.address() as { port: number }).port}`;
  // the state file of a local mode killed with -9: its pid is gone
  const dead = spawn('true');
  await new Promise((r) => dead.on('exit', r));
  const stateFile = join(mkdtempSync(join(tmpdir(), 'jso-local-')), 'local.json');
  writeFileSync(stateFile, JSON.stringify({ pid: dead.pid, startedAt: new Date().toISOString(), phase: 'up', kubeconfig: '/nonexistent' }));
  const s = startLocal('node', { JSO_LISTEN_SAMPLING_HTTP: addr }, stateFile);
  try {
    const code = await exitWithin(s, 20_000);
    expect(code).toBe(1);
    const lines = s.out().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${addr} (samplingHttp) is already in use`);
    expect(lines[0]).toContain('JSO_LISTEN_SAMPLING_HTTP=');
    expect(s.out()).not.toMatch(/control plane|\n\s+at /);
    expect(existsSync(stateFile)).toBe(false);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    taken.close();
  }
}, 60_000);
