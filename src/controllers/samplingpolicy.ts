// SamplingPolicy controller. Work is keyed by target ("namespace/traceStore"): the policies of one TraceStore are
// judged together (precedence and conflicts, src/sampling/policy.ts), and Propagated comes from the generations
// the TraceStore's runtime pods report in their annotation. Status is written only when it changed.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION } from '../api/common.js';
import type { SamplingPolicy } from '../api/samplingpolicy.js';
import type { TraceStore } from '../api/tracestore.js';
import { type KubeClient, resourcePath } from '../kube/client.js';
import { type Informer, type KubeObject, keyOf } from '../kube/informer.js';
import { podReport, policyStatus } from '../reconcilers/samplingpolicy/status.js';
import { LABEL_COMPONENT, LABEL_INSTANCE, LABEL_NAME, RUNTIME_APP, isSubset } from '../reconcilers/tracestore/desired.js';
import { ANNOTATION_ENFORCED, PODS, SAMPLING_POLICIES } from '../runtime/sampling/watcher.js';
import { compilePolicies } from '../sampling/policy.js';
import { FIELD_MANAGER, specChanged } from './tracestore.js';

export { PODS, SAMPLING_POLICIES };

export interface SamplingInformers {
  policies: Informer<SamplingPolicy & KubeObject>;
  pods: Informer<V1Pod & KubeObject>;
  traceStores: Informer<TraceStore & KubeObject>;
}

const targetKey = (p: SamplingPolicy): string | undefined => (p.spec?.targetRef?.name ? `${p.metadata.namespace}/${p.spec.targetRef.name}` : undefined);

const isRuntimePod = (p: V1Pod): boolean => p.metadata?.labels?.[LABEL_NAME] === RUNTIME_APP && p.metadata?.labels?.[LABEL_COMPONENT] === 'runtime';

export class SamplingPolicyController {
  constructor(
    private readonly client: KubeClient,
    private readonly inf: SamplingInformers,
    private readonly log: Logger,
  ) {}

  watch(enqueue: (key: string) => void): void {
    const policy = (p: SamplingPolicy) => {
      const k = targetKey(p);
      if (k) enqueue(k);
    };
    this.inf.policies.on({
      add: policy,
      update: (a, b) => {
        if (!specChanged(a as KubeObject, b as KubeObject) && targetKey(a) === targetKey(b)) return;
        policy(a);
        policy(b);
      },
      delete: policy,
    });
    const pod = (p: V1Pod & KubeObject) => {
      const instance = p.metadata.labels?.[LABEL_INSTANCE];
      if (instance && isRuntimePod(p)) enqueue(`${p.metadata.namespace}/${instance}`);
    };
    this.inf.pods.on({
      add: pod,
      update: (a, b) => {
        const ra = a.metadata.annotations?.[ANNOTATION_ENFORCED];
        const rb = b.metadata.annotations?.[ANNOTATION_ENFORCED];
        if (ra !== rb || a.status?.phase !== b.status?.phase || a.metadata.deletionTimestamp !== b.metadata.deletionTimestamp) pod(b);
      },
      delete: pod,
    });
    this.inf.traceStores.on({ add: (t) => enqueue(keyOf(t)), delete: (t) => enqueue(keyOf(t)) });
  }

  async reconcile(key: string): Promise<void> {
    const i = key.indexOf('/');
    const namespace = key.slice(0, i);
    const target = key.slice(i + 1);
    const policies = this.inf.policies.list().filter((p) => p.metadata.namespace === namespace && p.spec?.targetRef?.name === target);
    if (!policies.length) return;
    const { verdicts } = compilePolicies(policies);
    const targetExists = !!this.inf.traceStores.get(key);
    const pods = this.inf.pods
      .list()
      .filter((p) => p.metadata.namespace === namespace && p.metadata.labels?.[LABEL_INSTANCE] === target && isRuntimePod(p) && !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
      .map((p) => podReport(p.metadata.name, p.metadata.annotations?.[ANNOTATION_ENFORCED]));
    const now = new Date();
    for (const p of policies) {
      if (p.metadata.deletionTimestamp) continue;
      const status = policyStatus(p, verdicts.get(p.metadata.name), targetExists, pods, now);
      if (p.status && isSubset(status, p.status) && isSubset(p.status, status)) continue;
      await this.client.apply(
        resourcePath(SAMPLING_POLICIES, namespace, p.metadata.name, 'status'),
        { apiVersion: API_VERSION, kind: 'SamplingPolicy', metadata: { name: p.metadata.name, namespace }, status },
        FIELD_MANAGER,
      );
      this.log.debug({ policy: keyOf(p), accepted: status.conditions?.[0]?.status, runtimes: status.runtimes }, 'status written');
    }
  }
}
