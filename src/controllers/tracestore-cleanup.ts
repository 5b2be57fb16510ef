// spec.deletionPolicy: Delete for backends that keep data outside the cluster. While the policy is Delete the
// TraceStore carries a finalizer; when it is deleted, the backend plug-in's cleanup drops the store's data (with the
// Secrets the TraceStore may use, under the plug-in's Secret policy), then the finalizer is removed and Kubernetes
// deletes the object. The cleanup runs off the reconcile path (a dead backend never holds a worker) and is retried;
// it gives up, keeping the data, after GIVE_UP_MS, or SECRET_GONE_GIVE_UP_MS once a referenced Secret is gone (a
// namespace deletion removes the Secrets at once), so a TraceStore never blocks its namespace forever. It never
// drops data another TraceStore uses (the plug-in's dataKey). Each outcome is an event.
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { BackendSpec, CheckRequest, OperatorBackendPlugin } from '../api/backend-plugin.js';
import { API_VERSION } from '../api/common.js';
import { DELETE_DATA_FINALIZER } from '../api/contract.js';
import { backendErrorMessage } from '../api/redact.js';
import { type TraceStore, backendTypeOf } from '../api/tracestore.js';
import { type KubeClient, resourcePath } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { type KubeObject, keyOf } from '../kube/informer.js';
import { TRACESTORES } from '../kube/resources.js';
import { backendSpecOf } from '../reconcilers/tracestore/backend-pod.js';
import { type SecretLookup, secretProblem } from '../reconcilers/tracestore/secrets.js';
import { readSecrets } from './backend-check.js';

/** The finalizer is owned by its own field manager, so applying it never touches what else the operator applies. */
const FINALIZER_MANAGER = 'jaeger-storage-operator-finalizer';
export const CLEANUP_RETRY_MS = 15_000;
/** one attempt may take this long before it is aborted */
export const CLEANUP_ATTEMPT_MS = 60_000;
export const GIVE_UP_MS = 10 * 60_000;
export const SECRET_GONE_GIVE_UP_MS = 60_000;

/** Whether the TraceStore should carry the finalizer: Delete policy and a backend with data of its own to drop. */
export const wantsCleanup = (ts: TraceStore, plugin: OperatorBackendPlugin): boolean => ts.spec?.deletionPolicy === 'Delete' && plugin.traits.externalState && !!plugin.cleanup;

export const hasFinalizer = (ts: TraceStore): boolean => ts.metadata.finalizers?.includes(DELETE_DATA_FINALIZER) ?? false;

/** Why the data cannot be dropped now: `gone` problems (a missing Secret) give up sooner. */
interface Blocked {
  message: string;
  secretGone: boolean;
}

interface Attempt {
  uid: string;
  running: boolean;
  /** the last failure, if the last attempt failed */
  failure?: string;
  done: boolean;
  /** why the plug-in kept the data instead of dropping it */
  kept?: string;
}

export interface CleanupDeps {
  client: KubeClient;
  events: EventRecorder;
  lookupSecret: (ts: TraceStore, name: string) => Promise<SecretLookup>;
  secretOf: (ts: TraceStore, name: string) => V1Secret | undefined;
  /** the other TraceStores the operator sees (for data shared between stores) */
  traceStores: () => TraceStore[];
  enqueue: (key: string) => void;
  log: Logger;
  now?: () => number;
}

export class DataCleanup {
  private readonly attempts = new Map<string, Attempt>();
  private readonly now: () => number;

  constructor(private readonly d: CleanupDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Adds or removes the finalizer to match the deletion policy (no write when it already matches). */
  async sync(ts: TraceStore, plugin: OperatorBackendPlugin): Promise<void> {
    const want = wantsCleanup(ts, plugin);
    if (want === hasFinalizer(ts)) return;
    await this.setFinalizer(ts, want);
    this.d.log.info({ traceStore: keyOf(ts as KubeObject), finalizer: want }, want ? 'deletionPolicy Delete: the backend data is dropped when the TraceStore is deleted' : 'finalizer removed: the data is kept when the TraceStore is deleted');
  }

  /** The TraceStore is being deleted: drop its data if it carries our finalizer, then let it go. Returns when to look again. */
  async finalize(ts: TraceStore, plugin: OperatorBackendPlugin | undefined): Promise<number | undefined> {
    if (!hasFinalizer(ts)) return undefined;
    const key = keyOf(ts as KubeObject);
    const obj = ts as KubeObject;
    const cleanup = plugin?.cleanup?.bind(plugin);
    if (!plugin || !cleanup || ts.spec?.deletionPolicy !== 'Delete') {
      if (ts.spec?.deletionPolicy === 'Delete') this.d.events.record(obj, 'Warning', 'DataKept', `the ${backendTypeOf(ts.spec?.backend) ?? 'backend'} data was not dropped: this operator version cannot clean up that backend`);
      return this.release(ts);
    }
    let spec: BackendSpec;
    try {
      spec = backendSpecOf(ts.spec, plugin);
    } catch {
      this.d.events.record(obj, 'Warning', 'DataKept', `the ${plugin.type} data was not dropped: spec.backend.${plugin.type} is not set`);
      return this.release(ts);
    }
    const shared = this.sharedWith(ts, plugin, spec);
    if (shared) {
      this.d.events.record(obj, 'Warning', 'DataKept', `the ${plugin.type} data was not dropped: TraceStore ${shared} uses the same data (the same ${plugin.type} location: endpoints and index prefix, or keyspace)`);
      return this.release(ts);
    }
    let a = this.attempts.get(key);
    if (a && a.uid !== ts.metadata.uid) a = undefined;
    if (a?.done && a.kept) {
      this.d.events.record(obj, 'Warning', 'DataKept', `the ${plugin.type} data was not dropped: ${a.kept}`);
      return this.release(ts);
    }
    if (a?.done) {
      this.d.events.record(obj, 'Normal', 'DataDeleted', `dropped the ${plugin.type} data of this TraceStore (deletionPolicy Delete)`);
      return this.release(ts);
    }
    if (a?.running) return CLEANUP_RETRY_MS;

    const blocked = await this.blocked(ts, plugin, spec);
    const since = ts.metadata.deletionTimestamp ? this.now() - Date.parse(ts.metadata.deletionTimestamp) : 0;
    const problem = blocked?.message ?? a?.failure;
    if (problem && since >= (blocked?.secretGone ? SECRET_GONE_GIVE_UP_MS : GIVE_UP_MS)) {
      this.d.events.record(obj, 'Warning', 'DataKept', `gave up dropping the ${plugin.type} data after ${Math.round(since / 1000)}s: ${problem}. The data stays in the backend; delete it there if needed`);
      return this.release(ts);
    }
    if (blocked) {
      this.warnRetrying(ts, plugin, blocked.message);
      return CLEANUP_RETRY_MS;
    }
    if (a?.failure) this.warnRetrying(ts, plugin, a.failure);
    this.start(key, ts, plugin, spec, cleanup);
    return CLEANUP_RETRY_MS;
  }

  /** Forgets a TraceStore that is gone. */
  forget(key: string): void {
    this.attempts.delete(key);
  }

  private warnRetrying(ts: TraceStore, plugin: OperatorBackendPlugin, problem: string): void {
    const skip = `kubectl patch tracestore ${ts.metadata.name} -n ${ts.metadata.namespace} --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]'`;
    this.d.events.record(ts as KubeObject, 'Warning', 'CleanupFailed', `cannot drop the ${plugin.type} data yet (retrying): ${problem}. To delete the TraceStore and keep the data: ${skip}`);
  }

  /** Another TraceStore the operator sees that keeps the same data, if any. */
  private sharedWith(ts: TraceStore, plugin: OperatorBackendPlugin, spec: BackendSpec): string | undefined {
    if (!plugin.dataKey) return undefined;
    const mine = plugin.dataKey(spec);
    for (const other of this.d.traceStores()) {
      if (other.metadata.uid === ts.metadata.uid) continue;
      const section = other.spec?.backend?.[plugin.type];
      if (section === undefined || section === null) continue;
      try {
        if (plugin.dataKey(section as never) === mine) return keyOf(other as KubeObject);
      } catch {
        /* an invalid spec shares nothing */
      }
    }
    return undefined;
  }

  /** A reason the Secrets may not be used (refused, missing, or the plug-in's policy), or undefined. */
  private async blocked(ts: TraceStore, plugin: OperatorBackendPlugin, spec: BackendSpec): Promise<Blocked | undefined> {
    for (const ref of plugin.secretReferences(spec)) {
      const lookup = await this.d.lookupSecret(ts, ref.name);
      const refused = secretProblem(ts, ref.field, ref.name, lookup);
      if (refused) return { message: refused.message, secretGone: lookup.found === 'missing' };
    }
    const policy = plugin.secretPolicy?.(spec);
    if (policy) return { message: policy.message, secretGone: false };
    return undefined;
  }

  private start(key: string, ts: TraceStore, plugin: OperatorBackendPlugin, spec: BackendSpec, cleanup: NonNullable<OperatorBackendPlugin['cleanup']>): void {
    const a: Attempt = { uid: ts.metadata.uid ?? '', running: true, done: false };
    this.attempts.set(key, a);
    void (async () => {
      try {
        const read = readSecrets(ts, plugin.secretReferences(spec), (name) => this.d.secretOf(ts, name));
        if ('problem' in read) throw new Error(read.problem.message);
        const req: CheckRequest = {
          spec,
          ...(ts.spec?.retention ? { retention: ts.spec.retention } : {}),
          secrets: read.values,
          owner: `${ts.metadata.namespace}/${ts.metadata.name}`,
          signal: AbortSignal.timeout(CLEANUP_ATTEMPT_MS),
        };
        const outcome = await cleanup(req);
        if (outcome) a.kept = outcome.kept;
        a.done = true;
        this.d.log.info({ traceStore: key }, 'dropped the backend data (deletionPolicy Delete)');
      } catch (e) {
        a.failure = backendErrorMessage(e);
        this.d.log.warn({ traceStore: key, err: a.failure }, 'could not drop the backend data');
      } finally {
        a.running = false;
        this.d.enqueue(key);
      }
    })();
  }

  private async release(ts: TraceStore): Promise<undefined> {
    await this.setFinalizer(ts, false);
    this.attempts.delete(keyOf(ts as KubeObject));
    return undefined;
  }

  private async setFinalizer(ts: TraceStore, present: boolean): Promise<void> {
    await this.d.client.apply(
      resourcePath(TRACESTORES, ts.metadata.namespace, ts.metadata.name),
      { apiVersion: API_VERSION, kind: 'TraceStore', metadata: { name: ts.metadata.name, namespace: ts.metadata.namespace, finalizers: present ? [DELETE_DATA_FINALIZER] : [] } },
      FINALIZER_MANAGER,
    );
  }
}

