// The pure half of the Cassandra plug-in: the runtime section and Secrets it renders, the plaintext-credentials
// policy, the data key, the driver settings from a section, and the wording of check outcomes.
import type { BackendSpec } from '../../src/api/backend-plugin.js';
import { InvalidArgumentError } from '../../src/storage/api/errors.js';
import { checkResult } from '../../src/storage/cassandra/check.js';
import { cassandraBackendConfig, cassandraSettings } from '../../src/storage/cassandra/config.js';
import { CassandraAuthError } from '../../src/storage/cassandra/connection.js';
import { cassandraPlaintextCredentialsProblem, cassandraPlugin, cassandraRuntimeSection, cassandraSecretReferences } from '../../src/storage/cassandra/plugin.js';

const spec = (extra: Partial<BackendSpec<'cassandra'>> = {}): BackendSpec<'cassandra'> => ({ endpoints: ['cassandra-0.db', 'cassandra-1.db:9142'], ...extra });

describe('Cassandra plug-in', () => {
  test('credentials go to env by reference; the CA is mounted only when TLS is on', () => {
    const s = spec({ credentialsSecretRef: { name: 'creds', usernameKey: 'u' }, tls: { enabled: false, caSecretRef: { name: 'ca' } } });
    expect(cassandraSecretReferences(s)).toEqual([
      { field: 'spec.backend.cassandra.credentialsSecretRef', name: 'creds', keys: ['u', 'password'], env: [{ name: 'JSO_BACKEND_USERNAME', key: 'u' }, { name: 'JSO_BACKEND_PASSWORD', key: 'password' }] },
    ]);
    expect(cassandraSecretReferences({ ...s, tls: { enabled: true, caSecretRef: { name: 'ca' } } })[1]).toEqual({ field: 'spec.backend.cassandra.tls.caSecretRef', name: 'ca', keys: ['ca.crt'], mountPath: '/etc/jaeger-storage/backend-ca' });
    expect(JSON.stringify(cassandraRuntimeSection(s))).not.toMatch(/password"?:\s*"[^"]/);
  });

  test('credentials without TLS are refused unless allowed', () => {
    expect(cassandraPlaintextCredentialsProblem(spec({ credentialsSecretRef: { name: 'c' } }))).toMatchObject({ status: 'False', reason: 'InsecureCredentials', message: expect.stringContaining('allowPlaintextCredentials: true') });
    expect(cassandraPlaintextCredentialsProblem(spec({ credentialsSecretRef: { name: 'c' }, tls: { enabled: true } }))).toBeUndefined();
    expect(cassandraPlaintextCredentialsProblem(spec({ credentialsSecretRef: { name: 'c' }, allowPlaintextCredentials: true }))).toBeUndefined();
    expect(cassandraPlaintextCredentialsProblem(spec())).toBeUndefined();
  });

  test('the data key names the keyspace at the nodes, however they are ordered or written', () => {
    const key = cassandraPlugin.dataKey!;
    expect(key(spec({ keyspace: 'k' }))).toBe(key({ endpoints: ['CASSANDRA-1.db:9142', 'cassandra-0.db:9042'], keyspace: 'k' }));
    expect(key(spec({ keyspace: 'k' }))).not.toBe(key(spec({ keyspace: 'other' })));
    expect(key(spec())).toBe(key(spec({ keyspace: 'jaeger_storage' })));
  });

  test('driver settings: NetworkTopologyStrategy replicas in the local datacenter, consistency, TLS only when enabled', () => {
    const s = cassandraSettings(cassandraRuntimeSection(spec({ datacenter: 'eu', replication: { strategy: 'NetworkTopologyStrategy', factor: 3 }, consistency: { write: 'EACH_QUORUM' } })), '2d');
    expect(s).toMatchObject({ localDataCenter: 'eu', replication: { class: 'NetworkTopologyStrategy', dataCenters: { eu: 3 } }, readConsistency: 'LOCAL_QUORUM', writeConsistency: 'EACH_QUORUM', retention: '2d' });
    expect(s.tls).toBeUndefined();
    const t = cassandraSettings(cassandraRuntimeSection(spec({ tls: { enabled: true, serverName: 'db.example', insecureSkipVerify: true } })), undefined, { ca: 'PEM' });
    expect(t.tls).toEqual({ ca: 'PEM', servername: 'db.example', rejectUnauthorized: false });
  });

  test('the runtime reads credentials from env and names the CA file it cannot read', () => {
    const section = cassandraRuntimeSection(spec({ tls: { enabled: true, caSecretRef: { name: 'ca' } } }));
    expect(() => cassandraBackendConfig(section, undefined, {}, '/nonexistent')).toThrow(InvalidArgumentError);
    expect(() => cassandraBackendConfig(section, undefined, {}, '/nonexistent')).toThrow(/backend\.cassandra\.tls\.caSecretRef.*\/nonexistent\/ca\.crt.*is the Secret mounted/);
    expect(cassandraBackendConfig(cassandraRuntimeSection(spec()), undefined, { JSO_BACKEND_USERNAME: 'u', JSO_BACKEND_PASSWORD: 'p' }).credentials).toEqual({ username: 'u', password: 'p' });
  });

  test('check outcomes name the field to fix', () => {
    const cfg = cassandraRuntimeSection(spec());
    const noCreds = checkResult({ stage: 'connect', reason: 'AuthenticationFailed', error: new CassandraAuthError('x') }, cfg);
    expect(noCreds.reachable).toMatchObject({ status: 'False', reason: 'AuthenticationFailed', message: expect.stringContaining('requires authentication: set spec.backend.cassandra.credentialsSecretRef') });
    expect(noCreds.schema.status).toBe('Unknown');
    const dc = checkResult({ stage: 'connect', reason: 'Unreachable', error: new Error('Datacenter dc1 was not found. Available DCs are: [eu-1,bad name!]') }, cfg);
    expect(dc.reachable.message).toBe('no node of cassandra-0.db, cassandra-1.db:9142 is in datacenter "dc1": set spec.backend.cassandra.datacenter to the datacenter of the nodes (the nodes are in eu-1)');
    const wrapped = new Error("Cassandra: All host(s) tried for query failed. First host tried, h:9042: ArgumentError { message: \"localDataCenter was configured as 'dc1', but only found hosts in data centers: [eu-1, eu-2]\" }");
    expect(checkResult({ stage: 'connect', reason: 'Unreachable', error: wrapped }, cfg).reachable.message).toContain('(the nodes are in eu-1, eu-2)');
    // remote text is bounded and printable
    const simple1 = { class: 'org.apache.cassandra.locator.SimpleStrategy', replication_factor: '1' };
    const odd = checkResult({ stage: 'ready', schemaVersion: 1, version: 'evil\u0007version with spaces', ttlSeconds: 0, windowHours: 24, replication: simple1 }, cfg);
    expect(odd.reachable.message).toBe('Cassandra (unrecognised version) at cassandra-0.db, cassandra-1.db:9142 (datacenter dc1)');
    expect(odd.schema.message).toBe('schema version 1 in keyspace jaeger_storage (SimpleStrategy, replication factor 1), no TTL, compaction windows of 24h');
    expect(odd.schemaVersion).toBe('1');
  });
});

describe('Cassandra keyspace ownership and spec checks', () => {
  test('a keyspace is ours only with our tables and a schema_migrations of our shape', async () => {
    const { foreignKeyspace } = await import('../../src/storage/cassandra/schema.js');
    expect(foreignKeyspace('k', [], [])).toBeUndefined();
    expect(foreignKeyspace('k', ['schema_migrations', 'spans', 'store_owner'], ['applied_at', 'description', 'version'])).toBeUndefined();
    // golang-migrate names its table schema_migrations too (version, dirty)
    expect(foreignKeyspace('billing', ['schema_migrations'], ['dirty', 'version'])).toBe('keyspace "billing": holds a schema_migrations table of another tool: choose another keyspace');
    expect(foreignKeyspace('billing', ['schema_migrations', 'invoices'], ['applied_at', 'description', 'version'])).toMatch(/holds tables not made by this store \(invoices\)/);
  });

  test('replication and consistency the keyspace cannot give are named with the fix', () => {
    const cfg = cassandraRuntimeSection(spec({ datacenter: 'dc1', replication: { strategy: 'NetworkTopologyStrategy', factor: 3 } }));
    const ready = { stage: 'ready' as const, schemaVersion: 1, version: '5.0.9', ttlSeconds: 60, windowHours: 1 };
    const simple = { class: 'org.apache.cassandra.locator.SimpleStrategy', replication_factor: '1' };
    const r = checkResult({ ...ready, replication: simple }, cfg);
    expect(r.schema).toMatchObject({ status: 'False', reason: 'ReplicationMismatch' });
    expect(r.schema.message).toContain("keyspace jaeger_storage has SimpleStrategy, replication factor 1, but spec.backend.cassandra.replication asks for NetworkTopologyStrategy 3: replication is set only when the keyspace is created; run ALTER KEYSPACE jaeger_storage WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3} and then nodetool repair");
    const nts = { class: 'org.apache.cassandra.locator.NetworkTopologyStrategy', dc1: '3' };
    expect(checkResult({ ...ready, replication: nts }, cfg).schema).toMatchObject({ status: 'True', reason: 'Provisioned', message: expect.stringContaining('(NetworkTopologyStrategy dc1: 3)') });
    const two = cassandraRuntimeSection(spec({ consistency: { read: 'TWO' } }));
    expect(checkResult({ ...ready, replication: simple }, two).schema).toMatchObject({ status: 'False', reason: 'ConsistencyUnreachable', message: expect.stringContaining('spec.backend.cassandra.consistency.read is TWO, which needs 2 replicas') });
  });

  test('a keyspace claimed by another TraceStore is refused, naming it', () => {
    const r = checkResult({ stage: 'inUse', holder: 'team-a/traces', version: '5.0.9' }, cassandraRuntimeSection(spec()));
    expect(r.schema).toMatchObject({ status: 'False', reason: 'KeyspaceInUse', message: expect.stringContaining('keyspace jaeger_storage belongs to TraceStore team-a/traces') });
  });

  test('driver errors become one line per host, and refused credentials never repeat the server text', async () => {
    const cassandra = (await import('cassandra-driver')).default;
    const { translate } = await import('../../src/storage/cassandra/connection.js');
    const auth = new cassandra.errors.AuthenticationError('Provided username bob and/or password are incorrect');
    const down = new Error('connect ECONNREFUSED 127.0.0.1:9\n    at TCPConnectWrap.afterConnect (node:net:1:1)');
    const e = translate(new cassandra.errors.NoHostAvailableError({ 'a:9042': auth, 'b:9042': down }));
    expect(e).toBeInstanceOf(CassandraAuthError);
    expect(e.message).toBe('Cassandra refused the credentials (a:9042): check credentials (username and password) in the backend configuration');
    const only = translate(new cassandra.errors.NoHostAvailableError({ 'b:9042': down }));
    expect(only.message).toBe('Cassandra: no node answered (b:9042: connect ECONNREFUSED 127.0.0.1:9)');
    expect((only as Error & { cause?: unknown }).cause).toBeInstanceOf(cassandra.errors.NoHostAvailableError);
  });

  test('credentials are refused with an unverified certificate unless allowed', () => {
    expect(cassandraPlaintextCredentialsProblem(spec({ credentialsSecretRef: { name: 'c' }, tls: { enabled: true, insecureSkipVerify: true } }))).toMatchObject({ reason: 'InsecureCredentials', message: expect.stringContaining('insecureSkipVerify is true') });
    expect(cassandraPlaintextCredentialsProblem(spec({ credentialsSecretRef: { name: 'c' }, tls: { enabled: true, insecureSkipVerify: true }, allowPlaintextCredentials: true }))).toBeUndefined();
  });
});
