// The embedded backend's runtime as pure desired state: a one-replica StatefulSet with the data volume's claim
// template mounted at the runtime config's dataDir, the volume's conditions, and the immutability of its size.
import type { V1PersistentVolumeClaim, V1StatefulSet } from '@kubernetes/client-node';
import { validateSpec } from '../../src/api/crds.js';
import { ANNOTATION_CONFIG_HASH } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { severityOf } from '../../src/reconcilers/conditions.js';
import { build, buildContext, dataClaimName, desiredRuntime } from '../../src/reconcilers/tracestore/desired.js';
import { type ObservedVolume, computeStatus, statefulSetCondition, volumeCondition } from '../../src/reconcilers/tracestore/status.js';
import { EMBEDDED_DATA_DIR } from '../../src/storage/embedded/plugin.js';
import { PLUGINS } from '../../src/storage/plugins.js';

const store = (spec: Partial<TraceStore['spec']> = {}): TraceStore => ({
  apiVersion: 'storage.jaegertracing.io/v1alpha1',
  kind: 'TraceStore',
  metadata: { name: 'disk', namespace: 'obs', uid: 'u-1', generation: 2 },
  spec: { backend: { embedded: {} }, ...spec },
});
const settings = { runtimeImage: 'img:1', plugins: PLUGINS };

describe('embedded runtime workload', () => {
  it('is a StatefulSet with one replica, replaced, never surged, and no Deployment', () => {
    const d = desiredRuntime(store(), settings);
    expect(d.deployment).toBeUndefined();
    const s = d.statefulSet!;
    expect(s.metadata).toMatchObject({ name: 'disk-runtime', namespace: 'obs', ownerReferences: [expect.objectContaining({ kind: 'TraceStore', uid: 'u-1', controller: true })] });
    expect(s.spec).toMatchObject({ replicas: 1, serviceName: 'disk-runtime', podManagementPolicy: 'Parallel', updateStrategy: { type: 'RollingUpdate' } });
    expect(s.spec?.template.metadata?.annotations?.[ANNOTATION_CONFIG_HASH]).toBe(d.configHash);
    expect(build(buildContext(store(), settings)).map((c) => c.kind)).toEqual(['ConfigMap', 'ServiceAccount', 'Role', 'RoleBinding', 'Lease', 'StatefulSet', 'Service']);
  });

  it('requests the volume by template (default 10Gi, cluster default class) and mounts it at the dataDir the config names', () => {
    const d = desiredRuntime(store(), settings);
    const t = d.statefulSet!.spec!.volumeClaimTemplates!;
    expect(t).toEqual([
      {
        metadata: { name: 'data', labels: expect.objectContaining({ 'app.kubernetes.io/instance': 'disk', 'app.kubernetes.io/managed-by': 'jaeger-storage-operator' }) },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
      },
    ]);
    const c = d.statefulSet!.spec!.template.spec!.containers[0]!;
    expect(c.volumeMounts).toContainEqual({ name: 'data', mountPath: EMBEDDED_DATA_DIR });
    expect(d.statefulSet!.spec!.template.spec!.volumes!.some((v) => v.name === 'data')).toBe(false); // from the template
    expect(d.config.dataDir).toBe(EMBEDDED_DATA_DIR);
    expect(dataClaimName('disk-runtime')).toBe('data-disk-runtime-0');
  });

  it('passes size and storage class through, and deletes the claim with the store only under deletionPolicy Delete', () => {
    const s = desiredRuntime(store({ backend: { embedded: { size: '50Gi', storageClassName: 'fast' } }, deletionPolicy: 'Delete' }), settings).statefulSet!;
    expect(s.spec?.volumeClaimTemplates?.[0]?.spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '50Gi' } } });
    expect(s.spec?.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Delete', whenScaled: 'Retain' });
    expect(desiredRuntime(store(), settings).statefulSet!.spec?.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    expect(desiredRuntime(store({ runtime: { replicas: 0 } }), settings).statefulSet!.spec?.replicas).toBe(0);
  });

  it('leaves the other backends on a Deployment without dataDir', () => {
    const d = desiredRuntime(store({ backend: { memory: {} } }), settings);
    expect(d.statefulSet).toBeUndefined();
    expect(d.deployment?.kind).toBe('Deployment');
    expect(d.config.dataDir).toBeUndefined();
  });
});

describe('embedded volume size and class', () => {
  it('are immutable once created (transition rule twin)', () => {
    const fields = (spec: unknown, old: unknown) => validateSpec('TraceStore', spec, old).map((e) => e.field);
    expect(fields({ backend: { embedded: { size: '20Gi' } } }, { backend: { embedded: { size: '10Gi' } } })).toEqual(['spec.backend.embedded']);
    expect(fields({ backend: { embedded: { size: '10Gi', storageClassName: 'a' } } }, { backend: { embedded: { size: '10Gi' } } })).toEqual(['spec.backend.embedded']);
    expect(fields({ backend: { embedded: { size: '10Gi' } }, retention: '7d' }, { backend: { embedded: { size: '10Gi' } } })).toEqual([]);
  });
});

describe('data volume conditions', () => {
  const now = new Date('2026-01-01T00:01:00Z');
  const pvc = (phase: string, createdSecondsAgo = 5): V1PersistentVolumeClaim => ({
    metadata: { name: 'data-disk-runtime-0', creationTimestamp: new Date(now.getTime() - createdSecondsAgo * 1000) },
    spec: { storageClassName: 'fast', volumeName: 'pv-1' },
    status: { phase },
  });
  const vol = (p?: V1PersistentVolumeClaim): ObservedVolume => ({ claim: 'data-disk-runtime-0', storageClassName: 'fast', ...(p ? { pvc: p } : {}), pendingGraceMs: 60_000 });

  it('Pending is progress while a provisioner may be at work, then a failure naming the claim, class and checks', () => {
    const early = volumeCondition(vol(pvc('Pending', 5)), now)!;
    expect(early).toMatchObject({ status: 'False', reason: 'VolumeProvisioning', recheckAfterMs: 55_000 });
    expect(severityOf(early)).toBe('Normal');
    const late = volumeCondition(vol(pvc('Pending', 61)), now)!;
    expect(late.reason).toBe('VolumePending');
    expect(late.message).toContain('PersistentVolumeClaim "data-disk-runtime-0" (storage class "fast") is still Pending after 60s');
    expect(late.message).toContain('kubectl get storageclass');
    expect(severityOf(late)).toBe('Warning');
  });

  it('Lost is a failure at once; Bound or not created yet is nothing to report', () => {
    const lost = volumeCondition(vol(pvc('Lost')), now)!;
    expect(lost.reason).toBe('VolumeLost');
    expect(lost.message).toContain('lost its PersistentVolume "pv-1"');
    expect(severityOf(lost)).toBe('Warning');
    expect(volumeCondition(vol(pvc('Bound')), now)).toBeUndefined();
    expect(volumeCondition(vol(), now)).toBeUndefined();
    expect(volumeCondition(undefined, now)).toBeUndefined();
  });

  it('makes Ready say so ahead of the pod that waits for it', () => {
    const ts = store();
    const d = desiredRuntime(ts, settings);
    const s: V1StatefulSet = { ...d.statefulSet!, metadata: { ...d.statefulSet!.metadata, generation: 1 }, status: { replicas: 1, updatedReplicas: 1, availableReplicas: 0, observedGeneration: 1 } };
    const st = computeStatus(ts, { backend: 'embedded', configHash: d.configHash, statefulSet: s, volume: vol(pvc('Pending', 120)) }, now);
    expect(st.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'VolumePending' });
    expect(st.conditions?.find((c) => c.type === 'RuntimeAvailable')).toMatchObject({ status: 'False', reason: 'PodsNotReady' });
    const ready = computeStatus(ts, { backend: 'embedded', configHash: d.configHash, statefulSet: { ...s, status: { ...s.status!, availableReplicas: 1, readyReplicas: 1 } }, volume: vol(pvc('Bound')) }, now);
    expect(ready.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    expect(ready).toMatchObject({ replicas: 1, readyReplicas: 1 });
  });
});

describe('StatefulSet rollout condition', () => {
  const d = desiredRuntime(store(), settings);
  const s = (status: V1StatefulSet['status'], hash = d.configHash, generation = 1): V1StatefulSet => ({
    ...d.statefulSet!,
    metadata: { ...d.statefulSet!.metadata, generation },
    spec: { ...d.statefulSet!.spec!, template: { ...d.statefulSet!.spec!.template, metadata: { annotations: { [ANNOTATION_CONFIG_HASH]: hash } } } },
    status: { observedGeneration: 1, ...status } as V1StatefulSet['status'],
  });
  it('follows the StatefulSet from creation to Available', () => {
    expect(statefulSetCondition(undefined, 'h').reason).toBe('StatefulSetMissing');
    expect(statefulSetCondition(s({ replicas: 1 }, d.configHash, 2), d.configHash).reason).toBe('RolloutInProgress');
    expect(statefulSetCondition(s({ replicas: 1 }, 'old'), d.configHash).reason).toBe('RolloutInProgress');
    expect(statefulSetCondition(s({ replicas: 0, updatedReplicas: 0 }), d.configHash).reason).toBe('RolloutInProgress');
    expect(statefulSetCondition(s({ replicas: 1, updatedReplicas: 1, availableReplicas: 0 }), d.configHash).reason).toBe('PodsNotReady');
    expect(statefulSetCondition(s({ replicas: 1, updatedReplicas: 1, availableReplicas: 1 }), d.configHash)).toMatchObject({ status: 'True', reason: 'Available' });
    expect(severityOf(statefulSetCondition(undefined, 'h'))).toBe('Normal');
  });
});
