// The image built by test/env/build-image.sh (no Docker engine: Debian's packages, the pinned Node, buildah), run
// with podman on the host network, loopback only, read-only root filesystem, as its non-root user: the runtime
// entry point takes OTLP and answers a query; the operator entry point, against the test control plane, turns a
// memory TraceStore Ready.
//
// podman here: runc rather than crun (crun refuses this machine's cgroup v1 layout with a unified entry), the
// cgroupfs manager, and process/file limits no higher than this shell's (podman's defaults exceed its hard limits).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/local/controlplane.js';
import { ROOT, applyStore, createNamespace, kubeconfig, memoryStore, testClient, waitFor, waitReady } from '../helpers.js';
import type { KubeClient } from '../../src/kube/client.js';

const image = (): string => {
  const file = execFileSync('bash', ['-c', 'source "$1"; echo "${JSO_IMAGE_TAG_FILE:-$JSO_CACHE/image-tag}"', 'versions', join(ROOT, 'test/env/versions.sh')], { encoding: 'utf8' }).trim();
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw new Error(`no image has been built (${file} is missing): build it with: bash test/env/build-image.sh`);
  }
};

const runc = (): string => {
  const r = spawnSync('bash', ['-c', 'command -v runc'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('runc is missing: bash test/env/build-image.sh installs it (with podman, buildah, mmdebstrap)');
  return r.stdout.trim();
};

const limit = (flag: string): string => execFileSync('bash', ['-c', `ulimit -H${flag}`], { encoding: 'utf8' }).trim();

/** podman run -d of the image with `args`, host network, read-only; returns the container ID */
function run(name: string, mounts: [string, string][], args: string[]): string {
  const nofile = Math.min(65536, Number(limit('n')) || 4096);
  const nproc = Math.min(4096, Number(limit('u')) || 4096);
  const r = spawnSync(
    'podman',
    [
      '--runtime', runc(), '--cgroup-manager', 'cgroupfs',
      'run', '-d', '--name', name, '--network', 'host', '--read-only',
      '--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`,
      ...mounts.flatMap(([host, inside]) => ['-v', `${host}:${inside}:ro`]),
      image(), ...args,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`podman run failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

const logs = (id: string): string => spawnSync('podman', ['logs', '--tail', '40', id], { encoding: 'utf8' }).stderr + spawnSync('podman', ['logs', '--tail', '40', id], { encoding: 'utf8' }).stdout;
const remove = (id: string | undefined): void => {
  if (id) spawnSync('podman', ['rm', '-f', '-t', '5', id], { encoding: 'utf8' });
};

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'jso-image-'));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('is reproducible: built again from the same inputs, it is the same image', () => {
  const tagFile = join(dir, 'repro-tag');
  const r = spawnSync('bash', [join(ROOT, 'test/env/build-image.sh')], { encoding: 'utf8', env: { ...process.env, JSO_IMAGE_TAG_SUFFIX: '-repro', JSO_IMAGE_TAG_FILE: tagFile } });
  if (r.status !== 0) throw new Error(`build-image.sh failed: ${r.stderr.slice(-2000)}`);
  const again = readFileSync(tagFile, 'utf8').trim();
  const idOf = (tag: string) => spawnSync('podman', ['image', 'inspect', tag, '--format', '{{.Id}}'], { encoding: 'utf8' }).stdout.trim();
  try {
    expect(again).toBe(`${image()}-repro`);
    expect(idOf(again)).toMatch(/^[0-9a-f]{64}$/);
    expect(idOf(again)).toBe(idOf(image()));
  } finally {
    spawnSync('podman', ['rmi', again], { encoding: 'utf8' });
  }
}, 180_000);

it('runs the runtime entry point: OTLP in, the trace out of its query API', async () => {
  const ports = { otlpGrpc: 0, otlpHttp: 0, queryHttp: 0, queryGrpc: 0, remoteStorage: 0, samplingHttp: 0, samplingGrpc: 0, admin: 0 };
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  const cfg = join(dir, 'runtime.yaml');
  writeFileSync(
    cfg,
    JSON.stringify({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', backend: { memory: { maxTraces: 100 } }, listen: Object.fromEntries(Object.entries(ports).map(([k, p]) => [k, `127.0.0.1:${p}`])) }),
  );
  chmodSync(cfg, 0o644);
  let id: string | undefined;
  try {
    id = run(`jso-runtime-${process.pid}`, [[cfg, '/etc/jso/config.yaml']], ['runtime', '--config', '/etc/jso/config.yaml']);
    await waitFor('the runtime in the image ready', async () => (await fetch(`http://127.0.0.1:${ports.admin}/readyz`).catch(() => undefined))?.status === 200, 60_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}\n${logs(id!)}`);
    });
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'image-check' } }] }, scopeSpans: [{ spans: [{ traceId: '1a9e0000000000000000000000000001', spanId: '1a9e000000000001', name: 'hello', startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1000n) }] }] }] };
    expect((await fetch(`http://127.0.0.1:${ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(200);
    const got = await fetch(`http://127.0.0.1:${ports.queryHttp}/api/v3/traces/1a9e0000000000000000000000000001`);
    expect(got.status).toBe(200);
    expect(await got.text()).toContain('"hello"');
    // the image's user, not root
    const user = spawnSync('podman', ['inspect', id, '--format', '{{.Config.User}}'], { encoding: 'utf8' }).stdout.trim();
    expect(user).toBe('65532:65532');
  } finally {
    remove(id);
  }
}, 120_000);

it('runs the operator entry point against the control plane: a memory TraceStore turns Ready', async () => {
  const client: KubeClient = testClient();
  let id: string | undefined;
  try {
    const ns = await createNamespace(client, 'image');
    // the test kubeconfig, readable by the image's user
    const kc = join(dir, 'kubeconfig');
    writeFileSync(kc, readFileSync(kubeconfig(), 'utf8'));
    chmodSync(kc, 0o644);
    const ops = await freePort();
    id = run(`jso-operator-${process.pid}`, [[kc, '/etc/jso/kubeconfig']], ['operator', '--kubeconfig', '/etc/jso/kubeconfig', '--namespace', ns, '--leader-elect', 'false', '--ops-bind-address', `127.0.0.1:${ops}`]);
    await waitFor('the operator in the image ready', async () => (await fetch(`http://127.0.0.1:${ops}/readyz`).catch(() => undefined))?.status === 200, 60_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}\n${logs(id!)}`);
    });
    await applyStore(client, memoryStore('boxed', ns));
    const ts = await waitReady(client, ns, 'boxed', 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${logs(id!)}`);
    });
    expect(ts.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  } finally {
    remove(id);
    client.close();
  }
}, 180_000);
