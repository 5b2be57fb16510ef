// The operator's check of an Elasticsearch/OpenSearch backend: connect, make sure the server is the product the
// spec names, provision, and word the outcome as conditions. Remote text reaches them only through the redaction
// helpers. Loaded by the plug-in on demand (it brings in the search clients).
import type { CheckCondition, CheckResult } from '../../api/backend-plugin.js';
import { backendErrorMessage, boundedText, printableEndpoints, remoteToken } from '../../api/redact.js';
import { AuthError, UnsupportedVersionError } from './client.js';
import { type SearchConfig, searchSettings } from './config.js';
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

/** The conditions for a check's outcome. Pure. */
export function checkResult(o: CheckOutcome, type: SearchType, config: Pick<SearchConfig, 'endpoints' | 'layout'>): CheckResult {
  const where = printableEndpoints(config.endpoints);
  if (o.stage === 'connect') return { reachable: { status: 'False', reason: o.reason, message: backendErrorMessage(o.error) }, schema: SCHEMA_WAITING };
  // the version string comes from the remote server: printed only when it looks like a version
  const version = remoteToken(o.version) ?? '(unrecognised version)';
  const product = remoteToken(o.distribution) ?? '(unrecognised product)';
  if (o.stage === 'wrongProduct') {
    const message = boundedText(`${where} is ${product} ${version}, but the TraceStore says ${type}: use spec.backend.${product}`);
    return { reachable: { status: 'False', reason: 'UnsupportedVersion', message }, schema: SCHEMA_WAITING };
  }
  const reachable: CheckCondition = { status: 'True', reason: 'Connected', message: boundedText(`${product} ${version} at ${where}`) };
  if (o.stage === 'provision') return { reachable, schema: { status: 'False', reason: 'ProvisioningFailed', message: backendErrorMessage(o.error) } };
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
