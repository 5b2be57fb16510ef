// TraceStore controller: reads the TraceStore and its children from the informer caches, applies what differs
// from the desired state (server-side apply, one field manager) and writes status only when it changed.
import type { V1Deployment, V1PersistentVolumeClaim, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { type OperatorBackendPlugin, type OperatorPluginTable, type SecretReference, backendAvailability, isAvailable, notAvailableMessage } from '../api/backend-plugin.js';
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
import { conditionEvent, findCondition } from '../reconcilers/conditions.js';
import {
  CHILD_KINDS,
  type ChildKind,
  type ChildObjects,
  type DesiredChild,
  type OperatorSettings,
  type BuildContext,
  build,
  buildContext,
  dataClaimName,
  hashOf,
  isSubset,
  runtimeName,
  type SecretUse,
  queryConfigHash,
  queryName,
  querySecrets,
  securitySecrets,
} from '../reconcilers/tracestore/desired.js';
import type { Observed, ObservedVolume } from '../reconcilers/tracestore/status.js';
import { VOLUME_PENDING_GRACE_MS, computeStatus, volumeCondition, workloadCondition } from '../reconcilers/tracestore/status.js';
import { validateTraceStoreName } from '../reconcilers/tracestore/validate.js';
import { type SecretLookup, secretProblem } from '../reconcilers/tracestore/secrets.js';
import { BACKEND_REPORT_ANNOTATION_PREFIX, LABEL_COMPONENT, LABEL_INSTANCE, SECRET_ALLOW_LABEL, runtimeReportLeaseName } from '../api/contract.js';
import type { ResourceRef } from '../api/resources.js';
import type { ReconcileResult } from './controller.js';
import type { ConditionInput } from '../reconcilers/conditions.js';
import { SECRETS, TRACESTORES } from '../kube/resources.js';

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

/** A referenced Secret that may not be used, as the condition saying why, and whether to look again later. */
interface SecretVerdict {
  condition: ConditionInput;
  recheck: boolean;
}

/** How often a referenced Secret outside the cache (missing or not opted in) is looked up again (metadata only). */
const UNCACHED_SECRET_RECHECK_MS = 30_000;

/** One cache per kind of child (objects with the managed label), as the builders list them. */
export type ChildCaches = { readonly [K in ChildKind]: Cache<ChildObjects[K] & KubeObject> };

/** The child caches, each made by `make` for the resource of its kind. */
export function childCaches(make: (r: ResourceRef) => Cache<KubeObject>): ChildCaches {
  return Object.fromEntries(CHILD_KINDS.map((b) => [b.kind, make(b.ref)])) as unknown as ChildCaches;
}

export interface TraceStoreInformers {
  traceStores: Cache<TraceStore & KubeObject>;
  /** the opted-in Secrets (label storage.jaegertracing.io/allow=true) of the watched namespaces */
  secrets: Cache<V1Secret & KubeObject>;
  /** the owned children; the report Leases among them carry what the runtime pods report */
  children: ChildCaches;
  /** the data volumes' claims (made by the StatefulSets from their templates, labelled as managed) */
  volumes: Cache<V1PersistentVolumeClaim & KubeObject>;
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
  return [...backendSecrets(ts, plugins).map((r) => r.name), ...securitySecrets(ts.spec).map((s) => s.name), ...querySecrets(ts.spec).map((s) => s.name)];
}

const controllerUid = (o: KubeObject): string | undefined => o.metadata.ownerReferences?.find((r) => r.controller)?.uid;

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
  private cleanup?: DataCleanup;
  /** the status last written per TraceStore (key and uid) */
  private readonly written = new Map<string, TraceStoreStatus>();

  constructor(
    private readonly client: KubeClient,
    private readonly inf: TraceStoreInformers,
    private readonly settings: OperatorSettings,
    private readonly events: EventRecorder,
    private readonly log: Logger,
  ) {}

  /** Wires informer events to the queue: TraceStore spec changes, and any change of an owned child. */
  watch(enqueue: (key: string) => void): void {
    this.checker = new BackendChecker(enqueue, this.log.child({ subsystem: 'backend-check' }));
    this.cleanup = new DataCleanup({
      client: this.client,
      events: this.events,
      lookupSecret: (ts, name) => this.lookupSecret(ts, name),
      secretOf: (ts, name) => this.inf.secrets.get(`${ts.metadata.namespace}/${name}`),
      traceStores: () => this.inf.traceStores.list(),
      enqueue,
      log: this.log.child({ subsystem: 'cleanup' }),
    });
    this.inf.traceStores.on({
      add: (o) => enqueue(keyOf(o)),
      update: (a, b) => specChanged(a, b) && enqueue(keyOf(b)),
      delete: (o) => (this.checker?.forget(keyOf(o)), this.cleanup?.forget(keyOf(o)), this.written.delete(`${keyOf(o)}/${o.metadata.uid ?? ''}`), enqueue(keyOf(o))),
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
    // a claim is not owned by the TraceStore (its StatefulSet made it): its instance label names the store
    const byClaim = (pvc: KubeObject): void => {
      const name = pvc.metadata.labels?.[LABEL_INSTANCE];
      if (name && pvc.metadata.namespace) enqueue(`${pvc.metadata.namespace}/${name}`);
    };
    const phase = (o: V1PersistentVolumeClaim): string | undefined => o.status?.phase;
    this.inf.volumes.on({ add: byClaim, update: (a, b) => phase(a) !== phase(b) && byClaim(b), delete: byClaim });
    for (const b of CHILD_KINDS) {
      // the report Lease changes with every runtime report: here only its existence and the backend reports matter
      const relevant = b.kind === 'Lease' ? (a: KubeObject, c: KubeObject) => backendReports(a) !== backendReports(c) : () => true;
      this.cache(b.kind).on({ add: toOwner, update: (a, c) => relevant(a, c) && toOwner(c), delete: toOwner });
    }
  }

  private cache(kind: ChildKind): Cache<KubeObject> {
    return this.inf.children[kind] as Cache<KubeObject>;
  }

  /**
   * Server-side apply of a child unless the cache already holds it (every desired field equal, so the steady state
   * writes nothing); an immutable child is applied only when absent. Returns the child as applied or cached.
   */
  private async applyChild(d: DesiredChild): Promise<KubeObject> {
    const cached = this.cache(d.kind).get(keyOf(d.object));
    // an immutable object is applied once; again only when a TraceStore recreated under the same name must own it
    // (the garbage collector would otherwise delete it with the old owner)
    if (cached && (d.immutable ? controllerUid(cached) === controllerUid(d.object) : isSubset(d.object, cached))) return cached;
    this.log.info({ kind: d.kind, name: keyOf(d.object), created: !cached }, cached ? 'updating child' : 'creating child');
    return this.client.apply<KubeObject>(resourcePath(d.ref, d.object.metadata.namespace, d.object.metadata.name), d.object, FIELD_MANAGER);
  }

  /**
   * Deletes the children this TraceStore controls that are no longer desired: a NetworkPolicy no longer enabled,
   * ConfigMaps of earlier configurations once every pod runs the current one (`rolledOut`).
   */
  private async prune(ts: TraceStore, desired: DesiredChild[], rolledOut: boolean): Promise<void> {
    const uid = ts.metadata.uid;
    if (!uid) return;
    const keep = new Set(desired.map((d) => `${d.kind}/${keyOf(d.object)}`));
    for (const b of CHILD_KINDS) {
      // the runtime's superseded ConfigMaps wait for its rollout; the query front's objects do not
      const waits = b.pruneAfterRollout && !rolledOut;
      for (const o of this.cache(b.kind).list()) {
        const m = o.metadata;
        if (waits && m.labels?.[LABEL_COMPONENT] !== 'query') continue;
        if (m.namespace !== ts.metadata.namespace || keep.has(`${b.kind}/${keyOf(o)}`)) continue;
        if (controllerUid(o) !== uid) continue;
        try {
          await this.client.request('DELETE', resourcePath(b.ref, m.namespace, m.name));
          this.log.info({ kind: b.kind, name: keyOf(o) }, 'deleted a child that is no longer desired');
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
    }
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const ts = this.inf.traceStores.get(key);
    if (!ts) return; // deleted: owned children are garbage-collected through their ownerReferences
    if (ts.metadata.deletionTimestamp) {
      // deletionPolicy Delete: drop the backend's data before the finalizer lets the TraceStore go
      const retry = await this.cleanup!.finalize(ts, pluginOf(ts, this.settings.plugins));
      return retry ? { requeueAfterMs: retry } : undefined;
    }

    const errors: FieldError[] = [...validateTraceStoreName(ts.metadata.name), ...validateSpec('TraceStore', ts.spec)];
    const backend = backendTypeOf(ts.spec?.backend);
    if (backend && ts.status?.backend && ts.status.backend !== backend) {
      errors.push({ field: 'spec.backend', message: `the backend type is immutable (this store uses ${ts.status.backend}): create a new TraceStore to use ${backend}` });
    }
    if (errors.length) return this.writeStatus(ts, { invalid: errors });
    if (!backend) return; // unreachable: validated above
    // admission refuses these already; an object admitted by a CRD of another version is caught here
    const availability = backendAvailability(this.settings.plugins);
    if (availability[backend] !== undefined) return this.writeStatus(ts, { backend, unsupported: notAvailableMessage(backend, availability) });
    const plugin = this.settings.plugins[backend] as OperatorPluginTable[BackendType];
    if (!isAvailable(plugin)) return; // unreachable: availability says why it is not
    await this.cleanup!.sync(ts, plugin);

    // backends outside the pods: connection and provisioning checked in the background
    const { external, use, requeueAfterMs, secretsVersion } = await this.backendState(key, ts, plugin);
    // spec.runtime.security: a Secret that may not be used leaves the runtime as it is (never served without the
    // TLS or auth the spec asks for); Ready says which Secret and what to do
    const security = await this.securityProblem(ts);
    if (security) {
      const key = `${ts.metadata.namespace}/${runtimeName(ts)}`;
      const deployment = this.inf.children.Deployment.get(key);
      const statefulSet = this.inf.children.StatefulSet.get(key);
      const volume = this.observedVolume(buildContext(ts, this.settings));
      const workload = { ...(deployment ? { deployment } : {}), ...(statefulSet ? { statefulSet } : {}), ...(volume ? { volume } : {}) };
      await this.writeStatus(ts, { backend, security: security.condition, ...(ts.status?.configHash ? { configHash: ts.status.configHash } : {}), ...workload, ...(external ? { external } : {}) });
      return security.recheck ? { requeueAfterMs: UNCACHED_SECRET_RECHECK_MS } : undefined;
    }
    // the query front reads its token and certificates at start: its pods restart when what it reads of them changes
    // (a hash of those keys' values; a renewal of the runtime's own key pair does not roll it)
    const queryVersion = querySecrets(ts.spec)
      .map((s) => {
        const data = this.inf.secrets.get(`${ts.metadata.namespace}/${s.name}`)?.data ?? {};
        return `${s.name}:${hashOf(s.keys.map((k) => `${k}=${data[k] ?? '-'}`).join('\n'))}`;
      })
      .join(',');
    const ctx = buildContext(ts, this.settings, { ...(secretsVersion ? { secretsVersion } : {}), ...(queryVersion ? { querySecretsVersion: queryVersion } : {}), use });
    const desired = build(ctx);
    // a Secret of the query front that may not be used holds back the front only: its objects stay as they are
    const queryHeld = ctx.spec.query?.enabled ? await this.queryProblem(ts) : undefined;
    let deployment: V1Deployment | undefined;
    let statefulSet: V1StatefulSet | undefined;
    let queryDeployment: V1Deployment | undefined;
    for (const d of desired) {
      // its NetworkPolicy uses no Secret and keeps even a held front fenced
      const front = d.object.metadata.name === queryName(ts) && d.kind !== 'NetworkPolicy';
      if (front && queryHeld) {
        if (d.kind === 'Deployment') queryDeployment = this.inf.children.Deployment.get(keyOf(d.object));
        continue;
      }
      const applied = await this.applyChild(d);
      if (d.kind === 'Deployment' && d.object.metadata.name === ctx.name) deployment = applied as V1Deployment;
      if (d.kind === 'Deployment' && d.object.metadata.name === queryName(ts)) queryDeployment = applied as V1Deployment;
      if (d.kind === 'StatefulSet') statefulSet = applied as V1StatefulSet;
    }
    const volume = this.observedVolume(ctx);
    const workload = { ...(deployment ? { deployment } : {}), ...(statefulSet ? { statefulSet } : {}), ...(volume ? { volume } : {}) };
    const rolledOut = workloadCondition(workload, ctx.configHash).status === 'True';
    await this.prune(ts, desired, rolledOut);
    const full = backendReports(this.inf.children.Lease.get(`${ctx.namespace}/${runtimeReportLeaseName(ts.metadata.name)}`));
    const query = ctx.spec.query?.enabled ? { query: { ...(queryDeployment ? { deployment: queryDeployment } : {}), configHash: queryConfigHash(ctx), ...(queryHeld ? { problem: queryHeld.condition } : {}) } } : {};
    await this.writeStatus(ts, { backend, configHash: ctx.configHash, ...workload, ...query, ...(external ? { external } : {}), ...(full ? { backendFull: full } : {}) });
    // a claim still provisioning turns into a failure when its grace is over, with no event of its own to say so
    const graceLeft = volumeCondition(volume, new Date())?.recheckAfterMs;
    const recheck = [requeueAfterMs, graceLeft === undefined ? undefined : graceLeft + 100, queryHeld?.recheck ? UNCACHED_SECRET_RECHECK_MS : undefined].filter((x): x is number => x !== undefined);
    return recheck.length ? { requeueAfterMs: Math.min(...recheck) } : undefined;
  }

  /** The data volume's claim of a backend that has one, as the StatefulSet names it. */
  private observedVolume(ctx: BuildContext): ObservedVolume | undefined {
    const v = ctx.backendPod.dataVolume;
    if (!v) return undefined;
    const claim = dataClaimName(ctx.name);
    const pvc = this.inf.volumes.get(`${ctx.namespace}/${claim}`);
    return { claim, ...(v.storageClassName ? { storageClassName: v.storageClassName } : {}), ...(pvc ? { pvc } : {}), pendingGraceMs: this.settings.volumePendingGraceMs ?? VOLUME_PENDING_GRACE_MS };
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
  private securityProblem(ts: TraceStore): Promise<SecretVerdict | undefined> {
    return this.firstSecretProblem(
      ts,
      securitySecrets(ts.spec).map((s) => ({ ...s, why: s.kind === 'tls' ? ' (ca.crt is the client CA that requireClientCert needs)' : '' })),
    );
  }

  /**
   * The first Secret of the query front (spec.query) that may not be used, lacks a key, or holds a token that is not
   * one line of visible characters (it goes into a header as it is).
   */
  private queryProblem(ts: TraceStore): Promise<SecretVerdict | undefined> {
    return this.firstSecretProblem(
      ts,
      querySecrets(ts.spec).map((s) => ({ ...s, why: s.use === 'ca' ? ' (the query front verifies the runtime with it)' : '', token: s.use === 'token' })),
    );
  }

  private async firstSecretProblem(ts: TraceStore, secrets: { field: string; name: string; keys: string[]; why: string; token?: boolean }[]): Promise<SecretVerdict | undefined> {
    for (const s of secrets) {
      const lookup = await this.lookupSecret(ts, s.name);
      const refused = secretProblem(ts, s.field, s.name, lookup);
      if (refused) return { condition: { ...refused, type: 'Ready' }, recheck: lookup.found !== 'optedIn' };
      const data = this.inf.secrets.get(`${ts.metadata.namespace}/${s.name}`)?.data ?? {};
      const missing = s.keys.filter((k) => data[k] === undefined);
      if (missing.length) return { condition: { type: 'Ready', status: 'False', reason: 'SecretKeyMissing', message: `${s.field}: Secret "${s.name}" has no key ${missing.join(', ')}${missing.includes('ca.crt') ? s.why : ''}` }, recheck: false };
      if (s.token && !/^[\x21-\x7e]+$/.test(Buffer.from(data[s.keys[0]!]!, 'base64').toString('utf8'))) {
        return { condition: { type: 'Ready', status: 'False', reason: 'SecretValueInvalid', message: `${s.field}: the key ${s.keys[0]} of Secret "${s.name}" must hold one token: visible ASCII characters, no spaces or line breaks (kubectl create secret generic ... --from-literal=token=...)` }, recheck: false };
      }
    }
    return undefined;
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
    const event = conditionEvent(findCondition(current?.conditions, 'Ready'), findCondition(status.conditions, 'Ready'));
    if (event) this.events.record(ts as KubeObject, event.type, event.reason, event.message);
  }
}
