// The operator's check of an Elasticsearch/OpenSearch backend: connect, make sure the server is the product the
// spec names, provision, and word the outcome as conditions. Remote text reaches them only through the redaction
// helpers. Loaded by the plug-in on demand (it brings in the search clients).
import type { CheckCondition, CheckResult } from '../../api/backend-plugin.js';
import { backendErrorMessage, boundedText, printableEndpoints, remoteToken } from '../../api/redact.js';
import { AuthError, UnsupportedVersionError } from './client.js';
import { SEARCH_DEFAULTS, type SearchConfig, searchSettings } from './config.js';
import { SearchBackend } from './store.js';

export type SearchType = 'opensearch' | 'elasticsearch';

export interface SearchCredentials {
  username?: string;
  password?: string;
  ca?: string;
}

/** How far a check got; the server's self-description is remote text (printed only after checking it). */
export type CheckOutcome =
  | { stage: 'connect'; reason: 'AuthenticationFailed' | 'UnsupportedVersion' | 'Unreachable'; error: unknown }
  /** the server is another product than the spec names: nothing was provisioned */
  | { stage: 'wrongProduct'; distribution: string; version: string }
  | { stage: 'provision'; error: unknown; distribution: string; version: string }
  | { stage: 'ready'; schemaVersion: number; lifecycle: string; distribution: string; version: string };

export const SCHEMA_WAITING: CheckCondition = { status: 'Unknown', reason: 'Pending', message: 'waiting for the backend connection' };

export async function checkOutcome(type: SearchType, config: SearchConfig, retention: string | undefined, secret: SearchCredentials): Promise<CheckOutcome> {
  const backend = new SearchBackend(type, { ...searchSettings(config, retention, secret), requestTimeoutMs: 15_000 });
  try {
    let server;
    try {
      const info = await backend.client.connect();
      server = { distribution: info.distribution, version: info.version };
    } catch (error) {
      return { stage: 'connect', reason: error instanceof AuthError ? 'AuthenticationFailed' : error instanceof UnsupportedVersionError ? 'UnsupportedVersion' : 'Unreachable', error };
    }
    if (server.distribution !== type) return { stage: 'wrongProduct', ...server };
    try {
      await backend.provision();
    } catch (error) {
      return { stage: 'provision', error, ...server };
    }
    const p = backend.provisioned!;
    return { stage: 'ready', schemaVersion: p.schemaVersion, lifecycle: p.lifecycle, ...server };
  } finally {
    await backend.close();
  }
}

type CheckConfig = Pick<SearchConfig, 'endpoints' | 'layout' | 'indexPrefix' | 'tls' | 'credentialsSecretRef'>;

/** What the user must grant when the server authenticated the user but refused an action (403). */
function privilegesMessage(error: AuthError, type: SearchType, config: CheckConfig): string {
  const where = printableEndpoints(config.endpoints);
  // our own wording of the refused request ("denied PUT /_index_template/x (403, action ..., granted by ...)"),
  // where the action and privileges were taken from the server's answer by strict token patterns
  const refused = /denied ([A-Z]+ \/\S*) \((403[^()]*)\)/.exec(error.message);
  const action = refused ? `${refused[1]} (${refused[2]})` : 'a request (403)';
  const p = config.indexPrefix ? `${config.indexPrefix}-` : '';
  const targets = `${p}jaeger-*${config.layout === 'dataStream' ? ` and ${config.indexPrefix ? `${config.indexPrefix}.` : ''}jaeger.spans*` : ''}`;
  const grant =
    type === 'elasticsearch'
      ? `the cluster privileges monitor, manage_index_templates and manage_ilm, and the index privileges create_index, delete_index, manage, read, write and view_index_metadata on ${targets} (README: Elasticsearch and OpenSearch privileges)`
      : `the cluster permissions cluster_monitor, cluster_manage_index_templates and those of index state management, and indices_all on ${targets}`;
  if (!config.credentialsSecretRef) return boundedText(`${where} denied ${action} without credentials: set spec.backend.${type}.credentialsSecretRef to a user whose role has ${grant}`);
  return boundedText(`${where} accepted the user of spec.backend.${type}.credentialsSecretRef but denied ${action}: the user lacks privileges; give its role ${grant}`);
}

/** A connection failure, with what to change where the cause is recognisable (TLS trust, plain HTTP to an HTTPS port). */
function connectMessage(error: unknown, type: SearchType, config: CheckConfig): string {
  // an HTTP answer carries the server's words: only our own wording of connection failures is looked into
  if (typeof (error as { status?: unknown } | undefined)?.status === 'number') return backendErrorMessage(error);
  const text = error instanceof Error ? error.message : String(error);
  const field = `spec.backend.${type}`;
  const where = printableEndpoints(config.endpoints);
  // Node's verification errors: an untrusted issuer or a self-signed certificate (the CA is missing or another one)
  const untrusted = /unable to (?:verify the first|get local issuer|get issuer) certificate|self[- ]signed certificate(?: in certificate chain)?|certificate signature failure/i.exec(text)?.[0];
  if (untrusted) {
    const ca = config.tls?.caSecretRef;
    const fix = ca
      ? `the CA in the Secret "${ca.name}" of ${field}.tls.caSecretRef did not sign it: put the CA that did there`
      : `put the CA that signed it in a Secret (key ${SEARCH_DEFAULTS.caKey}) and name the Secret in ${field}.tls.caSecretRef, or set ${field}.tls.insecureSkipVerify: true to skip verification (testing only)`;
    return boundedText(`the TLS certificate of ${where} is not trusted (${untrusted}): ${fix}`);
  }
  if (/certificate has expired/i.test(text)) return boundedText(`the TLS certificate of ${where} has expired: renew the server's certificate`);
  if (/altnames|does not match certificate/i.test(text)) {
    return boundedText(`the TLS certificate of ${where} does not name the host of the endpoint: use a host name in ${field}.endpoints that the certificate lists`);
  }
  if (/socket hang up|ECONNRESET|connection reset/i.test(text) && config.endpoints.some((e) => e.toLowerCase().startsWith('http://'))) {
    return boundedText(`${where} closed the connection on a plain HTTP request: if the server serves HTTPS, use https:// in ${field}.endpoints (and its CA in ${field}.tls.caSecretRef)`);
  }
  return backendErrorMessage(error);
}

/** The conditions for a check's outcome. Pure. */
export function checkResult(o: CheckOutcome, type: SearchType, config: CheckConfig): CheckResult {
  const where = printableEndpoints(config.endpoints);
  if (o.stage === 'connect') {
    const message =
      o.error instanceof AuthError && o.error.status === 403
        ? privilegesMessage(o.error, type, config)
        : o.error instanceof AuthError && !config.credentialsSecretRef
          ? boundedText(`${where} requires credentials (401): set spec.backend.${type}.credentialsSecretRef to a Secret with a user name and password`)
          : o.reason === 'Unreachable'
            ? connectMessage(o.error, type, config)
            : backendErrorMessage(o.error);
    return { reachable: { status: 'False', reason: o.reason, message }, schema: SCHEMA_WAITING };
  }
  // the version string comes from the remote server: printed only when it looks like a version
  const version = remoteToken(o.version) ?? '(unrecognised version)';
  const product = remoteToken(o.distribution) ?? '(unrecognised product)';
  if (o.stage === 'wrongProduct') {
    const message = boundedText(`${where} is ${product} ${version}, but the TraceStore says ${type}: use spec.backend.${product}`);
    return { reachable: { status: 'False', reason: 'UnsupportedVersion', message }, schema: SCHEMA_WAITING };
  }
  const reachable: CheckCondition = { status: 'True', reason: 'Connected', message: boundedText(`${product} ${version} at ${where}`) };
  if (o.stage === 'provision') {
    const message = o.error instanceof AuthError && o.error.status === 403 ? privilegesMessage(o.error, type, config) : backendErrorMessage(o.error);
    return { reachable, schema: { status: 'False', reason: 'ProvisioningFailed', message } };
  }
  const by = o.lifecycle === 'runtime' ? 'the runtime' : o.lifecycle === 'none' ? 'nobody (no retention set)' : o.lifecycle.toUpperCase();
  return {
    reachable,
    schema: { status: 'True', reason: 'Provisioned', message: `schema version ${o.schemaVersion}, layout ${config.layout ?? 'daily'}, rollover and retention by ${by}` },
    schemaVersion: String(o.schemaVersion),
  };
}

export async function runCheck(type: SearchType, config: SearchConfig, retention: string | undefined, secret: SearchCredentials): Promise<CheckResult> {
  let outcome: CheckOutcome;
  try {
    outcome = await checkOutcome(type, config, retention, secret);
  } catch (error) {
    outcome = { stage: 'connect', reason: 'Unreachable', error };
  }
  return checkResult(outcome, type, config);
}
