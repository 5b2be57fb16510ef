// The operator's check of a Cassandra backend: connect, provision the keyspace (versioned migrations, TTL and
// compaction windows from the retention), claim it for the TraceStore, compare what Cassandra has with the spec, and
// word the outcome as conditions. Remote text reaches them only through the redaction helpers. Loaded by the
// plug-in on demand (it brings in the driver).
import cassandra from 'cassandra-driver';
import type { CheckCondition, CheckResult } from '../../api/backend-plugin.js';
import { backendErrorMessage, boundedText, remoteToken } from '../../api/redact.js';
import { withDeadline } from '../api/abortable.js';
import { StorageError } from '../api/errors.js';
import { type CassandraConfig, type CassandraSecrets, CASSANDRA_DEFAULTS, cassandraSettings } from './config.js';
import { CassandraAuthError } from './connection.js';
import { CassandraBackend } from './store.js';

const FIELD = 'spec.backend.cassandra';
/** a check or cleanup that has not finished by then is abandoned (its session closed) */
export const CASSANDRA_CHECK_DEADLINE_MS = 45_000;

export type CassandraOutcome =
  | { stage: 'connect'; reason: 'AuthenticationFailed' | 'Unreachable'; error: unknown }
  | { stage: 'provision'; error: unknown; version: string }
  | { stage: 'inUse'; holder: string; version: string }
  | { stage: 'ready'; schemaVersion: number; version: string; ttlSeconds: number; windowHours: number; replication: Record<string, string> };

const SCHEMA_WAITING: CheckCondition = { status: 'Unknown', reason: 'Pending', message: 'waiting for the backend connection' };

/** a schema change the user may not make (translate() passes such a driver error on as it is) */
const isUnauthorized = (e: unknown): boolean => e instanceof cassandra.errors.ResponseError && e.code === cassandra.types.responseErrorCodes.unauthorized;

export async function checkOutcome(config: CassandraConfig, retention: string | undefined, secret: CassandraSecrets, owner?: string): Promise<CassandraOutcome> {
  const backend = new CassandraBackend({ ...cassandraSettings(config, retention, secret), requestTimeoutMs: 15_000, maxTries: 1 });
  const run = async (): Promise<CassandraOutcome> => {
    let version: string;
    try {
      version = await backend.serverVersion();
    } catch (error) {
      return { stage: 'connect', reason: error instanceof CassandraAuthError ? 'AuthenticationFailed' : 'Unreachable', error };
    }
    try {
      await backend.provision();
      const holder = owner ? await backend.claim(owner) : undefined;
      if (holder !== undefined && holder !== owner) return { stage: 'inUse', holder, version };
    } catch (error) {
      return { stage: 'provision', error, version };
    }
    return { stage: 'ready', schemaVersion: backend.schemaVersion ?? 0, version, replication: backend.replication ?? {}, ...backend.retention() };
  };
  try {
    return await withDeadline(run(), CASSANDRA_CHECK_DEADLINE_MS, () => backend.close());
  } catch (error) {
    return { stage: 'connect', reason: 'Unreachable', error };
  } finally {
    await backend.close().catch(() => undefined);
  }
}

/** "a, b and 3 more": endpoints as a message names them (the fix must fit in a condition message) */
export function endpointsText(endpoints: readonly string[]): string {
  return endpoints.length <= 2 ? endpoints.join(', ') : `${endpoints.slice(0, 2).join(', ')} and ${endpoints.length - 2} more`;
}

/** A connection failure, with what to change where the cause is recognisable (TLS trust, TLS mismatch, datacenter). */
function connectMessage(error: unknown, config: CassandraConfig): string {
  const where = endpointsText(config.endpoints);
  const text = error instanceof Error ? error.message : String(error);
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
    return boundedText(`no node of ${where} is in datacenter "${config.datacenter ?? CASSANDRA_DEFAULTS.datacenter}": set ${FIELD}.datacenter to the datacenter of the nodes${known}`);
  }
  if (config.tls?.enabled && /wrong version number|packet length too long|unknown protocol/i.test(text)) {
    return boundedText(`${where} does not speak TLS on this port: set ${FIELD}.tls.enabled: false, or use the port of client-to-node encryption`);
  }
  if (!config.tls?.enabled && /ECONNRESET|socket hang up|Connection closed|closed before/i.test(text)) {
    return boundedText(`${where} closed the connection: if the nodes require client-to-node encryption, set ${FIELD}.tls.enabled: true (and the CA in ${FIELD}.tls.caSecretRef) (${backendErrorMessage(error)})`);
  }
  return boundedText(`cannot reach Cassandra at ${where}: ${backendErrorMessage(error)}`);
}

const shortClass = (c: string | undefined): string => (c ?? '').replace(/^org\.apache\.cassandra\.locator\./, '');

/** The keyspace's replication in words, from system_schema.keyspaces (remote text: tokens only). */
export function replicationText(r: Record<string, string>): string {
  const cls = shortClass(r.class);
  if (cls === 'SimpleStrategy') return `SimpleStrategy, replication factor ${remoteToken(r.replication_factor) ?? '?'}`;
  const dcs = Object.entries(r)
    .filter(([k]) => k !== 'class')
    .map(([dc, n]) => `${remoteToken(dc) ?? '?'}: ${remoteToken(n) ?? '?'}`);
  return `${remoteToken(cls) ?? 'an unrecognised strategy'}${dcs.length ? ` ${dcs.join(', ')}` : ''}`;
}

/** The replicas of the keyspace in the local datacenter (SimpleStrategy: the factor), or undefined. */
function localReplicas(r: Record<string, string>, datacenter: string): number | undefined {
  const n = Number(shortClass(r.class) === 'SimpleStrategy' ? r.replication_factor : r[datacenter]);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** how many replicas a consistency level waits for, where that is a fixed number */
const FIXED_LEVELS: Record<string, number> = { ONE: 1, LOCAL_ONE: 1, TWO: 2, THREE: 3 };

/** What the spec asks that the keyspace cannot give (replication differs, a consistency level above its replicas). */
function specProblem(config: CassandraConfig, replication: Record<string, string>, keyspace: string): CheckCondition | undefined {
  const datacenter = config.datacenter ?? CASSANDRA_DEFAULTS.datacenter;
  const strategy = config.replication?.strategy ?? CASSANDRA_DEFAULTS.strategy;
  const factor = config.replication?.factor ?? CASSANDRA_DEFAULTS.factor;
  const replicas = localReplicas(replication, datacenter);
  if (shortClass(replication.class) !== strategy || replicas !== factor) {
    const wanted = strategy === 'SimpleStrategy' ? `{'class': 'SimpleStrategy', 'replication_factor': ${factor}}` : `{'class': 'NetworkTopologyStrategy', '${datacenter}': ${factor}}`;
    return {
      status: 'False',
      reason: 'ReplicationMismatch',
      message: boundedText(
        `keyspace ${keyspace} has ${replicationText(replication)}, but ${FIELD}.replication asks for ${strategy} ${factor}: replication is set only when the keyspace is created; run ALTER KEYSPACE ${keyspace} WITH replication = ${wanted} and then nodetool repair, or change the spec to match`,
      ),
    };
  }
  for (const [field, level] of [['read', config.consistency?.read], ['write', config.consistency?.write]] as const) {
    const needs = level ? FIXED_LEVELS[level] : undefined;
    if (needs !== undefined && replicas !== undefined && needs > replicas) {
      return {
        status: 'False',
        reason: 'ConsistencyUnreachable',
        message: `${FIELD}.consistency.${field} is ${level}, which needs ${needs} replicas, but keyspace ${keyspace} keeps ${replicas} in datacenter ${datacenter}: every ${field} would fail; use LOCAL_QUORUM, or raise the replication`,
      };
    }
  }
  return undefined;
}

/** The conditions for a check's outcome. Pure. */
export function checkResult(o: CassandraOutcome, config: CassandraConfig, retention?: string): CheckResult {
  const where = endpointsText(config.endpoints);
  const keyspace = config.keyspace ?? CASSANDRA_DEFAULTS.keyspace;
  if (o.stage === 'connect') {
    let message: string;
    if (o.reason === 'AuthenticationFailed') {
      message = config.credentialsSecretRef
        ? `Cassandra refused the user of ${FIELD}.credentialsSecretRef (Secret "${config.credentialsSecretRef.name}"): correct the user name or password in the Secret`
        : `Cassandra at ${where} requires authentication: set ${FIELD}.credentialsSecretRef to a Secret with a user name and password`;
      message = boundedText(message);
    } else message = connectMessage(o.error, config);
    return { reachable: { status: 'False', reason: o.reason, message }, schema: SCHEMA_WAITING };
  }
  const version = remoteToken(o.version) ?? '(unrecognised version)';
  const datacenter = config.datacenter ?? CASSANDRA_DEFAULTS.datacenter;
  const reachable: CheckCondition = { status: 'True', reason: 'Connected', message: boundedText(`Cassandra ${version} at ${where} (datacenter ${datacenter})`) };
  if (o.stage === 'inUse') {
    const message = boundedText(
      `keyspace ${keyspace} belongs to TraceStore ${o.holder}: two TraceStores on one keyspace would read each other's traces and overwrite each other's retention; set ${FIELD}.keyspace to a keyspace of this TraceStore's own`,
    );
    return { reachable, schema: { status: 'False', reason: 'KeyspaceInUse', message } };
  }
  if (o.stage === 'provision') {
    let message: string;
    if (isUnauthorized(o.error)) {
      message = `the user of ${FIELD}.credentialsSecretRef may not change the schema of keyspace ${keyspace}: grant it CREATE ON ALL KEYSPACES (or create keyspace ${keyspace} and grant it ALL PERMISSIONS ON KEYSPACE ${keyspace})`;
    } else if (o.error instanceof StorageError && o.error.code === 'InvalidArgument') {
      message = /^replication\.factor: /.test(o.error.message) ? `${FIELD}.${o.error.message}` : `${FIELD}.keyspace: ${o.error.message}`;
    } else message = `provisioning keyspace ${keyspace}: ${backendErrorMessage(o.error)}`;
    return { reachable, schema: { status: 'False', reason: 'ProvisioningFailed', message: boundedText(message) } };
  }
  const problem = specProblem(config, o.replication, keyspace);
  if (problem) return { reachable, schema: problem, schemaVersion: String(o.schemaVersion) };
  const ttl = o.ttlSeconds > 0 ? `default TTL ${o.ttlSeconds}s${retention ? ` (retention ${retention})` : ''}` : 'no TTL';
  return {
    reachable,
    schema: { status: 'True', reason: 'Provisioned', message: boundedText(`schema version ${o.schemaVersion} in keyspace ${keyspace} (${replicationText(o.replication)}), ${ttl}, compaction windows of ${o.windowHours}h`) },
    schemaVersion: String(o.schemaVersion),
  };
}

export async function runCassandraCheck(config: CassandraConfig, retention: string | undefined, secret: CassandraSecrets, owner?: string): Promise<CheckResult> {
  return checkResult(await checkOutcome(config, retention, secret, owner), config, retention);
}

/** deletionPolicy Delete: drops the keyspace when it is ours and `owner`'s; returns why it kept it otherwise. */
export async function cleanupCassandra(config: CassandraConfig, secret: CassandraSecrets, owner?: string, signal?: AbortSignal): Promise<{ kept: string } | undefined> {
  signal?.throwIfAborted();
  const backend = new CassandraBackend({ ...cassandraSettings(config, undefined, secret), requestTimeoutMs: 15_000 });
  try {
    const kept = await withDeadline(backend.dropKeyspace(owner), CASSANDRA_CHECK_DEADLINE_MS, () => backend.close(), signal);
    return kept ? { kept } : undefined;
  } finally {
    await backend.close().catch(() => undefined);
  }
}
