// TraceStores on Cassandra through the operator, on a real Cassandra 5 node with password authentication and TLS
// only: the sample (pointed at the node) gets its keyspace and tables provisioned, the schema version in status and
// turns Ready; the credentials and CA reach the runtime only as Secret references, and the runtime's backend opened
// from them writes and reads over TLS; a missing Secret, a wrong password, a user without the CREATE permission, an
// untrusted certificate and an unreachable node each give their reason and recover without an operator restart; a
// retention change alters the tables' TTL; deletionPolicy Delete drops the keyspace and nothing else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import cassandra from 'cassandra-driver';
import { parse } from 'yaml';
import { DELETE_DATA_FINALIZER, SECRET_ALLOW_LABEL } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import type { Operator } from '../../src/controllers/manager.js';
import { type KubeClient, isNotFound, resourcePath } from '../../src/kube/client.js';
import { TRACESTORES } from '../../src/kube/resources.js';
import { newSpan } from '../../src/storage/api/index.js';
import { cassandraPlugin, cassandraRuntimeSection } from '../../src/storage/cassandra/plugin.js';
import { LATEST_VERSION } from '../../src/storage/cassandra/schema.js';
import { CASSANDRA_DC, type RunningCassandra, startCassandra } from '../env/cassandra.js';
import { ROOT, type TestPki, applyStore, conditionOf, createNamespace, getStore, startInProcessOperator, testClient, testPki, waitFor, waitStoreCondition } from '../helpers.js';

let client: KubeClient;
let ns: string;
let op: Operator;
let node: RunningCassandra;
let admin: cassandra.Client;
let pki: TestPki;
const USER = 'jaeger';
const PASSWORD = 'correct-horse';

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'cassandra');
  pki = testPki();
  node = await startCassandra({ auth: true, tls: { certFile: pki.certFile, keyFile: pki.keyFile, ca: pki.ca } });
  admin = new cassandra.Client({ contactPoints: [`${node.host}:${node.port}`], localDataCenter: CASSANDRA_DC, credentials: node.credentials!, sslOptions: { ca: pki.ca } });
  await admin.execute(`CREATE ROLE IF NOT EXISTS ${USER} WITH PASSWORD = '${PASSWORD}' AND LOGIN = true`);
  await admin.execute(`GRANT CREATE ON ALL KEYSPACES TO ${USER}`);
  // a user that may log in but not create keyspaces
  await admin.execute(`CREATE ROLE IF NOT EXISTS reader WITH PASSWORD = '${PASSWORD}' AND LOGIN = true`);
  op = await startInProcessOperator(ns);
}, 180_000);
afterAll(async () => {
  await op?.stop();
  await admin?.shutdown();
  await node?.stop();
  client?.close();
}, 60_000);

const secretPath = (name: string) => resourcePath({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true }, ns, name);
const putSecret = (name: string, password: string, username = USER) =>
  client.apply(secretPath(name), { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: { username, password } }, 'jso-test');
const putCa = (name: string, ca: string) =>
  client.apply(secretPath(name), { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: { 'ca.crt': ca } }, 'jso-test');

/** The sample as it is (TLS with the CA of Secret cassandra-ca), pointed at the node. */
function sample(name: string, keyspace: string): TraceStore {
  const ts = parse(readFileSync(join(ROOT, 'config/samples/tracestore-cassandra.yaml'), 'utf8')) as TraceStore;
  ts.metadata.namespace = ns;
  ts.metadata.name = name;
  const b = ts.spec.backend.cassandra!;
  b.endpoints = [`${node.host}:${node.port}`];
  b.datacenter = CASSANDRA_DC;
  b.keyspace = keyspace;
  b.replication = { strategy: 'NetworkTopologyStrategy', factor: 1 };
  return ts;
}

const waitCondition = (name: string, type: string, status: string, reason?: string, timeoutMs?: number) => waitStoreCondition(client, ns, name, type, status, reason, timeoutMs);

const eventReasons = async (name: string): Promise<string[]> =>
  (await client.get<{ items: { reason: string; involvedObject: { name: string } }[] }>(`/api/v1/namespaces/${ns}/events`)).items.filter((e) => e.involvedObject.name === name).map((e) => e.reason);
const tablesOf = async (keyspace: string): Promise<string[]> =>
  (await admin.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [keyspace], { prepare: true })).rows.map((r) => r.get('table_name') as string).sort();
const ttlOf = async (keyspace: string, table: string): Promise<number> =>
  Number((await admin.execute('SELECT default_time_to_live FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?', [keyspace, table], { prepare: true })).first()?.get('default_time_to_live'));

describe('Cassandra TraceStores', () => {
  it('provisions the sample: keyspace, tables and schema version, Ready; credentials by reference only', async () => {
    await putSecret('cassandra-credentials', PASSWORD);
    await putCa('cassandra-ca', pki.ca);
    await applyStore(client, sample('cassandra', 'jaeger_storage'));
    const ts = await waitCondition('cassandra', 'SchemaReady', 'True', 'Provisioned', 90_000);
    expect(ts.status?.schemaVersion).toBe(String(LATEST_VERSION));
    expect(conditionOf(ts, 'BackendReachable')).toMatchObject({ status: 'True', reason: 'Connected', message: expect.stringMatching(/^Cassandra 5\.0\.\d+ at 127\.0\.0\.1:\d+ \(datacenter datacenter1\)$/) });
    expect(conditionOf(ts, 'SchemaReady')?.message).toMatch(/schema version \d+ in keyspace jaeger_storage \(NetworkTopologyStrategy datacenter1: 1\), default TTL 604800s \(retention 7d\), compaction windows of 6h/);
    await waitCondition('cassandra', 'Ready', 'True');
    const ks = (await admin.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'jaeger_storage'")).first()?.get('replication') as Record<string, string>;
    expect(ks).toMatchObject({ class: 'org.apache.cassandra.locator.NetworkTopologyStrategy', [CASSANDRA_DC]: '1' });
    expect(await tablesOf('jaeger_storage')).toEqual(expect.arrayContaining(['schema_migrations', 'spans', 'span_by_service', 'services', 'operations', 'leases']));
    expect(await ttlOf('jaeger_storage', 'spans')).toBe(7 * 86_400);
    const dep = await client.get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/cassandra-runtime`);
    const env = dep.spec!.template.spec!.containers[0]!.env!;
    expect(env.find((e) => e.name === 'JSO_BACKEND_PASSWORD')).toEqual({ name: 'JSO_BACKEND_PASSWORD', valueFrom: { secretKeyRef: { name: 'cassandra-credentials', key: 'password' } } });
    const pod = dep.spec!.template.spec!;
    const caVolume = pod.volumes!.find((v) => v.secret?.secretName === 'cassandra-ca');
    expect(pod.containers[0]!.volumeMounts).toContainEqual(expect.objectContaining({ name: caVolume!.name, mountPath: '/etc/jaeger-storage/backend-ca', readOnly: true }));
    expect(JSON.stringify(dep)).not.toContain(PASSWORD);
    expect(JSON.stringify(ts.status)).not.toContain(PASSWORD);
  });

  it("the runtime's backend, opened from the rendered section with the credentials from env and the CA from its mount, writes and reads over TLS", async () => {
    const ts = sample('cassandra', 'jaeger_storage');
    const backend = await cassandraPlugin.open(cassandraRuntimeSection(ts.spec.backend.cassandra!), {
      dataDir: '/nonexistent',
      env: { JSO_BACKEND_USERNAME: USER, JSO_BACKEND_PASSWORD: PASSWORD, JSO_BACKEND_CA_DIR: pki.dir },
      retention: '7d',
    });
    try {
      await backend.provision();
      const start = BigInt(Date.now()) * 1_000_000n;
      const span = newSpan({ traceId: 'c0ffee'.padStart(32, '0'), spanId: '00000000000000a1', name: 'over-tls', startTimeUnixNano: start, endTimeUnixNano: start + 1_000_000n });
      await backend.traceWriter().writeTraces([{ resource: { attributes: [{ key: 'service.name', value: 'tls-svc' }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 's', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: [span] }] }]);
      const names: string[] = [];
      for await (const chunk of backend.traceReader().getTraces([{ traceId: span.traceId }])) for (const t of chunk) for (const r of t.resourceSpans) for (const sc of r.scopeSpans) names.push(...sc.spans.map((x) => x.name));
      expect(names).toEqual(['over-tls']);
    } finally {
      await backend.close();
    }
  });

  it('a provisioned keyspace needs no schema permissions: a user with SELECT and MODIFY runs the backend (no DDL)', async () => {
    await admin.execute(`CREATE ROLE IF NOT EXISTS writer WITH PASSWORD = '${PASSWORD}' AND LOGIN = true`);
    await admin.execute('GRANT SELECT ON KEYSPACE jaeger_storage TO writer');
    await admin.execute('GRANT MODIFY ON KEYSPACE jaeger_storage TO writer');
    const ts = sample('cassandra', 'jaeger_storage');
    const backend = await cassandraPlugin.open(cassandraRuntimeSection(ts.spec.backend.cassandra!), {
      dataDir: '/nonexistent',
      env: { JSO_BACKEND_USERNAME: 'writer', JSO_BACKEND_PASSWORD: PASSWORD, JSO_BACKEND_CA_DIR: pki.dir },
      retention: '7d',
    });
    try {
      await backend.provision();
      const start = BigInt(Date.now()) * 1_000_000n;
      await backend.traceWriter().writeTraces([{ resource: { attributes: [{ key: 'service.name', value: 'least-privilege' }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 's', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: [newSpan({ traceId: 'beef'.padStart(32, '0'), spanId: '00000000000000b1', name: 'op', startTimeUnixNano: start, endTimeUnixNano: start + 1000n })] }] }]);
      expect(await backend.traceReader().getServices()).toContain('least-privilege');
    } finally {
      await backend.close();
    }
  });

  it('refuses a second TraceStore on a claimed keyspace, and deleting it (Delete) keeps the keyspace', async () => {
    const copy = sample('copycat', 'jaeger_storage');
    copy.spec.deletionPolicy = 'Delete';
    await applyStore(client, copy);
    const refused = await waitCondition('copycat', 'SchemaReady', 'False', 'KeyspaceInUse', 60_000);
    expect(conditionOf(refused, 'SchemaReady')?.message).toContain(`keyspace jaeger_storage belongs to TraceStore ${ns}/cassandra`);
    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'copycat'));
    await waitFor('copycat gone', async () => (await client.get(resourcePath(TRACESTORES, ns, 'copycat')).then(() => false, (e: unknown) => isNotFound(e))), 60_000, 200);
    expect(await eventReasons('copycat')).toContain('DataKept');
    expect(await tablesOf('jaeger_storage')).toContain('spans');
  });

  it('a retention change alters the TTL of the tables in place, keeping the rows', async () => {
    await admin.execute("INSERT INTO jaeger_storage.services (tenant, shard, service) VALUES ('', 0, 'kept-service') USING TTL 0");
    const ts = sample('cassandra', 'jaeger_storage');
    ts.spec.retention = '2d';
    await applyStore(client, ts);
    await waitFor('TTL of 2d', async () => (await ttlOf('jaeger_storage', 'span_by_service')) === 2 * 86_400, 60_000, 500);
    expect(await ttlOf('jaeger_storage', 'spans')).toBe(2 * 86_400);
    await waitCondition('cassandra', 'SchemaReady', 'True', 'Provisioned');
    expect((await admin.execute("SELECT service FROM jaeger_storage.services WHERE tenant = '' AND shard = 0")).rows.map((r) => r.get('service') as string)).toContain('kept-service');
  });

  it('reports a missing Secret, a wrong password, a user without CREATE and an unreachable node, and recovers when the Secret is fixed', async () => {
    const ts = sample('locked', 'locked');
    ts.spec.backend.cassandra!.credentialsSecretRef = { name: 'locked-credentials' };
    await applyStore(client, ts);
    const missing = await waitCondition('locked', 'BackendReachable', 'False', 'SecretNotFound');
    expect(conditionOf(missing, 'BackendReachable')?.message).toContain('spec.backend.cassandra.credentialsSecretRef: Secret "locked-credentials" not found');

    await putSecret('locked-credentials', 'wrong-password');
    const denied = await waitCondition('locked', 'BackendReachable', 'False', 'AuthenticationFailed', 60_000);
    expect(conditionOf(denied, 'BackendReachable')?.message).toMatch(/refused the user of spec\.backend\.cassandra\.credentialsSecretRef \(Secret "locked-credentials"\): correct the user name or password/);
    expect(JSON.stringify(denied.status)).not.toContain('wrong-password');

    await putSecret('locked-credentials', PASSWORD, 'reader');
    const refused = await waitCondition('locked', 'SchemaReady', 'False', 'ProvisioningFailed', 60_000);
    expect(conditionOf(refused, 'BackendReachable')?.status).toBe('True');
    expect(conditionOf(refused, 'SchemaReady')?.message).toMatch(/the user of spec\.backend\.cassandra\.credentialsSecretRef may not change the schema of keyspace locked: grant it CREATE ON ALL KEYSPACES/);

    await putSecret('locked-credentials', PASSWORD); // no operator restart
    const ok = await waitCondition('locked', 'SchemaReady', 'True', 'Provisioned', 60_000);
    expect(conditionOf(ok, 'BackendReachable')?.status).toBe('True');
    expect(await tablesOf('locked')).toContain('spans');

    // a CA that did not sign the node's certificate
    await putCa('other-ca', testPki().ca);
    const untrusted = sample('untrusted', 'untrusted');
    untrusted.spec.backend.cassandra!.tls!.caSecretRef = { name: 'other-ca' };
    await applyStore(client, untrusted);
    const notTrusted = await waitCondition('untrusted', 'BackendReachable', 'False', 'Unreachable', 60_000);
    expect(conditionOf(notTrusted, 'BackendReachable')?.message).toMatch(/the TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(.*\): the CA in the Secret "other-ca" of spec\.backend\.cassandra\.tls\.caSecretRef did not sign it/);
    await putCa('other-ca', pki.ca);
    await waitCondition('untrusted', 'SchemaReady', 'True', 'Provisioned', 60_000);

    const elsewhere = sample('elsewhere', 'elsewhere');
    elsewhere.spec.backend.cassandra!.datacenter = 'dc-mars';
    await applyStore(client, elsewhere);
    const noDc = await waitCondition('elsewhere', 'BackendReachable', 'False', 'Unreachable', 60_000);
    expect(conditionOf(noDc, 'BackendReachable')?.message).toMatch(/is in datacenter "dc-mars": set spec\.backend\.cassandra\.datacenter to the datacenter of the nodes \(the nodes are in datacenter1\)/);

    const gone = sample('gone', 'gone');
    gone.spec.backend.cassandra!.endpoints = ['127.0.0.1:9']; // nothing listens on the discard port
    await applyStore(client, gone);
    const unreachable = await waitCondition('gone', 'BackendReachable', 'False', 'Unreachable', 60_000);
    expect(conditionOf(unreachable, 'BackendReachable')?.message).toMatch(/cannot reach Cassandra at 127\.0\.0\.1:9/);
  });

  it('refuses credentials without TLS unless allowed, and a keyspace holding tables of something else', async () => {
    const plain = sample('plain', 'plain');
    plain.spec.backend.cassandra!.tls = { enabled: false };
    await applyStore(client, plain);
    const insecure = await waitCondition('plain', 'BackendReachable', 'False', 'InsecureCredentials');
    expect(conditionOf(insecure, 'BackendReachable')?.message).toContain('spec.backend.cassandra.allowPlaintextCredentials: true');

    await admin.execute("CREATE KEYSPACE IF NOT EXISTS foreign_app WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
    await admin.execute('CREATE TABLE IF NOT EXISTS foreign_app.orders (id int PRIMARY KEY, total int)');
    await admin.execute(`GRANT ALL PERMISSIONS ON KEYSPACE foreign_app TO ${USER}`);
    const intruder = sample('intruder', 'foreign_app');
    intruder.spec.deletionPolicy = 'Delete';
    await applyStore(client, intruder);
    const foreign = await waitCondition('intruder', 'SchemaReady', 'False', 'ProvisioningFailed', 60_000);
    expect(conditionOf(foreign, 'SchemaReady')?.message).toMatch(/spec\.backend\.cassandra\.keyspace: keyspace "foreign_app": holds tables not made by this store \(orders\)/);
    expect(await tablesOf('foreign_app')).toEqual(['orders']);
    // deleting it with deletionPolicy Delete keeps the other application's keyspace, and says so
    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'intruder'));
    await waitFor('intruder gone', async () => (await client.get(resourcePath(TRACESTORES, ns, 'intruder')).then(() => false, (e: unknown) => isNotFound(e))), 60_000, 200);
    expect(await eventReasons('intruder')).toContain('DataKept');
    expect(await eventReasons('intruder')).not.toContain('DataDeleted');
    expect(await tablesOf('foreign_app')).toEqual(['orders']);
  });

  it('deletionPolicy Delete: deleting the TraceStore drops its keyspace and no other', async () => {
    const ts = sample('doomed', 'doomed');
    ts.spec.deletionPolicy = 'Delete';
    await applyStore(client, ts);
    await waitCondition('doomed', 'SchemaReady', 'True', 'Provisioned', 60_000);
    await waitFor('finalizer set', async () => (await getStore(client, ns, 'doomed')).metadata.finalizers?.includes(DELETE_DATA_FINALIZER) === true);
    expect(await tablesOf('doomed')).toContain('spans');

    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'doomed'));
    await waitFor('TraceStore gone', async () => (await client.get(resourcePath(TRACESTORES, ns, 'doomed')).then(() => false, (e: unknown) => isNotFound(e))), 60_000, 200);
    expect(await tablesOf('doomed')).toEqual([]);
    expect((await admin.execute("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = 'doomed'")).rowLength).toBe(0);
    // the other stores' keyspaces stay
    expect(await tablesOf('jaeger_storage')).toContain('spans');
    expect(await tablesOf('foreign_app')).toEqual(['orders']);
  });
});
