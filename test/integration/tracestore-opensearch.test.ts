// TraceStores on OpenSearch through the operator: the samples (pointed at a real OpenSearch on loopback) get their
// templates, data stream and schema version provisioned and turn Ready; the credentials reach the runtime only
// as Secret references; a wrong password shows as BackendReachable=False and recovers when the Secret is fixed.
// OpenSearch here has no security plugin, so a loopback proxy in front of it checks HTTP basic credentials.
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { DELETE_DATA_FINALIZER, SECRET_ALLOW_LABEL } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import type { Operator } from '../../src/controllers/manager.js';
import { type KubeClient, isNotFound, resourcePath } from '../../src/kube/client.js';
import { TRACESTORES } from '../../src/kube/resources.js';
import { ROOT, applyStore, conditionOf, createNamespace, getStore, startInProcessOperator, testClient, waitStoreCondition, waitFor } from '../helpers.js';
import { type RunningOpenSearch, startOpenSearch } from '../env/opensearch.js';

let client: KubeClient;
let ns: string;
let op: Operator;
let os: RunningOpenSearch;
let proxy: Server;
let proxyUrl: string;
const USER = 'jaeger';
const PASSWORD = 'correct-horse';

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'opensearch');
  os = await startOpenSearch();
  const target = new URL(os.url);
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  proxy = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="test"' });
      return res.end(JSON.stringify({ error: { type: 'security_exception', reason: 'unable to authenticate user' }, status: 401 }));
    }
    const up = request({ host: '127.0.0.1', port: Number(target.port), method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  op = await startInProcessOperator(ns);
}, 120_000);
afterAll(async () => {
  await op?.stop();
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  await os?.stop();
  client?.close();
});

const secretPath = (name: string) => resourcePath({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true }, ns, name);
const putSecret = (name: string, password: string) =>
  client.apply(secretPath(name), { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: { username: USER, password } }, 'jso-test');

/** A sample, pointed at the proxy, without TLS (the test server speaks plain HTTP, so plaintext credentials are allowed). */
function sample(file: string): TraceStore {
  const ts = parse(readFileSync(join(ROOT, 'config/samples', file), 'utf8')) as TraceStore;
  ts.metadata.namespace = ns;
  const b = (ts.spec.backend.opensearch ?? ts.spec.backend.elasticsearch)!;
  b.endpoints = [proxyUrl];
  delete b.tls;
  b.allowPlaintextCredentials = true;
  b.shards = 1;
  b.replicas = 0;
  return ts;
}

const waitCondition = (name: string, type: string, status: string, reason?: string, timeoutMs?: number) => waitStoreCondition(client, ns, name, type, status, reason, timeoutMs);

const os$ = async <T>(path: string): Promise<{ status: number; body: T }> => {
  const r = await fetch(`${os.url}${path}`);
  return { status: r.status, body: (await r.json()) as T };
};

describe('OpenSearch TraceStores', () => {
  it('provisions the daily sample: templates exist, schema version recorded, Ready', async () => {
    await putSecret('opensearch-credentials', PASSWORD);
    await applyStore(client, sample('tracestore-opensearch.yaml'));
    const ts = await waitCondition('search', 'SchemaReady', 'True', 'Provisioned');
    expect(ts.status?.schemaVersion).toBe('1');
    expect(conditionOf(ts, 'BackendReachable')).toMatchObject({ status: 'True', reason: 'Connected', message: expect.stringContaining('opensearch 2.19') });
    await waitCondition('search', 'Ready', 'True');
    expect((await os$('/_template/prod-jaeger-span')).status).toBe(200);
    expect((await os$('/_template/prod-jaeger-service')).status).toBe(200);
    expect((await os$<{ _source: { version: number } }>('/prod-jaeger-meta/_doc/schema')).body._source.version).toBe(1);
    // credentials reach the runtime as references only
    const dep = await client.get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/search-runtime`);
    const env = dep.spec!.template.spec!.containers[0]!.env!;
    expect(env.find((e) => e.name === 'JSO_BACKEND_PASSWORD')).toEqual({ name: 'JSO_BACKEND_PASSWORD', valueFrom: { secretKeyRef: { name: 'opensearch-credentials', key: 'password' } } });
    expect(JSON.stringify(dep)).not.toContain(PASSWORD);
    expect(JSON.stringify(ts.status)).not.toContain(PASSWORD);
  });

  it('provisions the data stream sample', async () => {
    await applyStore(client, sample('tracestore-opensearch-datastream.yaml'));
    await waitCondition('stream', 'SchemaReady', 'True', 'Provisioned');
    const ds = await os$<{ data_streams: { name: string }[] }>('/_data_stream/stream.jaeger.spans');
    expect(ds.body.data_streams.map((d) => d.name)).toEqual(['stream.jaeger.spans']);
    expect((await os$('/_index_template/stream-jaeger-spans-stream')).status).toBe(200);
  });

  it('says when the backend is not the product the TraceStore names', async () => {
    await putSecret('elasticsearch-credentials', PASSWORD);
    await applyStore(client, sample('tracestore-elasticsearch.yaml'));
    const ts = await waitCondition('elastic', 'BackendReachable', 'False', 'UnsupportedVersion');
    expect(conditionOf(ts, 'BackendReachable')?.message).toMatch(/is opensearch 2\.19\.\d+, but the TraceStore says elasticsearch: use spec\.backend\.opensearch/);
    expect(conditionOf(ts, 'Ready')).toMatchObject({ status: 'False', reason: 'UnsupportedVersion' });
  });

  it('reports a wrong password, a missing Secret and an unreachable server, and recovers when the Secret is fixed', async () => {
    const ts = sample('tracestore-opensearch.yaml');
    ts.metadata.name = 'locked';
    ts.spec.backend.opensearch!.indexPrefix = 'locked';
    ts.spec.backend.opensearch!.credentialsSecretRef = { name: 'locked-credentials' };
    await applyStore(client, ts);
    const missing = await waitCondition('locked', 'BackendReachable', 'False', 'SecretNotFound');
    expect(conditionOf(missing, 'BackendReachable')?.message).toContain('spec.backend.opensearch.credentialsSecretRef: Secret "locked-credentials" not found');

    await putSecret('locked-credentials', 'wrong-password');
    const denied = await waitCondition('locked', 'BackendReachable', 'False', 'AuthenticationFailed');
    expect(conditionOf(denied, 'BackendReachable')?.message).toMatch(/refused the credentials \(401\): check the user name and password in the credentials Secret/);
    expect(JSON.stringify(denied.status)).not.toContain('wrong-password');

    await putSecret('locked-credentials', PASSWORD); // no operator restart
    const ok = await waitCondition('locked', 'SchemaReady', 'True', 'Provisioned');
    expect(conditionOf(ok, 'BackendReachable')?.status).toBe('True');

    const gone = sample('tracestore-opensearch.yaml');
    gone.metadata.name = 'gone';
    gone.spec.backend.opensearch!.endpoints = ['http://127.0.0.1:9']; // nothing listens on the discard port
    await applyStore(client, gone);
    const unreachable = await waitCondition('gone', 'BackendReachable', 'False', 'Unreachable');
    expect(conditionOf(unreachable, 'BackendReachable')?.message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  it('deletionPolicy Delete: deleting the TraceStore drops its indices and templates, and nothing of another prefix', async () => {
    const ts = sample('tracestore-opensearch.yaml');
    ts.metadata.name = 'doomed';
    ts.spec.backend.opensearch!.indexPrefix = 'doomed';
    ts.spec.deletionPolicy = 'Delete';
    await applyStore(client, ts);
    await waitCondition('doomed', 'SchemaReady', 'True', 'Provisioned');
    await waitFor('finalizer set', async () => (await getStore(client, ns, 'doomed')).metadata.finalizers?.includes(DELETE_DATA_FINALIZER) === true);
    // data the runtime would have written (kwok runs no pods): a span index of today under the store's prefix
    const day = new Date().toISOString().slice(0, 10);
    const put = await fetch(`${os.url}/doomed-jaeger-span-${day}/_doc/x?refresh=true`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(put.status).toBe(201);
    expect((await os$('/_template/doomed-jaeger-span')).status).toBe(200);

    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'doomed'));
    await waitFor('TraceStore gone', async () => (await client.get(resourcePath(TRACESTORES, ns, 'doomed')).then(() => false, (e: unknown) => isNotFound(e))), 60_000, 200);
    expect((await os$<Record<string, unknown>>('/doomed-*')).body).toEqual({});
    expect((await os$('/_template/doomed-jaeger-span')).status).toBe(404);
    // the other stores' data and templates stay
    expect((await os$('/_template/prod-jaeger-span')).status).toBe(200);
    expect((await os$<{ _source: { version: number } }>('/prod-jaeger-meta/_doc/schema')).status).toBe(200);
  });
});
