// A TraceStore with the grpc backend through the operator, against a secured remote storage (our own runtime's
// jaeger.storage.v2 server with TLS and a bearer token): the sample is admitted, the check reaches the remote with
// the CA and token from Secrets (BackendReachable), the runtime gets them only by reference; a wrong token and a
// token without TLS each give a condition that says what to fix.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parse } from 'yaml';
import { BACKEND_CA_DIR, BACKEND_TOKEN_ENV } from '../../src/api/backend-plugin.js';
import { SECRET_ALLOW_LABEL } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import type { Operator } from '../../src/controllers/manager.js';
import { type KubeClient, resourcePath } from '../../src/kube/client.js';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { ROOT, type TestPki, applyStore, conditionOf, createNamespace, loopbackRuntimeConfig, startInProcessOperator, testClient, testPki, waitStoreCondition } from '../helpers.js';

let client: KubeClient;
let ns: string;
let op: Operator;
let rt: RunningRuntime;
let pki: TestPki;
const TOKEN = 'remote-storage-token-value';

beforeAll(async () => {
  pki = testPki();
  const tokens = join(pki.dir, 'tokens');
  writeFileSync(tokens, `${TOKEN}\n`);
  rt = await startRuntime(
    loopbackRuntimeConfig({ backend: { memory: { maxTraces: 100 } }, security: { remoteStorage: { tls: { certFile: pki.certFile, keyFile: pki.keyFile }, auth: { bearerTokenFile: tokens } } } }),
    pino({ level: 'silent' }),
  );
  client = testClient();
  ns = await createNamespace(client, 'grpc');
  op = await startInProcessOperator(ns);
}, 120_000);
afterAll(async () => {
  await op?.stop();
  await rt?.stop();
  client?.close();
});

const secretPath = (name: string) => resourcePath({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true }, ns, name);
const putSecret = (name: string, data: Record<string, string>) =>
  client.apply(secretPath(name), { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: data }, 'jso-test');

/** The grpc sample pointed at the test remote (the certificate names localhost). */
function sample(name: string): TraceStore {
  const ts = parse(readFileSync(join(ROOT, 'config/samples/tracestore-grpc.yaml'), 'utf8')) as TraceStore;
  ts.metadata.namespace = ns;
  ts.metadata.name = name;
  const b = ts.spec.backend.grpc!;
  b.endpoint = `127.0.0.1:${rt.ports.remoteStorage}`;
  delete b.writerEndpoint;
  b.tls!.serverName = 'localhost';
  return ts;
}

const waitCondition = (name: string, type: string, status: string, reason?: string) => waitStoreCondition(client, ns, name, type, status, reason);

describe('grpc TraceStores on a secured remote storage', () => {
  it('admits the sample, reaches the remote with the CA and token from Secrets, and hands them to the runtime by reference', async () => {
    await putSecret('remote-storage-ca', { 'ca.crt': pki.ca });
    await putSecret('remote-storage-token', { token: TOKEN });
    await applyStore(client, sample('remote'));
    const ts = await waitCondition('remote', 'BackendReachable', 'True', 'Connected');
    expect(conditionOf(ts, 'BackendReachable')?.message).toContain(`127.0.0.1:${rt.ports.remoteStorage}`);

    const dep = await client.get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/remote-runtime`);
    const pod = dep.spec!.template.spec!;
    expect(pod.containers[0]!.env!.find((e) => e.name === BACKEND_TOKEN_ENV)).toEqual({ name: BACKEND_TOKEN_ENV, valueFrom: { secretKeyRef: { name: 'remote-storage-token', key: 'token' } } });
    const caVolume = pod.volumes?.find((v) => v.secret?.secretName === 'remote-storage-ca');
    expect(pod.containers[0]!.volumeMounts?.find((m) => m.name === caVolume?.name)).toMatchObject({ mountPath: BACKEND_CA_DIR, readOnly: true });
    for (const text of [JSON.stringify(dep), JSON.stringify(ts.status)]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain('BEGIN CERTIFICATE');
    }
  });

  it('says AuthenticationFailed for a wrong token, and refuses a token without TLS', async () => {
    await putSecret('wrong-token', { token: 'not-the-token' });
    const wrong = sample('wrong');
    wrong.spec.backend.grpc!.tokenSecretRef = { name: 'wrong-token' };
    await applyStore(client, wrong);
    const denied = await waitCondition('wrong', 'BackendReachable', 'False', 'AuthenticationFailed');
    expect(JSON.stringify(denied.status)).not.toContain('not-the-token');

    const plain = sample('plain');
    plain.spec.backend.grpc!.tls = { enabled: false };
    await applyStore(client, plain);
    const insecure = await waitCondition('plain', 'BackendReachable', 'False', 'InsecureCredentials');
    expect(conditionOf(insecure, 'BackendReachable')?.message).toContain('allowPlaintextCredentials');
  });
});
