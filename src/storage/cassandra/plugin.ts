// Cassandra as a plug-in: the data lives in the cluster (many runtime replicas may write; a finalizer drops the
// keyspace when deletionPolicy is Delete), the operator's check connects and provisions the keyspace, the runtime
// gets the spec section with the Secrets by reference. The driver is loaded only when a check, a cleanup or a
// backend runs.
import { BACKEND_CA_DIR, BACKEND_PASSWORD_ENV, BACKEND_USERNAME_ENV, type BackendSpec, type CheckCondition, type SecretReference } from '../../api/backend-plugin.js';
import type { BackendPlugin } from '../api/plugin.js';
import { CASSANDRA_DEFAULTS, type CassandraConfig, type CassandraSecrets, cassandraBackendConfig, cassandraConfigSchema } from './config.js';
import { LATEST_VERSION } from './schema.js';

type CassandraSpec = BackendSpec<'cassandra'>;

const CREDENTIALS_FIELD = 'spec.backend.cassandra.credentialsSecretRef';
const CA_FIELD = 'spec.backend.cassandra.tls.caSecretRef';

/** The runtime config section: the spec's fields, Secrets by reference only. Pure. */
export function cassandraRuntimeSection(spec: CassandraSpec): CassandraConfig {
  const { credentialsSecretRef: cred, tls, replication, consistency } = spec;
  const out: CassandraConfig = { endpoints: [...spec.endpoints] };
  if (cred) out.credentialsSecretRef = { name: cred.name, ...(cred.usernameKey !== undefined ? { usernameKey: cred.usernameKey } : {}), ...(cred.passwordKey !== undefined ? { passwordKey: cred.passwordKey } : {}) };
  if (spec.allowPlaintextCredentials !== undefined) out.allowPlaintextCredentials = spec.allowPlaintextCredentials;
  if (tls) {
    out.tls = {
      ...(tls.enabled !== undefined ? { enabled: tls.enabled } : {}),
      ...(tls.caSecretRef ? { caSecretRef: { name: tls.caSecretRef.name, ...(tls.caSecretRef.key !== undefined ? { key: tls.caSecretRef.key } : {}) } } : {}),
      ...(tls.serverName !== undefined ? { serverName: tls.serverName } : {}),
      ...(tls.insecureSkipVerify !== undefined ? { insecureSkipVerify: tls.insecureSkipVerify } : {}),
    };
  }
  if (spec.keyspace !== undefined) out.keyspace = spec.keyspace;
  if (spec.datacenter !== undefined) out.datacenter = spec.datacenter;
  if (replication) out.replication = { ...(replication.strategy !== undefined ? { strategy: replication.strategy } : {}), ...(replication.factor !== undefined ? { factor: replication.factor } : {}) };
  if (consistency) out.consistency = { ...(consistency.read !== undefined ? { read: consistency.read } : {}), ...(consistency.write !== undefined ? { write: consistency.write } : {}) };
  if (spec.compactionWindow !== undefined) out.compactionWindow = spec.compactionWindow;
  return out;
}

/** Credentials as env of the runtime container, the CA as a Secret volume at BACKEND_CA_DIR. */
export function cassandraSecretReferences(spec: CassandraSpec): SecretReference[] {
  const refs: SecretReference[] = [];
  const cred = spec.credentialsSecretRef;
  if (cred) {
    const usernameKey = cred.usernameKey ?? CASSANDRA_DEFAULTS.usernameKey;
    const passwordKey = cred.passwordKey ?? CASSANDRA_DEFAULTS.passwordKey;
    refs.push({
      field: CREDENTIALS_FIELD,
      name: cred.name,
      keys: [usernameKey, passwordKey],
      env: [
        { name: BACKEND_USERNAME_ENV, key: usernameKey },
        { name: BACKEND_PASSWORD_ENV, key: passwordKey },
      ],
    });
  }
  const ca = spec.tls?.enabled ? spec.tls.caSecretRef : undefined;
  if (ca) refs.push({ field: CA_FIELD, name: ca.name, keys: [ca.key ?? CASSANDRA_DEFAULTS.caKey], mountPath: BACKEND_CA_DIR });
  return refs;
}

/**
 * Credentials go without TLS, or to a node whose certificate is not verified, only when the spec says so (Cassandra's
 * password authentication sends them as is).
 */
export function cassandraPlaintextCredentialsProblem(spec: CassandraSpec): CheckCondition | undefined {
  if (!spec.credentialsSecretRef || spec.allowPlaintextCredentials) return undefined;
  const allow = 'spec.backend.cassandra.allowPlaintextCredentials: true';
  if (!spec.tls?.enabled) {
    return {
      status: 'False',
      reason: 'InsecureCredentials',
      message: `spec.backend.cassandra.tls.enabled is false, so the password of ${CREDENTIALS_FIELD} would travel unencrypted: enable TLS (client-to-node encryption), or set ${allow} to accept that`,
    };
  }
  if (spec.tls.insecureSkipVerify) {
    return {
      status: 'False',
      reason: 'InsecureCredentials',
      message: `spec.backend.cassandra.tls.insecureSkipVerify is true, so the password of ${CREDENTIALS_FIELD} would go to any node that answers: name the CA in spec.backend.cassandra.tls.caSecretRef instead, or set ${allow} to accept that`,
    };
  }
  return undefined;
}

/** The Secret values the operator read for this spec, as the driver takes them. */
function secretsOf(spec: CassandraSpec, secrets: Record<string, Record<string, string>>): CassandraSecrets {
  const out: CassandraSecrets = {};
  const cred = spec.credentialsSecretRef;
  if (cred) {
    const values = secrets[CREDENTIALS_FIELD] ?? {};
    const username = values[cred.usernameKey ?? CASSANDRA_DEFAULTS.usernameKey];
    if (username !== undefined) {
      out.username = username;
      out.password = values[cred.passwordKey ?? CASSANDRA_DEFAULTS.passwordKey] ?? '';
    }
  }
  const ca = spec.tls?.enabled ? spec.tls.caSecretRef : undefined;
  const pem = ca && secrets[CA_FIELD]?.[ca.key ?? CASSANDRA_DEFAULTS.caKey];
  if (pem) out.ca = pem;
  return out;
}

export const cassandraPlugin: BackendPlugin<'cassandra', CassandraConfig> = {
  type: 'cassandra',
  traits: { singleWriter: false, externalState: true, tenancy: true, provisions: ['keyspace', 'tables (versioned migrations)', 'default TTL and compaction windows'] },
  configSchema: cassandraConfigSchema,
  runtimeSection: cassandraRuntimeSection,
  secretReferences: cassandraSecretReferences,
  secretPolicy: cassandraPlaintextCredentialsProblem,
  check: {
    schemaVersion: LATEST_VERSION,
    describe: (spec) => spec.endpoints.join(', '),
    async run(req) {
      const { runCassandraCheck } = await import('./check.js');
      return runCassandraCheck(cassandraRuntimeSection(req.spec), req.retention, secretsOf(req.spec, req.secrets), req.owner);
    },
  },
  async cleanup(req) {
    const { cleanupCassandra } = await import('./check.js');
    return cleanupCassandra(cassandraRuntimeSection(req.spec), secretsOf(req.spec, req.secrets), req.owner, req.signal);
  },
  // the same keyspace name counts as the same data: contact points of one cluster may be written in many ways (a
  // seed subset, short or full DNS names, addresses), and a false match only keeps data (cleanup also checks the
  // keyspace's recorded owner)
  dataKey: (spec) => spec.keyspace ?? CASSANDRA_DEFAULTS.keyspace,
  async open(config, ctx) {
    const { CassandraBackend } = await import('./store.js');
    return new CassandraBackend(cassandraBackendConfig(config, ctx.retention, ctx.env));
  },
};
