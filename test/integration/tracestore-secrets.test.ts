// Secrets and what leaves the operator (issue #10): a Secret is used only when it opts in with a label (and, when
// its annotation lists TraceStores, only by those); credentials never go to http:// unless the spec allows it;
// a backend's error body never reaches status. A loopback HTTP server stands in for the backend and records
// every request it gets, so "nothing was sent" is observed, not assumed.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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

async function fake(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Fake> {
  const requests: Fake['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests };
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
});
