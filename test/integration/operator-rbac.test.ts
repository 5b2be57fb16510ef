// The shipped RBAC is enough and no more (issue #10): the operator runs under a ServiceAccount bound only to the
// install manifests' rules (namespaced variant: a Role per watched namespace; cluster-wide variant: the
// ClusterRole), brings a memory TraceStore to Ready and writes SamplingPolicy status; every verb the manifests
// grant is then seen in use (reads from the operator's own request counts, writes from the API server's audit
// log) or is granted on to the runtime. The runtime's own Role lets it patch its report Lease and nothing else.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1ConfigMap, V1PolicyRule } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { ANNOTATION_CONFIG_HASH, DELETE_DATA_FINALIZER, runtimeReportLeaseName } from '../../src/api/contract.js';
import type { SamplingPolicy } from '../../src/api/samplingpolicy.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { type Operator, defaultOperatorOptions } from '../../src/controllers/manager.js';
import { KubeClient, isNotFound, resourcePath } from '../../src/kube/client.js';
import { desiredRuntime } from '../../src/reconcilers/tracestore/desired.js';
import { PLUGINS } from '../../src/storage/plugins.js';
import { ROOT, applyStore, conditionOf, createNamespace, getStore, kubeconfig, memoryStore, startInProcessOperator, sumMetric, testClient, waitFor, waitReady } from '../helpers.js';
import { SAMPLING_POLICIES } from '../../src/kube/resources.js';

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: V1PolicyRule[];
  roleRef?: { name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

const load = (file: string): Doc[] => parseAllDocuments(readFileSync(join(ROOT, file), 'utf8')).map((d) => d.toJS() as Doc);
const PLURAL: Record<string, string> = { Role: 'roles', RoleBinding: 'rolebindings', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', ServiceAccount: 'serviceaccounts' };
const pathOf = (d: Doc): string => {
  const base = d.apiVersion.includes('/') ? `/apis/${d.apiVersion}` : `/api/${d.apiVersion}`;
  return `${base}${d.metadata.namespace ? `/namespaces/${d.metadata.namespace}` : ''}/${PLURAL[d.kind]}/${d.metadata.name}`;
};

let admin: KubeClient;
const cleanup: (() => Promise<unknown>)[] = [];

async function apply(d: Doc): Promise<void> {
  await admin.apply(pathOf(d), d, 'jso-test');
}

/** A kubeconfig like the admin's, authenticating with a fresh token of the ServiceAccount. */
async function kubeconfigFor(ns: string, sa: string): Promise<string> {
  const tr = await admin.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  const file = join(mkdtempSync(join(tmpdir(), 'jso-rbac-')), 'kubeconfig');
  writeFileSync(file, readFileSync(kubeconfig(), 'utf8').replace(/^(\s*token:).*$/m, `$1 ${tr.status.token}`), { mode: 0o600 });
  return file;
}

const rbacVerb: Record<string, string> = { LIST: 'list', WATCH: 'watch', GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** "resource verb" pairs the operator used: reads from its client, writes from the audit log (SSA creating = create). */
function usedByOperator(op: Operator, username: string): Set<string> {
  const used = new Set<string>();
  for (const k of op.client.stats.byKey.keys()) {
    const [verb, resource] = k.split(' ');
    if (verb && resource && rbacVerb[verb]) used.add(`${resource} ${rbacVerb[verb]}`);
  }
  const audit = readFileSync(join(process.env.JSO_TEST_CP_DIR!, 'audit.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { verb: string; user?: { username?: string }; objectRef?: { resource?: string; subresource?: string }; responseStatus?: { code?: number } });
  for (const e of audit) {
    if (e.user?.username !== username || !e.objectRef?.resource || (e.responseStatus?.code ?? 0) >= 400) continue;
    const resource = e.objectRef.subresource ? `${e.objectRef.resource}/${e.objectRef.subresource}` : e.objectRef.resource;
    used.add(`${resource} ${e.verb}`);
    if (e.verb === 'patch' && e.responseStatus?.code === 201) used.add(`${resource} create`);
  }
  return used;
}

const granted = (rules: V1PolicyRule[]): string[] => rules.flatMap((r) => (r.resources ?? []).flatMap((res) => r.verbs.map((v) => `${res} ${v}`)));

/** What the operator grants on to each runtime (it must hold it itself). */
const delegated = new Set(granted(desiredRuntime(memoryStore('x', 'y'), { runtimeImage: 'i', plugins: PLUGINS }).role.rules ?? []));

/** Everything the operator does, so that every granted verb has its occasion. */
async function exercise(client: KubeClient, ns: string): Promise<void> {
  await applyStore(client, memoryStore('rbac', ns, 1000));
  const first = await waitReady(client, ns, 'rbac');
  await client.apply<SamplingPolicy>(
    resourcePath(SAMPLING_POLICIES, ns, 'rbac-policy'),
    { apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'SamplingPolicy', metadata: { name: 'rbac-policy', namespace: ns }, spec: { targetRef: { name: 'rbac' }, default: { type: 'probabilistic', value: 0.5 } } },
    'jso-test',
  );
  await waitFor('SamplingPolicy status', async () => {
    const p = await client.get<SamplingPolicy>(resourcePath(SAMPLING_POLICIES, ns, 'rbac-policy'));
    return p.status?.conditions?.find((c) => c.type === 'Accepted')?.status === 'True' && p.status.conditions.some((c) => c.type === 'Propagated');
  });
  // a Secret that did not opt in: the operator reads its metadata to say so
  await client.apply(`/api/v1/namespaces/${ns}/secrets/unlabelled`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unlabelled', namespace: ns }, stringData: { username: 'u', password: 'p' } }, 'jso-test');
  await applyStore(client, { ...memoryStore('locked', ns), spec: { backend: { opensearch: { endpoints: ['https://127.0.0.1:9'], credentialsSecretRef: { name: 'unlabelled' } } } } });
  await waitFor('SecretNotAllowed', async () => conditionOf(await getStore(client, ns, 'locked'), 'BackendReachable')?.reason === 'SecretNotAllowed');
  // deletionPolicy Delete on a backend with data outside the cluster: the finalizer is set, and removed when the
  // policy goes back to Retain
  const doomed = (deletionPolicy: 'Delete' | 'Retain') => applyStore(client, { ...memoryStore('doomed', ns), spec: { backend: { opensearch: { endpoints: ['https://127.0.0.1:9'] } }, deletionPolicy } });
  await doomed('Delete');
  await waitFor('finalizer set', async () => (await getStore(client, ns, 'doomed')).metadata.finalizers?.includes(DELETE_DATA_FINALIZER) === true);
  await doomed('Retain');
  await waitFor('finalizer removed', async () => !(await getStore(client, ns, 'doomed')).metadata.finalizers?.length);
  // the runtime NetworkPolicy: created, changed (patch), deleted when turned off
  const np = `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/fenced-runtime`;
  const fenced = (networkPolicy: NonNullable<NonNullable<TraceStore['spec']['runtime']>['networkPolicy']>) => applyStore(client, { ...memoryStore('fenced', ns), spec: { backend: { memory: { maxTraces: 10 } }, runtime: { networkPolicy } } });
  const npFrom = () => client.get<{ spec: { ingress: { from?: unknown[] }[] } }>(np).then((p) => JSON.stringify(p.spec.ingress[0]?.from), (e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
  await fenced({ enabled: true, ingest: { from: [{ namespaceSelector: {} }] } });
  await waitFor('NetworkPolicy created', async () => (await npFrom())?.includes('namespaceSelector'));
  await fenced({ enabled: true, ingest: { from: [{ podSelector: { matchLabels: { app: 'x' } } }] } });
  await waitFor('NetworkPolicy patched', async () => (await npFrom())?.includes('"app":"x"'));
  await fenced({ enabled: false });
  await waitFor('NetworkPolicy deleted', async () => (await npFrom()) === undefined);
  // the query front of spec.query: its Ingress created, changed (patch), deleted when dropped from the spec
  const ing = `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/ui-query`;
  const ui = (host?: string) => applyStore(client, { ...memoryStore('ui', ns), spec: { backend: { memory: { maxTraces: 10 } }, query: { enabled: true, ...(host ? { ingress: { host } } : {}) } } });
  const ingHost = () => client.get<{ spec: { rules: { host: string }[] } }>(ing).then((i) => i.spec.rules[0]?.host, (e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
  await ui('a.example.com');
  await waitFor('Ingress created', async () => (await ingHost()) === 'a.example.com');
  await ui('b.example.com');
  await waitFor('Ingress patched', async () => (await ingHost()) === 'b.example.com');
  await ui();
  await waitFor('Ingress deleted', async () => (await ingHost()) === undefined);
  // the embedded backend: its StatefulSet created, then changed (patch); its data volume's claim watched
  const sts = `/apis/apps/v1/namespaces/${ns}/statefulsets/disk-runtime`;
  const disk = (logLevel: 'info' | 'debug') => applyStore(client, { ...memoryStore('disk', ns), spec: { backend: { embedded: {} }, runtime: { logLevel } } });
  const stsHash = () => client.get<{ spec: { template: { metadata: { annotations: Record<string, string> } } } }>(sts).then((s) => s.spec.template.metadata.annotations[ANNOTATION_CONFIG_HASH], (e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
  await disk('info');
  const diskHash = await waitFor('StatefulSet created', stsHash);
  await disk('debug');
  await waitFor('StatefulSet patched', async () => (await stsHash()) !== diskHash);
  await waitFor('the claim is seen', async () => (await getStore(client, ns, 'disk')).status?.conditions?.some((c) => c.reason === 'VolumeProvisioning' || c.reason === 'VolumePending'));
  // a new configuration rolls out; the superseded ConfigMap is deleted
  await applyStore(client, memoryStore('rbac', ns, 2000));
  await waitFor('new configuration ready, old ConfigMap deleted', async () => {
    const ts = await getStore(client, ns, 'rbac');
    if (ts.status?.configHash === first.status?.configHash || conditionOf(ts, 'Ready')?.status !== 'True') return false;
    const cms = await client.get<{ items: V1ConfigMap[] }>(`/api/v1/namespaces/${ns}/configmaps`, { labelSelector: 'app.kubernetes.io/instance=rbac,app.kubernetes.io/component=runtime-config' });
    return cms.items.length === 1;
  }, 60_000, 200);
}

async function forbidden(p: Promise<unknown>): Promise<boolean> {
  return p.then(
    () => false,
    (e: unknown) => (e as { code?: number }).code === 403,
  );
}

beforeAll(() => {
  admin = testClient();
});
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  admin?.close();
});

describe('install manifests', () => {
  it('grant the same rules cluster-wide and per watched namespace', () => {
    const cluster = load('config/install/operator.yaml').find((d) => d.kind === 'ClusterRole')!;
    const namespaced = load('config/install/namespaced/watched-namespace.yaml').find((d) => d.kind === 'Role')!;
    expect(namespaced.rules).toEqual(cluster.rules);
    expect(load('config/install/namespaced/operator.yaml').map((d) => d.kind)).not.toContain('ClusterRole');
    expect(load('config/install/namespaced/operator.yaml').map((d) => d.kind)).not.toContain('ClusterRoleBinding');
  });
});

describe('the operator under the namespaced install only', () => {
  let opNs: string;
  let watched: string;
  let watched2: string;
  let op: Operator | undefined;
  const sa = 'jaeger-storage-operator';

  afterAll(async () => {
    await op?.stop();
  });

  it('reaches Ready, writes SamplingPolicy status, and uses every verb it is granted', async () => {
    opNs = await createNamespace(admin, 'rbac-op');
    watched = await createNamespace(admin, 'rbac-watched');
    watched2 = await createNamespace(admin, 'rbac-watched');
    const install = load('config/install/namespaced/operator.yaml');
    const inOpNs = (d: Doc): Doc => ({ ...d, metadata: { ...d.metadata, namespace: opNs }, ...(d.subjects ? { subjects: d.subjects.map((s) => ({ ...s, namespace: opNs })) } : {}) });
    for (const d of install.filter((x) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(x.kind))) await apply(inOpNs(d));
    for (const w of [watched, watched2]) {
      for (const d of load('config/install/namespaced/watched-namespace.yaml')) {
        await apply({ ...d, metadata: { ...d.metadata, namespace: w }, ...(d.subjects ? { subjects: d.subjects.map((s) => ({ ...s, namespace: opNs })) } : {}) });
      }
    }
    const leaderElection = { ...defaultOperatorOptions(PLUGINS).leaderElection, enabled: true, namespace: opNs, name: 'jso-rbac-leader' };
    // two watched namespaces: one informer per namespace and resource, nothing cluster-wide (that would be a 403)
    op = await startInProcessOperator(`${watched},${watched2}`, { kubeconfig: await kubeconfigFor(opNs, sa), leaderElection, onLostLeadership: () => undefined });
    await exercise(admin, watched);
    await applyStore(admin, memoryStore('second', watched2));
    await waitReady(admin, watched2, 'second');

    const metrics = await op.metrics.registry.metrics();
    expect(sumMetric(metrics, 'jso_kube_api_requests_total', { code: '403' })).toBe(0);
    const used = usedByOperator(op, `system:serviceaccount:${opNs}:${sa}`);
    const rules = [...load('config/install/namespaced/watched-namespace.yaml').find((d) => d.kind === 'Role')!.rules!, ...install.find((d) => d.kind === 'Role')!.rules!];
    const unused = granted(rules).filter((g) => !used.has(g) && !delegated.has(g));
    expect(unused).toEqual([]);
  });

  it("gives the runtime only its own report Lease: no pods, no other Lease, no Secrets", async () => {
    const runtime = KubeClient.load(await kubeconfigFor(watched, 'rbac-runtime'));
    try {
      const own = `/apis/coordination.k8s.io/v1/namespaces/${watched}/leases/${runtimeReportLeaseName('rbac')}`;
      const other = `/apis/coordination.k8s.io/v1/namespaces/${watched}/leases/${runtimeReportLeaseName('locked')}`;
      const patch = { body: { metadata: { annotations: { 'sampling.storage.jaegertracing.io/probe': 'x=1' } } }, contentType: 'application/merge-patch+json' };
      await runtime.request('PATCH', own, patch);
      await runtime.get(own);
      await waitFor('the locked store has its Lease', async () => admin.get(other).then(() => true, (e: unknown) => (isNotFound(e) ? false : Promise.reject(e))));
      expect(await forbidden(runtime.request('PATCH', other, patch))).toBe(true);
      const pods = await admin.get<{ items: { metadata: { name: string } }[] }>(`/api/v1/namespaces/${watched}/pods`);
      expect(pods.items.length).toBeGreaterThan(0);
      expect(await forbidden(runtime.request('PATCH', `/api/v1/namespaces/${watched}/pods/${pods.items[0]!.metadata.name}`, patch))).toBe(true);
      expect(await forbidden(runtime.get(`/api/v1/namespaces/${watched}/pods`))).toBe(true);
      expect(await forbidden(runtime.get(`/api/v1/namespaces/${watched}/secrets`))).toBe(true);
      await runtime.get(`/apis/storage.jaegertracing.io/v1alpha1/namespaces/${watched}/samplingpolicies`);
    } finally {
      runtime.close();
    }
  });
});

describe('the operator under the cluster-wide ClusterRole only', () => {
  let op: Operator | undefined;
  afterAll(async () => {
    await op?.stop();
  });

  it('reaches Ready and writes SamplingPolicy status', async () => {
    const ns = await createNamespace(admin, 'rbac-cluster');
    const suffix = randomBytes(3).toString('hex');
    const cr = load('config/install/operator.yaml').find((d) => d.kind === 'ClusterRole')!;
    const name = `jso-test-${suffix}`;
    await apply({ ...cr, metadata: { name } });
    await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'operator', namespace: ns } });
    await apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name } as Doc['roleRef'], subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: ns }] });
    cleanup.push(() => admin.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${name}`), () => admin.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`));
    // watching only its own test namespace, so it leaves the objects of concurrently running tests alone
    op = await startInProcessOperator(ns, { kubeconfig: await kubeconfigFor(ns, 'operator') });
    await exercise(admin, ns);
    expect(sumMetric(await op.metrics.registry.metrics(), 'jso_kube_api_requests_total', { code: '403' })).toBe(0);
  });
});
