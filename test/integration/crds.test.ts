// The CRDs on a real kube-apiserver: samples are admitted, bad manifests are rejected with messages that name
// the field, the backend type cannot change, and the operator re-validates objects admitted under looser rules.
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ApiError, type KubeClient, resourcePath } from '../../src/kube/client.js';
import { ROOT, applyStore, conditionOf, createNamespace, getStore, memoryStore, startInProcessOperator, testClient, waitFor } from '../helpers.js';

interface OperatorSpecObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: unknown;
}

const PLURAL: Record<string, string> = { TraceStore: 'tracestores', SamplingPolicy: 'samplingpolicies', StreamingJob: 'streamingjobs' };
const pathFor = (o: OperatorSpecObject, ns: string) => `/apis/storage.jaegertracing.io/v1alpha1/namespaces/${ns}/${PLURAL[o.kind]}`;

async function create(client: KubeClient, o: OperatorSpecObject, ns: string, dryRun = true): Promise<void> {
  await client.request('POST', pathFor(o, ns), { body: { ...o, metadata: { ...o.metadata, namespace: ns } }, query: { fieldValidation: 'Strict', ...(dryRun ? { dryRun: 'All' } : {}) } });
}

let client: KubeClient;
let ns: string;

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'crds');
});
afterAll(() => client.close());

describe('samples', () => {
  const files = readdirSync(join(ROOT, 'config/samples')).filter((f) => f.endsWith('.yaml'));
  it('has samples', () => expect(files.length).toBeGreaterThan(0));
  it.each(files)('config/samples/%s is accepted by the API server', async (file) => {
    for (const doc of parseAllDocuments(readFileSync(join(ROOT, 'config/samples', file), 'utf8'))) {
      await create(client, doc.toJS() as OperatorSpecObject, ns);
    }
  });
});

describe('install manifests', () => {
  it('config/install/operator.yaml is accepted by the API server (server-side dry run)', async () => {
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'config/install/operator.yaml'), 'utf8')).map((d) => d.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } });
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment']);
    const plural: Record<string, string> = { Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Role: 'roles', RoleBinding: 'rolebindings', Deployment: 'deployments' };
    for (const d of docs) {
      const base = d.apiVersion.includes('/') ? `/apis/${d.apiVersion}` : `/api/${d.apiVersion}`;
      const path = `${base}${d.metadata.namespace ? `/namespaces/${ns}` : ''}/${plural[d.kind]}`;
      const body = d.metadata.namespace ? { ...d, metadata: { ...d.metadata, namespace: ns } } : d;
      await client.request('POST', path, { body, query: { dryRun: 'All', fieldValidation: 'Strict' } });
    }
  });
});

describe('namespaced install manifests', () => {
  it.each(['operator.yaml', 'watched-namespace.yaml'])('config/install/namespaced/%s is accepted by the API server (server-side dry run)', async (file) => {
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'config/install/namespaced', file), 'utf8')).map((d) => d.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } });
    const plural: Record<string, string> = { Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', Role: 'roles', RoleBinding: 'rolebindings', Deployment: 'deployments' };
    expect(docs.every((d) => plural[d.kind])).toBe(true);
    for (const d of docs) {
      const base = d.apiVersion.includes('/') ? `/apis/${d.apiVersion}` : `/api/${d.apiVersion}`;
      const path = `${base}${d.metadata.namespace ? `/namespaces/${ns}` : ''}/${plural[d.kind]}`;
      const body = d.metadata.namespace ? { ...d, metadata: { ...d.metadata, namespace: ns } } : d;
      await client.request('POST', path, { body, query: { dryRun: 'All', fieldValidation: 'Strict' } });
    }
  });
});

describe('invalid manifests', () => {
  const dir = join(ROOT, 'test/fixtures/invalid');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  it.each(files)('%s is rejected with a message naming the field', async (file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    const expected = [...text.matchAll(/^# expect: (.*)$/gm)].map((m) => m[1]!);
    expect(expected.length).toBeGreaterThan(0);
    const err = await create(client, parseAllDocuments(text)[0]!.toJS() as OperatorSpecObject, ns).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect([400, 422]).toContain((err as ApiError).code);
    for (const s of expected) expect((err as ApiError).message).toContain(s);
  });
});

describe('immutability', () => {
  it('refuses to change the backend type of an existing TraceStore', async () => {
    await applyStore(client, memoryStore('immutable', ns));
    const err = await client
      .apply(resourcePath({ group: 'storage.jaegertracing.io', version: 'v1alpha1', plural: 'tracestores', kind: 'TraceStore', namespaced: true }, ns, 'immutable'), {
        apiVersion: 'storage.jaegertracing.io/v1alpha1',
        kind: 'TraceStore',
        metadata: { name: 'immutable', namespace: ns },
        spec: { backend: { embedded: { size: '1Gi' } } },
      }, 'jso-test')
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toContain('the backend type is immutable');
  });
});

describe('re-validation in reconcile', () => {
  // An object admitted by an older, looser CRD must still be caught by the operator. The CRD is shared by every test
  // file running against this API server, so it is not relaxed here: the object is written into the API server's
  // storage (etcd, through its JSON gateway) exactly as a looser CRD would have stored it, and the server's watch
  // delivers it to the operator like any other. Expect Ready=False/InvalidSpec naming the fields.
  it('reports InvalidSpec with the field and leaves the runtime untouched', async () => {
    const etcd = process.env.JSO_TEST_ETCD;
    if (!etcd) throw new Error('JSO_TEST_ETCD is not set: run the integration tests through jest (test/env/jest-global-setup.ts starts etcd)');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const stored = {
      apiVersion: 'storage.jaegertracing.io/v1alpha1',
      kind: 'TraceStore',
      metadata: { name: 'loose', namespace: ns, uid: randomUUID(), generation: 1, creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      spec: { backend: { memory: { maxTraces: 0 } }, runtime: { replicas: 3 } },
    };
    // the strict CRD refuses this spec through the API
    await expect(create(client, stored as OperatorSpecObject, ns)).rejects.toMatchObject({ code: 422, message: expect.stringContaining('spec.backend.memory.maxTraces') });
    const op = await startInProcessOperator(ns);
    try {
      const put = await fetch(`${etcd}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64(`/registry/storage.jaegertracing.io/tracestores/${ns}/loose`), value: b64(JSON.stringify(stored)) }) });
      expect(put.status).toBe(200);
      const ts = await waitFor('InvalidSpec', async () => {
        const t = await getStore(client, ns, 'loose').catch(() => undefined);
        return t && conditionOf(t, 'Ready')?.reason === 'InvalidSpec' ? t : undefined;
      });
      const ready = conditionOf(ts, 'Ready')!;
      expect(ready.status).toBe('False');
      expect(ready.message).toContain('spec.backend.memory.maxTraces: must be >= 1 (got 0)');
      expect(ready.message).toContain('spec.runtime.replicas');
      expect(ready.observedGeneration).toBe(ts.metadata.generation);
      // nothing was deployed for an invalid spec
      await expect(client.get(`/apis/apps/v1/namespaces/${ns}/deployments/loose-runtime`)).rejects.toMatchObject({ code: 404 });
    } finally {
      await op.stop();
    }
  });
});
