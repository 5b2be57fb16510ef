// `npm start` on a machine without a cluster: a control plane of its own, the CRDs, the operator, the memory
// sample Ready, the runtime answering on loopback; Ctrl-C (SIGINT) stops every process it started.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, fetchText, waitFor } from '../helpers.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it('starts everything, serves, and stops everything on Ctrl-C', async () => {
  const proc = spawn(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'local', '--control-plane'], {
    // ports of its own so it does not collide with anything else on the machine
    env: { ...process.env, KUBECONFIG: '', JSO_LISTEN_ADMIN: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  try {
    await waitFor('local mode up', async () => out.includes('Local mode is up') || (proc.exitCode !== null && Promise.reject(new Error(out))), 120_000, 200);
    expect(out).toMatch(/TraceStore Ready=True \(Ready\)/);
    const admin = /runtime health\/metrics\s+http:\/\/(127\.0\.0\.1:\d+)\/readyz/.exec(out)?.[1];
    expect(admin).toBeDefined();
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
    const dir = join(kubeconfig!, '..');
    const pids = execFileSync('pgrep', ['-f', dir], { encoding: 'utf8' }).trim().split('\n').map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(5); // etcd, apiserver, controller-manager, scheduler, kwok (+ watchdogs)

    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    await waitFor('all control-plane processes gone', async () => pids.every((p) => !alive(p)), 20_000);
    await expect(fetchText(`http://${admin}/readyz`)).rejects.toThrow();
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
}, 180_000);
