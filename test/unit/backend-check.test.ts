// The operator's background check of a backend through its plug-in, with a fake plug-in: no server needed.
import type { V1Secret } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { CheckRequest, CheckResult, OperatorBackendPlugin } from '../../src/api/backend-plugin.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { BackendChecker, RECHECK_MS, RETRY_MS } from '../../src/controllers/backend-check.js';

type Checked = OperatorBackendPlugin<'opensearch'> & Required<Pick<OperatorBackendPlugin<'opensearch'>, 'check'>>;

/** A plug-in whose check resolves when the test says so. */
function fakePlugin() {
  const calls: { req: CheckRequest<'opensearch'>; resolve: (r: CheckResult) => void; reject: (e: unknown) => void }[] = [];
  const plugin: Checked = {
    type: 'opensearch',
    traits: { singleWriter: false, externalState: true, tenancy: false, provisions: ['index templates'] },
    runtimeSection: (s) => s,
    secretReferences: (s) => (s.credentialsSecretRef ? [{ field: 'spec.backend.opensearch.credentialsSecretRef', name: s.credentialsSecretRef.name, keys: ['username', 'password'] }] : []),
    check: {
      schemaVersion: 3,
      describe: (s) => s.endpoints.join(', '),
      run: (req) => new Promise<CheckResult>((resolve, reject) => calls.push({ req, resolve, reject })),
    },
  };
  return { plugin, calls };
}

const store = (endpoints = ['https://os:9200'], cred?: string): TraceStore => ({
  apiVersion: 'storage.jaegertracing.io/v1alpha1',
  kind: 'TraceStore',
  metadata: { name: 's', namespace: 'ns', uid: 'u' },
  spec: { backend: { opensearch: { endpoints, ...(cred ? { credentialsSecretRef: { name: cred } } : {}) } } },
});

const secret = (data: Record<string, string>, rv = '1'): V1Secret => ({ metadata: { name: 'cred', namespace: 'ns', resourceVersion: rv }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
const ok: CheckResult = { reachable: { status: 'True', reason: 'Connected', message: 'opensearch 2.19 at https://os:9200' }, schema: { status: 'True', reason: 'Provisioned', message: 'schema version 3' }, schemaVersion: '3' };
const settle = () => new Promise((r) => setImmediate(r));
const none = () => undefined;

describe('BackendChecker', () => {
  const log = pino({ level: 'silent' });

  it('answers at once while the check runs, then with the plug-in result, and re-enqueues the store', async () => {
    const { plugin, calls } = fakePlugin();
    const enqueued: string[] = [];
    const c = new BackendChecker((k) => enqueued.push(k), log);
    const first = c.state('ns/s', store(), plugin, none);
    expect(first).toMatchObject({ reachable: { type: 'BackendReachable', status: 'Unknown', reason: 'Checking', message: 'connecting to https://os:9200' }, requeueAfterMs: RETRY_MS });
    expect(calls).toHaveLength(1);
    // asking again while it runs starts no second check
    c.state('ns/s', store(), plugin, none);
    expect(calls).toHaveLength(1);
    calls[0]!.resolve(ok);
    await settle();
    expect(enqueued).toEqual(['ns/s']);
    expect(c.state('ns/s', store(), plugin, none)).toEqual({
      reachable: { type: 'BackendReachable', ...ok.reachable },
      schema: { type: 'SchemaReady', ...ok.schema },
      schemaVersion: '3',
      requeueAfterMs: RECHECK_MS,
    });
    expect(calls).toHaveLength(1);
  });

  it('checks again when the spec changes, and a superseded result is dropped', async () => {
    const { plugin, calls } = fakePlugin();
    const c = new BackendChecker(none, log);
    c.state('ns/s', store(['https://a:9200']), plugin, none);
    expect(c.state('ns/s', store(['https://b:9200']), plugin, none).reachable.message).toBe('connecting to https://b:9200');
    expect(calls).toHaveLength(2);
    calls[0]!.resolve({ ...ok, reachable: { ...ok.reachable, message: 'old' } });
    await settle();
    expect(c.state('ns/s', store(['https://b:9200']), plugin, none).reachable.reason).toBe('Checking');
    calls[1]!.resolve(ok);
    await settle();
    expect(c.state('ns/s', store(['https://b:9200']), plugin, none).reachable.message).toBe(ok.reachable.message);
  });

  it('hands the Secret values to the plug-in and checks again when the Secret changes', async () => {
    const { plugin, calls } = fakePlugin();
    const c = new BackendChecker(none, log);
    let s = secret({ username: 'u', password: 'p' });
    c.state('ns/s', store(undefined, 'cred'), plugin, () => s);
    expect(calls[0]!.req.secrets).toEqual({ 'spec.backend.opensearch.credentialsSecretRef': { username: 'u', password: 'p' } });
    calls[0]!.resolve(ok);
    await settle();
    s = secret({ username: 'u', password: 'p2' }, '2');
    c.state('ns/s', store(undefined, 'cred'), plugin, () => s);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.req.secrets['spec.backend.opensearch.credentialsSecretRef']!.password).toBe('p2');
  });

  it('names a missing Secret or key and sends nothing', () => {
    const { plugin, calls } = fakePlugin();
    const c = new BackendChecker(none, log);
    expect(c.state('ns/s', store(undefined, 'cred'), plugin, none).reachable).toMatchObject({ status: 'False', reason: 'SecretNotFound', message: expect.stringContaining('Secret "cred" not found in namespace ns') });
    expect(c.state('ns/s', store(undefined, 'cred'), plugin, () => secret({ username: 'u' })).reachable.message).toContain('lacks the key password');
    expect(calls).toHaveLength(0);
  });

  it('turns a check that throws into BackendReachable=False without leaking URL credentials, and retries sooner', async () => {
    const { plugin, calls } = fakePlugin();
    const c = new BackendChecker(none, log);
    c.state('ns/s', store(), plugin, none);
    calls[0]!.reject(new Error('cannot reach https://admin:hunter2@os:9200: ECONNREFUSED'));
    await settle();
    const st = c.state('ns/s', store(), plugin, none);
    expect(st.reachable).toMatchObject({ status: 'False', reason: 'Unreachable' });
    expect(st.reachable.message).not.toContain('hunter2');
    expect(st.requeueAfterMs).toBe(RETRY_MS);
  });
});
