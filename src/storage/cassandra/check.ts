// The operator's check of a Cassandra backend: connect, provision the keyspace (versioned migrations, TTL and
// compaction windows from the retention), and word the outcome as conditions. Remote text reaches them only through
// the redaction helpers. Loaded by the plug-in on demand (it brings in the driver).
import cassandra from 'cassandra-driver';
import type { CheckCondition, CheckResult } from '../../api/backend-plugin.js';
import { backendErrorMessage, boundedText, remoteToken } from '../../api/redact.js';
import { StorageError } from '../api/errors.js';
import { type CassandraConfig, type CassandraSecrets, CASSANDRA_DEFAULTS, cassandraSettings } from './config.js';
import { CassandraAuthError } from './connection.js';
import { CassandraBackend } from './store.js';

const FIELD = 'spec.backend.cassandra';

export type CassandraOutcome =
  | { stage: 'connect'; reason: 'AuthenticationFailed' | 'Unreachable'; error: unknown }
  | { stage: 'provision'; error: unknown; version: string }
  | { stage: 'ready'; schemaVersion: number; version: string; ttlSeconds: number; windowHours: number };

const SCHEMA_WAITING: CheckCondition = { status: 'Unknown', reason: 'Pending', message: 'waiting for the backend connection' };

/** the driver's errors under a NoHostAvailableError, or the error itself */
function causes(error: unknown): unknown[] {
  if (error instanceof cassandra.errors.NoHostAvailableError) {
    const inner = Object.values((error.innerErrors ?? {}) as Record<string, unknown>);
    if (inner.length) return inner;
  }
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return cause === undefined ? [error] : [error, cause];
}

const isUnauthorized = (e: unknown): boolean => e instanceof cassandra.errors.ResponseError && e.code === cassandra.types.responseErrorCodes.unauthorized;

export async function checkOutcome(config: CassandraConfig, retention: string | undefined, secret: CassandraSecrets): Promise<CassandraOutcome> {
  const backend = new CassandraBackend({ ...cassandraSettings(config, retention, secret), requestTimeoutMs: 15_000, maxTries: 1 });
  try {
    let version: string;
    try {
      version = await backend.serverVersion();
    } catch (error) {
      return { stage: 'connect', reason: error instanceof CassandraAuthError ? 'AuthenticationFailed' : 'Unreachable', error };
    }
    try {
      await backend.provision();
    } catch (error) {
      return { stage: 'provision', error, version };
    }
    return { stage: 'ready', schemaVersion: backend.schemaVersion ?? 0, version, ...backend.retention() };
  } finally {
    await backend.close().catch(() => undefined);
  }
}

/** A connection failure, with what to change where the cause is recognisable (TLS trust, TLS mismatch). */
function connectMessage(error: unknown, config: CassandraConfig): string {
  const where = config.endpoints.join(', ');
  const text = causes(error)
    .map((e) => (e instanceof Error ? e.message : String(e)))
    .join('; ');
  const untrusted = /unable to (?:verify the first|get local issuer|get issuer) certificate|self[- ]signed certificate(?: in certificate chain)?|certificate signature failure/i.exec(text)?.[0];
  if (untrusted) {
    const ca = config.tls?.caSecretRef;
    const fix = ca
      ? `the CA in the Secret "${ca.name}" of ${FIELD}.tls.caSecretRef did not sign it: put the CA that did there`
      : `put the CA that signed it in a Secret (key ${CASSANDRA_DEFAULTS.caKey}) and name the Secret in ${FIELD}.tls.caSecretRef, or set ${FIELD}.tls.insecureSkipVerify: true (testing only)`;
    return boundedText(`the TLS certificate of ${where} is not trusted (${untrusted}): ${fix}`);
  }
  if (/altnames|does not match certificate/i.test(text)) return boundedText(`the TLS certificate of ${where} does not name the address dialled: set ${FIELD}.tls.serverName to a name the certificate lists`);
  // the driver's words for it ("...but only found hosts in data centers: [a,b]", "Datacenter X was not found.
  // Available DCs are: [a,b]"); the names are remote text
  const dcs = /(?:only found hosts in data centers|Available DCs are): \[([^\]]*)\]/.exec(text);
  if (dcs) {
    const names = dcs[1]!.split(',').map((n) => remoteToken(n.trim())).filter((n): n is string => n !== undefined);
    const known = names.length ? ` (the nodes are in ${names.join(', ')})` : ' (nodetool status shows it)';
    return boundedText(`${where}: no node in datacenter "${config.datacenter ?? CASSANDRA_DEFAULTS.datacenter}": set ${FIELD}.datacenter to the datacenter of the nodes${known}`);
  }
  return boundedText(`cannot reach Cassandra at ${where}: ${backendErrorMessage(new Error(text))}`);
}

/** The conditions for a check's outcome. Pure. */
export function checkResult(o: CassandraOutcome, config: CassandraConfig, retention?: string): CheckResult {
  const where = config.endpoints.join(', ');
  if (o.stage === 'connect') {
    let message: string;
    if (o.reason === 'AuthenticationFailed') {
      message = config.credentialsSecretRef
        ? boundedText(`${where} refused the user of ${FIELD}.credentialsSecretRef (Secret "${config.credentialsSecretRef.name}"): correct the user name or password in the Secret`)
        : boundedText(`${where} requires authentication: set ${FIELD}.credentialsSecretRef to a Secret with a user name and password`);
    } else message = connectMessage(o.error, config);
    return { reachable: { status: 'False', reason: o.reason, message }, schema: SCHEMA_WAITING };
  }
  const version = remoteToken(o.version) ?? '(unrecognised version)';
  const datacenter = config.datacenter ?? CASSANDRA_DEFAULTS.datacenter;
  const reachable: CheckCondition = { status: 'True', reason: 'Connected', message: boundedText(`Cassandra ${version} at ${where} (datacenter ${datacenter})`) };
  const keyspace = config.keyspace ?? CASSANDRA_DEFAULTS.keyspace;
  if (o.stage === 'provision') {
    let message: string;
    if (isUnauthorized(o.error)) {
      message = boundedText(
        `${where} denied the user of ${FIELD}.credentialsSecretRef a schema change in keyspace ${keyspace}: grant it CREATE ON ALL KEYSPACES (or create keyspace ${keyspace} and grant ALL PERMISSIONS ON KEYSPACE ${keyspace})`,
      );
    } else if (o.error instanceof StorageError && o.error.code === 'InvalidArgument') {
      message = boundedText(`${FIELD}.keyspace: ${o.error.message}`);
    } else message = boundedText(`provisioning keyspace ${keyspace}: ${backendErrorMessage(o.error)}`);
    return { reachable, schema: { status: 'False', reason: 'ProvisioningFailed', message } };
  }
  const factor = config.replication?.factor ?? CASSANDRA_DEFAULTS.factor;
  const repl = config.replication?.strategy === 'NetworkTopologyStrategy' ? `NetworkTopologyStrategy ${datacenter}: ${factor}` : `SimpleStrategy, replication factor ${factor}`;
  const ttl = o.ttlSeconds > 0 ? `default TTL ${o.ttlSeconds}s${retention ? ` (retention ${retention})` : ''}` : 'no TTL';
  return {
    reachable,
    schema: { status: 'True', reason: 'Provisioned', message: boundedText(`schema version ${o.schemaVersion} in keyspace ${keyspace} (${repl}), ${ttl}, compaction windows of ${o.windowHours}h`) },
    schemaVersion: String(o.schemaVersion),
  };
}

export async function runCassandraCheck(config: CassandraConfig, retention: string | undefined, secret: CassandraSecrets): Promise<CheckResult> {
  let outcome: CassandraOutcome;
  try {
    outcome = await checkOutcome(config, retention, secret);
  } catch (error) {
    outcome = { stage: 'connect', reason: 'Unreachable', error };
  }
  return checkResult(outcome, config, retention);
}

/** deletionPolicy Delete: drops the keyspace when it is ours. */
export async function cleanupCassandra(config: CassandraConfig, secret: CassandraSecrets, signal?: AbortSignal): Promise<boolean> {
  signal?.throwIfAborted();
  const backend = new CassandraBackend({ ...cassandraSettings(config, undefined, secret), requestTimeoutMs: 15_000 });
  try {
    return await backend.dropKeyspace();
  } finally {
    await backend.close().catch(() => undefined);
  }
}
