// A memory TraceStore through its whole life on a real control plane (pods simulated by kwok).
import type { V1ConfigMap, V1Deployment, V1ReplicaSet, V1Service } from '@kubernetes/client-node';
import type { Operator } from '../../src/controllers/manager.js';
import type { KubeClient } from '../../src/kube/client.js';
import { ANNOTATION_CONFIG_HASH, MANAGED_SELECTOR } from '../../src/api/contract.js';
import { createServer } from 'node:net';
import { applyStore, conditionOf, createNamespace, getStore, memoryStore, startInProcessOperator, testClient, waitFor, waitReady, waitStoreCondition } from '../helpers.js';
import { resourcePath } from '../../src/kube/client.js';
import { PLUGINS } from '../../src/storage/plugins.js';
import { TRACESTORES } from '../../src/kube/resources.js';

let client: KubeClient;
let ns: string;
let op: Operator;

interface List<T> {
  items: T[];
}

interface Ev {
  type: string;
  reason: string;
  message: string;
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'lifecycle');
  op = await startInProcessOperator(ns);
});
afterAll(async () => {
  await op.stop();
  client.close();
});

const owned = async <T extends { metadata?: { ownerReferences?: { uid: string }[] } }>(path: string, uid: string): Promise<T[]> =>
  (await client.get<List<T>>(path, { labelSelector: MANAGED_SELECTOR })).items.filter((o) => o.metadata?.ownerReferences?.some((r) => r.uid === uid));

describe('memory TraceStore', () => {
  it('gets its ConfigMap, Deployment and Service, then turns Ready when the pods run', async () => {
    const applied = await applyStore(client, memoryStore('shop', ns, 5000));
    const uid = applied.metadata.uid!;
    const ts = await waitReady(client, ns, 'shop');

    const [deps, svcs, cms] = await Promise.all([
      owned<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments`, uid),
      owned<V1Service>(`/api/v1/namespaces/${ns}/services`, uid),
      owned<V1ConfigMap>(`/api/v1/namespaces/${ns}/configmaps`, uid),
    ]);
    expect(deps).toHaveLength(1);
    expect(svcs).toHaveLength(1);
    expect(cms).toHaveLength(1);
    for (const o of [deps[0]!, svcs[0]!, cms[0]!]) {
      expect(o.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'TraceStore', name: 'shop', uid, controller: true, blockOwnerDeletion: true })]);
    }
    expect(cms[0]!.metadata?.name).toBe(`shop-runtime-${ts.status?.configHash}`);
    expect(cms[0]!.data?.['config.yaml']).toContain('maxTraces: 5000');
    expect(deps[0]!.spec?.template.metadata?.annotations?.[ANNOTATION_CONFIG_HASH]).toBe(ts.status?.configHash);
    expect(deps[0]!.status?.availableReplicas).toBe(1);
    expect(svcs[0]!.spec?.ports?.map((p) => p.port)).toEqual(expect.arrayContaining([4317, 4318, 16686, 16685, 17271, 5778, 5779]));

    for (const t of ['Ready', 'RuntimeAvailable', 'BackendReachable', 'SchemaReady']) {
      expect(conditionOf(ts, t)).toMatchObject({ status: 'True', observedGeneration: ts.metadata.generation });
    }
    expect(ts.status).toMatchObject({ backend: 'memory', observedGeneration: 1, replicas: 1, readyReplicas: 1 });
    expect(ts.status?.endpoints?.otlpGrpc).toBe(`shop-runtime.${ns}.svc:4317`);
    expect(ts.status?.endpoints?.query).toBe(`http://shop-runtime.${ns}.svc:16686`);

    const events = await client.get<List<{ reason: string; involvedObject: { name: string } }>>(`/api/v1/namespaces/${ns}/events`);
    expect(events.items.some((e) => e.involvedObject.name === 'shop' && e.reason === 'Ready')).toBe(true);
  });

  it('rolls the runtime to a new hashed configuration when the spec changes, then prunes the old one', async () => {
    const before = await getStore(client, ns, 'shop');
    const oldHash = before.status!.configHash!;
    const readyTime = conditionOf(before, 'Ready')!.lastTransitionTime;
    await applyStore(client, memoryStore('shop', ns, 7000));
    const after = await waitFor('new config hash, Ready, generation 2', async () => {
      const t = await getStore(client, ns, 'shop');
      return t.metadata.generation === 2 && t.status?.observedGeneration === 2 && t.status.configHash !== oldHash && conditionOf(t, 'Ready')?.status === 'True'
        ? t
        : undefined;
    }, 60_000);
    const newHash = after.status!.configHash!;
    const dep = await client.get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/shop-runtime`);
    expect(dep.spec?.template.metadata?.annotations?.[ANNOTATION_CONFIG_HASH]).toBe(newHash);
    expect(dep.spec?.template.spec?.volumes?.[0]?.configMap?.name).toBe(`shop-runtime-${newHash}`);
    const rs = await client.get<List<V1ReplicaSet>>(`/apis/apps/v1/namespaces/${ns}/replicasets`);
    expect(rs.items.filter((r) => r.metadata?.ownerReferences?.some((o) => o.name === 'shop-runtime')).length).toBe(2); // a real rollout
    await waitFor('old ConfigMap pruned', async () => {
      const cms = await owned<V1ConfigMap>(`/api/v1/namespaces/${ns}/configmaps`, after.metadata.uid!);
      return cms.length === 1 && cms[0]!.metadata?.name === `shop-runtime-${newHash}`;
    });
    // Ready went False during the rollout and True again, or stayed True: either way the time is consistent
    const ready = conditionOf(after, 'Ready')!;
    expect(Date.parse(ready.lastTransitionTime)).toBeGreaterThanOrEqual(Date.parse(readyTime));
  });

  it('puts a drifted child back (someone edits the Deployment)', async () => {
    await client.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/shop-runtime`, {
      body: { spec: { template: { spec: { containers: [{ name: 'runtime', image: 'someone/else:1' }] } } } },
      contentType: 'application/strategic-merge-patch+json',
    });
    await waitFor('image restored', async () => {
      const d = await client.get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/shop-runtime`);
      return d.spec?.template.spec?.containers[0]?.image === 'jaeger-storage-operator:test';
    });
  });

  it('records a backend failure as a Warning event (kubectl get events --field-selector type=Warning)', async () => {
    const port = await closedPort();
    await applyStore(client, { ...memoryStore('unreachable', ns), spec: { backend: { opensearch: { endpoints: [`http://127.0.0.1:${port}`] } } } });
    await waitStoreCondition(client, ns, 'unreachable', 'Ready', 'False', 'Unreachable');
    const warnings = await waitFor('a Warning event Unreachable', async () => {
      const ev = await client.get<List<Ev>>(`/api/v1/namespaces/${ns}/events`, { fieldSelector: 'type=Warning,involvedObject.name=unreachable' });
      return ev.items.some((e) => e.reason === 'Unreachable') ? ev.items : undefined;
    });
    expect(warnings.find((e) => e.reason === 'Unreachable')?.message).toContain(`127.0.0.1:${port}`);
    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'unreachable'));
  });
});

describe('a TraceStore admitted by a CRD of another version', () => {
  // The CRD admits memory, but this operator's plug-in table lacks it (an older operator under newer CRDs):
  // reconcile re-validates, reports BackendNotSupported with the available types, and records a Warning.
  it('gets Ready=False, BackendNotSupported, a Warning event, and nothing deployed', async () => {
    const other = await createNamespace(client, 'unsupported');
    const older = await startInProcessOperator(other, { plugins: { ...PLUGINS, memory: { type: 'memory', notInThisVersion: 'not in this build' } } });
    try {
      await applyStore(client, memoryStore('old', other));
      const ts = await waitStoreCondition(client, other, 'old', 'Ready', 'False', 'BackendNotSupported');
      expect(conditionOf(ts, 'Ready')?.message).toContain('spec.backend.memory is not available in this version (not in this build); available backends: spec.backend.embedded, spec.backend.elasticsearch, spec.backend.opensearch');
      await waitFor('a Warning event BackendNotSupported', async () => {
        const ev = await client.get<List<Ev>>(`/api/v1/namespaces/${other}/events`, { fieldSelector: 'type=Warning,involvedObject.name=old' });
        return ev.items.some((e) => e.reason === 'BackendNotSupported');
      });
      await expect(client.get(`/apis/apps/v1/namespaces/${other}/deployments/old-runtime`)).rejects.toMatchObject({ code: 404 });
    } finally {
      await older.stop();
    }
  });
});

describe('memory TraceStore, deleted', () => {
  it('is garbage-collected with its children when deleted', async () => {
    const ts = await getStore(client, ns, 'shop');
    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'shop'), { query: { propagationPolicy: 'Background' } });
    await waitFor('children garbage-collected', async () => {
      const [d, s, c] = await Promise.all([
        owned(`/apis/apps/v1/namespaces/${ns}/deployments`, ts.metadata.uid!),
        owned(`/api/v1/namespaces/${ns}/services`, ts.metadata.uid!),
        owned(`/api/v1/namespaces/${ns}/configmaps`, ts.metadata.uid!),
      ]);
      return d.length + s.length + c.length === 0;
    }, 60_000);
  });
});
