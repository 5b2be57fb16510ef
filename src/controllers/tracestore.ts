// TraceStore controller: reads the TraceStore and its children from the informer caches, applies what differs
// from the desired state (server-side apply, one field manager) and writes status only when it changed.
import type { V1ConfigMap, V1Deployment, V1Lease, V1Role, V1RoleBinding, V1Secret, V1Service, V1ServiceAccount } from '@kubernetes/client-node';
import { type OperatorBackendPlugin, type OperatorPluginTable, type SecretReference, isAvailable } from '../api/backend-plugin.js';
import { BackendChecker, SCHEMA_WAITING } from './backend-check.js';
import { DataCleanup } from './tracestore-cleanup.js';
import { backendSpecOf, secretReferences } from '../reconcilers/tracestore/backend-pod.js';
import type { Logger } from 'pino';
import { API_VERSION } from '../api/common.js';
import { validateSpec } from '../api/crds.js';
import type { FieldError } from '../api/schema.js';
import { type BackendType, type TraceStore, type TraceStoreStatus, backendTypeOf } from '../api/tracestore.js';
import { type KubeClient, isNotFound, resourcePath } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { type Cache, type KubeObject, keyOf } from '../kube/informer.js';
import { findCondition } from '../reconcilers/conditions.js';
import {
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  type NetworkPolicy,
  type OperatorSettings,
  desiredRuntime,
  isSubset,
  runtimeName,
  type SecretUse,
  securitySecrets,
} from '../reconcilers/tracestore/desired.js';
import type { Observed } from '../reconcilers/tracestore/status.js';
import { computeStatus, runtimeCondition } from '../reconcilers/tracestore/status.js';
import { validateTraceStoreName } from '../reconcilers/tracestore/validate.js';
import { type SecretLookup, secretProblem } from '../reconcilers/tracestore/secrets.js';
import { BACKEND_REPORT_ANNOTATION_PREFIX, SECRET_ALLOW_LABEL } from '../api/contract.js';
import type { ReconcileResult } from './controller.js';
import type { ConditionInput } from '../reconcilers/conditions.js';
import { CONFIGMAPS, DEPLOYMENTS, LEASES, NETWORKPOLICIES, ROLEBINDINGS, ROLES, SECRETS, SERVICEACCOUNTS, SERVICES, TRACESTORES } from '../kube/resources.js';

export { LEASES };

export const FIELD_MANAGER = 'jaeger-storage-operator';

/** What runtime pods report about a backend out of space, from the report Lease: "pod: message; ...", or ''. */
function backendReports(lease: KubeObject | undefined): string {
  return Object.entries(lease?.metadata.annotations ?? {})
    .filter(([k]) => k.startsWith(BACKEND_REPORT_ANNOTATION_PREFIX))
    .map(([k, v]) => `${k.slice(BACKEND_REPORT_ANNOTATION_PREFIX.length)}: ${[...v].map((c) => (c < ' ' ? ' ' : c)).join('').slice(0, 300)}`)
    .sort()
    .join('; ')
    .slice(0, 1_000); // runtime-written text: bounded before it reaches status and events
}

/** How often a referenced Secret outside the cache (missing or not opted in) is looked up again (metadata only). */
const UNCACHED_SECRET_RECHECK_MS = 30_000;

/** Ready reasons that are recorded as Warning events. */
const WARNING_REASONS = ['BackendFull', 'InvalidSpec', 'BackendNotSupported', 'ReplicaFailure', 'ProgressDeadlineExceeded', 'SecretNotAllowed', 'SecretNotFound', 'SecretKeyMissing', 'InsecureCredentials'];

export interface TraceStoreInformers {
  traceStores: Cache<TraceStore & KubeObject>;
  deployments: Cache<V1Deployment & KubeObject>;
  configMaps: Cache<V1ConfigMap & KubeObject>;
  services: Cache<V1Service & KubeObject>;
  serviceAccounts: Cache<V1ServiceAccount & KubeObject>;
  roles: Cache<V1Role & KubeObject>;
  roleBindings: Cache<V1RoleBinding & KubeObject>;
  /** the runtime report Leases (managed label) */
  leases: Cache<V1Lease & KubeObject>;
  /** the opted-in Secrets (label storage.jaegertracing.io/allow=true) of the watched namespaces */
  secrets: Cache<V1Secret & KubeObject>;
  /** the runtime NetworkPolicies (managed label) */
  networkPolicies: Cache<NetworkPolicy & KubeObject>;
}

/** The plug-in of a TraceStore's backend, when the spec names one this version serves. */
function pluginOf(ts: TraceStore, plugins: OperatorPluginTable): OperatorBackendPlugin | undefined {
  const type = backendTypeOf(ts.spec?.backend);
  const p = type ? (plugins[type] as OperatorPluginTable[BackendType]) : undefined;
  return p && isAvailable(p) ? p : undefined;
}

/** The backend Secrets a TraceStore references (their versions roll the pods: env is read at start). */
function backendSecrets(ts: TraceStore, plugins: OperatorPluginTable): SecretReference[] {
  const p = pluginOf(ts, plugins);
  try {
    return p ? secretReferences(ts.spec, p) : [];
  } catch {
    return []; // an invalid spec references nothing until it is fixed
  }
}

/**
 * Names of every Secret a TraceStore references. Those of spec.runtime.security do not roll the pods: they are
 * mounted files the runtime re-reads when the kubelet updates them.
 */
function referencedSecrets(ts: TraceStore, plugins: OperatorPluginTable): string[] {
  return [...backendSecrets(ts, plugins).map((r) => r.name), ...securitySecrets(ts.spec).map((s) => s.name)];
}

/** Key of the TraceStore that controls `obj`, if any. */
export function ownerKey(obj: KubeObject): string | undefined {
  const ref = obj.metadata.ownerReferences?.find((r) => r.controller && r.kind === 'TraceStore' && r.apiVersion === API_VERSION);
  return ref && obj.metadata.namespace ? `${obj.metadata.namespace}/${ref.name}` : undefined;
}

/** Spec-relevant change: status-only updates (including our own status writes) do not trigger a reconcile. */
export function specChanged(a: KubeObject, b: KubeObject): boolean {
  const m1 = a.metadata;
  const m2 = b.metadata;
  return (
    m1.generation !== m2.generation ||
    m1.deletionTimestamp !== m2.deletionTimestamp ||
    JSON.stringify(m1.labels ?? {}) !== JSON.stringify(m2.labels ?? {}) ||
    JSON.stringify(m1.annotations ?? {}) !== JSON.stringify(m2.annotations ?? {}) ||
    JSON.stringify(m1.finalizers ?? []) !== JSON.stringify(m2.finalizers ?? [])
  );
}

const equalJson = (a: unknown, b: unknown): boolean => isSubset(a, b) && isSubset(b, a);

export class TraceStoreController {
  private checker?: BackendChecker;
  private readonly cleanup: DataCleanup;
  /** the status last written per TraceStore (key and uid) */
  private readonly written = new Map<string, TraceStoreStatus>();

  constructor(
    private readonly client: KubeClient,
    private readonly inf: TraceStoreInformers,
    private readonly settings: OperatorSettings,
    private readonly events: EventRecorder,
    private readonly log: Logger,
  ) {
    this.cleanup = new DataCleanup(client, events, (ts, name) => this.lookupSecret(ts, name), (ts, name) => this.inf.secrets.get(`${ts.metadata.namespace}/${name}`), log.child({ subsystem: 'cleanup' }));
  }

  /** Wires informer events to the queue: TraceStore spec changes, and any change of an owned child. */
  watch(enqueue: (key: string) => void): void {
    this.checker = new BackendChecker(enqueue, this.log.child({ subsystem: 'backend-check' }));
    this.inf.traceStores.on({
      add: (o) => enqueue(keyOf(o)),
      update: (a, b) => specChanged(a, b) && enqueue(keyOf(b)),
      delete: (o) => (this.checker?.forget(keyOf(o)), this.written.delete(`${keyOf(o)}/${o.metadata.uid ?? ''}`), enqueue(keyOf(o))),
    });
    const bySecret = (sec: V1Secret & KubeObject) => {
      for (const ts of this.inf.traceStores.list()) {
        if (ts.metadata.namespace === sec.metadata.namespace && referencedSecrets(ts, this.settings.plugins).includes(sec.metadata.name)) enqueue(keyOf(ts));
      }
    };
    this.inf.secrets.on({ add: bySecret, update: (a, b) => a.metadata.resourceVersion !== b.metadata.resourceVersion && bySecret(b), delete: bySecret });
    const toOwner = (o: KubeObject): void => {
      const k = ownerKey(o);
      if (k) enqueue(k);
    };
    for (const i of [this.inf.deployments, this.inf.configMaps, this.inf.services, this.inf.serviceAccounts, this.inf.roles, this.inf.roleBindings, this.inf.networkPolicies] as Cache<KubeObject>[]) {
      i.on({ add: toOwner, update: (_a, b) => toOwner(b), delete: toOwner });
    }
    // the report Lease changes with every runtime report: here only its existence and the backend reports matter
    this.inf.leases.on({ add: toOwner, update: (a, b) => backendReports(a) !== backendReports(b) && toOwner(b), delete: toOwner });
  }

  private async applyIfChanged<T extends KubeObject>(inf: Cache<T>, desired: KubeObject, r: typeof DEPLOYMENTS): Promise<T | undefined> {
    const cached = inf.get(keyOf(desired));
    if (cached && isSubset(desired, cached)) return cached;
    const path = resourcePath(r, desired.metadata.namespace, desired.metadata.name);
    this.log.info({ kind: desired.kind, name: keyOf(desired), created: !cached }, cached ? 'updating child' : 'creating child');
    return this.client.apply<T>(path, desired, FIELD_MANAGER);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const ts = this.inf.traceStores.get(key);
    if (!ts) return; // deleted: owned children are garbage-collected through their ownerReferences
    if (ts.metadata.deletionTimestamp) {
      // deletionPolicy Delete: drop the backend's data before the finalizer lets the TraceStore go
      const retry = await this.cleanup.finalize(ts, pluginOf(ts, this.settings.plugins));
      return retry ? { requeueAfterMs: retry } : undefined;
    }

    const errors: FieldError[] = [...validateTraceStoreName(ts.metadata.name), ...validateSpec('TraceStore', ts.spec)];
    const backend = backendTypeOf(ts.spec?.backend);
    if (backend && ts.status?.backend && ts.status.backend !== backend) {
      errors.push({ field: 'spec.backend', message: `the backend type is immutable (this store uses ${ts.status.backend}): create a new TraceStore to use ${backend}` });
    }
    if (errors.length) return this.writeStatus(ts, { invalid: errors });
    if (!backend) return; // unreachable: validated above
    const plugin = this.settings.plugins[backend] as OperatorPluginTable[BackendType];
    if (!isAvailable(plugin)) return this.writeStatus(ts, { backend, unsupported: plugin.notInThisVersion });
    if (plugin.traits.notDeployable) return this.writeStatus(ts, { backend, unsupported: plugin.traits.notDeployable });
    await this.cleanup.sync(ts, plugin);

    // backends outside the pods: connection and provisioning checked in the background
    const { external, use, requeueAfterMs, secretsVersion } = await this.backendState(key, ts, plugin);
    // spec.runtime.security: a Secret that may not be used leaves the runtime as it is (never served without the
    // TLS or auth the spec asks for); Ready says which Secret and what to do
    const security = await this.securityProblem(ts);
    if (security) {
      const deployment = this.inf.deployments.get(`${ts.metadata.namespace}/${runtimeName(ts)}`);
      await this.writeStatus(ts, { backend, security: security.condition, ...(ts.status?.configHash ? { configHash: ts.status.configHash } : {}), ...(deployment ? { deployment } : {}), ...(external ? { external } : {}) });
      return security.recheck ? { requeueAfterMs: UNCACHED_SECRET_RECHECK_MS } : undefined;
    }
    const desired = desiredRuntime(ts, this.settings, secretsVersion, use);
    // ConfigMaps are immutable and named by content hash: create once, never update.
    if (!this.inf.configMaps.get(keyOf(desired.configMap as KubeObject))) {
      await this.client.apply(resourcePath(CONFIGMAPS, ts.metadata.namespace, desired.configMap.metadata!.name), desired.configMap, FIELD_MANAGER);
    }
    await this.applyIfChanged(this.inf.serviceAccounts, desired.serviceAccount as KubeObject, SERVICEACCOUNTS);
    await this.applyIfChanged(this.inf.roles, desired.role as KubeObject, ROLES);
    await this.applyIfChanged(this.inf.roleBindings, desired.roleBinding as KubeObject, ROLEBINDINGS);
    await this.applyIfChanged(this.inf.leases, desired.reportLease as KubeObject, LEASES);
    const deployment = await this.applyIfChanged(this.inf.deployments, desired.deployment as KubeObject, DEPLOYMENTS);
    await this.applyIfChanged(this.inf.services, desired.service as KubeObject, SERVICES);
    await this.applyNetworkPolicy(ts, desired.networkPolicy);

    const runtimeReady = runtimeCondition(deployment as V1Deployment | undefined, desired.configHash).status === 'True';
    if (runtimeReady) await this.pruneConfigMaps(ts, desired.configMap.metadata!.name!);
    const full = backendReports(this.inf.leases.get(keyOf(desired.reportLease as KubeObject)));
    await this.writeStatus(ts, { backend, configHash: desired.configHash, deployment: deployment as V1Deployment | undefined, ...(external ? { external } : {}), ...(full ? { backendFull: full } : {}) });
    return requeueAfterMs ? { requeueAfterMs } : undefined;
  }

  /**
   * The backend's condition inputs (checked in the background), which referenced Secrets the pods may get, and the
   * versions of those Secrets (pods restart when one changes: env from a Secret is read at start).
   */
  private async backendState(key: string, ts: TraceStore, plugin: OperatorBackendPlugin): Promise<{ external?: Observed['external']; use: SecretUse; requeueAfterMs?: number; secretsVersion?: string }> {
    const spec = backendSpecOf(ts.spec, plugin);
    const refs = plugin.secretReferences(spec);
    // only opted-in Secrets are cached; a Secret used by this TraceStore must also admit it (annotation)
    const secretOf = (name: string) => this.inf.secrets.get(`${ts.metadata.namespace}/${name}`);
    const lookups = await Promise.all(refs.map(async (r) => ({ ref: r, lookup: await this.lookupSecret(ts, r.name) })));
    const problems = lookups.map(({ ref, lookup }) => ({ ref, lookup, problem: secretProblem(ts, ref.field, ref.name, lookup) }));
    const policy = plugin.secretPolicy?.(spec);
    const policyProblem: ConditionInput | undefined = policy ? { type: 'BackendReachable', ...policy } : undefined;
    // a reference refused on its own is not given to the pods; a policy problem (e.g. credentials over plain http)
    // withholds every Secret
    const use: SecretUse = new Set(policyProblem ? [] : problems.filter((p) => !p.problem).map((p) => p.ref.field));
    const secretsVersion = refs.map((r) => `${r.name}@${secretOf(r.name)?.metadata.resourceVersion ?? '-'}`).join(',');
    const versioned = secretsVersion ? { secretsVersion } : {};
    const refused = problems.find((p) => p.problem)?.problem ?? policyProblem;
    if (refused) {
      // nothing is read from the Secret and nothing is sent: the condition says which label or field to fix
      this.checker!.forget(key);
      // labelled Secrets come through the informer; an unlabelled one appearing or going is seen only by looking
      const recheck = problems.some((p) => p.lookup.found !== 'optedIn');
      return { external: { reachable: refused, schema: SCHEMA_WAITING }, use, ...(recheck ? { requeueAfterMs: UNCACHED_SECRET_RECHECK_MS } : {}), ...versioned };
    }
    if (!plugin.check) return { use, ...versioned };
    const st = this.checker!.state(key, ts, { ...plugin, check: plugin.check }, secretOf);
    const external = { reachable: st.reachable, schema: st.schema, ...(st.schemaVersion ? { schemaVersion: st.schemaVersion } : {}) };
    return { external, use, ...(st.requeueAfterMs !== undefined ? { requeueAfterMs: st.requeueAfterMs } : {}), ...versioned };
  }

  /** The first Secret of spec.runtime.security that may not be used or lacks a key the runtime reads. */
  private async securityProblem(ts: TraceStore): Promise<{ condition: ConditionInput; recheck: boolean } | undefined> {
    for (const s of securitySecrets(ts.spec)) {
      const lookup = await this.lookupSecret(ts, s.name);
      const refused = secretProblem(ts, s.field, s.name, lookup);
      if (refused) return { condition: { ...refused, type: 'Ready' }, recheck: lookup.found !== 'optedIn' };
      const data = this.inf.secrets.get(`${ts.metadata.namespace}/${s.name}`)?.data ?? {};
      const missing = s.keys.filter((k) => data[k] === undefined);
      if (missing.length) {
        const why = s.kind === 'tls' && missing.includes('ca.crt') ? ' (ca.crt is the client CA that requireClientCert needs)' : '';
        return { condition: { type: 'Ready', status: 'False', reason: 'SecretKeyMissing', message: `${s.field}: Secret "${s.name}" has no key ${missing.join(', ')}${why}` }, recheck: false };
      }
    }
    return undefined;
  }

  /** Applies the runtime NetworkPolicy, or deletes ours when spec.runtime.networkPolicy is not enabled (any more). */
  private async applyNetworkPolicy(ts: TraceStore, desired: NetworkPolicy | undefined): Promise<void> {
    if (desired) {
      await this.applyIfChanged(this.inf.networkPolicies, desired as KubeObject, NETWORKPOLICIES);
      return;
    }
    const cached = this.inf.networkPolicies.get(`${ts.metadata.namespace}/${runtimeName(ts)}`);
    if (!cached || !cached.metadata.ownerReferences?.some((r) => r.uid === ts.metadata.uid)) return;
    try {
      await this.client.request('DELETE', resourcePath(NETWORKPOLICIES, cached.metadata.namespace, cached.metadata.name));
      this.log.info({ networkPolicy: keyOf(cached) }, 'deleted the runtime NetworkPolicy: spec.runtime.networkPolicy is not enabled');
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** A referenced Secret: from the cache of opted-in Secrets, else its metadata only (never its data). */
  private async lookupSecret(ts: TraceStore, name: string): Promise<SecretLookup> {
    const cached = this.inf.secrets.get(`${ts.metadata.namespace}/${name}`);
    if (cached) return { found: 'optedIn', metadata: cached.metadata };
    try {
      const meta = await this.client.getMetadata(resourcePath(SECRETS, ts.metadata.namespace, name));
      return meta.metadata.labels?.[SECRET_ALLOW_LABEL] === 'true' ? { found: 'optedIn', metadata: meta.metadata } : { found: 'notOptedIn' };
    } catch (e) {
      if (isNotFound(e)) return { found: 'missing' };
      throw e;
    }
  }

  /** Deletes configurations of earlier generations once every pod runs the current one. */
  private async pruneConfigMaps(ts: TraceStore, current: string): Promise<void> {
    for (const cm of this.inf.configMaps.list()) {
      const m = cm.metadata;
      if (m.namespace !== ts.metadata.namespace || m.name === current) continue;
      if (m.labels?.[LABEL_INSTANCE] !== ts.metadata.name || m.labels?.[LABEL_COMPONENT] !== 'runtime-config') continue;
      if (!m.ownerReferences?.some((r) => r.uid === ts.metadata.uid)) continue;
      try {
        await this.client.request('DELETE', resourcePath(CONFIGMAPS, m.namespace, m.name));
        this.log.info({ configMap: keyOf(cm) }, 'deleted superseded runtime configuration');
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
  }

  private async writeStatus(ts: TraceStore, observed: Parameters<typeof computeStatus>[1]): Promise<void> {
    const status = computeStatus(ts, observed, new Date());
    // compare with what this operator last wrote too: right after a write, the cache may still show the status
    // before it, and a change straight back to that would otherwise be skipped and never written
    const writtenKey = `${keyOf(ts as KubeObject)}/${ts.metadata.uid ?? ''}`;
    const current = this.written.get(writtenKey) ?? ts.status;
    if (current && equalJson(status, current)) return;
    await this.client.apply(
      resourcePath(TRACESTORES, ts.metadata.namespace, ts.metadata.name, 'status'),
      { apiVersion: API_VERSION, kind: 'TraceStore', metadata: { name: ts.metadata.name, namespace: ts.metadata.namespace }, status },
      FIELD_MANAGER,
    );
    this.written.set(writtenKey, status);
    const before = findCondition(current?.conditions, 'Ready');
    const after = findCondition(status.conditions, 'Ready');
    if (after && (before?.status !== after.status || before?.reason !== after.reason)) {
      const warn = after.status === 'False' && WARNING_REASONS.includes(after.reason);
      this.events.record(ts as KubeObject, warn ? 'Warning' : 'Normal', after.reason, after.message);
    }
  }
}
