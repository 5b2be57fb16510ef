import type { V1Deployment } from '@kubernetes/client-node';
import type { TraceStore } from '../../src/api/tracestore.js';
import { mergeConditions } from '../../src/reconcilers/conditions.js';
import { PLUGINS } from '../../src/storage/plugins.js';
import { ANNOTATION_CONFIG_HASH } from '../../src/api/contract.js';
import { desiredRuntime, isSubset } from '../../src/reconcilers/tracestore/desired.js';
import { computeStatus, runtimeCondition } from '../../src/reconcilers/tracestore/status.js';

const ts = (maxTraces = 10, extra: Partial<TraceStore['spec']> = {}): TraceStore => ({
  apiVersion: 'storage.jaegertracing.io/v1alpha1',
  kind: 'TraceStore',
  metadata: { name: 'demo', namespace: 'obs', uid: 'u-1', generation: 3 },
  spec: { backend: { memory: { maxTraces } }, ...extra },
});
const settings = { runtimeImage: 'img:1', plugins: PLUGINS };

describe('desired runtime', () => {
  it('names the ConfigMap by content hash and stamps the hash on the pod template', () => {
    const d = desiredRuntime(ts(), settings);
    expect(d.configMap.metadata?.name).toBe(`demo-runtime-${d.configHash}`);
    expect(d.deployment!.spec?.template.metadata?.annotations?.[ANNOTATION_CONFIG_HASH]).toBe(d.configHash);
    expect(d.deployment!.spec?.template.spec?.volumes?.[0]?.configMap?.name).toBe(d.configMap.metadata?.name);
    expect(d.configMap.data?.['config.yaml']).toContain('maxTraces: 10');
  });
  it('is deterministic and changes with the spec', () => {
    expect(desiredRuntime(ts(), settings).configHash).toBe(desiredRuntime(ts(), settings).configHash);
    expect(desiredRuntime(ts(11), settings).configHash).not.toBe(desiredRuntime(ts(), settings).configHash);
    // spec defaults count as written: {} and the explicit default render the same
    expect(desiredRuntime({ ...ts(), spec: { backend: { memory: {} } } }, settings).configHash).toBe(desiredRuntime(ts(100_000), settings).configHash);
  });
  it('owns every child through a controller reference and never puts secrets in env', () => {
    const d = desiredRuntime(ts(), settings);
    for (const o of [d.configMap, d.deployment!, d.service, d.serviceAccount, d.role, d.roleBinding, d.reportLease]) {
      expect(o.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'TraceStore', name: 'demo', uid: 'u-1', controller: true })]);
    }
    // only the downward API: the pod's own name and namespace, for reporting the sampling policy it enforces
    expect(d.deployment!.spec?.template.spec?.containers[0]?.env?.every((e) => e.value === undefined && e.valueFrom?.fieldRef)).toBe(true);
    expect(d.deployment!.spec?.template.spec?.serviceAccountName).toBe(d.serviceAccount.metadata?.name);
    // the runtime may read its policies and get/patch its own report Lease, nothing else (no pods)
    expect(d.reportLease.metadata?.name).toBe('demo-runtime-report');
    expect(d.role.rules).toEqual([
      { apiGroups: ['storage.jaegertracing.io'], resources: ['samplingpolicies'], verbs: ['list', 'watch'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['demo-runtime-report'], verbs: ['get', 'patch'] },
    ]);
    expect(d.config.sampling?.watchPolicies).toBe(true);
    expect(d.deployment!.spec?.strategy?.type).toBe('Recreate');
  });
});

describe('isSubset', () => {
  it('ignores server-added fields but not changed ones', () => {
    expect(isSubset({ a: 1, b: { c: [1, { d: 2 }] } }, { a: 1, z: 0, b: { c: [1, { d: 2, e: 3 }] } })).toBe(true);
    expect(isSubset({ a: 1 }, { a: 2 })).toBe(false);
    expect(isSubset({ l: [1, 2] }, { l: [1, 2, 3] })).toBe(false);
  });
});

describe('conditions', () => {
  const t1 = new Date('2026-01-01T00:00:00Z');
  const t2 = new Date('2026-01-01T00:05:00Z');
  it('moves lastTransitionTime only when the status flips', () => {
    const a = mergeConditions([], [{ type: 'Ready', status: 'False', reason: 'X', message: 'm' }], 1, t1);
    const b = mergeConditions(a, [{ type: 'Ready', status: 'False', reason: 'Y', message: 'n' }], 2, t2);
    expect(b[0]!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(b[0]!.observedGeneration).toBe(2);
    const c = mergeConditions(b, [{ type: 'Ready', status: 'True', reason: 'Ready', message: '' }], 2, t2);
    expect(c[0]!.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });
});

describe('status', () => {
  const dep = (over: Partial<NonNullable<V1Deployment['status']>> = {}, hash = 'h'): V1Deployment => ({
    metadata: { generation: 2 },
    spec: { replicas: 1, selector: {}, template: { metadata: { annotations: { [ANNOTATION_CONFIG_HASH]: hash } } } },
    status: { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1, ...over },
  });
  it('RuntimeAvailable follows the Deployment', () => {
    expect(runtimeCondition(undefined, 'h').reason).toBe('DeploymentMissing');
    expect(runtimeCondition(dep({ observedGeneration: 1 }), 'h').reason).toBe('RolloutInProgress');
    expect(runtimeCondition(dep({}, 'old'), 'h').reason).toBe('RolloutInProgress');
    expect(runtimeCondition(dep({ availableReplicas: 0 }), 'h').reason).toBe('PodsNotReady');
    expect(runtimeCondition(dep({ replicas: 2 }), 'h').reason).toBe('RolloutInProgress');
    expect(runtimeCondition(dep(), 'h')).toMatchObject({ status: 'True', reason: 'Available' });
  });
  it('InvalidSpec keeps the last good backend and names the field', () => {
    const s = computeStatus({ ...ts(), status: { backend: 'memory' } }, { invalid: [{ field: 'spec.backend.memory.maxTraces', message: 'must be >= 1' }] }, new Date());
    expect(s.backend).toBe('memory');
    expect(s.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'spec.backend.memory.maxTraces: must be >= 1' });
    expect(s.observedGeneration).toBe(3);
  });
});
