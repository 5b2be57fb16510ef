// Connects to a TraceStore's backend and provisions it through the backend plug-in's check (handed in by the
// composition root, so this side loads no database client), off the reconcile path: reconcile asks for the state
// of the current fingerprint (backend spec, retention, Secret versions, provisioned schema version) and gets it at
// once; a missing or outdated check starts in the background and re-enqueues the TraceStore when it ends.
// Successful checks are repeated every RECHECK_MS, failed ones after RETRY_MS. Secret values are handed to the
// plug-in here; they never reach logs, status or events.
import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { CheckCondition, CheckRequest, CheckResult, OperatorBackendPlugin, SecretReference } from '../api/backend-plugin.js';
import type { TraceStore } from '../api/tracestore.js';
import type { ConditionInput } from '../reconcilers/conditions.js';
import { backendErrorMessage } from '../api/redact.js';
import { backendSpecOf } from '../reconcilers/tracestore/backend-pod.js';

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

export const SCHEMA_WAITING: ConditionInput = { type: 'SchemaReady', status: 'Unknown', reason: 'Pending', message: 'waiting for the backend connection' };

const reachable = (c: CheckCondition): ConditionInput => ({ type: 'BackendReachable', ...c });
const pending = (message: string): CheckState => ({ reachable: { type: 'BackendReachable', status: 'Unknown', reason: 'Checking', message }, schema: SCHEMA_WAITING });

/** Reads `key` of a Secret (base64 data or stringData), or undefined. */
export function secretValue(secret: V1Secret | undefined, key: string): string | undefined {
  const b64 = secret?.data?.[key];
  if (b64 !== undefined) return Buffer.from(b64, 'base64').toString('utf8');
  return secret?.stringData?.[key];
}

/** The values of each reference's keys, or the problem (missing Secret or key) that stops the check. */
export function readSecrets(
  ts: TraceStore,
  refs: SecretReference[],
  secretOf: (name: string) => V1Secret | undefined,
): { values: Record<string, Record<string, string>> } | { problem: ConditionInput } {
  const values: Record<string, Record<string, string>> = {};
  for (const ref of refs) {
    const secret = secretOf(ref.name);
    if (!secret) return { problem: { type: 'BackendReachable', status: 'False', reason: 'SecretNotFound', message: `${ref.field}: Secret "${ref.name}" not found in namespace ${ts.metadata.namespace}: create it with the key${ref.keys.length > 1 ? 's' : ''} ${ref.keys.join(' and ')}` } };
    const v: Record<string, string> = {};
    for (const key of ref.keys) {
      const value = secretValue(secret, key);
      if (value === undefined) return { problem: { type: 'BackendReachable', status: 'False', reason: 'SecretNotFound', message: `${ref.field}: Secret "${ref.name}" lacks the key ${key}` } };
      v[key] = value;
    }
    values[ref.field] = v;
  }
  return { values };
}

export class BackendChecker {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly enqueue: (key: string) => void,
    private readonly log: Logger,
  ) {}

  forget(key: string): void {
    this.entries.delete(key);
  }

  /**
   * The state for this TraceStore's current configuration; starts a check when none is current.
   * `secretOf` reads a referenced Secret from the cache (undefined = missing).
   */
  state(key: string, ts: TraceStore, plugin: OperatorBackendPlugin & Required<Pick<OperatorBackendPlugin, 'check'>>, secretOf: (name: string) => V1Secret | undefined): CheckState {
    const check = plugin.check;
    const spec = backendSpecOf(ts.spec, plugin);
    const refs = plugin.secretReferences(spec);
    const read = readSecrets(ts, refs, secretOf);
    if ('problem' in read) return { reachable: read.problem, schema: SCHEMA_WAITING };

    const fingerprint = createHash('sha256')
      .update(JSON.stringify([plugin.type, spec, ts.spec?.retention, refs.map((r) => secretOf(r.name)?.metadata?.resourceVersion), check.schemaVersion]))
      .digest('hex');
    let e = this.entries.get(key);
    const stale = e && !e.running && Date.now() - e.finishedAt > (e.ok ? RECHECK_MS : RETRY_MS);
    if (!e || e.fingerprint !== fingerprint || stale) {
      const previous = e?.fingerprint === fingerprint ? e.state : undefined;
      e = { fingerprint, running: true, finishedAt: 0, ok: false, ...(previous ? { state: previous } : {}) };
      this.entries.set(key, e);
      void this.run(key, e, plugin, { spec, ...(ts.spec?.retention ? { retention: ts.spec.retention } : {}), secrets: read.values, owner: `${ts.metadata.namespace}/${ts.metadata.name}` });
    }
    if (!e.state) return { ...pending(`connecting to ${check.describe(spec)}`), requeueAfterMs: RETRY_MS };
    return { ...e.state, requeueAfterMs: e.ok ? RECHECK_MS : RETRY_MS };
  }

  private async run(key: string, e: Entry, plugin: OperatorBackendPlugin & Required<Pick<OperatorBackendPlugin, 'check'>>, req: CheckRequest): Promise<void> {
    let result: CheckResult;
    try {
      result = await plugin.check.run(req);
    } catch (error) {
      // a plug-in reports its failures as conditions; anything thrown is a bug or an unexpected failure
      result = { reachable: { status: 'False', reason: 'Unreachable', message: backendErrorMessage(error) }, schema: { status: 'Unknown', reason: 'Pending', message: SCHEMA_WAITING.message } };
    }
    const state: CheckState = {
      reachable: reachable(result.reachable),
      schema: { type: 'SchemaReady', ...result.schema },
      ...(result.schemaVersion !== undefined ? { schemaVersion: result.schemaVersion } : {}),
    };
    const ok = result.reachable.status === 'True' && result.schema.status === 'True';
    if (this.entries.get(key) !== e) return; // superseded by a newer configuration
    e.state = state;
    e.ok = ok;
    e.running = false;
    e.finishedAt = Date.now();
    this.log.info({ traceStore: key, reachable: state.reachable.reason, schema: state.schema.reason }, 'backend checked');
    this.enqueue(key);
  }
}
