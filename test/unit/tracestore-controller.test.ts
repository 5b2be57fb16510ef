// The TraceStore controller's apply-and-prune loop against in-memory caches and a client that records its writes
// (and, like an informer that is never late, puts what it wrote into the caches).
import { pino } from 'pino';
import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node';
import { ANNOTATION_CONFIG_HASH, backendReportAnnotation, reportAnnotation } from '../../src/api/contract.js';
import type { ResourceRef } from '../../src/api/resources.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { TraceStoreController, type TraceStoreInformers, childCaches } from '../../src/controllers/tracestore.js';
import { ApiError, type KubeClient } from '../../src/kube/client.js';
import type { EventRecorder } from '../../src/kube/events.js';
import { type Cache, type InformerHandlers, type KubeObject, keyOf } from '../../src/kube/informer.js';
import { PERSISTENTVOLUMECLAIMS, SECRETS, TRACESTORES } from '../../src/kube/resources.js';
import { PLUGINS } from '../../src/storage/plugins.js';

class FakeCache<T extends KubeObject = KubeObject> implements Cache<T> {
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  readonly hasSynced = true;
  constructor(readonly resource: ResourceRef) {}
  on(h: InformerHandlers<T>): void {
    this.handlers.push(h);
  }
  get(key: string): T | undefined {
    return this.store.get(key);
  }
  list(): T[] {
    return [...this.store.values()];
  }
  waitForSync(): Promise<void> {
    return Promise.resolve();
  }
  start(): void {}
  stop(): Promise<void> {
    return Promise.resolve();
  }
  put(o: T): void {
    const old = this.store.get(keyOf(o));
    this.store.set(keyOf(o), o);
    for (const h of this.handlers) {
      if (old) h.update?.(old, o);
      else h.add?.(o);
    }
  }
  remove(key: string): void {
    const old = this.store.get(key);
    this.store.delete(key);
    if (old) for (const h of this.handlers) h.delete?.(old);
  }
}

interface Call {
  verb: 'apply' | 'delete';
  resource: string;
  name: string;
}

/** Records applies and deletes; an apply stores the object as the API server would (generation bumped on a spec change). */
class FakeKube {
  readonly calls: Call[] = [];
  private uids = 0;
  constructor(private readonly caches: Map<string, FakeCache>) {}

  private parse(path: string): { cache: FakeCache; resource: string; namespace: string; name: string; sub?: string } {
    const m = /\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (!m) throw new Error(`unexpected path ${path}`);
    const cache = this.caches.get(m[2]!);
    if (!cache) throw new Error(`no cache for ${m[2]}`);
    return { cache, resource: m[2]!, namespace: m[1]!, name: m[3]!, ...(m[4] ? { sub: m[4] } : {}) };
  }

  async apply<T>(path: string, obj: KubeObject & { spec?: unknown; status?: unknown }): Promise<T> {
    const p = this.parse(path);
    this.calls.push({ verb: 'apply', resource: p.sub ? `${p.resource}/${p.sub}` : p.resource, name: p.name });
    const old = p.cache.get(`${p.namespace}/${p.name}`) as (KubeObject & { spec?: unknown; status?: unknown }) | undefined;
    if (p.sub === 'status') {
      p.cache.put({ ...old!, status: structuredClone(obj.status) } as KubeObject);
      return p.cache.get(`${p.namespace}/${p.name}`) as T;
    }
    const gen = old ? (old.metadata.generation ?? 1) + (JSON.stringify(old.spec) === JSON.stringify(obj.spec) ? 0 : 1) : 1;
    const next = { ...structuredClone(obj), metadata: { ...structuredClone(obj.metadata), uid: old?.metadata.uid ?? `uid-${++this.uids}`, generation: gen }, ...(old?.status ? { status: old.status } : {}) };
    p.cache.put(next);
    return next as T;
  }

  async request(method: string, path: string): Promise<void> {
    if (method !== 'DELETE') throw new Error(`unexpected ${method} ${path}`);
    const p = this.parse(path);
    this.calls.push({ verb: 'delete', resource: p.resource, name: p.name });
    if (!p.cache.get(`${p.namespace}/${p.name}`)) throw new ApiError(404, 'NotFound', 'not found');
    p.cache.remove(`${p.namespace}/${p.name}`);
  }

  async getMetadata(): Promise<never> {
    throw new ApiError(404, 'NotFound', 'not found');
  }

  /** the calls after the first `since` */
  writesSince(since: number, filter: (c: Call) => boolean = (c) => !c.resource.endsWith('/status')): Call[] {
    return this.calls.slice(since).filter(filter);
  }
}

function setup() {
  const caches = new Map<string, FakeCache>();
  const make = (r: ResourceRef): FakeCache => {
    const c = new FakeCache(r);
    caches.set(r.plural, c);
    return c;
  };
  const traceStores = make(TRACESTORES) as unknown as FakeCache<TraceStore & KubeObject>;
  const inf: TraceStoreInformers = { traceStores, secrets: make(SECRETS) as unknown as TraceStoreInformers['secrets'], children: childCaches(make), volumes: make(PERSISTENTVOLUMECLAIMS) as unknown as TraceStoreInformers['volumes'] };
  const kube = new FakeKube(caches);
  const events = { record: () => undefined } as unknown as EventRecorder;
  // memory TraceStores: no backend check, no Secrets, no finalizer
  const controller = new TraceStoreController(kube as unknown as KubeClient, inf, { runtimeImage: 'img:1', plugins: PLUGINS }, events, pino({ level: 'silent' }));
  const enqueued: string[] = [];
  controller.watch((k) => enqueued.push(k));
  const store = (spec: TraceStore['spec'], generation: number): void =>
    traceStores.put({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'TraceStore', metadata: { name: 'demo', namespace: 'obs', uid: 'ts-uid', generation }, spec, ...(traceStores.get('obs/demo')?.status ? { status: traceStores.get('obs/demo')!.status! } : {}) });
  const cache = (plural: string) => caches.get(plural)!;
  const deployment = () => cache('deployments').get('obs/demo-runtime') as (V1Deployment & KubeObject) | undefined;
  /** the Deployment controller finished the rollout of the current template */
  const rolledOut = () => {
    const d = deployment()!;
    cache('deployments').put({ ...d, status: { observedGeneration: d.metadata.generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 } } as KubeObject);
  };
  const configMaps = () => cache('configmaps').list().map((c) => c.metadata.name).sort();
  return { kube, controller, store, cache, deployment, rolledOut, configMaps, enqueued };
}

const memory = (maxTraces: number, networkPolicy = true): TraceStore['spec'] => ({ backend: { memory: { maxTraces } }, runtime: { networkPolicy: { enabled: networkPolicy } } });
const kinds = (calls: Call[]) => calls.map((c) => `${c.verb} ${c.resource}`).sort();

describe('TraceStore reconcile: apply and prune', () => {
  it('applies every child once, then writes nothing while the caches hold what was applied', async () => {
    const t = setup();
    t.store(memory(10), 1);
    await t.controller.reconcile('obs/demo');
    expect(kinds(t.kube.writesSince(0))).toEqual(
      ['configmaps', 'deployments', 'leases', 'networkpolicies', 'rolebindings', 'roles', 'serviceaccounts', 'services'].map((r) => `apply ${r}`),
    );
    expect(t.kube.writesSince(0, (c) => c.resource === 'tracestores/status')).toHaveLength(1);

    const before = t.kube.calls.length;
    await t.controller.reconcile('obs/demo');
    await t.controller.reconcile('obs/demo');
    expect(t.kube.calls.slice(before)).toEqual([]);

    // the content-named ConfigMap is never updated, even when its metadata differs from what was applied
    const [cm] = t.cache('configmaps').list();
    t.cache('configmaps').put({ ...cm!, metadata: { ...cm!.metadata, labels: {} } });
    await t.controller.reconcile('obs/demo');
    expect(t.kube.calls.slice(before)).toEqual([]);
  });

  it('puts back a field someone else changed, and only that object', async () => {
    const t = setup();
    t.store(memory(10), 1);
    await t.controller.reconcile('obs/demo');
    const d = t.deployment()!;
    t.cache('deployments').put({ ...d, spec: { ...d.spec!, replicas: 5 } } as KubeObject);
    const before = t.kube.calls.length;
    await t.controller.reconcile('obs/demo');
    expect(t.kube.writesSince(before)).toEqual([{ verb: 'apply', resource: 'deployments', name: 'demo-runtime' }]);
    expect(t.deployment()!.spec?.replicas).toBe(1);
  });

  it('deletes the NetworkPolicy when spec.runtime.networkPolicy is disabled, and touches nothing else', async () => {
    const t = setup();
    t.store(memory(10), 1);
    await t.controller.reconcile('obs/demo');
    expect(t.cache('networkpolicies').get('obs/demo-runtime')).toBeDefined();
    t.store(memory(10, false), 2);
    const before = t.kube.calls.length;
    await t.controller.reconcile('obs/demo');
    expect(t.kube.writesSince(before)).toEqual([{ verb: 'delete', resource: 'networkpolicies', name: 'demo-runtime' }]);
    expect(t.cache('networkpolicies').list()).toEqual([]);
    const again = t.kube.calls.length;
    await t.controller.reconcile('obs/demo');
    expect(t.kube.calls.slice(again)).toEqual([]);
  });

  it('a changed spec updates the workload and creates a new ConfigMap; the old one goes once the new hash is available', async () => {
    const t = setup();
    t.store(memory(10), 1);
    await t.controller.reconcile('obs/demo');
    t.rolledOut();
    await t.controller.reconcile('obs/demo');
    const [oldCm] = t.configMaps();
    const oldHash = (t.cache('configmaps').get(`obs/${oldCm}`) as V1ConfigMap & KubeObject).metadata.labels![ANNOTATION_CONFIG_HASH];

    t.store(memory(11), 2);
    const before = t.kube.calls.length;
    await t.controller.reconcile('obs/demo');
    const changed = t.kube.writesSince(before);
    expect(kinds(changed)).toEqual(['apply configmaps', 'apply deployments']);
    const newCm = changed.find((c) => c.resource === 'configmaps')!.name;
    expect(newCm).not.toBe(oldCm);
    const newHash = t.deployment()!.spec!.template.metadata!.annotations![ANNOTATION_CONFIG_HASH];
    expect(newHash).not.toBe(oldHash);
    expect(t.deployment()!.spec!.template.spec!.volumes![0]!.configMap!.name).toBe(newCm);
    // the pods of the old template still mount the old ConfigMap: both stay during the rollout
    expect(t.configMaps()).toEqual([oldCm, newCm].sort());

    // the Deployment controller has not seen the new template yet (observedGeneration behind)
    const d = t.deployment()!;
    t.cache('deployments').put({ ...d, status: { ...d.status, observedGeneration: (d.metadata.generation ?? 1) - 1 } } as KubeObject);
    const mid = t.kube.calls.length;
    await t.controller.reconcile('obs/demo');
    expect(t.kube.writesSince(mid)).toEqual([]);
    expect(t.configMaps()).toHaveLength(2);

    // the new template is available: the superseded ConfigMap is deleted, the current one kept
    t.rolledOut();
    const done = t.kube.calls.length;
    await t.controller.reconcile('obs/demo');
    expect(t.kube.writesSince(done)).toEqual([{ verb: 'delete', resource: 'configmaps', name: oldCm }]);
    expect(t.configMaps()).toEqual([newCm]);
  });

  it('prunes only what this TraceStore controls', async () => {
    const t = setup();
    t.store(memory(10, false), 1);
    const foreign = (name: string, uid: string, controller: boolean): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: 'obs', ownerReferences: [{ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'TraceStore', name: 'demo', uid, controller }] },
    });
    t.cache('configmaps').put(foreign('other-store', 'other-uid', true));
    t.cache('configmaps').put(foreign('not-controller', 'ts-uid', false));
    t.cache('networkpolicies').put({ ...foreign('other-policy', 'other-uid', true), apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' });
    await t.controller.reconcile('obs/demo');
    t.rolledOut();
    await t.controller.reconcile('obs/demo');
    expect(t.kube.calls.filter((c) => c.verb === 'delete')).toEqual([]);
    expect(t.configMaps()).toEqual(expect.arrayContaining(['not-controller', 'other-store']));
  });

  it('a change of any owned child queues its TraceStore; a report Lease only when the backend reports change', async () => {
    const t = setup();
    t.store(memory(10), 1);
    await t.controller.reconcile('obs/demo');
    for (const plural of ['configmaps', 'serviceaccounts', 'roles', 'rolebindings', 'deployments', 'services', 'networkpolicies']) {
      t.enqueued.length = 0;
      const [o] = t.cache(plural).list();
      t.cache(plural).put({ ...o!, metadata: { ...o!.metadata, resourceVersion: 'changed' } });
      expect([plural, t.enqueued]).toEqual([plural, ['obs/demo']]);
    }
    const lease = t.cache('leases').get('obs/demo-runtime-report')!;
    t.enqueued.length = 0;
    // a sampling report of a pod: the SamplingPolicy controller's business, not a reason to reconcile the store
    t.cache('leases').put({ ...lease, metadata: { ...lease.metadata, annotations: { [reportAnnotation('pod-a')]: 'p=1' } } });
    expect(t.enqueued).toEqual([]);
    t.cache('leases').put({ ...lease, metadata: { ...lease.metadata, annotations: { [backendReportAnnotation('pod-a')]: 'disk full' } } });
    expect(t.enqueued).toEqual(['obs/demo']);
  });

  it('a TraceStore recreated under the same name takes over the content-named ConfigMap (new owner uid)', async () => {
    const t = setup();
    t.store(memory(10), 1);
    await t.controller.reconcile('obs/demo');
    const [cm] = t.configMaps();
    // deleted and created again: the same spec, a new uid; the old ConfigMap is still in the cache
    const ts = t.cache('tracestores').get('obs/demo')!;
    t.cache('tracestores').put({ ...ts, metadata: { ...ts.metadata, uid: 'ts-uid-2' } });
    const before = t.kube.calls.length;
    await t.controller.reconcile('obs/demo');
    expect(t.kube.writesSince(before).filter((c) => c.resource === 'configmaps')).toEqual([{ verb: 'apply', resource: 'configmaps', name: cm }]);
    const owner = t.cache('configmaps').get(`obs/${cm}`)!.metadata.ownerReferences!.find((r) => r.controller)!;
    expect(owner.uid).toBe('ts-uid-2');
  });
});

describe('TraceStore reconcile: embedded backend', () => {
  it('applies a StatefulSet instead of a Deployment, follows its claim, and reports the claim in Ready', async () => {
    const t = setup();
    t.store({ backend: { embedded: {} } }, 1);
    const r = await t.controller.reconcile('obs/demo');
    expect(kinds(t.kube.writesSince(0))).toEqual(['configmaps', 'leases', 'rolebindings', 'roles', 'serviceaccounts', 'services', 'statefulsets'].map((x) => `apply ${x}`));
    expect(r).toBeUndefined(); // no claim yet: nothing to recheck

    // the claim the StatefulSet makes from its template carries the instance label: a phase change reconciles the store
    const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data-demo-runtime-0', namespace: 'obs', labels: { 'app.kubernetes.io/instance': 'demo' }, creationTimestamp: new Date() }, status: { phase: 'Pending' } };
    t.enqueued.length = 0;
    t.cache('persistentvolumeclaims').put(claim as unknown as KubeObject);
    expect(t.enqueued).toEqual(['obs/demo']);
    const again = await t.controller.reconcile('obs/demo');
    // still within its grace: progress, and a recheck when the grace is over
    expect(again?.requeueAfterMs).toBeGreaterThan(50_000);
    const ready = () => t.cache('tracestores').get('obs/demo') as unknown as TraceStore;
    expect(ready().status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'VolumeProvisioning' });

    t.cache('persistentvolumeclaims').put({ ...claim, status: { phase: 'Lost' } } as unknown as KubeObject);
    expect(t.enqueued).toEqual(['obs/demo', 'obs/demo']);
    await t.controller.reconcile('obs/demo');
    expect(ready().status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'VolumeLost' });
    expect(t.kube.writesSince(0, (c) => c.resource === 'deployments')).toEqual([]);
  });
});
