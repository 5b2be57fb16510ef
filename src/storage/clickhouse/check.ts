// The operator's check of a ClickHouse backend: connect, provision the database (versioned migrations, TTL from the
// retention), claim it for the TraceStore, and word the outcome as conditions with the same reasons as the other
// external backends. Remote text reaches them only through the redaction helpers. Loaded by the plug-in on demand
// (it brings in the HTTP client).
import type { CheckCondition, CheckResult } from '../../api/backend-plugin.js';
import { backendErrorMessage, boundedText, printableEndpoints, remoteToken } from '../../api/redact.js';
import { withDeadline } from '../api/abortable.js';
import { StorageError } from '../api/errors.js';
import type { HttpCredentials } from '../api/http-secrets.js';
import { CLICKHOUSE_DEFAULTS, type ClickHouseConfig, clickhouseSettings } from './config.js';
import { ClickHouseAuthError } from './connection.js';
import { ClickHouseBackend } from './store.js';

const FIELD = 'spec.backend.clickhouse';
/** a check or cleanup that has not finished by then is abandoned */
export const CLICKHOUSE_CHECK_DEADLINE_MS = 45_000;

export type ClickHouseOutcome =
  | { stage: 'connect'; reason: 'AuthenticationFailed' | 'Unreachable'; error: unknown }
  | { stage: 'provision'; error: unknown; version: string }
  | { stage: 'inUse'; holder: string; version: string }
  | { stage: 'ready'; schemaVersion: number; version: string; ttlSeconds: number; applied: number[] };

const SCHEMA_WAITING: CheckCondition = { status: 'Unknown', reason: 'Pending', message: 'waiting for the backend connection' };

export async function checkOutcome(config: ClickHouseConfig, retention: string | undefined, secret: HttpCredentials, owner?: string): Promise<ClickHouseOutcome> {
  const backend = new ClickHouseBackend({ ...clickhouseSettings(config, retention, secret), requestTimeoutMs: 15_000, maxTries: 1 });
  const run = async (): Promise<ClickHouseOutcome> => {
    let version: string;
    try {
      version = await backend.serverVersion();
    } catch (error) {
      return { stage: 'connect', reason: error instanceof ClickHouseAuthError ? 'AuthenticationFailed' : 'Unreachable', error };
    }
    try {
      await backend.provision();
      const holder = owner ? await backend.claim(owner) : undefined;
      if (holder !== undefined && holder !== owner) return { stage: 'inUse', holder, version };
    } catch (error) {
      return { stage: 'provision', error, version };
    }
    return { stage: 'ready', schemaVersion: backend.provisioned?.version ?? 0, version, ttlSeconds: backend.schema.ttlSeconds, applied: backend.provisioned?.applied ?? [] };
  };
  try {
    return await withDeadline(run(), CLICKHOUSE_CHECK_DEADLINE_MS, () => backend.close());
  } catch (error) {
    return { stage: 'connect', reason: 'Unreachable', error };
  } finally {
    await backend.close().catch(() => undefined);
  }
}

/** A connection failure, with what to change where the cause is recognisable (TLS trust, TLS mismatch). */
function connectMessage(error: unknown, config: ClickHouseConfig): string {
  const where = printableEndpoints(config.endpoints);
  const text = error instanceof Error ? error.message : String(error);
  const untrusted = /unable to (?:verify the first|get local issuer|get issuer) certificate|self[- ]signed certificate(?: in certificate chain)?|certificate signature failure/i.exec(text)?.[0];
  if (untrusted) {
    const ca = config.tls?.caSecretRef;
    const fix = ca
      ? `the CA in the Secret "${ca.name}" of ${FIELD}.tls.caSecretRef did not sign it: put the CA that did there`
      : `put the CA that signed it in a Secret (key ${CLICKHOUSE_DEFAULTS.caKey}) and name the Secret in ${FIELD}.tls.caSecretRef, or set ${FIELD}.tls.insecureSkipVerify: true (testing only)`;
    return boundedText(`the TLS certificate of ${where} is not trusted (${untrusted}): ${fix}`);
  }
  if (/altnames|does not match certificate/i.test(text)) return boundedText(`the TLS certificate of ${where} does not name the host of the endpoint: use a host name the certificate lists`);
  if (/wrong version number|packet length too long|unknown protocol/i.test(text)) return boundedText(`${where} does not speak TLS on this port: use http:// endpoints, or the server's https_port`);
  return boundedText(`cannot reach ClickHouse at ${where}: ${backendErrorMessage(error)}`);
}

/** The conditions for a check's outcome. Pure. */
export function checkResult(o: ClickHouseOutcome, config: ClickHouseConfig, retention?: string): CheckResult {
  const where = printableEndpoints(config.endpoints);
  const database = config.database ?? CLICKHOUSE_DEFAULTS.database;
  if (o.stage === 'connect') {
    const message =
      o.reason === 'AuthenticationFailed'
        ? config.credentialsSecretRef
          ? `ClickHouse refused the user of ${FIELD}.credentialsSecretRef (Secret "${config.credentialsSecretRef.name}"): correct the user name or password in the Secret`
          : `ClickHouse at ${where} requires authentication: set ${FIELD}.credentialsSecretRef to a Secret with a user name and password`
        : connectMessage(o.error, config);
    return { reachable: { status: 'False', reason: o.reason, message: boundedText(message) }, schema: SCHEMA_WAITING };
  }
  const version = remoteToken(o.version) ?? '(unrecognised version)';
  const reachable: CheckCondition = { status: 'True', reason: 'Connected', message: boundedText(`ClickHouse ${version} at ${where}${config.cluster ? ` (cluster ${config.cluster})` : ''}`) };
  if (o.stage === 'inUse') {
    const message = `database ${database} belongs to TraceStore ${o.holder}: two TraceStores on one database would read each other's traces and overwrite each other's retention; set ${FIELD}.database to a database of this TraceStore's own`;
    return { reachable, schema: { status: 'False', reason: 'DatabaseInUse', message: boundedText(message) } };
  }
  if (o.stage === 'provision') {
    const e = o.error;
    const text = e instanceof Error ? e.message : String(e);
    let message: string;
    if (/ACCESS_DENIED|Not enough privileges/i.test(text)) {
      message = `the user of ${FIELD}.credentialsSecretRef may not change the schema of database ${database}: grant it CREATE, ALTER, DROP, INSERT and SELECT ON ${database}.* (and CREATE DATABASE, or create the database first)`;
    } else if (e instanceof StorageError && e.code === 'InvalidArgument' && /^database: /.test(e.message)) {
      message = `${FIELD}.${e.message}`;
    } else message = `provisioning database ${database}: ${backendErrorMessage(e)}`;
    return { reachable, schema: { status: 'False', reason: 'ProvisioningFailed', message: boundedText(message) } };
  }
  const ttl = o.ttlSeconds > 0 ? `TTL ${o.ttlSeconds}s${retention ? ` (retention ${retention})` : ''}` : 'no TTL';
  const migrated = o.applied.length ? `, migrated now: ${o.applied.join(', ')}` : '';
  return {
    reachable,
    schema: { status: 'True', reason: 'Provisioned', message: boundedText(`schema version ${o.schemaVersion} in database ${database}, ${ttl}${migrated}`) },
    schemaVersion: String(o.schemaVersion),
  };
}

export async function runClickHouseCheck(config: ClickHouseConfig, retention: string | undefined, secret: HttpCredentials, owner?: string): Promise<CheckResult> {
  return checkResult(await checkOutcome(config, retention, secret, owner), config, retention);
}

/** deletionPolicy Delete: drops the database when it is ours and `owner`'s; returns why it kept it otherwise. */
export async function cleanupClickHouse(config: ClickHouseConfig, secret: HttpCredentials, owner?: string, signal?: AbortSignal): Promise<{ kept: string } | undefined> {
  signal?.throwIfAborted();
  const backend = new ClickHouseBackend({ ...clickhouseSettings(config, undefined, secret), requestTimeoutMs: 15_000 });
  try {
    const kept = await withDeadline(backend.dropDatabase(owner), CLICKHOUSE_CHECK_DEADLINE_MS, () => backend.close(), signal);
    return kept ? { kept } : undefined;
  } finally {
    await backend.close().catch(() => undefined);
  }
}
