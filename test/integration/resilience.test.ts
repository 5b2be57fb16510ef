// The operator as a real OS process: killed mid-reconcile, run as two replicas with a Lease, and cut off from
// the API server by a broken connection. Every process and connection here stays on loopback.
import type { KubeClient } from '../../src/kube/client.js';
import {
  applyStore,
  conditionOf,
  createNamespace,
  fetchText,
  getStore,
  memoryStore,
  spawnOperator,
  startApiProxy,
  sumMetric,
  testClient,
  waitFor,
  waitReady,
  type ApiProxy,
  type OperatorProcess,
} from '../helpers.js';

interface List<T> {
  items: T[];
}
interface Named {
  metadata: { name: string; ownerReferences?: { name: string }[] };
}
interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number };
}

let client: KubeClient;
const procs: OperatorProcess[] = [];
const started = (p: OperatorProcess) => (procs.push(p), p);

beforeAll(() => {
  client = testClient();
});
afterAll(async () => {
  for (const p of procs) if (p.proc.exitCode === null) p.kill('SIGKILL');
  client.close();
});

async function holder(ns: string, name: string): Promise<string | undefined> {
  try {
    return (await client.get<Lease>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`)).spec.holderIdentity || undefined;
  } catch {
    return undefined;
  }
}

describe('operator killed mid-reconcile', () => {
  it('converges after a restart with no duplicate objects', async () => {
    const ns = await createNamespace(client, 'killed');
    const names = Array.from({ length: 12 }, (_, i) => `store-${i}`);
    await Promise.all(names.map((n) => applyStore(client, memoryStore(n, ns))));
    const args = ['--namespace', ns, '--leader-election-namespace', ns, '--workers', '2', '--lease-duration', '3', '--renew-deadline', '2', '--retry-period', '0.5'];
    const first = started(spawnOperator(args));
    // kill -9 as soon as it has started creating children: some stores are half done
    await waitFor('first Deployment created', async () => (await client.get<List<Named>>(`/apis/apps/v1/namespaces/${ns}/deployments`)).items.length > 0, 30_000, 20);
    first.kill('SIGKILL');
    await first.exited;
    const partial = (await client.get<List<Named>>(`/apis/apps/v1/namespaces/${ns}/deployments`)).items.length;
    process.stderr.write(`killed with ${partial} of ${names.length} Deployments created\n`);

    // the new process leads once the dead leader's Lease expires (3 s here)
    const second = started(spawnOperator(args));
    for (const n of names) await waitReady(client, ns, n, 90_000);

    const [deps, svcs, cms] = await Promise.all([
      client.get<List<Named>>(`/apis/apps/v1/namespaces/${ns}/deployments`),
      client.get<List<Named>>(`/api/v1/namespaces/${ns}/services`),
      client.get<List<Named>>(`/api/v1/namespaces/${ns}/configmaps`, { labelSelector: 'app.kubernetes.io/component=runtime-config' }),
    ]);
    expect(partial).toBeLessThanOrEqual(names.length);
    expect(deps.items.map((d) => d.metadata.name).sort()).toEqual(names.map((n) => `${n}-runtime`).sort());
    expect(svcs.items.map((d) => d.metadata.name).sort()).toEqual(names.map((n) => `${n}-runtime`).sort());
    expect(cms.items).toHaveLength(names.length);
    second.kill('SIGTERM');
    await second.exited;
  });
});

describe('leader election', () => {
  it('runs one leader of two replicas; the standby takes over within the lease time when the leader dies', async () => {
    const ns = await createNamespace(client, 'leader');
    const leaseSeconds = 4;
    const args = ['--namespace', ns, '--leader-election-namespace', ns, '--leader-election-id', 'jso-leader', '--lease-duration', String(leaseSeconds), '--renew-deadline', '3', '--retry-period', '0.5'];
    const a = started(spawnOperator(args));
    const b = started(spawnOperator(args));
    const first = await waitFor('a leader', async () => {
      const h = await holder(ns, 'jso-leader');
      return h && [a.identity, b.identity].some((id) => h.startsWith(id)) ? h : undefined;
    });
    const [leader, standby] = first.startsWith(a.identity) ? [a, b] : [b, a];

    await applyStore(client, memoryStore('led', ns));
    await waitReady(client, ns, 'led');
    const standbyMetrics = (await fetchText(`http://127.0.0.1:${await standby.opsPort()}/metrics`)).body;
    const leaderMetrics = (await fetchText(`http://127.0.0.1:${await leader.opsPort()}/metrics`)).body;
    expect(sumMetric(leaderMetrics, 'jso_leader')).toBe(1);
    expect(sumMetric(standbyMetrics, 'jso_leader')).toBe(0);
    expect(sumMetric(leaderMetrics, 'jso_reconcile_total')).toBeGreaterThan(0);
    expect(sumMetric(standbyMetrics, 'jso_reconcile_total')).toBe(0); // the standby does no work
    expect((await fetchText(`http://127.0.0.1:${await standby.opsPort()}/readyz`)).code).toBe(200);

    const killedAt = Date.now();
    leader.kill('SIGKILL');
    await waitFor('standby holds the lease', async () => (await holder(ns, 'jso-leader'))?.startsWith(standby.identity), 20_000, 50);
    const takeoverMs = Date.now() - killedAt;
    // client-go semantics: the lease expires leaseDuration after the last renewal the standby saw
    expect(takeoverMs).toBeLessThanOrEqual(leaseSeconds * 1000 + 2000);
    process.stderr.write(`leader takeover after kill -9: ${takeoverMs} ms (lease ${leaseSeconds} s)\n`);

    await applyStore(client, memoryStore('after-takeover', ns));
    await waitReady(client, ns, 'after-takeover');

    // graceful stop releases the lease at once
    standby.kill('SIGTERM');
    expect(await standby.exited).toBe(0);
    expect(await holder(ns, 'jso-leader')).toBeUndefined();
  });
});

describe('watch connection cut', () => {
  let proxy: ApiProxy | undefined;
  afterAll(async () => proxy?.close());

  it('recovers its informers and keeps reconciling later changes', async () => {
    const ns = await createNamespace(client, 'cut');
    proxy = await startApiProxy();
    const kc = proxy.kubeconfig;

    const op = started(spawnOperator(['--namespace', ns, '--leader-elect', 'false'], { KUBECONFIG: kc }));
    await applyStore(client, memoryStore('cut', ns, 100));
    const before = await waitReady(client, ns, 'cut');

    proxy.sever(); // every watch and keep-alive connection dies
    const metricsUrl = `http://127.0.0.1:${await op.opsPort()}/metrics`;
    await waitFor('informers restarted', async () => sumMetric((await fetchText(metricsUrl)).body, 'jso_informer_restarts_total') >= 4);

    await applyStore(client, memoryStore('cut', ns, 200));
    const after = await waitFor('change reconciled after the cut', async () => {
      const t = await getStore(client, ns, 'cut');
      return t.status?.observedGeneration === 2 && conditionOf(t, 'Ready')?.status === 'True' ? t : undefined;
    }, 30_000);
    expect(after.status?.configHash).not.toBe(before.status?.configHash);
    op.kill('SIGTERM');
    await op.exited;
  });
});
