// SamplingPolicy controller. Work is keyed by target ("namespace/traceStore"): the policies of one TraceStore are
// judged together (precedence and conflicts, src/sampling/policy.ts), and Propagated comes from the generations
// the TraceStore's runtime pods report on its report Lease (one annotation per pod). Reports of pods that no
// longer exist are pruned from the Lease. Status is written only when it changed.
import type { V1Lease, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION } from '../api/common.js';
import { BACKEND_REPORT_ANNOTATION_PREFIX, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_NAME, REPORT_ANNOTATION_PREFIX, RUNTIME_APP, reportAnnotation, runtimeReportLeaseName } from '../api/contract.js';
import type { SamplingPolicy } from '../api/samplingpolicy.js';
import type { TraceStore } from '../api/tracestore.js';
import { type KubeClient, resourcePath } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { type Cache, type KubeObject, keyOf } from '../kube/informer.js';
import { conditionEvent, summaryCondition } from '../reconcilers/conditions.js';
import { podReport, policyStatus } from '../reconcilers/samplingpolicy/status.js';
import { isSubset } from '../reconcilers/tracestore/desired.js';
import { compilePolicies } from '../sampling/policy.js';
import { FIELD_MANAGER, specChanged } from './tracestore.js';
import { LEASES, PODS, SAMPLING_POLICIES } from '../kube/resources.js';

export { PODS, SAMPLING_POLICIES };

export interface SamplingInformers {
  policies: Cache<SamplingPolicy & KubeObject>;
  pods: Cache<V1Pod & KubeObject>;
  traceStores: Cache<TraceStore & KubeObject>;
  /** the runtime report Leases (managed label) */
  leases: Cache<V1Lease & KubeObject>;
}

const targetKey = (p: SamplingPolicy): string | undefined => (p.spec?.targetRef?.name ? `${p.metadata.namespace}/${p.spec.targetRef.name}` : undefined);

/** What sums a policy up for its events: why it is not accepted (Conflict, TargetNotFound, ...), else its propagation. */
const POLICY_SUMMARY = ['Accepted', 'Propagated'] as const;

const isRuntimePod = (p: V1Pod): boolean => p.metadata?.labels?.[LABEL_NAME] === RUNTIME_APP && p.metadata?.labels?.[LABEL_COMPONENT] === 'runtime';

export class SamplingPolicyController {
  constructor(
    private readonly client: KubeClient,
    private readonly inf: SamplingInformers,
    private readonly events: EventRecorder,
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
        if (a.status?.phase !== b.status?.phase || a.metadata.deletionTimestamp !== b.metadata.deletionTimestamp) pod(b);
      },
      delete: pod,
    });
    const lease = (l: V1Lease & KubeObject) => {
      const instance = l.metadata.labels?.[LABEL_INSTANCE];
      if (instance && l.metadata.name === runtimeReportLeaseName(instance)) enqueue(`${l.metadata.namespace}/${instance}`);
    };
    this.inf.leases.on({
      add: lease,
      update: (a, b) => JSON.stringify(a.metadata.annotations ?? {}) !== JSON.stringify(b.metadata.annotations ?? {}) && lease(b),
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
    const storePods = this.inf.pods.list().filter((p) => p.metadata.namespace === namespace && p.metadata.labels?.[LABEL_INSTANCE] === target && isRuntimePod(p));
    const lease = this.inf.leases.get(`${namespace}/${runtimeReportLeaseName(target)}`);
    const reports = lease?.metadata.annotations ?? {};
    await this.pruneReports(lease, new Set(storePods.map((p) => reportAnnotation(p.metadata.name))));
    const pods = storePods
      .filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
      .map((p) => podReport(p.metadata.name, reports[reportAnnotation(p.metadata.name)]));
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
      const event = conditionEvent(summaryCondition(p.status?.conditions, POLICY_SUMMARY), summaryCondition(status.conditions, POLICY_SUMMARY));
      if (event) this.events.record(p as KubeObject, event.type, event.reason, event.message);
    }
  }

  /** Removes the reports of pods that no longer exist (JSON merge patch: null deletes just those keys). */
  private async pruneReports(lease: (V1Lease & KubeObject) | undefined, live: Set<string>): Promise<void> {
    if (!lease) return;
    const stale = Object.keys(lease.metadata.annotations ?? {}).filter(
      (k) => (k.startsWith(REPORT_ANNOTATION_PREFIX) && !live.has(k)) || (k.startsWith(BACKEND_REPORT_ANNOTATION_PREFIX) && !live.has(REPORT_ANNOTATION_PREFIX + k.slice(BACKEND_REPORT_ANNOTATION_PREFIX.length))),
    );
    if (!stale.length) return;
    await this.client.request('PATCH', resourcePath(LEASES, lease.metadata.namespace, lease.metadata.name), {
      body: { metadata: { annotations: Object.fromEntries(stale.map((k) => [k, null])) } },
      contentType: 'application/merge-patch+json',
    });
    this.log.debug({ lease: keyOf(lease), pruned: stale }, 'pruned reports of pods that no longer exist');
  }
}
