// Pure parts of the Secret policy and of redaction (issue #10).
import { SECRET_ALLOW_LABEL, SECRET_ALLOWED_TRACESTORES_ANNOTATION, reportAnnotation } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { backendErrorMessage, boundedText, redactUrls } from '../../src/api/redact.js';
import { secretProblem } from '../../src/reconcilers/tracestore/secrets.js';
import type { OperatorBackendPlugin } from '../../src/api/backend-plugin.js';
import { desiredRuntime } from '../../src/reconcilers/tracestore/desired.js';
import { PLUGINS } from '../../src/storage/plugins.js';
import { StorageError } from '../../src/storage/api/errors.js';

const ts = (name = 'search'): TraceStore => ({
  apiVersion: 'storage.jaegertracing.io/v1alpha1',
  kind: 'TraceStore',
  metadata: { name, namespace: 'obs', uid: 'u' },
  spec: { backend: { opensearch: { endpoints: ['https://os:9200'], credentialsSecretRef: { name: 'creds' }, tls: { enabled: true, caSecretRef: { name: 'ca' } } } } },
});
const optedIn = (annotations?: Record<string, string>) => ({ found: 'optedIn' as const, metadata: { name: 'creds', labels: { [SECRET_ALLOW_LABEL]: 'true' }, ...(annotations ? { annotations } : {}) } });

describe('secretProblem', () => {
  const f = 'spec.backend.opensearch.credentialsSecretRef';
  it('admits an opted-in Secret without annotation to any TraceStore of its namespace', () => {
    expect(secretProblem(ts(), f, 'creds', optedIn())).toBeUndefined();
  });
  it('refuses a Secret without the label and names the label', () => {
    const p = secretProblem(ts(), f, 'creds', { found: 'notOptedIn' })!;
    expect(p).toMatchObject({ type: 'BackendReachable', status: 'False', reason: 'SecretNotAllowed' });
    expect(p.message).toContain(`kubectl label secret creds -n obs ${SECRET_ALLOW_LABEL}=true`);
  });
  it('honours the allowed-tracestores annotation', () => {
    expect(secretProblem(ts('search'), f, 'creds', optedIn({ [SECRET_ALLOWED_TRACESTORES_ANNOTATION]: 'a,search' }))).toBeUndefined();
    expect(secretProblem(ts('search'), f, 'creds', optedIn({ [SECRET_ALLOWED_TRACESTORES_ANNOTATION]: 'a, b' }))?.reason).toBe('SecretNotAllowed');
    expect(secretProblem(ts('search'), f, 'creds', optedIn({ [SECRET_ALLOWED_TRACESTORES_ANNOTATION]: '' }))?.reason).toBe('SecretNotAllowed');
  });
  it('reports a missing Secret as SecretNotFound', () => {
    expect(secretProblem(ts(), f, 'creds', { found: 'missing' })?.reason).toBe('SecretNotFound');
  });
});

describe('the search plug-in refuses credentials over plain http', () => {
  it('refuses credentials over http:// unless allowed; no credentials, no problem', () => {
    const plugin = PLUGINS.opensearch as OperatorBackendPlugin<'opensearch'>;
    const policy = (spec: Parameters<NonNullable<typeof plugin.secretPolicy>>[0]) => plugin.secretPolicy!(spec);
    expect(policy({ endpoints: ['https://a', 'http://u:p@b:9200'], credentialsSecretRef: { name: 'c' } })).toMatchObject({ reason: 'InsecureCredentials' });
    expect(policy({ endpoints: ['https://a', 'http://u:p@b:9200'], credentialsSecretRef: { name: 'c' } })?.message).not.toContain('u:p@');
    expect(policy({ endpoints: ['http://b'], credentialsSecretRef: { name: 'c' }, allowPlaintextCredentials: true })).toBeUndefined();
    expect(policy({ endpoints: ['http://b'] })).toBeUndefined();
    expect(policy({ endpoints: ['https://b'], credentialsSecretRef: { name: 'c' } })).toBeUndefined();
  });
});

describe('desiredRuntime gives the pods only the Secrets they may use', () => {
  const settings = { runtimeImage: 'img', plugins: PLUGINS };
  const refs = (use: { credentials: boolean; ca: boolean }) => {
    const fields = [...(use.credentials ? ['spec.backend.opensearch.credentialsSecretRef'] : []), ...(use.ca ? ['spec.backend.opensearch.tls.caSecretRef'] : [])];
    const pod = desiredRuntime(ts(), settings, undefined, new Set(fields)).deployment!.spec!.template.spec!;
    return { env: pod.containers[0]!.env!.map((e) => e.name), volumes: (pod.volumes ?? []).map((v) => v.secret?.secretName).filter(Boolean) };
  };
  it('without permission: no secretKeyRef, no Secret volume', () => {
    expect(refs({ credentials: false, ca: false })).toEqual({ env: ['POD_NAME', 'POD_NAMESPACE'], volumes: [] });
  });
  it('with permission: both', () => {
    expect(refs({ credentials: true, ca: true })).toEqual({ env: ['POD_NAME', 'POD_NAMESPACE', 'JSO_BACKEND_USERNAME', 'JSO_BACKEND_PASSWORD'], volumes: ['ca'] });
  });
});

describe('redaction', () => {
  it('removes user information from URLs', () => {
    expect(redactUrls('cannot reach https://admin:hunter2@os:9200, http://u@b/x and https://c')).toBe('cannot reach https://***@os:9200, http://***@b/x and https://c');
  });
  it('keeps status and a recognised error type of a failed request, never the body', () => {
    const body = new StorageError('Internal', 'PUT /_template/x: 400 internal: <html>secret stack trace</html>');
    expect(backendErrorMessage(body)).toBe('PUT /_template/x: the backend answered HTTP 400');
    expect(backendErrorMessage(new StorageError('Internal', 'PUT /_template/x: 403 security_exception'))).toBe('PUT /_template/x: the backend answered HTTP 403 (security_exception)');
    expect(backendErrorMessage(new Error('cannot reach https://u:p@os:9200: ECONNREFUSED'))).toBe('cannot reach https://***@os:9200: ECONNREFUSED');
  });
  it('bounds length and strips control characters', () => {
    expect(boundedText('a\u0000\nb'.repeat(300)).length).toBeLessThanOrEqual(512);
    expect(boundedText('a\u0000\nb')).toBe('a b');
  });
});

describe('report annotation keys', () => {
  it('use the pod name when it is a valid key name, a bounded hash-suffixed form otherwise', () => {
    expect(reportAnnotation('shop-runtime-5d9f8c7b6-abcde')).toBe('sampling.storage.jaegertracing.io/shop-runtime-5d9f8c7b6-abcde');
    const long = reportAnnotation('x'.repeat(80));
    expect(long.split('/')[1]!.length).toBeLessThanOrEqual(63);
    expect(long).not.toBe(reportAnnotation(`${'x'.repeat(79)}y`));
  });
});
