// TraceStores on ClickHouse through the operator, on the ClickHouse engine behind the test HTTPS front with a
// password: the sample (pointed at the server) gets its database, tables and views provisioned, the schema version
// in status and turns Ready; the credentials and CA reach the runtime only as Secret references, and the runtime's
// backend opened from them writes and reads over TLS; a wrong password, an untrusted certificate, plain http with
// credentials and an unreachable server each give their reason and recover without an operator restart; a second
// TraceStore on a claimed database is refused; a retention change alters the TTL in place; deletionPolicy Delete
// drops the database and nothing else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import type { V1Deployment } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { DELETE_DATA_FINALIZER, SECRET_ALLOW_LABEL } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import type { Operator } from '../../src/controllers/manager.js';
import { type KubeClient, isNotFound, resourcePath } from '../../src/kube/client.js';
import { TRACESTORES } from '../../src/kube/resources.js';
import { newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { clickhousePlugin, clickhouseRuntimeSection } from '../../src/storage/clickhouse/plugin.js';
import { LATEST_VERSION } from '../../src/storage/clickhouse/schema.js';
import { type ClickHouseServer, startClickHouse } from '../env/clickhouse.js';
import { ROOT, type TestPki, applyStore, conditionOf, createNamespace, getStore, startInProcessOperator, testClient, testPki, waitFor, waitStoreCondition } from '../helpers.js';

let client: KubeClient;
let ns: string;
let op: Operator;
let server: ClickHouseServer;
let admin: ClickHouseClient;
let pki: TestPki;
const USER = 'jaeger';
const PASSWORD = 'correct-horse';

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'clickhouse');
  pki = testPki();
  server = await startClickHouse({ user: USER, password: PASSWORD, tls: { certFile: pki.certFile, keyFile: pki.keyFile } });
  admin = createClient({ url: server.url, username: USER, password: PASSWORD, tls: { ca_cert: Buffer.from(pki.ca) } });
  op = await startInProcessOperator(ns);
}, 180_000);
afterAll(async () => {
  await op?.stop();
  await admin?.close();
  await server?.stop();
  client?.close();
}, 60_000);

const secretPath = (name: string) => resourcePath({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true }, ns, name);
const putSecret = (name: string, password: string, username = USER) =>
  client.apply(secretPath(name), { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: { username, password } }, 'jso-test');
const putCa = (name: string, ca: string) =>
  client.apply(secretPath(name), { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: { 'ca.crt': ca } }, 'jso-test');

/** The sample as it is (HTTPS with the CA of Secret clickhouse-ca, credentials of clickhouse-credentials), pointed at the server. */
function sample(name: string, database: string): TraceStore {
  const ts = parse(readFileSync(join(ROOT, 'config/samples/tracestore-clickhouse.yaml'), 'utf8')) as TraceStore;
  ts.metadata.namespace = ns;
  ts.metadata.name = name;
  const b = ts.spec.backend.clickhouse!;
  b.endpoints = [server.url];
  b.database = database;
  return ts;
}

const waitCondition = (name: string, type: string, status: string, reason?: string, timeoutMs?: number) => waitStoreCondition(client, ns, name, type, status, reason, timeoutMs);
const eventReasons = async (name: string): Promise<string[]> =>
  (await client.get<{ items: { reason: string; involvedObject: { name: string } }[] }>(`/api/v1/namespaces/${ns}/events`)).items.filter((e) => e.involvedObject.name === name).map((e) => e.reason);
const tablesOf = async (database: string): Promise<string[]> => {
  const rs = await admin.query({ query: 'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', query_params: { db: database }, format: 'JSONCompactEachRow' });
  return (await rs.json<[string]>()).map((r) => r[0]);
};
const createOf = async (database: string, table: string): Promise<string> => {
  const rs = await admin.query({ query: 'SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}', query_params: { db: database, t: table }, format: 'JSONCompactEachRow' });
  return (await rs.json<[string]>())[0]?.[0] ?? '';
};

describe('ClickHouse TraceStores', () => {
  it('provisions the sample: database, tables, views and schema version, Ready; credentials by reference only', async () => {
    await putSecret('clickhouse-credentials', PASSWORD);
    await putCa('clickhouse-ca', pki.ca);
    await applyStore(client, sample('clickhouse', 'jaeger'));
    const ts = await waitCondition('clickhouse', 'SchemaReady', 'True', 'Provisioned', 90_000);
    expect(ts.status?.schemaVersion).toBe(String(LATEST_VERSION));
    expect(conditionOf(ts, 'BackendReachable')).toMatchObject({ status: 'True', reason: 'Connected', message: expect.stringMatching(/^ClickHouse 26\.\d+\.\d+\.\d+ at https:\/\/127\.0\.0\.1:\d+$/) });
    expect(conditionOf(ts, 'SchemaReady')?.message).toMatch(/^schema version \d+ in database jaeger, TTL 604800s \(retention 7d\)/);
    await waitCondition('clickhouse', 'Ready', 'True');
    expect(await tablesOf('jaeger')).toEqual(expect.arrayContaining(['spans', 'trace_times', 'trace_times_mv', 'operations', 'operations_mv', 'attribute_keys', 'schema_migrations']));
    expect(await createOf('jaeger', 'spans')).toContain(`toIntervalSecond(${7 * 86_400})`);
    const dep = await client.get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/clickhouse-runtime`);
    const env = dep.spec!.template.spec!.containers[0]!.env!;
    expect(env.find((e) => e.name === 'JSO_BACKEND_PASSWORD')).toEqual({ name: 'JSO_BACKEND_PASSWORD', valueFrom: { secretKeyRef: { name: 'clickhouse-credentials', key: 'password' } } });
    const pod = dep.spec!.template.spec!;
    const caVolume = pod.volumes!.find((v) => v.secret?.secretName === 'clickhouse-ca');
    expect(pod.containers[0]!.volumeMounts).toContainEqual(expect.objectContaining({ name: caVolume!.name, mountPath: '/etc/jaeger-storage/backend-ca', readOnly: true }));
    expect(JSON.stringify(dep)).not.toContain(PASSWORD);
    expect(JSON.stringify(ts.status)).not.toContain(PASSWORD);
  });

  it("the runtime's backend, opened from the rendered section with the credentials from env and the CA from its mount, writes and reads over TLS", async () => {
    const ts = sample('clickhouse', 'jaeger');
    const backend = await clickhousePlugin.open(clickhouseRuntimeSection(ts.spec.backend.clickhouse!), {
      dataDir: '/nonexistent',
      env: { JSO_BACKEND_USERNAME: USER, JSO_BACKEND_PASSWORD: PASSWORD, JSO_BACKEND_CA_DIR: pki.dir },
      retention: '7d',
    });
    try {
      await backend.provision();
      const start = BigInt(Date.now()) * 1_000_000n;
      const span = newSpan({ traceId: 'c0ffee'.padStart(32, '0'), spanId: '00000000000000a1', name: 'over-tls', startTimeUnixNano: start, endTimeUnixNano: start + 1_000_000n });
      await backend.traceWriter().writeTraces([serviceBatch('tls-svc', [span])]);
      const names: string[] = [];
      for await (const chunk of backend.traceReader().getTraces([{ traceId: span.traceId }])) for (const t of chunk) for (const r of t.resourceSpans) for (const sc of r.scopeSpans) names.push(...sc.spans.map((x) => x.name));
      expect(names).toEqual(['over-tls']);
      expect(await backend.traceReader().getServices()).toEqual(['tls-svc']);
    } finally {
      await backend.close();
    }
  });

  it('refuses a second TraceStore on a claimed database, and deleting it (Delete) keeps the database', async () => {
    const copy = sample('copycat', 'jaeger');
    copy.spec.deletionPolicy = 'Delete';
    await applyStore(client, copy);
    const refused = await waitCondition('copycat', 'SchemaReady', 'False', 'DatabaseInUse', 60_000);
    expect(conditionOf(refused, 'SchemaReady')?.message).toContain(`database jaeger belongs to TraceStore ${ns}/clickhouse`);
    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'copycat'));
    await waitFor('copycat gone', async () => (await client.get(resourcePath(TRACESTORES, ns, 'copycat')).then(() => false, (e: unknown) => isNotFound(e))), 60_000, 200);
    expect(await eventReasons('copycat')).toContain('DataKept');
    expect(await tablesOf('jaeger')).toContain('spans');
  });

  it('a retention change alters the TTL of the tables in place, keeping the rows', async () => {
    const before = await admin.query({ query: 'SELECT count() FROM jaeger.spans', format: 'JSONCompactEachRow' });
    const rows = (await before.json<[string]>())[0]![0];
    const ts = sample('clickhouse', 'jaeger');
    ts.spec.retention = '2d';
    await applyStore(client, ts);
    // provisioning alters the tables one after another: wait for the first and the last this test looks at
    const altered = async (table: string) => (await createOf('jaeger', table)).includes(`toIntervalSecond(${2 * 86_400})`);
    await waitFor('TTL of 2d on spans and operations', async () => (await altered('spans')) && (await altered('operations')), 60_000, 500);
    expect(await createOf('jaeger', 'spans')).toContain(`toIntervalSecond(${2 * 86_400})`);
    expect(await createOf('jaeger', 'operations')).toContain(`toIntervalSecond(${2 * 86_400})`);
    await waitCondition('clickhouse', 'SchemaReady', 'True', 'Provisioned');
    const after = await admin.query({ query: 'SELECT count() FROM jaeger.spans', format: 'JSONCompactEachRow' });
    expect((await after.json<[string]>())[0]![0]).toBe(rows);
  });

  it('reports a wrong password, an untrusted certificate, credentials over http and an unreachable server, and recovers when the Secrets are fixed', async () => {
    const ts = sample('locked', 'locked');
    ts.spec.backend.clickhouse!.credentialsSecretRef = { name: 'locked-credentials' };
    await putSecret('locked-credentials', 'wrong-password');
    await applyStore(client, ts);
    const denied = await waitCondition('locked', 'BackendReachable', 'False', 'AuthenticationFailed', 60_000);
    expect(conditionOf(denied, 'BackendReachable')?.message).toMatch(/refused the user of spec\.backend\.clickhouse\.credentialsSecretRef \(Secret "locked-credentials"\): correct the user name or password/);
    expect(JSON.stringify(denied.status)).not.toContain('wrong-password');
    await putSecret('locked-credentials', PASSWORD); // no operator restart
    await waitCondition('locked', 'SchemaReady', 'True', 'Provisioned', 60_000);
    expect(await tablesOf('locked')).toContain('spans');

    // a CA that did not sign the server's certificate
    await putCa('other-ca', testPki().ca);
    const untrusted = sample('untrusted', 'untrusted');
    untrusted.spec.backend.clickhouse!.tls!.caSecretRef = { name: 'other-ca' };
    await applyStore(client, untrusted);
    const notTrusted = await waitCondition('untrusted', 'BackendReachable', 'False', 'Unreachable', 60_000);
    expect(conditionOf(notTrusted, 'BackendReachable')?.message).toMatch(/the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \(.*\): the CA in the Secret "other-ca" of spec\.backend\.clickhouse\.tls\.caSecretRef did not sign it/);
    await putCa('other-ca', pki.ca);
    await waitCondition('untrusted', 'SchemaReady', 'True', 'Provisioned', 60_000);

    const plain = sample('plain', 'plain');
    plain.spec.backend.clickhouse!.tls = { enabled: false };
    plain.spec.backend.clickhouse!.endpoints = [server.url.replace('https://', 'http://')];
    await applyStore(client, plain);
    const insecure = await waitCondition('plain', 'BackendReachable', 'False', 'InsecureCredentials');
    expect(conditionOf(insecure, 'BackendReachable')?.message).toContain('spec.backend.clickhouse.allowPlaintextCredentials: true');

    const gone = sample('gone', 'gone');
    gone.spec.backend.clickhouse!.endpoints = ['https://127.0.0.1:9']; // nothing listens on the discard port
    await applyStore(client, gone);
    const unreachable = await waitCondition('gone', 'BackendReachable', 'False', 'Unreachable', 60_000);
    expect(conditionOf(unreachable, 'BackendReachable')?.message).toMatch(/cannot reach ClickHouse at https:\/\/127\.0\.0\.1:9/);
  });

  it('refuses a database holding tables of something else, and deleting that TraceStore (Delete) keeps it', async () => {
    await admin.command({ query: 'CREATE DATABASE IF NOT EXISTS billing' });
    await admin.command({ query: 'CREATE TABLE IF NOT EXISTS billing.invoices (id UInt64) ENGINE = MergeTree ORDER BY id' });
    const intruder = sample('intruder', 'billing');
    intruder.spec.deletionPolicy = 'Delete';
    await applyStore(client, intruder);
    const foreign = await waitCondition('intruder', 'SchemaReady', 'False', 'ProvisioningFailed', 60_000);
    expect(conditionOf(foreign, 'SchemaReady')?.message).toMatch(/spec\.backend\.clickhouse\.database: database billing holds tables of something else \(invoices\)/);
    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'intruder'));
    await waitFor('intruder gone', async () => (await client.get(resourcePath(TRACESTORES, ns, 'intruder')).then(() => false, (e: unknown) => isNotFound(e))), 60_000, 200);
    expect(await eventReasons('intruder')).toContain('DataKept');
    expect(await tablesOf('billing')).toEqual(['invoices']);
  });

  it('deletionPolicy Delete: deleting the TraceStore drops its database and no other', async () => {
    const ts = sample('doomed', 'doomed');
    ts.spec.deletionPolicy = 'Delete';
    await applyStore(client, ts);
    await waitCondition('doomed', 'SchemaReady', 'True', 'Provisioned', 60_000);
    await waitFor('finalizer set', async () => (await getStore(client, ns, 'doomed')).metadata.finalizers?.includes(DELETE_DATA_FINALIZER) === true);
    expect(await tablesOf('doomed')).toContain('spans');
    await client.request('DELETE', resourcePath(TRACESTORES, ns, 'doomed'));
    await waitFor('TraceStore gone', async () => (await client.get(resourcePath(TRACESTORES, ns, 'doomed')).then(() => false, (e: unknown) => isNotFound(e))), 60_000, 200);
    expect(await tablesOf('doomed')).toEqual([]);
    expect(await tablesOf('jaeger')).toContain('spans');
    expect(await tablesOf('billing')).toEqual(['invoices']);
  });
});
