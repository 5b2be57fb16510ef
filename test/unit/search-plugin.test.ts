// The Elasticsearch/OpenSearch plug-ins' pure parts: the runtime section, the Secret references and how the pods
// get them, the plaintext-credentials policy, the condition wording of a check's outcome, and which indices a
// cleanup treats as its own. No server.
import { BACKEND_CA_DIR, BACKEND_PASSWORD_ENV, BACKEND_USERNAME_ENV, type BackendSpec } from '../../src/api/backend-plugin.js';
import { checkResult } from '../../src/storage/elasticsearch/check.js';
import { ownedIndex } from '../../src/storage/elasticsearch/cleanup.js';
import { searchBackendConfig } from '../../src/storage/elasticsearch/config.js';
import { Names } from '../../src/storage/elasticsearch/layout.js';
import { elasticsearchPlugin, opensearchPlugin, searchRuntimeSection } from '../../src/storage/elasticsearch/plugin.js';

const spec = (extra: Partial<BackendSpec<'opensearch'>> = {}): BackendSpec<'opensearch'> => ({ endpoints: ['https://os:9200'], ...extra });

describe('search plug-ins', () => {
  test('one function makes both, each with its own type', () => {
    expect(opensearchPlugin.type).toBe('opensearch');
    expect(elasticsearchPlugin.type).toBe('elasticsearch');
    expect(opensearchPlugin.traits).toMatchObject({ singleWriter: false, externalState: true, tenancy: false });
    expect(opensearchPlugin.check?.describe(spec({ endpoints: ['https://a:9200', 'https://b:9200'] }))).toBe('https://a:9200, https://b:9200');
  });

  test('runtimeSection copies the connection and layout fields, leaves absent ones absent, and is pure', () => {
    expect(searchRuntimeSection(spec())).toEqual({ endpoints: ['https://os:9200'] });
    const full = spec({
      credentialsSecretRef: { name: 'c' },
      tls: { caSecretRef: { name: 'ca' } },
      indexPrefix: 'p',
      layout: 'rollover',
      rolloverAfter: { maxAge: '1d' },
    });
    const frozen = structuredClone(full);
    const section = searchRuntimeSection(full);
    expect(section).toEqual({ endpoints: ['https://os:9200'], credentialsSecretRef: { name: 'c' }, tls: { caSecretRef: { name: 'ca' } }, indexPrefix: 'p', layout: 'rollover', rolloverAfter: { maxAge: '1d' } });
    expect(full).toEqual(frozen);
    section.endpoints.push('https://other:9200');
    expect(full.endpoints).toEqual(['https://os:9200']);
  });

  test('secretReferences: credentials as env from their keys (defaults username/password), the CA mounted with its key', () => {
    expect(opensearchPlugin.secretReferences(spec())).toEqual([]);
    expect(opensearchPlugin.secretReferences(spec({ credentialsSecretRef: { name: 'creds' }, tls: { caSecretRef: { name: 'ca' } } }))).toEqual([
      {
        field: 'spec.backend.opensearch.credentialsSecretRef',
        name: 'creds',
        keys: ['username', 'password'],
        env: [
          { name: BACKEND_USERNAME_ENV, key: 'username' },
          { name: BACKEND_PASSWORD_ENV, key: 'password' },
        ],
      },
      { field: 'spec.backend.opensearch.tls.caSecretRef', name: 'ca', keys: ['ca.crt'], mountPath: BACKEND_CA_DIR },
    ]);
    const custom = elasticsearchPlugin.secretReferences({ endpoints: ['https://es:9200'], credentialsSecretRef: { name: 'c', usernameKey: 'user', passwordKey: 'pass' }, tls: { caSecretRef: { name: 'ca', key: 'root.pem' } } });
    expect(custom.map((r) => [r.field, r.keys, r.env?.map((e) => e.key), r.mountPath])).toEqual([
      ['spec.backend.elasticsearch.credentialsSecretRef', ['user', 'pass'], ['user', 'pass'], undefined],
      ['spec.backend.elasticsearch.tls.caSecretRef', ['root.pem'], undefined, BACKEND_CA_DIR],
    ]);
  });

  test('secretPolicy refuses credentials over http:// unless allowed, naming the fields and redacting URLs', () => {
    const policy = opensearchPlugin.secretPolicy!;
    expect(policy(spec({ endpoints: ['http://os:9200'] }))).toBeUndefined(); // no credentials
    expect(policy(spec({ credentialsSecretRef: { name: 'c' } }))).toBeUndefined(); // https only
    expect(policy(spec({ endpoints: ['http://os:9200'], credentialsSecretRef: { name: 'c' }, allowPlaintextCredentials: true }))).toBeUndefined();
    const p = policy(spec({ endpoints: ['https://a:9200', 'HTTP://b:9200', 'http://u:pw@c:9200'], credentialsSecretRef: { name: 'c' } }));
    expect(p).toMatchObject({ status: 'False', reason: 'InsecureCredentials' });
    expect(p?.message).toContain('spec.backend.opensearch.endpoints: HTTP://b:9200, http://***@c:9200 are plain http://');
    expect(p?.message).toContain('spec.backend.opensearch.allowPlaintextCredentials: true');
    expect(p?.message).not.toContain('pw');
    expect(elasticsearchPlugin.secretPolicy!({ endpoints: ['http://es:9200'], credentialsSecretRef: { name: 'c' } })?.message).toMatch(/^spec\.backend\.elasticsearch\.endpoints: http:\/\/es:9200 is plain/);
  });

  test('check outcomes become conditions; remote text only through the redaction helpers', () => {
    const cfg = { endpoints: ['https://u:secret@os:9200'], layout: 'rollover' as const };
    const auth = checkResult({ stage: 'connect', reason: 'AuthenticationFailed', error: new Error('GET /: 401 {"password":"hunter2"}') }, 'opensearch', cfg);
    expect(auth.reachable).toEqual({ status: 'False', reason: 'AuthenticationFailed', message: 'GET /: the backend answered HTTP 401' });
    expect(auth.schema).toMatchObject({ status: 'Unknown', reason: 'Pending' });
    expect(checkResult({ stage: 'connect', reason: 'Unreachable', error: new Error('cannot reach https://u:secret@os:9200') }, 'opensearch', cfg).reachable.message).toBe('cannot reach https://***@os:9200');

    const wrong = checkResult({ stage: 'wrongProduct', distribution: 'opensearch', version: '2.19.1' }, 'elasticsearch', cfg);
    expect(wrong.reachable).toEqual({ status: 'False', reason: 'UnsupportedVersion', message: 'https://***@os:9200 is opensearch 2.19.1, but the TraceStore says elasticsearch: use spec.backend.opensearch' });

    const failed = checkResult({ stage: 'provision', distribution: 'opensearch', version: '2.19.1 <script>', error: new Error('PUT /_template/x: 400 {"error":{"type":"illegal_argument_exception"}} secret-body') }, 'opensearch', cfg);
    expect(failed.reachable).toEqual({ status: 'True', reason: 'Connected', message: 'opensearch (unrecognised version) at https://***@os:9200' });
    expect(failed.schema.reason).toBe('ProvisioningFailed');
    expect(failed.schema.message).not.toContain('secret-body');

    const ok = checkResult({ stage: 'ready', distribution: 'opensearch', version: '2.19.1', schemaVersion: 1, lifecycle: 'ism' }, 'opensearch', cfg);
    expect(ok).toEqual({
      reachable: { status: 'True', reason: 'Connected', message: 'opensearch 2.19.1 at https://***@os:9200' },
      schema: { status: 'True', reason: 'Provisioned', message: 'schema version 1, layout rollover, rollover and retention by ISM' },
      schemaVersion: '1',
    });
    expect(checkResult({ stage: 'ready', distribution: 'opensearch', version: '2.19.1', schemaVersion: 1, lifecycle: 'none' }, 'opensearch', { endpoints: ['https://os:9200'] }).schema.message).toBe(
      'schema version 1, layout daily, rollover and retention by nobody (no retention set)',
    );
  });

  test('cleanup owns exactly the indices of its prefix', () => {
    const n = new Names('shop', 'daily');
    for (const i of ['shop-jaeger-span-2026-01-01', 'shop-jaeger-service-000003', 'shop-jaeger-dependencies-2026-01-01', 'shop-jaeger-sampling', 'shop-jaeger-meta']) expect([i, ownedIndex(n, i)]).toEqual([i, true]);
    for (const i of ['shop-x-jaeger-span-2026-01-01', 'shop-jaeger-span-write', 'shopjaeger-span-2026-01-01', 'other-jaeger-meta', 'shop-jaeger-span-2026-01-01-copy', 'jaeger-span-2026-01-01']) expect([i, ownedIndex(n, i)]).toEqual([i, false]);
    const none = new Names('', 'daily');
    expect(ownedIndex(none, 'jaeger-span-2026-01-01')).toBe(true);
    expect(ownedIndex(none, 'shop-jaeger-span-2026-01-01')).toBe(false);
  });

  test('the runtime reads credentials from env and the CA key from the mounted Secret', () => {
    const c = searchBackendConfig(searchRuntimeSection(spec({ indexPrefix: 'p' })), '7d', { [BACKEND_USERNAME_ENV]: 'u', [BACKEND_PASSWORD_ENV]: 'pw' });
    expect(c).toMatchObject({ endpoints: ['https://os:9200'], username: 'u', password: 'pw', indexPrefix: 'p', layout: 'daily', shards: 5, replicas: 1, retention: '7d' });
    expect(() => searchBackendConfig(searchRuntimeSection(spec({ tls: { caSecretRef: { name: 'ca', key: 'root.pem' } } })), undefined, {}, '/nonexistent-dir')).toThrow(/\/nonexistent-dir\/root\.pem/);
  });
});
