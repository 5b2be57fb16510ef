// Connects to a TraceStore's Elasticsearch/OpenSearch and provisions it (through the backend's probe, handed in by
// the composition root, so this side loads no database client), off the reconcile path: reconcile asks
// for the state of the current fingerprint (backend spec, retention, Secret versions) and gets it at once; a
// missing or outdated check starts in the background and re-enqueues the TraceStore when it ends. Successful
// checks are repeated every RECHECK_MS, failed ones after RETRY_MS. Credentials are read from the Secret here
// and handed to the client; they never reach logs, status or events.
import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { BackendProbes, ProbeOutcome, ProbedBackendType, SearchSpec } from '../api/backend-probe.js';
import type { TraceStore } from '../api/tracestore.js';
import type { ConditionInput } from '../reconcilers/conditions.js';
import { backendErrorMessage, boundedText, printableEndpoints, remoteToken } from '../api/redact.js';

export const RECHECK_MS = 5 * 60_000;
export const RETRY_MS = 10_000;

export interface CheckState {
  reachable: ConditionInput;
  schema: ConditionInput;
  schemaVersion?: string;
  /** reconcile again after this long */
  requeueAfterMs?: number;
}

interface Entry {
  fingerprint: string;
  running: boolean;
  state?: CheckState;
  finishedAt: number;
  ok: boolean;
}

const SCHEMA_WAITING: ConditionInput = { type: 'SchemaReady', status: 'Unknown', reason: 'Pending', message: 'waiting for the backend connection' };

const pending = (message: string): CheckState => ({ reachable: { type: 'BackendReachable', status: 'Unknown', reason: 'Checking', message }, schema: SCHEMA_WAITING });

/** Reads `key` of a Secret (base64 data or stringData), or undefined. */
export function secretValue(secret: V1Secret | undefined, key: string): string | undefined {
  const b64 = secret?.data?.[key];
  if (b64 !== undefined) return Buffer.from(b64, 'base64').toString('utf8');
  return secret?.stringData?.[key];
}

export class BackendChecker {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly probes: BackendProbes,
    private readonly enqueue: (key: string) => void,
    private readonly log: Logger,
  ) {}

  forget(key: string): void {
    this.entries.delete(key);
  }

  /**
   * The state for this TraceStore's current configuration; starts a check when none is current.
   * `secrets` are the referenced Secrets as read from the cache (undefined = missing).
   */
  state(key: string, ts: TraceStore, type: ProbedBackendType, spec: SearchSpec, secrets: { credentials?: V1Secret; ca?: V1Secret }): CheckState {
    const field = `spec.backend.${type}`;
    const probe = this.probes[type];
    if (!probe) {
      return { reachable: { type: 'BackendReachable', status: 'Unknown', reason: 'NotChecked', message: `this operator was started without a check for ${type} backends` }, schema: SCHEMA_WAITING };
    }
    const cred = spec.credentialsSecretRef;
    if (cred && !secrets.credentials) return this.secretProblem(`${field}.credentialsSecretRef: Secret "${cred.name}" not found in namespace ${ts.metadata.namespace}: create it with the keys ${cred.usernameKey ?? 'username'} and ${cred.passwordKey ?? 'password'}`);
    const username = cred ? secretValue(secrets.credentials, cred.usernameKey ?? 'username') : undefined;
    const password = cred ? secretValue(secrets.credentials, cred.passwordKey ?? 'password') : undefined;
    if (cred && (username === undefined || password === undefined)) {
      return this.secretProblem(`${field}.credentialsSecretRef: Secret "${cred.name}" lacks the key ${username === undefined ? (cred.usernameKey ?? 'username') : (cred.passwordKey ?? 'password')}`);
    }
    const caRef = spec.tls?.caSecretRef;
    if (caRef && !secrets.ca) return this.secretProblem(`${field}.tls.caSecretRef: Secret "${caRef.name}" not found in namespace ${ts.metadata.namespace}`);
    const ca = caRef ? secretValue(secrets.ca, caRef.key ?? 'ca.crt') : undefined;
    if (caRef && ca === undefined) return this.secretProblem(`${field}.tls.caSecretRef: Secret "${caRef.name}" lacks the key ${caRef.key ?? 'ca.crt'}`);

    const fingerprint = createHash('sha256')
      .update(JSON.stringify([spec, ts.spec?.retention, secrets.credentials?.metadata?.resourceVersion, secrets.ca?.metadata?.resourceVersion, probe.schemaVersion]))
      .digest('hex');
    let e = this.entries.get(key);
    const stale = e && !e.running && Date.now() - e.finishedAt > (e.ok ? RECHECK_MS : RETRY_MS);
    if (!e || e.fingerprint !== fingerprint || stale) {
      const previous = e?.fingerprint === fingerprint ? e.state : undefined;
      e = { fingerprint, running: true, finishedAt: 0, ok: false, ...(previous ? { state: previous } : {}) };
      this.entries.set(key, e);
      void this.run(key, e, type, spec, ts.spec?.retention, username, password, ca);
    }
    if (!e.state) return { ...pending(`connecting to ${printableEndpoints(spec.endpoints)}`), requeueAfterMs: RETRY_MS };
    return { ...e.state, requeueAfterMs: e.ok ? RECHECK_MS : RETRY_MS };
  }

  private secretProblem(message: string): CheckState {
    return {
      reachable: { type: 'BackendReachable', status: 'False', reason: 'SecretNotFound', message },
      schema: SCHEMA_WAITING,
    };
  }

  private async run(key: string, e: Entry, type: ProbedBackendType, spec: SearchSpec, retention: string | undefined, username?: string, password?: string, ca?: string): Promise<void> {
    let outcome: ProbeOutcome;
    try {
      outcome = await this.probes[type]!.probe({ type, spec, ...(retention ? { retention } : {}), ...(username !== undefined ? { username, password: password ?? '' } : {}), ...(ca ? { ca } : {}) });
    } catch (error) {
      outcome = { stage: 'connect', reason: 'Unreachable', error };
    }
    const state = checkState(outcome, type, spec);
    const ok = outcome.stage === 'ready';
    if (this.entries.get(key) !== e) return; // superseded by a newer configuration
    e.state = state;
    e.ok = ok;
    e.running = false;
    e.finishedAt = Date.now();
    this.log.info({ traceStore: key, reachable: state.reachable.reason, schema: state.schema.reason }, 'backend checked');
    this.enqueue(key);
  }
}

/** The conditions for a probe's outcome; remote text is printed only through the redaction helpers. */
function checkState(o: ProbeOutcome, type: ProbedBackendType, spec: SearchSpec): CheckState {
  const where = printableEndpoints(spec.endpoints);
  if (o.stage === 'connect') return { reachable: { type: 'BackendReachable', status: 'False', reason: o.reason, message: backendErrorMessage(o.error) }, schema: SCHEMA_WAITING };
  // the version string comes from the remote server: printed only when it looks like a version
  const version = remoteToken(o.version) ?? '(unrecognised version)';
  if (o.stage === 'wrongProduct') {
    const message = boundedText(`${where} is ${o.distribution} ${version}, but the TraceStore says ${type}: use spec.backend.${o.distribution}`);
    return { reachable: { type: 'BackendReachable', status: 'False', reason: 'UnsupportedVersion', message }, schema: SCHEMA_WAITING };
  }
  const reachable: ConditionInput = { type: 'BackendReachable', status: 'True', reason: 'Connected', message: `${o.distribution} ${version} at ${where}` };
  if (o.stage === 'provision') return { reachable, schema: { type: 'SchemaReady', status: 'False', reason: 'ProvisioningFailed', message: backendErrorMessage(o.error) } };
  const by = o.lifecycle === 'runtime' ? 'the runtime' : o.lifecycle === 'none' ? 'nobody (no retention set)' : o.lifecycle.toUpperCase();
  return {
    reachable,
    schema: { type: 'SchemaReady', status: 'True', reason: 'Provisioned', message: `schema version ${o.schemaVersion}, layout ${spec.layout ?? 'daily'}, rollover and retention by ${by}` },
    schemaVersion: String(o.schemaVersion),
  };
}
