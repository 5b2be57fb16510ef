// The `backend.cassandra` section of the runtime config, and from it the connection settings. Credentials and the CA
// never appear in the config: the operator passes the credentials Secret as environment references
// (JSO_BACKEND_USERNAME / JSO_BACKEND_PASSWORD, valueFrom secretKeyRef) and mounts the CA Secret under
// BACKEND_CA_DIR; the Secret references stay in the section so the runtime knows the CA's key.
import { BACKEND_CA_DIR as CA_DIR, BACKEND_CA_DIR_ENV, BACKEND_PASSWORD_ENV, BACKEND_USERNAME_ENV } from '../../api/backend-plugin.js';
import { duration, objectName, secretKey, secretKeyRef } from '../../api/common.js';
import { type Infer, arr, bool, enumOf, int, obj, str } from '../../api/schema.js';
import { CASSANDRA_CONSISTENCY } from '../../api/tracestore.js';
import { readMountedCa } from '../api/mounted-ca.js';
import type { CassandraBackendConfig, ConsistencyName } from './connection.js';

export const CASSANDRA_DEFAULTS = {
  keyspace: 'jaeger_storage',
  datacenter: 'dc1',
  strategy: 'SimpleStrategy',
  factor: 1,
  consistency: 'LOCAL_QUORUM',
  usernameKey: 'username',
  passwordKey: 'password',
  caKey: 'ca.crt',
} as const;

export const cassandraConfigSchema = obj(
  {
    endpoints: arr(str({ pattern: '^[^\\s:/]+(:[0-9]{1,5})?$', patternHint: 'host or host:port', maxLength: 512 }), { minItems: 1, maxItems: 32 }),
    credentialsSecretRef: obj(
      {
        name: objectName('the Secret the credentials come from (as env JSO_BACKEND_USERNAME / JSO_BACKEND_PASSWORD)'),
        usernameKey: secretKey('key holding the user name', CASSANDRA_DEFAULTS.usernameKey),
        passwordKey: secretKey('key holding the password', CASSANDRA_DEFAULTS.passwordKey),
      },
      ['name'],
    ),
    allowPlaintextCredentials: bool({ description: 'credentials may go without TLS', default: false }),
    tls: obj(
      {
        enabled: bool({ default: false }),
        caSecretRef: secretKeyRef('the Secret mounted at BACKEND_CA_DIR (or $JSO_BACKEND_CA_DIR); `key` is the CA bundle file', CASSANDRA_DEFAULTS.caKey),
        serverName: str({ maxLength: 253, pattern: '^[A-Za-z0-9.-]+$', patternHint: 'a DNS name' }),
        insecureSkipVerify: bool({ description: 'skip certificate verification (testing only)', default: false }),
      },
      [],
    ),
    keyspace: str({ default: CASSANDRA_DEFAULTS.keyspace, pattern: '^[a-z][a-z0-9_]{0,47}$', patternHint: 'lowercase letters, digits and "_", starting with a letter' }),
    datacenter: str({ default: CASSANDRA_DEFAULTS.datacenter, minLength: 1, maxLength: 128 }),
    replication: obj(
      {
        strategy: enumOf(['SimpleStrategy', 'NetworkTopologyStrategy'] as const, { default: CASSANDRA_DEFAULTS.strategy }),
        factor: int({ minimum: 1, maximum: 7, default: CASSANDRA_DEFAULTS.factor }),
      },
      [],
    ),
    consistency: obj({ read: enumOf(CASSANDRA_CONSISTENCY, { default: CASSANDRA_DEFAULTS.consistency }), write: enumOf(CASSANDRA_CONSISTENCY, { default: CASSANDRA_DEFAULTS.consistency }) }, []),
    compactionWindow: duration('TimeWindowCompactionStrategy window (default: derived from the retention)'),
  },
  ['endpoints'],
  { description: 'Apache Cassandra connection and keyspace' },
);

export type CassandraConfig = Infer<typeof cassandraConfigSchema>;

export interface CassandraSecrets {
  username?: string;
  password?: string;
  ca?: string;
}

/** Connection settings from the config section plus credentials and CA obtained by the caller. Pure. */
export function cassandraSettings(config: CassandraConfig, retention: string | undefined, secret: CassandraSecrets = {}): CassandraBackendConfig {
  const datacenter = config.datacenter ?? CASSANDRA_DEFAULTS.datacenter;
  const factor = config.replication?.factor ?? CASSANDRA_DEFAULTS.factor;
  const tls = config.tls?.enabled
    ? { tls: { ...(secret.ca ? { ca: secret.ca } : {}), ...(config.tls.serverName ? { servername: config.tls.serverName } : {}), rejectUnauthorized: !(config.tls.insecureSkipVerify ?? false) } }
    : {};
  return {
    contactPoints: [...config.endpoints],
    localDataCenter: datacenter,
    keyspace: config.keyspace ?? CASSANDRA_DEFAULTS.keyspace,
    ...(secret.username !== undefined ? { credentials: { username: secret.username, password: secret.password ?? '' } } : {}),
    replication: config.replication?.strategy === 'NetworkTopologyStrategy' ? { class: 'NetworkTopologyStrategy', dataCenters: { [datacenter]: factor } } : { class: 'SimpleStrategy', replicationFactor: factor },
    readConsistency: (config.consistency?.read ?? CASSANDRA_DEFAULTS.consistency) as ConsistencyName,
    writeConsistency: (config.consistency?.write ?? CASSANDRA_DEFAULTS.consistency) as ConsistencyName,
    ...(retention ? { retention } : {}),
    ...(config.compactionWindow ? { compactionWindow: config.compactionWindow } : {}),
    ...tls,
  };
}

/** The runtime's settings: credentials from the environment, the CA from the mounted Secret. */
export function cassandraBackendConfig(config: CassandraConfig, retention: string | undefined, env: NodeJS.ProcessEnv = process.env, caDir = env[BACKEND_CA_DIR_ENV] ?? CA_DIR): CassandraBackendConfig {
  const ca = config.tls?.enabled && config.tls.caSecretRef ? readMountedCa(config.tls.caSecretRef.key ?? CASSANDRA_DEFAULTS.caKey, 'backend.cassandra.tls.caSecretRef', env, caDir) : undefined;
  const user = env[BACKEND_USERNAME_ENV];
  return cassandraSettings(config, retention, { ...(user !== undefined ? { username: user, password: env[BACKEND_PASSWORD_ENV] ?? '' } : {}), ...(ca ? { ca } : {}) });
}
