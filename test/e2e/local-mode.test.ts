// `npm start` on a machine without a cluster: a control plane of its own, the CRDs, the operator, the memory
// sample Ready, its runtime pod running as a real process on the pod's own loopback address (rolled when the
// TraceStore changes, stopped when it is deleted, reporting SamplingPolicies from the live pod). Ctrl-C, SIGTERM or SIGHUP (to npm or to its node process) and
// the death of the parent stop every process it started, judged by the process tree in /proc; a second start and a
// taken port end in one line without starting anything.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_PORTS } from '../../src/api/runtime-config.js';
import type { SamplingPolicy } from '../../src/api/samplingpolicy.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { KubeClient, resourcePath } from '../../src/kube/client.js';
import { SAMPLING_POLICIES, TRACESTORES } from '../../src/kube/resources.js';
import { ROOT, waitFor } from '../helpers.js';

/** GET on a pod address of local mode (127.1.x.y: loopback, which the shared fetchText does not know). */
async function fetchText(url: string): Promise<{ code: number; body: string }> {
  if (!/^http:\/\/127\./.test(url)) throw new Error(`refusing to dial non-loopback ${url}`);
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { code: r.status, body: await r.text() };
}

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

const components = /etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok|cli\.js runtime/;
const runtimes = (pid: number): number[] => tree(pid).filter((p) => /^\S*node\S* \S*cli\.js runtime/.test(cmdline(p)));
const IP = '127\\.1\\.\\d+\\.\\d+';

it('starts everything, runs each runtime pod as a process, refuses a second start in one line, and stops everything on Ctrl-C', async () => {
  const s = startLocal('node');
  try {
    await waitUp(s);
    const out = s.out();
    expect(out).toMatch(/TraceStore Ready=True \(Ready\)/);
    // the runtime pod's process serves on the pod's own loopback address, on the well-known ports
    const admin = new RegExp(`runtime health/metrics\\s+http://(${IP}:\\d+)/readyz`).exec(out)?.[1];
    expect(admin).toMatch(new RegExp(`^${IP}:${DEFAULT_PORTS.admin}$`));
    expect((await fetchText(`http://${admin}/readyz`)).code).toBe(200);
    expect((await fetchText(`http://${admin}/metrics`)).body).toContain('jso_runtime_info{backend="memory"} 1');
    // a span sent to the printed OTLP address comes back from the printed query address
    const otlp = new RegExp(`OTLP HTTP\\s+(http://${IP}:\\d+/v1/traces)`).exec(out)?.[1];
    const query = new RegExp(`Jaeger query \\(api_v3\\)\\s+(http://${IP}:\\d+)/api/v3/services`).exec(out)?.[1];
    expect(otlp && query).toBeTruthy();
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'local-check' } }] }, scopeSpans: [{ spans: [{ traceId: '10ca1000000000000000000000000001', spanId: '10ca100000000001', name: 'hello', startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1000n) }] }] }] };
    const sent = await fetch(otlp!, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect(sent.status).toBe(200);
    await waitFor('span readable', async () => (await fetchText(`${query}/api/v3/traces/10ca1000000000000000000000000001`)).code === 200, 10_000);
    const kubeconfig = /export KUBECONFIG=(\S+);/.exec(out)?.[1];
    expect(kubeconfig).toBeDefined();
    const pids = tree(s.proc.pid!);
    expect(pids.filter((p) => components.test(cmdline(p))).length).toBeGreaterThanOrEqual(6);
    const [runtime] = runtimes(s.proc.pid!);
    expect(runtime).toBeDefined();

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

    const client = KubeClient.load(kubeconfig!, { userAgent: 'jso-test' });
    try {
      // a SamplingPolicy: the live pod serves it and reports that it enforces it
      const policy = parse(readFileSync(join(ROOT, 'config/samples/samplingpolicy-probabilistic.yaml'), 'utf8')) as SamplingPolicy;
      policy.metadata.namespace = 'default';
      await client.apply(resourcePath(SAMPLING_POLICIES, 'default', policy.metadata.name), policy, 'jso-test');
      const sampling = admin!.replace(/:\d+$/, `:${DEFAULT_PORTS.samplingHttp}`);
      await waitFor('the pod serves the policy', async () => (await fetchText(`http://${sampling}/sampling?service=checkout`)).body.includes('0.5'), 30_000, 250);
      await waitFor('the policy reports one pod enforcing it', async () => {
        const p = await client.get<SamplingPolicy>(resourcePath(SAMPLING_POLICIES, 'default', policy.metadata.name));
        return p.status?.runtimes?.some((r) => r.generation === p.metadata.generation && r.replicas === 1);
      }, 30_000, 250);

      // an edited TraceStore rolls the process: a new one for the new pod, the old one gone
      await client.request('PATCH', resourcePath(TRACESTORES, 'default', 'demo'), { body: { spec: { backend: { memory: { maxTraces: 5000 } } } }, contentType: 'application/merge-patch+json' });
      const rolled = await waitFor('a new runtime process', async () => {
        const now = runtimes(s.proc.pid!);
        return now.length === 1 && now[0] !== runtime ? now[0] : undefined;
      }, 60_000, 250);
      expect(living([runtime!])).toEqual([]);
      await waitFor('the TraceStore Ready again', async () => {
        const ts = await client.get<TraceStore>(resourcePath(TRACESTORES, 'default', 'demo'));
        return ts.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && ts.status.observedGeneration === ts.metadata.generation;
      }, 60_000, 250);
      expect(s.out()).toMatch(new RegExp(`runtime pod default/demo-runtime-\\S+ of TraceStore demo: process on ${IP}`));

      // a crashed process is restarted, and the pod says so
      process.kill(rolled, 'SIGKILL');
      const restarted = await waitFor('the runtime restarted', async () => {
        const now = runtimes(s.proc.pid!);
        return now.length === 1 && now[0] !== rolled ? now[0] : undefined;
      }, 30_000, 250);
      await waitFor('the pod Ready with one restart', async () => {
        const pods = await client.get<{ items: { status?: { conditions?: { type: string; status: string }[]; containerStatuses?: { restartCount: number }[] } }[] }>('/api/v1/namespaces/default/pods', { labelSelector: 'app.kubernetes.io/instance=demo' });
        const st = pods.items[0]?.status;
        return pods.items.length === 1 && st?.containerStatuses?.[0]?.restartCount === 1 && st.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      }, 30_000, 250);

      // a deleted TraceStore stops its process
      await client.request('DELETE', resourcePath(TRACESTORES, 'default', 'demo'));
      await waitFor('no runtime process left', async () => runtimes(s.proc.pid!).length === 0 && living([restarted]).length === 0, 60_000, 250);
    } finally {
      client.close();
    }

    s.proc.kill('SIGINT');
    expect(await s.exited).toBe(0);
    await expectTreeGone(pids);
    await expect(fetchText(`http://${admin}/readyz`)).rejects.toThrow();
    expect(existsSync(s.stateFile)).toBe(false);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}, 240_000);

it.each([
  ['SIGTERM to `npm start` stops every process it started', 'SIGTERM'],
  ['the death of the parent (kill -9 of npm) stops every process local mode started', 'SIGKILL'],
] as const)('%s', async (_name, signal) => {
  const s = startLocal('npm');
  try {
    await waitUp(s);
    const pids = tree(s.proc.pid!);
    expect(pids.filter((p) => components.test(cmdline(p))).length).toBeGreaterThanOrEqual(5);
    s.proc.kill(signal);
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

it('a taken well-known port is reported in one line before anything starts; a stale state file does not block', async () => {
  // the address local mode probes for its pods' ports (it is never a pod's): holding it takes the port from pods
  const taken = createServer();
  await new Promise<void>((r, j) => {
    taken.once('error', j);
    taken.listen(DEFAULT_PORTS.otlpGrpc, '127.1.255.254', () => r());
  });
  // the state file of a local mode killed with -9: its pid is gone
  const dead = spawn('true');
  await new Promise((r) => dead.on('exit', r));
  const stateFile = join(mkdtempSync(join(tmpdir(), 'jso-local-')), 'local.json');
  writeFileSync(stateFile, JSON.stringify({ pid: dead.pid, startedAt: new Date().toISOString(), phase: 'up', kubeconfig: '/nonexistent' }));
  const s = startLocal('node', {}, stateFile);
  try {
    const code = await exitWithin(s, 20_000);
    expect(code).toBe(1);
    const lines = s.out().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`port ${DEFAULT_PORTS.otlpGrpc} (otlpGrpc) is taken`);
    expect(lines[0]).toContain(`ss -ltnp 'sport = :${DEFAULT_PORTS.otlpGrpc}'`);
    expect(s.out()).not.toMatch(/control plane|\n\s+at /);
    expect(existsSync(stateFile)).toBe(false);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    taken.close();
  }
}, 60_000);
