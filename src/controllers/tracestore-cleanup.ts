// spec.deletionPolicy: Delete for backends that keep data outside the cluster. While the policy is Delete the
// TraceStore carries a finalizer; when it is deleted, the backend plug-in's cleanup drops the store's data (with the
// Secrets the TraceStore may use), then the finalizer is removed and Kubernetes deletes the object. A cleanup that
// fails is retried with a Warning event that says how to give up on the data instead.
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorBackendPlugin } from '../api/backend-plugin.js';
import { API_VERSION } from '../api/common.js';
import { DELETE_DATA_FINALIZER } from '../api/contract.js';
import { backendErrorMessage } from '../api/redact.js';
import type { TraceStore } from '../api/tracestore.js';
import { type KubeClient, resourcePath } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import type { KubeObject } from '../kube/informer.js';
import { TRACESTORES } from '../kube/resources.js';
import { backendSpecOf } from '../reconcilers/tracestore/backend-pod.js';
import { type SecretLookup, secretProblem } from '../reconcilers/tracestore/secrets.js';
import { readSecrets } from './backend-check.js';

/** The finalizer is owned by its own field manager, so applying it never touches what else the operator applies. */
const FINALIZER_MANAGER = 'jaeger-storage-operator-finalizer';
export const CLEANUP_RETRY_MS = 15_000;
const CLEANUP_TIMEOUT_MS = 120_000;

/** Whether the TraceStore should carry the finalizer: Delete policy and a backend with data of its own to drop. */
export const wantsCleanup = (ts: TraceStore, plugin: OperatorBackendPlugin): boolean => ts.spec?.deletionPolicy === 'Delete' && plugin.traits.externalState && !!plugin.cleanup;

export const hasFinalizer = (ts: TraceStore): boolean => ts.metadata.finalizers?.includes(DELETE_DATA_FINALIZER) ?? false;

export class DataCleanup {
  constructor(
    private readonly client: KubeClient,
    private readonly events: EventRecorder,
    private readonly lookupSecret: (ts: TraceStore, name: string) => Promise<SecretLookup>,
    private readonly secretOf: (ts: TraceStore, name: string) => V1Secret | undefined,
    private readonly log: Logger,
  ) {}

  /** Adds or removes the finalizer to match the deletion policy (no write when it already matches). */
  async sync(ts: TraceStore, plugin: OperatorBackendPlugin): Promise<void> {
    const want = wantsCleanup(ts, plugin);
    if (want === hasFinalizer(ts)) return;
    await this.setFinalizer(ts, want);
    this.log.info({ traceStore: `${ts.metadata.namespace}/${ts.metadata.name}`, finalizer: want }, want ? 'deletionPolicy Delete: the backend data is dropped when the TraceStore is deleted' : 'deletionPolicy Retain: finalizer removed');
  }

  /** The TraceStore is being deleted: drop its data if it carries our finalizer, then let it go. Returns a retry delay on failure. */
  async finalize(ts: TraceStore, plugin: OperatorBackendPlugin | undefined): Promise<number | undefined> {
    if (!hasFinalizer(ts)) return undefined;
    const obj = ts as KubeObject;
    const cleanup = plugin?.cleanup?.bind(plugin);
    if (plugin && cleanup && ts.spec?.deletionPolicy === 'Delete') {
      const problem = await this.cleanup(ts, plugin, cleanup);
      if (problem) {
        const skip = `kubectl patch tracestore ${ts.metadata.name} -n ${ts.metadata.namespace} --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]'`;
        this.events.record(obj, 'Warning', 'CleanupFailed', `cannot drop the ${plugin.type} data (retrying every ${CLEANUP_RETRY_MS / 1000}s): ${problem}. To delete the TraceStore and keep the data: ${skip}`);
        return CLEANUP_RETRY_MS;
      }
      this.events.record(obj, 'Normal', 'DataDeleted', `dropped the ${plugin.type} data of this TraceStore (deletionPolicy Delete)`);
    }
    await this.setFinalizer(ts, false);
    return undefined;
  }

  /** Runs the plug-in's cleanup; the problem as text, or undefined when done. */
  private async cleanup(ts: TraceStore, plugin: OperatorBackendPlugin, cleanup: NonNullable<OperatorBackendPlugin['cleanup']>): Promise<string | undefined> {
    let spec;
    try {
      spec = backendSpecOf(ts.spec, plugin);
    } catch (e) {
      return backendErrorMessage(e);
    }
    const refs = plugin.secretReferences(spec);
    for (const ref of refs) {
      const refused = secretProblem(ts, ref.field, ref.name, await this.lookupSecret(ts, ref.name));
      if (refused) return refused.message;
    }
    const read = readSecrets(ts, refs, (name) => this.secretOf(ts, name));
    if ('problem' in read) return read.problem.message;
    try {
      await cleanup({ spec, ...(ts.spec?.retention ? { retention: ts.spec.retention } : {}), secrets: read.values, signal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS) });
      return undefined;
    } catch (e) {
      return backendErrorMessage(e);
    }
  }

  private async setFinalizer(ts: TraceStore, present: boolean): Promise<void> {
    await this.client.apply(
      resourcePath(TRACESTORES, ts.metadata.namespace, ts.metadata.name),
      { apiVersion: API_VERSION, kind: 'TraceStore', metadata: { name: ts.metadata.name, namespace: ts.metadata.namespace, finalizers: present ? [DELETE_DATA_FINALIZER] : [] } },
      FINALIZER_MANAGER,
    );
  }
}
