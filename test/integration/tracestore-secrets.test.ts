// Secrets and what leaves the operator (issue #10): a Secret is used only when it opts in with a label (and, when
// its annotation lists TraceStores, only by those); credentials never go to http:// unless the spec allows it;
// a backend's error body never reaches status. A loopback HTTP server stands in for the backend and records
// every request it gets, so "nothing was sent" is observed, not assumed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { SECRET_ALLOW_LABEL, SECRET_ALLOWED_TRACESTORES_ANNOTATION } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import type { Operator } from '../../src/controllers/manager.js';
import { type KubeClient, isNotFound, resourcePath } from '../../src/kube/client.js';
import { applyStore, conditionOf, createNamespace, getStore, startInProcessOperator, testClient, waitFor } from '../helpers.js';

interface Fake {
  server: Server;
  url: string;
  requests: { path: string; authorization?: string }[];
}

async function fake(handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: { key: string; cert: string }): Promise<Fake> {
  const requests: Fake['requests'] = [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ path: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    handler(req, res);
  };
  const server = tls ? createTlsServer(tls, listener) : createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as { port: number }).port}`, requests };
}

/** A CA and a server certificate for 127.0.0.1 signed by it (openssl). */
function certificates(): { ca: string; key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'jso-tls-'));
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=jso-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('tls.key'), '-out', f('tls.csr'), '-subj', '/CN=127.0.0.1');
  writeSanConfig(f('ext.cnf'));
  ssl('x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('tls.crt'), '-days', '1', '-extfile', f('ext.cnf'));
  return { ca: readFileSync(f('ca.crt'), 'utf8'), key: readFileSync(f('tls.key'), 'utf8'), cert: readFileSync(f('tls.crt'), 'utf8') };
}

function writeSanConfig(file: string): void {
  writeFileSync(file, 'subjectAltName = IP:127.0.0.1\n');
}

const unauthorized = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(401, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ error: { type: 'security_exception', reason: 'unable to authenticate user' }, status: 401 }));
};

let client: KubeClient;
let ns: string;
let op: Operator;
const fakes: Fake[] = [];

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'secrets');
  op = await startInProcessOperator(ns);
});
afterAll(async () => {
  await op?.stop();
  await Promise.all(fakes.map((f) => new Promise<void>((r) => f.server.close(() => r()))));
  client?.close();
});

const SECRETS = { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true };
const putSecret = (name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}) =>
  client.apply(
    resourcePath(SECRETS, ns, name),
    { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels, annotations }, stringData: { username: 'jaeger', password: 'top-secret-pw' } },
    'jso-test',
  );

function store(name: string, endpoint: string, extra: Partial<NonNullable<TraceStore['spec']['backend']['opensearch']>> = {}): TraceStore {
  return {
    apiVersion: 'storage.jaegertracing.io/v1alpha1',
    kind: 'TraceStore',
    metadata: { name, namespace: ns },
    spec: { backend: { opensearch: { endpoints: [endpoint], shards: 1, replicas: 0, ...extra } } },
  };
}

const waitReason = (name: string, reason: string) =>
  waitFor(`${name} BackendReachable reason ${reason}`, async () => {
    const ts = await getStore(client, ns, name);
    return conditionOf(ts, 'BackendReachable')?.reason === reason && ts.status?.observedGeneration === ts.metadata.generation ? ts : undefined;
  }, 30_000, 200);

async function runtimeEnv(name: string): Promise<string[]> {
  const dep = await waitFor(`${name}-runtime Deployment`, async () => {
    try {
      return await client.get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/${name}-runtime`);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  });
  return (dep.spec?.template.spec?.containers[0]?.env ?? []).map((e) => e.name);
}

describe('Secrets used by TraceStores', () => {
  it('refuses a Secret that did not opt in: nothing read, nothing sent, no secretKeyRef; the label fixes it', async () => {
    const f = await fake(unauthorized);
    fakes.push(f);
    await putSecret('unlabelled');
    await applyStore(client, store('nolabel', f.url, { credentialsSecretRef: { name: 'unlabelled' }, allowPlaintextCredentials: true }));
    const ts = await waitReason('nolabel', 'SecretNotAllowed');
    const c = conditionOf(ts, 'BackendReachable')!;
    expect(c.status).toBe('False');
    expect(c.message).toContain(`add the label ${SECRET_ALLOW_LABEL}: "true"`);
    expect(conditionOf(ts, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotAllowed' });
    expect(await runtimeEnv('nolabel')).not.toContain('JSO_BACKEND_PASSWORD');
    expect(f.requests).toEqual([]);
    // the operator's cache holds only opted-in Secrets
    expect(op.informers.secrets.list().map((s) => s.metadata.name)).not.toContain('unlabelled');

    await putSecret('unlabelled', { [SECRET_ALLOW_LABEL]: 'true' });
    await waitReason('nolabel', 'AuthenticationFailed');
    expect(f.requests.some((r) => r.authorization?.startsWith('Basic '))).toBe(true);
    await waitFor('the runtime gets the secretKeyRef', async () => (await runtimeEnv('nolabel')).includes('JSO_BACKEND_PASSWORD'));
    expect(op.informers.secrets.list().map((s) => s.metadata.name)).toContain('unlabelled');
  });

  it('honours the annotation that limits a Secret to some TraceStores', async () => {
    const f = await fake(unauthorized);
    fakes.push(f);
    await putSecret('only-for-a', { [SECRET_ALLOW_LABEL]: 'true' }, { [SECRET_ALLOWED_TRACESTORES_ANNOTATION]: 'store-a, store-c' });
    await applyStore(client, store('store-b', f.url, { credentialsSecretRef: { name: 'only-for-a' }, allowPlaintextCredentials: true }));
    const ts = await waitReason('store-b', 'SecretNotAllowed');
    expect(conditionOf(ts, 'BackendReachable')?.message).toContain(`${SECRET_ALLOWED_TRACESTORES_ANNOTATION} (store-a, store-c): add "store-b"`);
    expect(f.requests).toEqual([]);
    await applyStore(client, store('store-a', f.url, { credentialsSecretRef: { name: 'only-for-a' }, allowPlaintextCredentials: true }));
    await waitReason('store-a', 'AuthenticationFailed');
  });

  it('does not send credentials over http:// unless allowPlaintextCredentials is set', async () => {
    const f = await fake(unauthorized);
    fakes.push(f);
    await putSecret('plain', { [SECRET_ALLOW_LABEL]: 'true' });
    await applyStore(client, store('plain', f.url, { credentialsSecretRef: { name: 'plain' } }));
    const ts = await waitReason('plain', 'InsecureCredentials');
    expect(conditionOf(ts, 'BackendReachable')?.message).toContain('spec.backend.opensearch.allowPlaintextCredentials: true');
    expect(await runtimeEnv('plain')).not.toContain('JSO_BACKEND_PASSWORD');
    expect(f.requests).toEqual([]);
  });

  it('keeps status code and error type of a failed request, never the body', async () => {
    const leak = await fake((_req, res) => {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('internal detail: jdbc:postgres://admin:pw@db/leaked-body-marker');
    });
    const typed = await fake((_req, res) => {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'security_exception' }, status: 400 }));
    });
    fakes.push(leak, typed);
    await applyStore(client, store('leaky', leak.url));
    await applyStore(client, store('typed', typed.url));
    const a = conditionOf(await waitReason('leaky', 'Unreachable'), 'BackendReachable')!;
    expect(a.message).toContain('500');
    expect(a.message).not.toContain('leaked-body-marker');
    expect(a.message).not.toContain('internal detail');
    const b = conditionOf(await waitReason('typed', 'Unreachable'), 'BackendReachable')!;
    expect(b.message).toContain('400');
    expect(b.message).toContain('security_exception');
  });

  it('with tls.enabled, checks the backend over TLS with the CA of an opted-in Secret', async () => {
    const pki = certificates();
    const f = await fake(unauthorized, { key: pki.key, cert: pki.cert });
    fakes.push(f);
    await client.apply(
      resourcePath(SECRETS, ns, 'backend-ca'),
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'backend-ca', namespace: ns, labels: { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: { 'ca.crt': pki.ca } },
      'jso-test',
    );
    await putSecret('tls-creds', { [SECRET_ALLOW_LABEL]: 'true' });
    // without the CA the certificate is not trusted: nothing gets through the handshake
    await applyStore(client, store('no-ca', f.url, { credentialsSecretRef: { name: 'tls-creds' }, tls: { enabled: true } }));
    await waitReason('no-ca', 'Unreachable');
    expect(f.requests).toEqual([]);
    // with the CA: the handshake succeeds and the credentials go over TLS (the fake refuses them: 401)
    await applyStore(client, store('with-ca', f.url, { credentialsSecretRef: { name: 'tls-creds' }, tls: { enabled: true, caSecretRef: { name: 'backend-ca' } } }));
    await waitReason('with-ca', 'AuthenticationFailed');
    expect(f.requests.some((r) => r.authorization?.startsWith('Basic '))).toBe(true);
  });
});
