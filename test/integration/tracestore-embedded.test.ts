// An embedded TraceStore on a real control plane (pods simulated by kwok): a one-replica StatefulSet whose
// volumeClaimTemplate requests the data volume; a claim that is never bound or that loses its volume is reported
// in Ready with a Warning event; a hand-made PersistentVolume binds it and the store turns Ready.
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import type { V1ConfigMap, V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { ANNOTATION_CONFIG_HASH } from '../../src/api/contract.js';
import type { Operator } from '../../src/controllers/manager.js';
import { ApiError, type KubeClient, isNotFound, resourcePath } from '../../src/kube/client.js';
import { TRACESTORES } from '../../src/kube/resources.js';
import { EMBEDDED_DATA_DIR } from '../../src/storage/embedded/plugin.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { applyStore, auditedWrites, conditionOf, createNamespace, getStore, memoryStore, startInProcessOperator, testClient, waitFor, waitReady, waitStoreCondition } from '../helpers.js';

let client: KubeClient;
let ns: string;
let op: Operator;
// a storage class nothing provisions: its claims stay Pending until a PersistentVolume of that class is made
const cls = `jso-none-${randomBytes(3).toString('hex')}`;
const pv = `jso-embedded-${randomBytes(3).toString('hex')}`;

interface List<T> {
  items: T[];
}
interface Ev {
  type: string;
  reason: string;
  message: string;
}

const embeddedStore = (name: string, spec: Partial<TraceStore['spec']> = {}): TraceStore => ({
  ...memoryStore(name, ns),
  spec: { backend: { embedded: { size: '2Gi', storageClassName: cls } }, ...spec },
});
const sts = (name: string) => client.get<V1StatefulSet>(`/apis/apps/v1/namespaces/${ns}/statefulsets/${name}-runtime`);
const claim = (name: string) => client.get<V1PersistentVolumeClaim>(`/api/v1/namespaces/${ns}/persistentvolumeclaims/data-${name}-runtime-0`);
const absent = (p: Promise<unknown>): Promise<boolean> => p.then(() => false, (e: unknown) => (isNotFound(e) ? true : Promise.reject(e)));
const warning = (name: string, reason: string) =>
  waitFor(`a Warning event ${reason}`, async () => {
    const ev = await client.get<List<Ev>>(`/api/v1/namespaces/${ns}/events`, { fieldSelector: `type=Warning,involvedObject.name=${name}` });
    return ev.items.find((e) => e.reason === reason);
  });

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'embedded');
  // a short grace so that a claim nobody provisions is reported within the test
  op = await startInProcessOperator(ns, { volumePendingGraceMs: 2_000 });
});
afterAll(async () => {
  await op.stop();
  await client.request('DELETE', `/api/v1/persistentvolumes/${pv}`).catch(() => undefined);
  client.close();
});

describe('embedded TraceStore', () => {
  it('runs as a one-replica StatefulSet with the data volume template mounted at the dataDir, and no Deployment', async () => {
    const applied = await applyStore(client, embeddedStore('disk'));
    const s = await waitFor('StatefulSet', () => sts('disk').catch(() => undefined));
    expect(s.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'TraceStore', name: 'disk', uid: applied.metadata.uid, controller: true })]);
    expect(s.spec).toMatchObject({ replicas: 1, podManagementPolicy: 'Parallel', updateStrategy: { type: 'RollingUpdate' }, persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' } });
    expect(s.spec?.volumeClaimTemplates).toHaveLength(1);
    expect(s.spec?.volumeClaimTemplates?.[0]).toMatchObject({ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: cls, resources: { requests: { storage: '2Gi' } } } });
    const c = s.spec!.template.spec!.containers[0]!;
    expect(c.volumeMounts).toContainEqual(expect.objectContaining({ name: 'data', mountPath: EMBEDDED_DATA_DIR }));
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    // the config the pod reads names the same directory and the embedded backend
    const cmName = s.spec!.template.spec!.volumes!.find((v) => v.name === 'config')!.configMap!.name!;
    const config = parse((await client.get<V1ConfigMap>(`/api/v1/namespaces/${ns}/configmaps/${cmName}`)).data!['config.yaml']!) as { dataDir: string; backend: Record<string, unknown> };
    expect(config.dataDir).toBe(EMBEDDED_DATA_DIR);
    expect(Object.keys(config.backend)).toEqual(['embedded']);
    expect(await absent(client.get(`/apis/apps/v1/namespaces/${ns}/deployments/disk-runtime`))).toBe(true);
  });

  it('reports a claim that stays Pending as Ready=False VolumePending, with a Warning event naming the claim and class', async () => {
    expect((await waitFor('the claim', () => claim('disk').catch(() => undefined))).status?.phase).toBe('Pending');
    const ts = await waitStoreCondition(client, ns, 'disk', 'Ready', 'False', 'VolumePending');
    expect(conditionOf(ts, 'Ready')?.message).toContain(`PersistentVolumeClaim "data-disk-runtime-0" (storage class "${cls}") is still Pending`);
    expect(conditionOf(ts, 'Ready')?.message).toContain('kubectl get storageclass');
    expect((await warning('disk', 'VolumePending')).message).toContain('data-disk-runtime-0');
    expect(ts.status?.endpoints?.otlpGrpc).toBe(`disk-runtime.${ns}.svc:4317`);
  });

  it('replaces the pod with one of the new configuration even while it waits for its claim (not Ready)', async () => {
    const before = (await getStore(client, ns, 'disk')).status!.configHash!;
    await applyStore(client, embeddedStore('disk', { runtime: { logLevel: 'debug' } }));
    const after = await waitFor('new config hash', async () => {
      const h = (await getStore(client, ns, 'disk')).status?.configHash;
      return h && h !== before ? h : undefined;
    });
    await waitFor('the pending pod replaced by one of the new configuration', async () => {
      const pod = await client.get<V1Pod>(`/api/v1/namespaces/${ns}/pods/disk-runtime-0`).catch(() => undefined);
      return pod?.metadata?.annotations?.[ANNOTATION_CONFIG_HASH] === after && !pod.metadata.deletionTimestamp;
    }, 30_000);
  });

  it('turns Ready once a PersistentVolume of the class binds the claim', async () => {
    await client.apply(
      `/api/v1/persistentvolumes/${pv}`,
      { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: pv }, spec: { storageClassName: cls, capacity: { storage: '2Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/tmp/${pv}` }, persistentVolumeReclaimPolicy: 'Retain' } },
      'jso-test',
    );
    await waitFor('claim bound', async () => (await claim('disk')).status?.phase === 'Bound', 60_000);
    const ts = await waitReady(client, ns, 'disk', 90_000);
    expect(conditionOf(ts, 'RuntimeAvailable')).toMatchObject({ status: 'True', reason: 'Available' });
    expect(ts.status).toMatchObject({ backend: 'embedded', replicas: 1, readyReplicas: 1 });
    // the steady state writes nothing: a reconcile finds the StatefulSet as the server defaulted it
    const writes = () => auditedWrites((e) => e.objectRef?.resource === 'statefulsets' && e.objectRef.namespace === ns && e.userAgent?.startsWith('jaeger-storage-operator') === true).length;
    const before = writes();
    await client.request('PATCH', resourcePath(TRACESTORES, ns, 'disk'), { body: { metadata: { annotations: { poke: '1' } } }, contentType: 'application/merge-patch+json' });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(writes()).toBe(before);
  });

  it('reports a claim whose volume is gone as Ready=False VolumeLost, with a Warning event', async () => {
    // the volume disappears under the bound claim (its protection finalizer removed, as after a storage failure)
    await client.request('DELETE', `/api/v1/persistentvolumes/${pv}`);
    await client.request('PATCH', `/api/v1/persistentvolumes/${pv}`, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' }).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    await waitFor('claim Lost', async () => (await claim('disk')).status?.phase === 'Lost', 60_000);
    const ts = await waitStoreCondition(client, ns, 'disk', 'Ready', 'False', 'VolumeLost');
    expect(conditionOf(ts, 'Ready')?.message).toContain(`PersistentVolumeClaim "data-disk-runtime-0" lost its PersistentVolume "${pv}"`);
    await warning('disk', 'VolumeLost');
  });

  it('refuses to change the volume size or to move to another backend', async () => {
    const refused = (ts: TraceStore) => applyStore(client, ts).then(() => undefined, (e: unknown) => e);
    const bigger = await refused(embeddedStore('disk', { backend: { embedded: { size: '4Gi', storageClassName: cls } } }));
    expect(bigger).toBeInstanceOf(ApiError);
    expect((bigger as ApiError).message).toContain('size and storageClassName of the embedded volume are immutable');
    const moved = await refused(memoryStore('disk', ns));
    expect((moved as ApiError).message).toContain('the backend type is immutable');
  });

  it('leaves no StatefulSet when the store comes back under the same name on another backend; Retain keeps the claim', async () => {
    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'disk'), { query: { propagationPolicy: 'Background' } });
    await waitFor('StatefulSet garbage-collected', () => absent(sts('disk')), 60_000);
    expect(await absent(claim('disk'))).toBe(false);
    await applyStore(client, memoryStore('disk', ns));
    await waitReady(client, ns, 'disk');
    await waitFor('Deployment', () => client.get(`/apis/apps/v1/namespaces/${ns}/deployments/disk-runtime`).catch(() => undefined));
    expect(await absent(sts('disk'))).toBe(true);
    expect((await getStore(client, ns, 'disk')).status?.backend).toBe('memory');
  });

  it('deletes the claim with the store under deletionPolicy Delete', async () => {
    await applyStore(client, embeddedStore('gone', { deletionPolicy: 'Delete' }));
    await waitFor('the claim', () => claim('gone').catch(() => undefined));
    expect((await sts('gone')).spec?.persistentVolumeClaimRetentionPolicy?.whenDeleted).toBe('Delete');
    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'gone'), { query: { propagationPolicy: 'Background' } });
    await waitFor('claim deleted with its StatefulSet', () => absent(claim('gone')), 60_000);
  });
});
