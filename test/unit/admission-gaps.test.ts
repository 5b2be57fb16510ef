// The reconcile-time twin of the CRD rules for the admission gaps of issue #10: each fixture the API server
// rejects (test/fixtures/invalid, see test/integration/crds.test.ts) is also caught by the operator's validator
// with the same field and message, so an object admitted under an older CRD still gets Ready=False/InvalidSpec.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { durationSeconds } from '../../src/api/common.js';
import { validateSpec } from '../../src/api/crds.js';
import type { FieldError } from '../../src/api/schema.js';
import { validateTraceStoreName } from '../../src/reconcilers/tracestore/validate.js';
import { ROOT } from '../root.js';

function validate(file: string): FieldError[] {
  const o = parse(readFileSync(join(ROOT, 'test/fixtures/invalid', file), 'utf8')) as { metadata: { name: string }; spec: unknown };
  return [...validateTraceStoreName(o.metadata.name), ...validateSpec('TraceStore', o.spec)];
}

describe('admission gaps caught again in reconcile', () => {
  it.each([
    ['ts-retention-zero.yaml', 'spec.retention', 'must be at least 1m and at most 100 years'],
    ['ts-retention-huge.yaml', 'spec.retention', 'must be at least 1m and at most 100 years'],
    ['ts-endpoint-bad-port.yaml', 'spec.backend.opensearch.endpoints[0]', 'the port must be from 1 to 65535'],
    ['ts-endpoint-userinfo.yaml', 'spec.backend.opensearch.endpoints[0]', 'must not contain user information'],
    ['ts-secret-name-traversal.yaml', 'spec.backend.opensearch.credentialsSecretRef.name', 'is not valid'],
    ['ts-tls-enabled-http.yaml', 'spec.backend.opensearch.endpoints', 'tls.enabled is true: every endpoint must be an https:// URL'],
    ['ts-bad-name.yaml', 'metadata.name', 'metadata.name must start with a letter'],
    ['ts-tenancy-embedded.yaml', 'spec.tenancy.enabled', 'needs a backend that keeps tenants apart: spec.backend.memory'],
    ['ts-cassandra-reserved-keyspace.yaml', 'spec.backend.cassandra.keyspace', 'is a reserved word of CQL'],
    ['ts-cassandra-tls-options-disabled.yaml', 'spec.backend.cassandra.tls', 'apply only with tls.enabled: true'],
    ['ts-cassandra-retention-over-ttl.yaml', 'spec.retention', "longer than Cassandra's longest TTL"],
    ['ts-cassandra-port.yaml', 'spec.backend.cassandra.endpoints[0]', 'port from 1 to 65535'],
  ])('%s: %s %s', (file, field, message) => {
    const errors = validate(file);
    expect(errors.find((e) => e.field === field)?.message).toContain(message);
  });

  it('accepts what stays valid: bounds, ports, https with tls, IPv6, no port', () => {
    const ok = (backend: unknown, retention?: string) => validateSpec('TraceStore', { backend, ...(retention ? { retention } : {}) });
    expect(ok({ memory: {} }, '1m')).toEqual([]);
    expect(ok({ memory: {} }, '5218w')).toEqual([]);
    expect(ok({ memory: {} }, '1d12h30m')).toEqual([]);
    expect(ok({ memory: {} }, '59s999ms')).not.toEqual([]);
    expect(ok({ memory: {} }, '5219w')).not.toEqual([]);
    expect(ok({ opensearch: { endpoints: ['https://os:65535', 'https://[::1]:9200/x', 'http://os'] } })).toEqual([]);
    expect(ok({ opensearch: { endpoints: ['https://os:0'] } })).not.toEqual([]);
    expect(ok({ opensearch: { endpoints: ['https://os:9200'], tls: { enabled: true } } })).toEqual([]);
    expect(ok({ opensearch: { endpoints: ['https://os'], credentialsSecretRef: { name: 'os-creds', usernameKey: 'a/b' } } })).not.toEqual([]);
    expect(ok({ cassandra: { endpoints: ['db', 'db:1', 'db:65535'], keyspace: 'tables', compactionWindow: '6h' } }, '7300d')).toEqual([]);
    expect(ok({ cassandra: { endpoints: ['db:65536'] } })).not.toEqual([]);
    expect(ok({ cassandra: { endpoints: ['db'], compactionWindow: '30m' } })).not.toEqual([]);
    expect(ok({ cassandra: { endpoints: ['db'] } }, '7301d')).not.toEqual([]);
  });

  it('sums durations in seconds as the CEL rule does', () => {
    expect(durationSeconds('1d12h')).toBe(129_600);
    expect(durationSeconds('1500ms')).toBe(1);
    expect(durationSeconds('7 days')).toBeUndefined();
  });
});
