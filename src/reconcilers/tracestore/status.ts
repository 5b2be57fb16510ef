// The status of a TraceStore, computed from what was observed. Pure.
import type { V1Deployment, V1PersistentVolumeClaim, V1StatefulSet } from '@kubernetes/client-node';
import type { FieldError } from '../../api/schema.js';
import { type BackendType, type TraceStore, type TraceStoreStatus } from '../../api/tracestore.js';
import { type ConditionInput, mergeConditions } from '../conditions.js';
import { ANNOTATION_CONFIG_HASH } from '../../api/contract.js';
import { endpointsFor } from './desired.js';

export interface Observed {
  backend?: BackendType;
  invalid?: FieldError[];
  /** the backend type is not deployable by this version: the message naming the available types (plug-in table) */
  unsupported?: string;
  configHash?: string;
  deployment?: V1Deployment;
  /** the runtime of a backend with a data volume */
  statefulSet?: V1StatefulSet;
  /** that backend's data volume: the claim the StatefulSet creates (absent until it does) */
  volume?: ObservedVolume;
  /** for backends outside the pods: the operator's check of the backend and of its provisioning */
  external?: { reachable: ConditionInput; schema: ConditionInput; schemaVersion?: string };
  /** a Secret of spec.runtime.security that may not be used (or lacks a key): the runtime is not changed */
  security?: ConditionInput;
  /** runtime pods that report their backend out of space ("pod: message; ...") */
  backendFull?: string;
  /**
   * the query front of spec.query, when enabled: its Deployment, the config hash its pods must carry, and a Secret of
   * it that may not be used (the front is then left as it is)
   */
  query?: { deployment?: V1Deployment; configHash: string; problem?: ConditionInput };
}

export interface ObservedVolume {
  claim: string;
  storageClassName?: string;
  pvc?: V1PersistentVolumeClaim;
  /** how long a claim may stay Pending while it is provisioned before that is reported as a failure */
  pendingGraceMs: number;
}

/** A data volume Pending this long is most likely never bound (no provisioner, no such class). */
export const VOLUME_PENDING_GRACE_MS = 60_000;

/**
 * What keeps the data volume from serving, as a Ready input (undefined: bound, or not created yet). Pending is
 * progress (VolumeProvisioning) while a provisioner may still be at work, then a failure (VolumePending) that names
 * the claim, its class and what to check; Lost is a failure at once.
 */
export function volumeCondition(v: ObservedVolume | undefined, now: Date): (ConditionInput & { recheckAfterMs?: number }) | undefined {
  const pvc = v?.pvc;
  if (!v || !pvc) return undefined;
  const phase = pvc.status?.phase;
  const cls = pvc.spec?.storageClassName ?? v.storageClassName;
  const clsText = cls ? `storage class "${cls}"` : 'no storage class (the cluster has no default one, or it is not set)';
  const ready = (reason: string, message: string, recheckAfterMs?: number) => ({ type: 'Ready', status: 'False' as const, reason, message, ...(recheckAfterMs !== undefined ? { recheckAfterMs } : {}) });
  if (phase === 'Lost') {
    return ready(
      'VolumeLost',
      `PersistentVolumeClaim "${v.claim}" lost its PersistentVolume "${pvc.spec?.volumeName ?? '?'}": the stored traces are gone with it. Restore the volume, or delete the claim and the pod (kubectl delete pvc ${v.claim}; kubectl delete pod ${v.claim.replace(/^data-/, '')}) to start on a new, empty volume`,
    );
  }
  if (phase === 'Bound') return undefined;
  const since = pvc.metadata?.creationTimestamp ? new Date(pvc.metadata.creationTimestamp).getTime() : now.getTime();
  const left = since + v.pendingGraceMs - now.getTime();
  if (left > 0) return ready('VolumeProvisioning', `PersistentVolumeClaim "${v.claim}" (${clsText}) is waiting for its volume`, left);
  return ready(
    'VolumePending',
    `PersistentVolumeClaim "${v.claim}" (${clsText}) is still Pending after ${Math.round(v.pendingGraceMs / 1000)}s: check that the storage class exists (kubectl get storageclass) and that its provisioner runs, or create a matching PersistentVolume; kubectl describe pvc ${v.claim} says why`,
  );
}

export const CONDITIONS = ['Ready', 'BackendReachable', 'SchemaReady', 'RuntimeAvailable', 'QueryAvailable'] as const;


/** What a Deployment condition speaks of: the runtime (RuntimeAvailable) or the query front (QueryAvailable). */
interface DeploymentSubject {
  type: string;
  /** "runtime" or "query front" */
  what: string;
  replicasField: string;
}

const RUNTIME: DeploymentSubject = { type: 'RuntimeAvailable', what: 'runtime', replicasField: 'spec.runtime.replicas' };
const QUERY: DeploymentSubject = { type: 'QueryAvailable', what: 'query front', replicasField: 'spec.query.replicas' };

export function runtimeCondition(d: V1Deployment | undefined, wantHash: string | undefined, who: DeploymentSubject = RUNTIME): ConditionInput {
  const { what } = who;
  const c = (reason: string, message: string, status: 'True' | 'False' = 'False'): ConditionInput => ({ type: who.type, status, reason, message });
  if (!d) return c('DeploymentMissing', `the ${what} Deployment is being created`);
  const want = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  if ((st.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return c('RolloutInProgress', `the Deployment controller has not seen the latest ${what} spec yet`);
  if (wantHash && d.spec?.template?.metadata?.annotations?.[ANNOTATION_CONFIG_HASH] !== wantHash) return c('RolloutInProgress', `the ${what} Deployment is being updated to the new configuration`);
  // no query front pod is a choice that leaves the store serving; no runtime pod is not
  if (want === 0) return c('ScaledToZero', `${who.replicasField} is 0: no ${what} pod serves this store`, who === QUERY ? 'True' : 'False');
  const updated = st.updatedReplicas ?? 0;
  const available = st.availableReplicas ?? 0;
  const total = st.replicas ?? 0;
  if (updated < want) return c('RolloutInProgress', `${updated} of ${want} ${what} pods run the current configuration`);
  if (total > updated) return c('RolloutInProgress', `${total - updated} old ${what} pod(s) still terminating`);
  const failure = st.conditions?.find((x) => x.type === 'ReplicaFailure' && x.status === 'True');
  if (failure) return c('ReplicaFailure', failure.message ?? 'the Deployment cannot create pods');
  if (available < want) {
    const progressing = st.conditions?.find((x) => x.type === 'Progressing');
    if (progressing?.status === 'False') return c('ProgressDeadlineExceeded', progressing.message ?? `the rollout is stuck: check the ${what} pods (kubectl describe pods)`);
    return c('PodsNotReady', `${available} of ${want} ${what} pods are available`);
  }
  return c('Available', `${available} of ${want} ${what} pods available`, 'True');
}

/** QueryAvailable: the query front's Deployment (spec.query). */
export const queryCondition = (q: NonNullable<Observed['query']>): ConditionInput =>
  q.problem ? { type: 'QueryAvailable', status: 'False', reason: q.problem.reason, message: `the query front is not changed: ${q.problem.message}` } : runtimeCondition(q.deployment, q.configHash, QUERY);

/** RuntimeAvailable for the StatefulSet of a backend with a data volume. */
export function statefulSetCondition(s: V1StatefulSet | undefined, wantHash: string | undefined): ConditionInput {
  const c = (reason: string, message: string, status: 'True' | 'False' = 'False'): ConditionInput => ({ type: 'RuntimeAvailable', status, reason, message });
  if (!s) return c('StatefulSetMissing', 'the runtime StatefulSet is being created');
  const want = s.spec?.replicas ?? 1;
  const st = s.status ?? { replicas: 0 };
  if ((st.observedGeneration ?? 0) < (s.metadata?.generation ?? 0)) return c('RolloutInProgress', 'the StatefulSet controller has not seen the latest runtime spec yet');
  if (wantHash && s.spec?.template?.metadata?.annotations?.[ANNOTATION_CONFIG_HASH] !== wantHash) return c('RolloutInProgress', 'the runtime StatefulSet is being updated to the new configuration');
  if (want === 0) return c('ScaledToZero', 'spec.runtime.replicas is 0: no runtime pod serves this store');
  const updated = st.updatedReplicas ?? 0;
  const available = st.availableReplicas ?? 0;
  const total = st.replicas ?? 0;
  if (updated < want || (st.updateRevision && st.currentRevision && st.updateRevision !== st.currentRevision && updated < total)) {
    return c('RolloutInProgress', `${updated} of ${want} runtime pods run the current configuration (the old pod is stopped before its successor starts: one writer per volume)`);
  }
  if (total > want) return c('RolloutInProgress', `${total - want} runtime pod(s) still terminating`);
  if (available < want) return c('PodsNotReady', `${available} of ${want} runtime pods are available`);
  return c('Available', `${available} of ${want} runtime pods available`, 'True');
}

/** RuntimeAvailable for whichever workload the backend runs as. */
export const workloadCondition = (o: Pick<Observed, 'deployment' | 'statefulSet' | 'volume'>, wantHash: string | undefined): ConditionInput =>
  o.volume || o.statefulSet ? statefulSetCondition(o.statefulSet, wantHash) : runtimeCondition(o.deployment, wantHash);

function message(errors: FieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join('; ');
}

export function computeStatus(ts: TraceStore, o: Observed, now: Date): TraceStoreStatus {
  const gen = ts.metadata.generation ?? 0;
  const prev = ts.status ?? {};
  let conds: ConditionInput[];
  if (o.invalid?.length) {
    const msg = message(o.invalid);
    conds = [
      { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: msg },
      { type: 'BackendReachable', status: 'Unknown', reason: 'InvalidSpec', message: 'not checked: the spec is invalid' },
      { type: 'SchemaReady', status: 'Unknown', reason: 'InvalidSpec', message: 'not checked: the spec is invalid' },
      { type: 'RuntimeAvailable', status: 'Unknown', reason: 'InvalidSpec', message: 'not changed: the spec is invalid' },
    ];
  } else if (o.unsupported) {
    const msg = `the ${o.backend} backend is not supported by this operator version: ${o.unsupported}. Create a new TraceStore with an available backend (the type is immutable) or upgrade the operator`;
    conds = [
      { type: 'Ready', status: 'False', reason: 'BackendNotSupported', message: msg },
      { type: 'BackendReachable', status: 'Unknown', reason: 'BackendNotSupported', message: msg },
      { type: 'SchemaReady', status: 'Unknown', reason: 'BackendNotSupported', message: msg },
      { type: 'RuntimeAvailable', status: 'Unknown', reason: 'BackendNotSupported', message: msg },
    ];
  } else {
    const runtime = workloadCondition(o, o.configHash);
    const volume = volumeCondition(o.volume, now);
    const volumeIn: ConditionInput[] = volume ? [{ type: volume.type, status: volume.status, reason: volume.reason, message: volume.message }] : [];
    const backendOk: ConditionInput = o.external?.reachable ?? { type: 'BackendReachable', status: 'True', reason: 'InProcess', message: `the ${o.backend} backend runs inside the runtime pods` };
    const schemaOk: ConditionInput = o.external?.schema ?? { type: 'SchemaReady', status: 'True', reason: 'NoSchemaNeeded', message: `the ${o.backend} backend needs no provisioning` };
    const full: ConditionInput[] = o.backendFull
      ? [{ type: 'Ready', status: 'False', reason: 'BackendFull', message: `the backend is out of space and new spans are refused (429 / RESOURCE_EXHAUSTED): ${o.backendFull}. Free space or grow the volume; writes resume by themselves` }]
      : [];
    const query = o.query ? [queryCondition(o.query)] : [];
    const blocking = [...(o.security ? [o.security] : []), backendOk, schemaOk, ...volumeIn, runtime, ...full, ...query].find((c) => c.status !== 'True');
    const ready: ConditionInput = blocking
      ? { type: 'Ready', status: 'False', reason: blocking.reason, message: blocking.message }
      : { type: 'Ready', status: 'True', reason: 'Ready', message: 'the store accepts OTLP and answers queries' };
    conds = [ready, backendOk, schemaOk, runtime, ...query];
  }
  const status: TraceStoreStatus = {
    observedGeneration: gen,
    // QueryAvailable goes with spec.query: not kept from an earlier spec that had it
    conditions: mergeConditions(prev.conditions, conds, gen, now).filter((c) => c.type !== 'QueryAvailable' || ts.spec?.query?.enabled === true),
  };
  const backend = o.invalid?.length ? prev.backend : o.backend;
  if (backend) status.backend = backend;
  const hash = o.invalid?.length ? prev.configHash : o.configHash;
  if (hash) status.configHash = hash;
  const workload = o.statefulSet ?? o.deployment;
  if (workload) {
    status.replicas = workload.spec?.replicas ?? 0;
    status.readyReplicas = workload.status?.readyReplicas ?? 0;
  } else if (!o.invalid?.length && !o.unsupported) {
    status.replicas = 0;
    status.readyReplicas = 0;
  }
  const schemaVersion = o.external?.schemaVersion ?? prev.schemaVersion;
  if (schemaVersion && !o.invalid?.length) status.schemaVersion = schemaVersion;
  if (!o.invalid?.length && !o.unsupported) status.endpoints = endpointsFor(ts);
  else if (prev.endpoints) status.endpoints = prev.endpoints;
  return status;
}
