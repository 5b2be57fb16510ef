// TraceStores on a real Elasticsearch node with its security module on (HTTPS with a generated CA, Basic auth),
// through the operator: the sample (rollover, CA and credentials from Secrets) is provisioned and turns Ready; the
// Secrets reach the runtime only by reference; wrong and under-privileged users, a missing CA, a plain-http URL
// and the wrong product each give a condition that says what to fix; deletionPolicy Delete drops the store's
// indices, aliases and templates and nothing of another prefix.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { BACKEND_CA_DIR } from '../../src/api/backend-plugin.js';
import { DELETE_DATA_FINALIZER, SECRET_ALLOW_LABEL } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import type { Operator } from '../../src/controllers/manager.js';
import { type KubeClient, isNotFound, resourcePath } from '../../src/kube/client.js';
import { TRACESTORES } from '../../src/kube/resources.js';
import { ROOT, applyStore, conditionOf, createNamespace, getStore, startInProcessOperator, testClient, waitStoreCondition, testPki, waitFor } from '../helpers.js';
import { ES_USERS, type RunningElasticsearch, startElasticsearch } from '../env/elasticsearch.js';
import { type RunningOpenSearch, startOpenSearch } from '../env/opensearch.js';

let client: KubeClient;
let ns: string;
let op: Operator;
let es: RunningElasticsearch;
let os: RunningOpenSearch;

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'elasticsearch');
  // both start at once; one that started is kept (and stopped after all) even when the other fails
  const [e, o] = await Promise.allSettled([startElasticsearch({ secure: true }), startOpenSearch()]);
  if (e.status === 'fulfilled') es = e.value;
  if (o.status === 'fulfilled') os = o.value;
  for (const r of [e, o]) if (r.status === 'rejected') throw r.reason;
  op = await startInProcessOperator(ns);
}, 150_000);
afterAll(async () => {
  await op?.stop();
  await Promise.all([es?.stop(), os?.stop()]);
  client?.close();
});

const secretPath = (name: string) => resourcePath({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true }, ns, name);
const putSecret = (name: string, data: Record<string, string>) =>
  client.apply(secretPath(name), { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: data }, 'jso-test');
const putUser = (name: string, user: { username: string; password: string }) => putSecret(name, { username: user.username, password: user.password });

/** The Elasticsearch sample pointed at the test node (https, the CA and credentials Secrets it names). */
function sample(name = 'elastic', prefix = 'prod'): TraceStore {
  const ts = parse(readFileSync(join(ROOT, 'config/samples/tracestore-elasticsearch.yaml'), 'utf8')) as TraceStore;
  ts.metadata.namespace = ns;
  ts.metadata.name = name;
  const b = ts.spec.backend.elasticsearch!;
  b.endpoints = [es.url];
  b.indexPrefix = prefix;
  return ts;
}

const waitCondition = (name: string, type: string, status: string, reason?: string, timeoutMs?: number) => waitStoreCondition(client, ns, name, type, status, reason, timeoutMs);

const status = async (path: string): Promise<number> => (await es.call('GET', path)).status;
const body = async <T>(path: string): Promise<T> => (await es.call('GET', path)).body as T;

describe('Elasticsearch TraceStores on a secured node', () => {
  it('provisions the rollover sample over TLS with the CA and credentials from Secrets, and turns Ready', async () => {
    await putSecret('elasticsearch-ca', { 'ca.crt': es.ca! });
    await putUser('elasticsearch-credentials', ES_USERS.admin);
    await applyStore(client, sample());
    const ts = await waitCondition('elastic', 'SchemaReady', 'True', 'Provisioned');
    expect(ts.status?.schemaVersion).toBe('1');
    expect(conditionOf(ts, 'BackendReachable')).toMatchObject({ status: 'True', reason: 'Connected', message: expect.stringMatching(/^elasticsearch 9\.2\.\d+ at https:\/\/127\.0\.0\.1:\d+$/) });
    // this distribution has no ILM: the runtime rolls over and deletes
    expect(conditionOf(ts, 'SchemaReady')?.message).toBe('schema version 1, layout rollover, rollover and retention by the runtime');
    await waitCondition('elastic', 'Ready', 'True');

    const aliases = await body<Record<string, { aliases: Record<string, { is_write_index?: boolean }> }>>('/_alias/prod-jaeger-*');
    expect(aliases['prod-jaeger-span-000001']?.aliases).toEqual({ 'prod-jaeger-span-write': { is_write_index: true }, 'prod-jaeger-span-read': {} });
    expect(aliases['prod-jaeger-service-000001']?.aliases).toEqual({ 'prod-jaeger-service-write': { is_write_index: true }, 'prod-jaeger-service-read': {} });
    const templates = await body<{ index_templates: { name: string; index_template: { index_patterns: string[] } }[] }>('/_index_template/prod-jaeger-*');
    expect(templates.index_templates.map((t) => t.name).sort()).toEqual(['prod-jaeger-dependencies', 'prod-jaeger-service', 'prod-jaeger-span']);
    expect(templates.index_templates.find((t) => t.name === 'prod-jaeger-span')?.index_template.index_patterns).toEqual(['prod-jaeger-span-*']);
    expect(await body('/prod-jaeger-meta/_doc/schema')).toMatchObject({ found: true, _source: { version: 1, layout: 'rollover', lifecycle: 'runtime' } });

    // the runtime gets the credentials as Secret references and the CA as a Secret volume
    const dep = await client.get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/elastic-runtime`);
    const pod = dep.spec!.template.spec!;
    const env = pod.containers[0]!.env!;
    expect(env.find((e) => e.name === 'JSO_BACKEND_USERNAME')).toEqual({ name: 'JSO_BACKEND_USERNAME', valueFrom: { secretKeyRef: { name: 'elasticsearch-credentials', key: 'username' } } });
    expect(env.find((e) => e.name === 'JSO_BACKEND_PASSWORD')).toEqual({ name: 'JSO_BACKEND_PASSWORD', valueFrom: { secretKeyRef: { name: 'elasticsearch-credentials', key: 'password' } } });
    const caVolume = pod.volumes?.find((v) => v.secret?.secretName === 'elasticsearch-ca');
    expect(caVolume).toBeDefined();
    expect(pod.containers[0]!.volumeMounts?.find((m) => m.name === caVolume!.name)).toMatchObject({ mountPath: BACKEND_CA_DIR, readOnly: true });
    for (const text of [JSON.stringify(dep), JSON.stringify(ts.status)]) {
      expect(text).not.toContain(ES_USERS.admin.password);
      expect(text).not.toContain('BEGIN CERTIFICATE');
    }
  });

  it('reports a wrong password and recovers when the Secret is fixed; a read-only user is told it lacks privileges', async () => {
    const ts = sample('locked', 'locked');
    ts.spec.backend.elasticsearch!.credentialsSecretRef = { name: 'locked-credentials' };
    await putUser('locked-credentials', { username: ES_USERS.admin.username, password: 'wrong-password' });
    await applyStore(client, ts);
    const denied = await waitCondition('locked', 'BackendReachable', 'False', 'AuthenticationFailed');
    expect(conditionOf(denied, 'BackendReachable')?.message).toBe(`${es.url} refused the credentials (401): check the user name and password in the credentials Secret`);
    expect(JSON.stringify(denied.status)).not.toContain('wrong-password');
    expect(await body('/locked-jaeger-*')).toEqual({});

    await putUser('locked-credentials', ES_USERS.admin); // no operator restart
    const ok = await waitCondition('locked', 'SchemaReady', 'True', 'Provisioned');
    expect(conditionOf(ok, 'BackendReachable')?.status).toBe('True');

    const viewer = sample('viewer', 'viewer');
    viewer.spec.backend.elasticsearch!.credentialsSecretRef = { name: 'viewer-credentials' };
    await putUser('viewer-credentials', ES_USERS.viewer);
    await applyStore(client, viewer);
    // the node authenticates the viewer but refuses the node info the check starts with
    const lacking = await waitCondition('viewer', 'BackendReachable', 'False', 'AuthenticationFailed');
    expect(conditionOf(lacking, 'BackendReachable')?.message).toBe(
      `${es.url} accepted the user of spec.backend.elasticsearch.credentialsSecretRef but denied GET /_nodes/_local (403, action cluster:monitor/nodes/info, granted by the cluster privileges monitor, manage, all): ` +
        'the user lacks privileges; give its role the cluster privileges monitor, manage_index_templates and manage_ilm, and the index privileges create_index, delete_index, manage, read, write and view_index_metadata on viewer-jaeger-* (README: Elasticsearch and OpenSearch privileges)',
    );
    expect(await body('/viewer-jaeger-*')).toEqual({});
  });

  it('without the CA, or with another, the check says to set caSecretRef; a plain-http URL against the https node says to use https', async () => {
    const ts = sample('noca', 'noca');
    delete ts.spec.backend.elasticsearch!.tls!.caSecretRef;
    await applyStore(client, ts);
    const untrusted = await waitCondition('noca', 'BackendReachable', 'False', 'Unreachable');
    expect(conditionOf(untrusted, 'BackendReachable')?.message).toBe(
      `the TLS certificate of ${es.url} is not trusted (unable to verify the first certificate): put the CA that signed it in a Secret (key ca.crt) and name the Secret in ` +
        'spec.backend.elasticsearch.tls.caSecretRef, or set spec.backend.elasticsearch.tls.insecureSkipVerify: true to skip verification (testing only)',
    );

    // skipping verification is the other way out
    ts.spec.backend.elasticsearch!.tls!.insecureSkipVerify = true;
    await applyStore(client, ts);
    await waitCondition('noca', 'SchemaReady', 'True', 'Provisioned');

    // another CA than the one that signed the node's certificate; fixing the Secret recovers
    const pki = testPki();
    rmSync(pki.dir, { recursive: true, force: true });
    await putSecret('other-ca', { 'ca.crt': pki.ca });
    const other = sample('otherca', 'otherca');
    other.spec.backend.elasticsearch!.tls!.caSecretRef = { name: 'other-ca' };
    await applyStore(client, other);
    const mistrusted = await waitCondition('otherca', 'BackendReachable', 'False', 'Unreachable');
    expect(conditionOf(mistrusted, 'BackendReachable')?.message).toMatch(
      /^the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \([a-z -]+\): the CA in the Secret "other-ca" of spec\.backend\.elasticsearch\.tls\.caSecretRef did not sign it: put the CA that did there$/,
    );
    await putSecret('other-ca', { 'ca.crt': es.ca! });
    await waitCondition('otherca', 'SchemaReady', 'True', 'Provisioned');

    const plain = sample('plain', 'plain');
    const b = plain.spec.backend.elasticsearch!;
    b.endpoints = [es.url.replace('https://', 'http://')];
    delete b.tls;
    b.allowPlaintextCredentials = true;
    await applyStore(client, plain);
    const wrongScheme = await waitCondition('plain', 'BackendReachable', 'False', 'Unreachable');
    expect(conditionOf(wrongScheme, 'BackendReachable')?.message).toBe(
      `${plain.spec.backend.elasticsearch!.endpoints[0]} closed the connection on a plain HTTP request: if the server serves HTTPS, use https:// in spec.backend.elasticsearch.endpoints (and its CA in spec.backend.elasticsearch.tls.caSecretRef)`,
    );
    expect(await body('/plain-jaeger-*')).toEqual({});
  });

  it('says when the backend is not the product the TraceStore names, in both directions', async () => {
    const onOpenSearch = sample('es-on-os', 'esonos');
    const b = onOpenSearch.spec.backend.elasticsearch!;
    b.endpoints = [os.url];
    delete b.tls;
    delete b.credentialsSecretRef;
    await applyStore(client, onOpenSearch);
    const a = await waitCondition('es-on-os', 'BackendReachable', 'False', 'UnsupportedVersion');
    expect(conditionOf(a, 'BackendReachable')?.message).toMatch(/ is opensearch 2\.\d+\.\d+, but the TraceStore says elasticsearch: use spec\.backend\.opensearch$/);

    const onElastic = sample('os-on-es', 'osones');
    onElastic.spec.backend = { opensearch: onElastic.spec.backend.elasticsearch! };
    await applyStore(client, onElastic);
    const c = await waitCondition('os-on-es', 'BackendReachable', 'False', 'UnsupportedVersion');
    expect(conditionOf(c, 'BackendReachable')?.message).toBe(`${es.url} is elasticsearch ${es.version}, but the TraceStore says opensearch: use spec.backend.elasticsearch`);
    expect(await body('/osones-jaeger-*,esonos-jaeger-*')).toEqual({});
  });

  it('deletionPolicy Delete: deleting the TraceStore drops its indices, aliases and templates, and nothing of another prefix', async () => {
    const ts = sample('doomed', 'doomed');
    ts.spec.deletionPolicy = 'Delete';
    await applyStore(client, ts);
    await waitCondition('doomed', 'SchemaReady', 'True', 'Provisioned');
    await waitFor('finalizer set', async () => (await getStore(client, ns, 'doomed')).metadata.finalizers?.includes(DELETE_DATA_FINALIZER) === true);
    // data the runtime would have written (kwok runs no pods): a rolled-over span index and a daily dependencies index
    expect((await es.call('POST', '/doomed-jaeger-span-write/_rollover')).status).toBe(200);
    const day = new Date().toISOString().slice(0, 10);
    expect((await es.call('PUT', `/doomed-jaeger-dependencies-${day}/_doc/x?refresh=true`, {})).status).toBe(201);
    expect(Object.keys(await body('/doomed-jaeger-*')).sort()).toEqual([
      `doomed-jaeger-dependencies-${day}`,
      'doomed-jaeger-meta',
      'doomed-jaeger-sampling',
      'doomed-jaeger-service-000001',
      'doomed-jaeger-span-000001',
      'doomed-jaeger-span-000002',
    ]);
    // an index of another store whose name starts with this prefix stays
    expect((await es.call('PUT', '/doomed-jaeger-spanx-000001')).status).toBe(200);

    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'doomed'));
    await waitFor('TraceStore gone', async () => (await client.get(resourcePath(TRACESTORES, ns, 'doomed')).then(() => false, (e: unknown) => isNotFound(e))), 60_000, 200);
    expect(Object.keys(await body('/doomed-jaeger-*'))).toEqual(['doomed-jaeger-spanx-000001']);
    expect(await body('/_alias/doomed-jaeger-span-write,doomed-jaeger-span-read,doomed-jaeger-service-write,doomed-jaeger-service-read')).toMatchObject({ status: 404 });
    expect(await body('/_index_template/doomed-jaeger-*')).toEqual({ index_templates: [] });
    // the other stores' data and templates stay
    expect(await status('/_index_template/prod-jaeger-span')).toBe(200);
    expect(await status('/_alias/prod-jaeger-span-write')).toBe(200);
    expect(await body('/prod-jaeger-meta/_doc/schema')).toMatchObject({ found: true });
    expect(await status('/_index_template/locked-jaeger-span')).toBe(200);
    expect(await status('/_alias/otherca-jaeger-span-read')).toBe(200);
  });
});
